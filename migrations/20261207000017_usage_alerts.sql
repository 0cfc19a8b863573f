-- Usage and spend alerts: thresholds an organization sets, the organizations
-- whose usage changed since the alerts were last evaluated (marked by the
-- ingester in the transaction that stores the events), and each threshold
-- fired, at most once per period by its primary key.

CREATE TABLE usage_changes (
    organization_id uuid PRIMARY KEY,
    changed_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_changes_changed_idx ON usage_changes (changed_at);

CREATE TABLE usage_alerts (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- `spend` (usage charges this period, in the currency's minor unit) or
    -- a meter (its quantity this period, in the meter's unit).
    metric          text NOT NULL,
    budget          numeric NOT NULL CHECK (budget > 0),
    -- Each a percentage of the budget that fires once a period.
    percents        smallint[] NOT NULL CHECK (cardinality(percents) BETWEEN 1 AND 10),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_alerts_organization_idx ON usage_alerts (organization_id, id);

CREATE TABLE usage_alert_firings (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- The alert's id, or `default:<what>` for a default threshold.
    alert           text NOT NULL,
    percent         smallint NOT NULL,
    period_start    timestamptz NOT NULL,
    metric          text NOT NULL,
    budget          numeric NOT NULL,
    value           numeric NOT NULL,
    fired_at        timestamptz NOT NULL,
    PRIMARY KEY (organization_id, alert, percent, period_start)
);
