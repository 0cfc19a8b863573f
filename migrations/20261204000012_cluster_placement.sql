-- Where a cluster's shards are, as its data plane last reported them (the
-- VectorCluster's `status.placement`): what a resize would move. NULL: not
-- reported (one node, or not read yet).
ALTER TABLE vector_clusters
    ADD COLUMN placement jsonb
        CHECK (placement IS NULL OR jsonb_typeof(placement -> 'collections') = 'array');
