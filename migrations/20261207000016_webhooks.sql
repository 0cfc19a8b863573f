-- Outgoing webhooks: the endpoints an organization registers, the events its
-- changes raise (written in the transaction of the change), and one delivery
-- per event and subscribed endpoint, retried until it succeeds or 3 days pass.

CREATE TABLE webhook_endpoints (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url                 text NOT NULL CHECK (length(url) <= 2048),
    description         text NOT NULL DEFAULT '',
    event_types         text[] NOT NULL CHECK (cardinality(event_types) > 0),
    -- Kept to sign with (an HMAC needs the key itself); never shown after
    -- creation or rotation, never logged.
    secret              text NOT NULL,
    -- The secret before the last rotation, still signed with until it expires.
    previous_secret     text,
    previous_expires_at timestamptz,
    -- Set by the first failure after a success; an endpoint failing for 3
    -- days is disabled.
    failing_since       timestamptz,
    disabled_at         timestamptz,
    disabled_reason     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_organization_idx ON webhook_endpoints (organization_id, id);

CREATE TABLE webhook_events (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    type            text NOT NULL,
    -- What it is about, as `<type>:<id>`: deliveries of one resource go in order.
    resource        text NOT NULL,
    -- The body sent, exactly: its bytes are what the signature covers.
    body            text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX webhook_events_organization_idx ON webhook_events (organization_id, created_at);

CREATE TABLE webhook_deliveries (
    id                uuid PRIMARY KEY,
    -- Order of creation across replicas, for in-order delivery per resource.
    seq               bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_id          uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id       uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    resource          text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL,
    last_attempt_at   timestamptz,
    -- The receiver's HTTP status on the last attempt; NULL when none came.
    response_status   smallint,
    last_error        text,
    created_at        timestamptz NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (endpoint_id, resource, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
