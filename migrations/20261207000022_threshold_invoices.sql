-- Threshold invoicing: when a period's usage charges not yet invoiced
-- reach the plan's threshold, an interim invoice bills them at once. An
-- organization then has several invoices for a period: interim ones, and
-- the one the close writes, which is still unique per organization and
-- period and deducts what the interim ones billed.

ALTER TABLE invoices
    ADD COLUMN kind text NOT NULL DEFAULT 'period' CHECK (kind IN ('period', 'interim')),
    -- An interim invoice rated the rollups of the hours before this.
    ADD COLUMN usage_to timestamptz,
    ADD CONSTRAINT invoices_interim_usage CHECK ((kind = 'interim') = (usage_to IS NOT NULL)),
    DROP CONSTRAINT invoices_one_per_period;
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (organization_id, period_start)
    WHERE kind = 'period';
CREATE INDEX invoices_interim_idx ON invoices (organization_id, period_start)
    WHERE kind = 'interim';

-- A later invoice of the period deducts each interim invoice in a line of
-- its own, naming it.
ALTER TABLE invoice_lines
    ADD COLUMN billed_invoice_id uuid REFERENCES invoices (id),
    DROP CONSTRAINT invoice_lines_kind_check,
    ADD CONSTRAINT invoice_lines_kind_check
        CHECK (kind IN ('base_fee', 'usage', 'credit', 'adjustment', 'interim')),
    DROP CONSTRAINT invoice_lines_credit_negative,
    ADD CONSTRAINT invoice_lines_credit_negative
        CHECK (kind IN ('adjustment', 'interim') OR (kind = 'credit') = (amount_minor < 0) OR amount_minor = 0),
    ADD CONSTRAINT invoice_lines_interim
        CHECK ((kind = 'interim') = (billed_invoice_id IS NOT NULL) AND (kind <> 'interim' OR amount_minor <= 0));
