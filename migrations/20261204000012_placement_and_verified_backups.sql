-- Where a cluster's shards are, as its data plane last reported them (the
-- VectorCluster's `status.placement`): what a resize would move. NULL: not
-- reported (one node, or not read yet).
ALTER TABLE vector_clusters
    ADD COLUMN placement jsonb
        CHECK (placement IS NULL OR jsonb_typeof(placement -> 'collections') = 'array');

-- Test restores of a cluster's backups (part of its backup policy), and how
-- the newest one went, as the data plane reports it (`status.backups.
-- lastVerified`: backup, finishedAt, succeeded, message).
ALTER TABLE vector_clusters
    ADD COLUMN backup_verify boolean NOT NULL DEFAULT false,
    ADD COLUMN backup_last_verified jsonb
        CHECK (backup_last_verified IS NULL OR jsonb_typeof(backup_last_verified) = 'object');
