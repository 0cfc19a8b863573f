-- Backups: each cluster's schedule and retention (part of its desired
-- spec), where each data plane keeps backups, and the backups and restores
-- customers see.

ALTER TABLE vector_clusters
    ADD COLUMN backup_schedule text,
    ADD COLUMN backup_retention_days integer CHECK (backup_retention_days > 0),
    ADD COLUMN backup_retention_count integer CHECK (backup_retention_count > 0),
    ADD CONSTRAINT vector_clusters_backup_policy
        CHECK ((backup_schedule IS NULL) = (backup_retention_days IS NULL)
           AND (backup_schedule IS NULL) = (backup_retention_count IS NULL)),
    -- A cluster made from a backup: loaded once it is Ready.
    ADD COLUMN restore_from uuid,
    ADD COLUMN restore_phase text CHECK (restore_phase IN ('Pending', 'Running', 'Succeeded', 'Failed')),
    ADD COLUMN restore_started_at timestamptz,
    ADD COLUMN restore_message text;

-- Where a data plane's clusters are backed up: bucket, endpoint, region, and
-- the Secret (in each tenant namespace) with the bucket's credentials.
ALTER TABLE data_planes ADD COLUMN backup_destination jsonb;
-- Its access key, written into each tenant namespace as the Secret the
-- destination names (kept like the kubeconfig: treat database backups as
-- secret).
ALTER TABLE data_planes ADD COLUMN backup_credentials jsonb;

CREATE TABLE cluster_backups (
    id                    uuid PRIMARY KEY,
    organization_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    cluster_id            uuid NOT NULL,
    -- The VectorClusterBackup's name in the data plane.
    name                  text NOT NULL,
    origin                text NOT NULL CHECK (origin IN ('manual', 'scheduled', 'pre-upgrade')),
    phase                 text NOT NULL DEFAULT 'Pending'
                          CHECK (phase IN ('Pending', 'Running', 'Succeeded', 'Failed')),
    message               text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    applied_at            timestamptz,
    finished_at           timestamptz,
    deletion_requested_at timestamptz,
    CONSTRAINT cluster_backups_name_key UNIQUE (cluster_id, name)
);
CREATE INDEX cluster_backups_organization_idx ON cluster_backups (organization_id, cluster_id, created_at);
CREATE INDEX cluster_backups_work_idx ON cluster_backups (id)
    WHERE phase IN ('Pending', 'Running') OR deletion_requested_at IS NOT NULL;

-- A simulated data plane keeps simulated backups.
UPDATE data_planes
SET backup_destination = '{"bucket": "simulated", "endpoint": "http://backups.simulated.invalid",
                           "region": "local", "credentialsSecret": "simulated"}'
WHERE kind = 'simulated';
