-- Invitations to join an organization, by a link sent to an email address.
-- Only a SHA-256 of the link's token is stored.
CREATE TABLE invitations (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           text NOT NULL,
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'billing')),
    token_hash      bytea NOT NULL CONSTRAINT invitations_token_key UNIQUE,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    accepted_at     timestamptz
);
CREATE INDEX invitations_organization_idx ON invitations (organization_id, created_at);
