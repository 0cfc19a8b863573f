-- Inference keys: what a customer's OpenAI-style requests to a data plane's
-- inference gateway carry. The token is `qmi_<prefix>_<secret>`; only its
-- SHA-256 (lowercase hex, as `crds::gateway::key_hash` computes it) is
-- stored, since that is all a gateway receives and compares. A key is
-- scoped to one endpoint, or to every endpoint of its organization when
-- `endpoint_id` is NULL; it goes with the endpoint it is scoped to, which
-- must be of the key's own organization (the foreign key names both).

CREATE UNIQUE INDEX inference_endpoints_id_organization_key
    ON inference_endpoints (id, organization_id);

CREATE TABLE inference_keys (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    endpoint_id         uuid,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix              text NOT NULL CONSTRAINT inference_keys_prefix_key UNIQUE,
    hash                text NOT NULL CONSTRAINT inference_keys_hash_key UNIQUE
                        CHECK (hash ~ '^[0-9a-f]{64}$'),
    expires_at          timestamptz,
    requests_per_minute integer CHECK (requests_per_minute > 0),
    tokens_per_minute   integer CHECK (tokens_per_minute > 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at          timestamptz,
    CONSTRAINT inference_keys_endpoint_fkey FOREIGN KEY (endpoint_id, organization_id)
        REFERENCES inference_endpoints (id, organization_id) ON DELETE CASCADE
);
CREATE INDEX inference_keys_organization_idx ON inference_keys (organization_id, id);
CREATE INDEX inference_keys_endpoint_idx ON inference_keys (endpoint_id)
    WHERE endpoint_id IS NOT NULL;

-- Where a data plane's inference gateway answers customers, such as
-- `https://inference.eu-west.example.com`; NULL until it has one.
ALTER TABLE data_planes ADD COLUMN gateway_url text
    CHECK (gateway_url ~ '^https?://[^[:space:]]+$');
