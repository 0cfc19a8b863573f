-- A resource's desired spec is one value: the custom resource's own `spec`
-- object (camelCase, as `crds` serializes it), written only through the
-- control plane's generic store, which bumps the generation. The typed
-- columns it replaces are folded into it here.
--
-- Two parts of the applied spec are not stored, because they are not the
-- customer's to ask for: `suspend` follows `suspended_by` (the money flow's
-- decision), and a backup policy's destination is the region's, put in when
-- the provisioner applies it (the one stored is the region's at the time).

ALTER TABLE vector_clusters ADD COLUMN spec jsonb;
UPDATE vector_clusters c
SET spec = jsonb_build_object(
        'version', c.version,
        'nodes', c.nodes,
        'replicationFactor', c.replication_factor,
        'resources', jsonb_build_object(
            'cpuMillicores', c.cpu_millicores,
            'memoryMib', c.memory_mib,
            'storageGib', c.storage_gib))
    || CASE WHEN c.maintenance_window IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('maintenanceWindow', c.maintenance_window) END
    || CASE WHEN c.backup_schedule IS NULL OR d.backup_destination IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('backup', jsonb_build_object(
                'schedule', c.backup_schedule,
                'retention', jsonb_build_object(
                    'count', c.backup_retention_count,
                    'maxAgeDays', c.backup_retention_days),
                'destination', d.backup_destination,
                'verify', c.backup_verify)) END
FROM data_planes d
WHERE d.id = c.data_plane_id;

ALTER TABLE vector_clusters
    ALTER COLUMN spec SET NOT NULL,
    ADD CONSTRAINT vector_clusters_spec_object CHECK (jsonb_typeof(spec) = 'object'),
    DROP CONSTRAINT vector_clusters_backup_policy,
    DROP COLUMN version,
    DROP COLUMN nodes,
    DROP COLUMN replication_factor,
    DROP COLUMN cpu_millicores,
    DROP COLUMN memory_mib,
    DROP COLUMN storage_gib,
    DROP COLUMN backup_schedule,
    DROP COLUMN backup_retention_days,
    DROP COLUMN backup_retention_count,
    DROP COLUMN backup_verify,
    DROP COLUMN maintenance_window;
-- The fleet upgrade picks clusters by the version they are asked to run.
ALTER TABLE vector_clusters
    ADD COLUMN version text GENERATED ALWAYS AS (spec ->> 'version') STORED;
CREATE INDEX vector_clusters_version_idx ON vector_clusters (version);

ALTER TABLE inference_endpoints ADD COLUMN spec jsonb;
UPDATE inference_endpoints e
SET spec = jsonb_build_object(
        'engine', e.engine,
        'gpu', jsonb_build_object('model', e.gpu_model, 'count', e.gpu_count),
        'replicas', jsonb_build_object('min', e.min_replicas, 'max', e.max_replicas)
            || CASE WHEN e.scale_to_zero_after_seconds IS NULL THEN '{}'::jsonb
                    ELSE jsonb_build_object('scaleToZeroAfterSeconds',
                                            e.scale_to_zero_after_seconds) END,
        'targetConcurrency', coalesce(e.target_concurrency, 16),
        -- Shared memory was never stored: every endpoint has had 8 GiB.
        'resources', jsonb_build_object(
            'cpuMillicores', e.cpu_millicores,
            'memoryMib', e.memory_mib,
            'shmMib', 8192))
    || CASE WHEN e.model_repository IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('model', jsonb_build_object(
                'repository', e.model_repository,
                'revision', coalesce(e.model_revision, ''))) END
    || CASE WHEN e.image IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('image', e.image) END;

ALTER TABLE inference_endpoints
    ALTER COLUMN spec SET NOT NULL,
    ADD CONSTRAINT inference_endpoints_spec_object CHECK (jsonb_typeof(spec) = 'object'),
    DROP CONSTRAINT inference_endpoints_model_or_image,
    DROP COLUMN model_repository,
    DROP COLUMN model_revision,
    DROP COLUMN image,
    DROP COLUMN engine,
    DROP COLUMN gpu_model,
    DROP COLUMN gpu_count,
    DROP COLUMN min_replicas,
    DROP COLUMN max_replicas,
    DROP COLUMN scale_to_zero_after_seconds,
    DROP COLUMN target_concurrency,
    DROP COLUMN cpu_millicores,
    DROP COLUMN memory_mib;
