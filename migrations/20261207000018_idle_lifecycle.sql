-- The free tier's idle lifecycle: a cluster that serves no request is
-- warned, suspended (cause `idle`), warned again and deleted.

-- `idle` joins the causes of a suspension wherever one is recorded.
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_suspended_by_check;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_suspended_by_check
    CHECK (suspended_by IN ('billing', 'storage_cap', 'spend_limit', 'admin', 'idle'));
ALTER TABLE vector_clusters DROP CONSTRAINT vector_clusters_suspended_by_check;
ALTER TABLE vector_clusters ADD CONSTRAINT vector_clusters_suspended_by_check
    CHECK (suspended_by IN ('billing', 'storage_cap', 'spend_limit', 'admin', 'idle'));
ALTER TABLE inference_endpoints DROP CONSTRAINT inference_endpoints_suspended_by_check;
ALTER TABLE inference_endpoints ADD CONSTRAINT inference_endpoints_suspended_by_check
    CHECK (suspended_by IN ('billing', 'storage_cap', 'spend_limit', 'admin', 'idle'));

-- When a suspension of the resource was last lifted: a resumed cluster's
-- idle clock starts again there.
ALTER TABLE vector_clusters ADD COLUMN resumed_at timestamptz;
ALTER TABLE inference_endpoints ADD COLUMN resumed_at timestamptz;

-- Each step taken, once per cluster, step and idle stretch (`idle_since`,
-- when the stretch began): a warning is sent once, whichever replica
-- runs the pass and however often. Written in the transaction that sends
-- the email or acts. Steps: `suspend_warning`, `suspend`,
-- `delete_warning_<days before>`, `delete`.
CREATE TABLE cluster_idle_steps (
    cluster_id uuid NOT NULL REFERENCES vector_clusters (id) ON DELETE CASCADE,
    step       text NOT NULL,
    idle_since timestamptz NOT NULL,
    done_at    timestamptz NOT NULL,
    PRIMARY KEY (cluster_id, step, idle_since)
);
