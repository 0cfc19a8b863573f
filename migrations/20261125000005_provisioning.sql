-- What the provisioner has carried into the data plane, and when.

ALTER TABLE vector_clusters
    ADD COLUMN applied_generation bigint NOT NULL DEFAULT 0,
    ADD COLUMN applied_at timestamptz,
    ADD COLUMN synced_at timestamptz;

-- The provisioner's work list: spec changes not yet applied, and clusters
-- not yet settled or being deleted.
CREATE INDEX vector_clusters_unsettled_idx ON vector_clusters (updated_at)
    WHERE phase NOT IN ('Ready', 'Suspended') OR applied_generation < generation
          OR deletion_requested_at IS NOT NULL;
