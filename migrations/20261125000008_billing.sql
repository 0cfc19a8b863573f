-- Billing: the catalog as data, plan history, invoices with traceable lines,
-- credits, the payment provider's state, and suspensions.

-- Every edit of the catalog is a new version; the newest is in force.
-- Invoices record the version they were rated with.
CREATE TABLE catalog_versions (
    version    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document   jsonb NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Which plan an organization was on, when: [valid_from, valid_to). Rating
-- splits a period at these boundaries, so a plan change is never billed twice.
CREATE TABLE plan_periods (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    plan            text NOT NULL,
    valid_from      timestamptz NOT NULL,
    valid_to        timestamptz,
    PRIMARY KEY (organization_id, valid_from),
    CONSTRAINT plan_periods_forward CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX plan_periods_one_open ON plan_periods (organization_id) WHERE valid_to IS NULL;
INSERT INTO plan_periods (organization_id, plan, valid_from)
    SELECT organization_id, plan, started_at FROM subscriptions;

ALTER TABLE subscriptions
    -- A paid plan ends at the end of the current period and falls back to free.
    ADD COLUMN cancel_at_period_end boolean NOT NULL DEFAULT false,
    -- The payment provider's customer, once the outbox has created it.
    ADD COLUMN payment_customer_id text,
    ADD COLUMN payment_method_ready boolean NOT NULL DEFAULT false,
    -- Optional ceiling on a period's usage charges, in minor units.
    ADD COLUMN spend_limit_minor bigint CHECK (spend_limit_minor >= 0),
    -- An organization-wide suspension, as on its resources below.
    ADD COLUMN suspended_by text CHECK (suspended_by IN ('billing', 'storage_cap', 'spend_limit', 'admin')),
    ADD COLUMN suspended_reason text,
    ADD CONSTRAINT subscriptions_suspension CHECK ((suspended_by IS NULL) = (suspended_reason IS NULL));

CREATE TABLE invoices (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    number              text NOT NULL CONSTRAINT invoices_number_key UNIQUE,
    period_start        timestamptz NOT NULL,
    period_end          timestamptz NOT NULL,
    currency            text NOT NULL,
    status              text NOT NULL DEFAULT 'draft'
                        CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    subtotal_minor      bigint NOT NULL CHECK (subtotal_minor >= 0),
    credits_minor       bigint NOT NULL CHECK (credits_minor >= 0),
    total_minor         bigint NOT NULL CHECK (total_minor = subtotal_minor - credits_minor AND total_minor >= 0),
    catalog_version     bigint NOT NULL REFERENCES catalog_versions (version),
    -- Collection through the payment provider: its invoice, when it was
    -- finalized there, and when to try charging next.
    provider_invoice_id text,
    provider_finalized_at timestamptz,
    payment_attempts    integer NOT NULL DEFAULT 0,
    next_payment_at     timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    finalized_at        timestamptz,
    due_at              timestamptz,
    paid_at             timestamptz,
    payment_failed_at   timestamptz,
    payment_error       text,
    voided_at           timestamptz,
    CONSTRAINT invoices_one_per_period UNIQUE (organization_id, period_start),
    CONSTRAINT invoices_period_forward CHECK (period_end > period_start)
);
CREATE INDEX invoices_unpaid_idx ON invoices (due_at) WHERE status = 'open';
-- Each period closed, with what the close reported.
CREATE TABLE period_closes (
    period_start timestamptz PRIMARY KEY,
    closed_at    timestamptz NOT NULL,
    report       jsonb NOT NULL
);

-- Grants of credit; what an invoice used of them is its credit lines.
CREATE TABLE credits (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credits_organization_idx ON credits (organization_id, created_at);

-- A line is traceable: a usage line names the rollups it rated
-- (organization, meter, dimension, hours in [usage_from, usage_to)) with
-- their count and sum at rating time.
CREATE TABLE invoice_lines (
    invoice_id        uuid NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    line_no           integer NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('base_fee', 'usage', 'credit')),
    description       text NOT NULL,
    plan              text,
    meter             text,
    dimension         text,
    usage_from        timestamptz,
    usage_to          timestamptz,
    rollup_rows       bigint,
    rollup_quantity   numeric,
    included_quantity numeric,
    quantity          numeric NOT NULL,
    unit              text NOT NULL,
    unit_amount_minor bigint NOT NULL,
    amount_minor      bigint NOT NULL,
    credit_id         uuid REFERENCES credits (id),
    PRIMARY KEY (invoice_id, line_no),
    CONSTRAINT invoice_lines_credit_negative CHECK ((kind = 'credit') = (amount_minor < 0) OR amount_minor = 0)
);

-- Payment provider events already applied, so a redelivery changes nothing.
CREATE TABLE payment_events (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Suspension of one resource, with the reason shown to the customer:
-- `billing` (unpaid invoice), `storage_cap`, `spend_limit` or `admin`.
ALTER TABLE vector_clusters
    ADD COLUMN suspended_by text CHECK (suspended_by IN ('billing', 'storage_cap', 'spend_limit', 'admin')),
    ADD COLUMN suspended_reason text,
    ADD CONSTRAINT vector_clusters_suspension CHECK ((suspended_by IS NULL) = (suspended_reason IS NULL));
ALTER TABLE inference_endpoints
    ADD COLUMN suspended_by text CHECK (suspended_by IN ('billing', 'storage_cap', 'spend_limit', 'admin')),
    ADD COLUMN suspended_reason text,
    ADD CONSTRAINT inference_endpoints_suspension CHECK ((suspended_by IS NULL) = (suspended_reason IS NULL));

CREATE SEQUENCE invoice_numbers;
ALTER TABLE invoices ALTER COLUMN number
    SET DEFAULT 'QM-' || lpad(nextval('invoice_numbers')::text, 6, '0');
