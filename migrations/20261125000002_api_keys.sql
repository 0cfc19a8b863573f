-- Organization API keys. The token is `qm_<prefix>_<secret>`; the prefix finds
-- the row, and only a SHA-256 of the whole token is stored (the secret has
-- 192 bits of entropy, so a slow hash adds nothing but latency).

CREATE TABLE api_keys (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix          text NOT NULL CONSTRAINT api_keys_prefix_key UNIQUE,
    token_hash      bytea NOT NULL,
    scopes          text[] NOT NULL,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX api_keys_organization_idx ON api_keys (organization_id, id);
