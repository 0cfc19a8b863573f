-- Usage corrections: a platform administrator voids usage events or sets
-- their value, with a reason. The events themselves are never changed: a
-- correction is a row here and one correction event per event it changes.

-- Metering's. One event by (source, id), or every event of a resource's
-- meter with a time in [time_from, time_to). `in_rollups`: the period was
-- open, so the rollups were recomputed in the correction's transaction;
-- false: the organization was invoiced for it already, and the change is
-- an adjustment on its next invoice (billing's `usage_adjustments`).
CREATE TABLE usage_corrections (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    resource_id     uuid NOT NULL,
    meter           text NOT NULL,
    event_source    text,
    event_id        text,
    time_from       timestamptz,
    time_to         timestamptz,
    action          text NOT NULL CHECK (action IN ('void', 'set')),
    value           bigint CHECK (value >= 0),
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    in_rollups      boolean NOT NULL,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT usage_corrections_target CHECK (
        (event_source IS NULL) = (event_id IS NULL)
        AND (time_from IS NULL) = (time_to IS NULL)
        AND (event_id IS NULL) <> (time_from IS NULL)
        AND (time_to IS NULL OR time_to > time_from)),
    CONSTRAINT usage_corrections_value CHECK ((action = 'set') = (value IS NOT NULL))
);
CREATE INDEX usage_corrections_organization_idx ON usage_corrections (organization_id, created_at);

-- The correction events: what one correction did to one event, its value
-- before and after (NULL: voided). An event's value now is that of its
-- latest correction event (by seq), else its own. The key makes applying a
-- correction twice impossible.
CREATE TABLE usage_correction_events (
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    correction_id   uuid NOT NULL REFERENCES usage_corrections (id) ON DELETE CASCADE,
    source          text NOT NULL,
    event_id        text NOT NULL,
    organization_id uuid NOT NULL,
    resource_id     uuid NOT NULL,
    meter           text NOT NULL,
    dimension       text NOT NULL,
    time            timestamptz NOT NULL,
    previous_value  bigint,
    value           bigint,
    in_rollups      boolean NOT NULL,
    PRIMARY KEY (correction_id, source, event_id)
);
CREATE INDEX usage_correction_events_event_idx ON usage_correction_events (source, event_id, seq);

-- The highest correction event seq applied to the rollups: an ingester
-- whose window remembers less re-reads the corrected gauges' last samples.
ALTER TABLE usage_ingest_state ADD COLUMN last_correction bigint NOT NULL DEFAULT 0;

-- Billing's. What a correction of an invoiced period changes on one usage
-- line: the line's rollup quantity and amount before and after, re-rated
-- with the invoice's catalog version and plan segments. What invoices
-- applied of `amount_minor` so far are their adjustment lines.
CREATE TABLE usage_adjustments (
    correction_id          uuid NOT NULL REFERENCES usage_corrections (id) ON DELETE CASCADE,
    invoice_id             uuid NOT NULL,
    line_no                integer NOT NULL,
    organization_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    rollup_quantity_before numeric NOT NULL,
    rollup_quantity_after  numeric NOT NULL,
    quantity_before        numeric NOT NULL,
    quantity_after         numeric NOT NULL,
    amount_before_minor    bigint NOT NULL,
    amount_after_minor     bigint NOT NULL,
    amount_minor           bigint NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (correction_id, invoice_id, line_no),
    FOREIGN KEY (invoice_id, line_no) REFERENCES invoice_lines (invoice_id, line_no) ON DELETE CASCADE,
    CONSTRAINT usage_adjustments_difference CHECK (amount_minor = amount_after_minor - amount_before_minor)
);
CREATE INDEX usage_adjustments_organization_idx ON usage_adjustments (organization_id);

-- An adjustment line refers to the line it adjusts and the correction
-- behind it; it may be negative (a correction downwards).
ALTER TABLE invoice_lines
    ADD COLUMN adjusts_invoice_id uuid,
    ADD COLUMN adjusts_line_no    integer,
    ADD COLUMN correction_id      uuid,
    DROP CONSTRAINT invoice_lines_kind_check,
    ADD CONSTRAINT invoice_lines_kind_check
        CHECK (kind IN ('base_fee', 'usage', 'credit', 'adjustment')),
    DROP CONSTRAINT invoice_lines_credit_negative,
    ADD CONSTRAINT invoice_lines_credit_negative
        CHECK (kind = 'adjustment' OR (kind = 'credit') = (amount_minor < 0) OR amount_minor = 0),
    ADD CONSTRAINT invoice_lines_adjusts
        FOREIGN KEY (correction_id, adjusts_invoice_id, adjusts_line_no)
        REFERENCES usage_adjustments (correction_id, invoice_id, line_no),
    ADD CONSTRAINT invoice_lines_adjustment CHECK (
        (kind = 'adjustment') = (correction_id IS NOT NULL)
        AND (correction_id IS NULL) = (adjusts_invoice_id IS NULL)
        AND (correction_id IS NULL) = (adjusts_line_no IS NULL));
-- An invoice applies one adjustment at most once.
CREATE UNIQUE INDEX invoice_lines_one_adjustment
    ON invoice_lines (invoice_id, correction_id, adjusts_invoice_id, adjusts_line_no)
    WHERE correction_id IS NOT NULL;
CREATE INDEX invoice_lines_correction_idx ON invoice_lines (correction_id) WHERE correction_id IS NOT NULL;
