-- Who did what (audit log), side effects to perform after commit (outbox),
-- and saved responses for replayed Idempotency-Keys.

CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
    -- 'user:<uuid>', 'api_key:<uuid>' or 'system'
    actor           text NOT NULL,
    action          text NOT NULL,
    target_type     text NOT NULL,
    target_id       text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}',
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_organization_idx ON audit_log (organization_id, id);

-- Written in the same transaction as the change that needs the side effect;
-- a worker takes rows with FOR UPDATE SKIP LOCKED and retries with backoff.
CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic        text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    available_at timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    processed_at timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (available_at) WHERE processed_at IS NULL;

-- The key row is inserted first, the work done and the response saved in the
-- same transaction: a replay either waits for the first request or gets its
-- saved response, never a second execution.
CREATE TABLE idempotency_keys (
    -- Whose key it is: 'organization:<uuid>' or 'user:<uuid>'.
    scope           text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 of method, path and body: a key reused for another request is refused.
    request_hash    bytea NOT NULL,
    response_status smallint,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
