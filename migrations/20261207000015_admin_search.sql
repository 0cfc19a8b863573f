-- What the admin console searches, filters and pages by, at the scale of a
-- large fleet: every list is a keyset scan of an index, and text search is
-- by trigram (pg_trgm ships with PostgreSQL and is a trusted extension).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Organizations: paged by age; found by name, member email or customer id.
CREATE INDEX organizations_created_idx ON organizations (created_at, id);
CREATE INDEX organizations_name_trgm_idx ON organizations USING gin (name gin_trgm_ops);
CREATE INDEX users_email_trgm_idx ON users USING gin (email gin_trgm_ops);
CREATE INDEX subscriptions_customer_idx ON subscriptions (payment_customer_id)
    WHERE payment_customer_id IS NOT NULL;
-- The rarer standings (past due, suspended) are found without a scan.
CREATE INDEX subscriptions_standing_idx ON subscriptions (organization_id)
    WHERE status <> 'active' OR suspended_by IS NOT NULL;

-- Clusters across data planes: paged by age, found by name, filtered by
-- data plane (which also answers "organizations in this data plane").
CREATE INDEX vector_clusters_created_idx ON vector_clusters (created_at, id);
CREATE INDEX vector_clusters_name_trgm_idx ON vector_clusters USING gin (name gin_trgm_ops);
CREATE INDEX vector_clusters_data_plane_idx ON vector_clusters (data_plane_id, organization_id);
CREATE INDEX inference_endpoints_data_plane_idx ON inference_endpoints (data_plane_id, organization_id);

-- The audit log, newest first, by action or by actor.
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id);

-- Each organization's summed meters per calendar month (UTC), kept by the
-- ingester in the transaction that stores the events: what "usage this
-- month" is sorted by, without summing a month of hourly rollups per page.
CREATE TABLE usage_monthly (
    organization_id uuid NOT NULL,
    meter           text NOT NULL,
    month           timestamptz NOT NULL,
    quantity        numeric NOT NULL,
    PRIMARY KEY (organization_id, meter, month),
    CONSTRAINT usage_monthly_on_the_month CHECK (date_trunc('month', month, 'UTC') = month)
);
CREATE INDEX usage_monthly_rank_idx ON usage_monthly (month, meter, quantity DESC, organization_id DESC);

INSERT INTO usage_monthly (organization_id, meter, month, quantity)
SELECT organization_id, meter, date_trunc('month', hour, 'UTC'), sum(quantity)
FROM usage_hourly
WHERE meter IN ('gpu_seconds', 'node_seconds', 'input_tokens', 'output_tokens')
GROUP BY 1, 2, 3;
