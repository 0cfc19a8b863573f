-- Prepaid credit: credit bought through the payment provider's checkout or
-- charged by automatic top-up, beside the administrators' grants. Each grant
-- says where it came from and when it expires; what invoices used of it are
-- their credit lines, and what expired unused is recorded here, so the
-- movements in `credit_ledger` sum to the balance.

ALTER TABLE credits
    ADD COLUMN source     text NOT NULL DEFAULT 'grant' CHECK (source IN ('grant', 'purchase', 'top_up')),
    ADD COLUMN expires_at timestamptz;
CREATE INDEX credits_expiry_idx ON credits (expires_at) WHERE expires_at IS NOT NULL;

-- The unused remainder of a grant when it expired: once per grant.
CREATE TABLE credit_expiries (
    credit_id    uuid PRIMARY KEY REFERENCES credits (id) ON DELETE CASCADE,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    expired_at   timestamptz NOT NULL
);

-- Every movement of credit: grants (positive), what invoices used (their
-- credit lines, negative), what a voided invoice gave back (positive, when
-- it was voided) and what expired unused (negative).
CREATE VIEW credit_ledger AS
    SELECT c.organization_id, c.id AS credit_id, c.source AS kind, c.amount_minor,
           NULL::uuid AS invoice_id, c.created_at AS at
    FROM credits c
    UNION ALL
    SELECT i.organization_id, l.credit_id, 'applied', l.amount_minor, i.id, i.created_at
    FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
    WHERE l.credit_id IS NOT NULL AND l.amount_minor <> 0
    UNION ALL
    SELECT i.organization_id, l.credit_id, 'released', -l.amount_minor, i.id, i.voided_at
    FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
    WHERE l.credit_id IS NOT NULL AND l.amount_minor <> 0 AND i.status = 'void'
    UNION ALL
    SELECT c.organization_id, e.credit_id, 'expired', -e.amount_minor, NULL, e.expired_at
    FROM credit_expiries e JOIN credits c ON c.id = e.credit_id;
CREATE INDEX invoice_lines_credit_idx ON invoice_lines (credit_id) WHERE credit_id IS NOT NULL;

-- A checkout opened to buy credit. The grant is made once the provider's
-- webhook confirms the payment, never on the return page.
CREATE TABLE credit_purchases (
    checkout_session_id text PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    currency            text NOT NULL,
    credit_id           uuid REFERENCES credits (id),
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL,
    paid_at             timestamptz,
    CONSTRAINT credit_purchases_paid CHECK ((credit_id IS NULL) = (paid_at IS NULL))
);
CREATE INDEX credit_purchases_organization_idx ON credit_purchases (organization_id, created_at);

-- Automatic top-up: below `threshold_minor`, charge `amount_minor` to the
-- card on file, once per crossing (`armed` is cleared by a charge and set
-- again when the balance is back at the threshold), at most
-- `monthly_cap_minor` a calendar month.
CREATE TABLE credit_top_up_settings (
    organization_id   uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    threshold_minor   bigint NOT NULL CHECK (threshold_minor >= 0),
    amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
    monthly_cap_minor bigint NOT NULL CHECK (monthly_cap_minor >= amount_minor),
    armed             boolean NOT NULL DEFAULT true,
    updated_at        timestamptz NOT NULL
);

-- Each top-up charged, or being charged (an off-session payment keyed by
-- its id, so a retry charges once).
CREATE TABLE credit_top_ups (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    currency            text NOT NULL,
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'failed')),
    credit_id           uuid REFERENCES credits (id),
    error               text,
    created_at          timestamptz NOT NULL,
    settled_at          timestamptz,
    CONSTRAINT credit_top_ups_paid CHECK ((status = 'paid') = (credit_id IS NOT NULL))
);
CREATE INDEX credit_top_ups_organization_idx ON credit_top_ups (organization_id, created_at);
CREATE INDEX credit_top_ups_pending_idx ON credit_top_ups (created_at) WHERE status = 'pending';
