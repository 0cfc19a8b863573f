-- Connected data planes: the operator enrolls with a one-time token, pulls
-- its desired state and reports status with its own credential. The
-- control plane keeps no kubeconfig for one, and no bucket key: those stay
-- in the data plane (the operator chart). A data plane with a kubeconfig
-- ('kubernetes') is pushed to until it is switched; switching deletes the
-- kubeconfig and the key.

ALTER TABLE data_planes DROP CONSTRAINT data_planes_kind_check;
ALTER TABLE data_planes
    ADD CONSTRAINT data_planes_kind_check
        CHECK (kind IN ('kubernetes', 'simulated', 'connected')),
    -- The last authenticated request of a connected data plane: one silent
    -- for longer than the configured time is shown stale (never more).
    ADD COLUMN last_seen_at timestamptz,
    -- Revoked: every credential and enrollment token is refused.
    ADD COLUMN revoked_at timestamptz,
    -- A customer-run data plane serves this organization only.
    ADD COLUMN organization_id uuid REFERENCES organizations (id) ON DELETE RESTRICT,
    -- The catalog price list its usage is rated by; NULL: the catalog's own.
    ADD COLUMN price_list text,
    ADD CONSTRAINT data_planes_customer_run_is_connected
        CHECK (organization_id IS NULL OR kind = 'connected');

-- One-time enrollment tokens; only their SHA-256 is kept.
CREATE TABLE data_plane_enrollments (
    token_hash    bytea PRIMARY KEY,
    data_plane_id uuid NOT NULL REFERENCES data_planes (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX data_plane_enrollments_plane_idx ON data_plane_enrollments (data_plane_id);

-- A data plane's credentials, hashed. A rotated-out one keeps working
-- until `expires_at` (a short grace), so a lost answer locks nobody out.
CREATE TABLE data_plane_credentials (
    token_hash    bytea PRIMARY KEY,
    data_plane_id uuid NOT NULL REFERENCES data_planes (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz
);
CREATE INDEX data_plane_credentials_plane_idx ON data_plane_credentials (data_plane_id);

-- Every change of a data plane's desired state takes the next version.
-- Writers take one transaction-scoped advisory lock before they draw it,
-- so versions commit in order: a reader that has seen version v has seen
-- every change up to v, and `since` is a complete cursor. (Without the
-- lock, a transaction that drew 10 could commit after one that drew 11
-- was read, and its change would never be sent.) The lock is held only by
-- transactions that change desired state, until they end.
CREATE SEQUENCE desired_state_version;

CREATE FUNCTION desired_state_version() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    -- "qmsync"
    PERFORM pg_advisory_xact_lock(124762106046819);
    RETURN nextval('desired_state_version');
END $$;

CREATE FUNCTION desired_state_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    plane uuid;
BEGIN
    IF TG_TABLE_NAME = 'cluster_backups' THEN
        SELECT data_plane_id INTO plane FROM vector_clusters WHERE id = NEW.cluster_id;
    ELSE
        plane := NEW.data_plane_id;
    END IF;
    NEW.sync_version := desired_state_version();
    IF plane IS NOT NULL THEN
        PERFORM pg_notify('qm_desired_state', plane::text);
    END IF;
    RETURN NEW;
END $$;

ALTER TABLE vector_clusters ADD COLUMN sync_version bigint NOT NULL DEFAULT 0;
ALTER TABLE inference_endpoints ADD COLUMN sync_version bigint NOT NULL DEFAULT 0;
ALTER TABLE cluster_backups ADD COLUMN sync_version bigint NOT NULL DEFAULT 0;
UPDATE vector_clusters SET sync_version = nextval('desired_state_version');
UPDATE inference_endpoints SET sync_version = nextval('desired_state_version');
UPDATE cluster_backups SET sync_version = nextval('desired_state_version');
CREATE INDEX vector_clusters_sync_idx ON vector_clusters (data_plane_id, sync_version);
CREATE INDEX inference_endpoints_sync_idx ON inference_endpoints (data_plane_id, sync_version);
CREATE INDEX cluster_backups_sync_idx ON cluster_backups (sync_version);

CREATE TRIGGER vector_clusters_desired_insert BEFORE INSERT ON vector_clusters
    FOR EACH ROW EXECUTE FUNCTION desired_state_changed();
CREATE TRIGGER vector_clusters_desired_update
    BEFORE UPDATE OF generation, deletion_requested_at ON vector_clusters
    FOR EACH ROW
    WHEN (OLD.generation IS DISTINCT FROM NEW.generation
          OR OLD.deletion_requested_at IS DISTINCT FROM NEW.deletion_requested_at)
    EXECUTE FUNCTION desired_state_changed();

CREATE TRIGGER inference_endpoints_desired_insert BEFORE INSERT ON inference_endpoints
    FOR EACH ROW EXECUTE FUNCTION desired_state_changed();
CREATE TRIGGER inference_endpoints_desired_update
    BEFORE UPDATE OF generation, deletion_requested_at, wake_requested_at ON inference_endpoints
    FOR EACH ROW
    WHEN (OLD.generation IS DISTINCT FROM NEW.generation
          OR OLD.deletion_requested_at IS DISTINCT FROM NEW.deletion_requested_at
          OR OLD.wake_requested_at IS DISTINCT FROM NEW.wake_requested_at)
    EXECUTE FUNCTION desired_state_changed();

-- Only backups taken by hand are desired state; the operator's own are
-- reported, never sent.
CREATE TRIGGER cluster_backups_desired_insert BEFORE INSERT ON cluster_backups
    FOR EACH ROW WHEN (NEW.origin = 'manual') EXECUTE FUNCTION desired_state_changed();
CREATE TRIGGER cluster_backups_desired_update
    BEFORE UPDATE OF deletion_requested_at ON cluster_backups
    FOR EACH ROW
    WHEN (OLD.deletion_requested_at IS DISTINCT FROM NEW.deletion_requested_at)
    EXECUTE FUNCTION desired_state_changed();

-- A resource whose row went without the data plane reporting it gone (an
-- organization deleted, say) is sent as a deletion.
CREATE TABLE desired_state_tombstones (
    kind            text NOT NULL,
    id              uuid NOT NULL,
    data_plane_id   uuid NOT NULL REFERENCES data_planes (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL,
    name            text NOT NULL,
    sync_version    bigint NOT NULL,
    deleted_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);
CREATE INDEX desired_state_tombstones_sync_idx ON desired_state_tombstones (data_plane_id, sync_version);

CREATE FUNCTION desired_state_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO desired_state_tombstones (kind, id, data_plane_id, organization_id, name, sync_version)
    VALUES (TG_ARGV[0], OLD.id, OLD.data_plane_id, OLD.organization_id, OLD.name,
            desired_state_version())
    ON CONFLICT (kind, id) DO NOTHING;
    PERFORM pg_notify('qm_desired_state', OLD.data_plane_id::text);
    RETURN OLD;
END $$;

CREATE TRIGGER vector_clusters_desired_delete AFTER DELETE ON vector_clusters
    FOR EACH ROW EXECUTE FUNCTION desired_state_deleted('VectorCluster');
CREATE TRIGGER inference_endpoints_desired_delete AFTER DELETE ON inference_endpoints
    FOR EACH ROW EXECUTE FUNCTION desired_state_deleted('InferenceEndpoint');
