-- Inference endpoints: what the provisioner has applied, per-replica
-- resources, and wake-up requests for endpoints scaled to zero.

ALTER TABLE inference_endpoints
    ADD COLUMN cpu_millicores integer NOT NULL DEFAULT 4000 CHECK (cpu_millicores > 0),
    ADD COLUMN memory_mib integer NOT NULL DEFAULT 16384 CHECK (memory_mib > 0),
    ADD COLUMN applied_generation bigint NOT NULL DEFAULT 0,
    ADD COLUMN applied_at timestamptz,
    ADD COLUMN synced_at timestamptz,
    ADD COLUMN wake_requested_at timestamptz;

CREATE INDEX inference_endpoints_organization_idx ON inference_endpoints (organization_id, id);
