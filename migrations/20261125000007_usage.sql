-- Usage metering: raw events, append-only, and their hourly rollups.
--
-- There is deliberately no unique index on (source, event_id): the ingester
-- deduplicates exactly with a window it keeps in memory, rebuilt from this
-- table at start and caught up by `seq` under an advisory lock (see
-- metering/src/ingest.rs). A unique index would cap ingestion at about a
-- quarter of raw COPY speed.
CREATE TABLE usage_events (
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    source          text NOT NULL,
    event_id        text NOT NULL,
    organization_id uuid NOT NULL,
    -- The cluster or endpoint the usage is of.
    resource_id     uuid NOT NULL,
    meter           text NOT NULL,
    dimension       text NOT NULL DEFAULT '',
    time            timestamptz NOT NULL,
    value           bigint NOT NULL CHECK (value >= 0),
    ingested_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_time_brin ON usage_events USING brin (time);
CREATE INDEX usage_events_seq_brin ON usage_events USING brin (seq);
-- Gauge samples are read back to recompute their hours; only they (a small
-- share of events) are indexed for it.
CREATE INDEX usage_events_gauges_idx ON usage_events (resource_id, time)
    WHERE meter IN ('storage_bytes', 'object_count');

-- One row per (organization, resource, meter, dimension, hour). For sums,
-- `quantity` is the sum of values; for gauges it is the time integral of
-- the value (value x seconds) and `covered_seconds` how long a value was known.
CREATE TABLE usage_hourly (
    organization_id uuid NOT NULL,
    resource_id     uuid NOT NULL,
    meter           text NOT NULL,
    dimension       text NOT NULL,
    hour            timestamptz NOT NULL,
    quantity        numeric NOT NULL,
    covered_seconds numeric NOT NULL DEFAULT 0,
    events          integer NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, resource_id, meter, dimension, hour),
    CONSTRAINT usage_hourly_on_the_hour CHECK (date_trunc('hour', hour) = hour)
);
CREATE INDEX usage_hourly_organization_hour_idx ON usage_hourly (organization_id, hour);

-- The ingesters' shared state: the last `seq` written. Its row lock
-- serializes batches across replicas; a replica whose window is behind it
-- catches up from `usage_events` before deduplicating.
CREATE TABLE usage_ingest_state (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_seq bigint NOT NULL
);
INSERT INTO usage_ingest_state (last_seq) VALUES (0);

-- Data planes authenticate their usage reports with a token of their own.
ALTER TABLE data_planes ADD COLUMN ingest_token_hash bytea;
