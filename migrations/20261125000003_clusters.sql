-- Data planes (one Kubernetes cluster per region, or a simulated one), and
-- what customers run in them: vector clusters and inference endpoints.
-- Each resource keeps its desired spec as typed columns with a generation
-- that moves on every change, and the status observed in the data plane.

CREATE TABLE data_planes (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CONSTRAINT data_planes_name_key UNIQUE,
    region     text NOT NULL CONSTRAINT data_planes_region_key UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('kubernetes', 'simulated')),
    -- For kind 'kubernetes': the kubeconfig used to reach it.
    kubeconfig text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT data_planes_kubeconfig_for_kubernetes
        CHECK ((kind = 'kubernetes') = (kubeconfig IS NOT NULL))
);

CREATE TABLE vector_clusters (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    data_plane_id       uuid NOT NULL REFERENCES data_planes (id),
    name                text NOT NULL,
    -- desired
    version             text NOT NULL,
    nodes               integer NOT NULL CHECK (nodes > 0),
    replication_factor  integer NOT NULL CHECK (replication_factor BETWEEN 1 AND nodes),
    cpu_millicores      integer NOT NULL CHECK (cpu_millicores > 0),
    memory_mib          integer NOT NULL CHECK (memory_mib > 0),
    storage_gib         integer NOT NULL CHECK (storage_gib > 0),
    generation          bigint NOT NULL DEFAULT 1,
    deletion_requested_at timestamptz,
    -- observed
    phase               text NOT NULL DEFAULT 'Provisioning',
    observed_generation bigint NOT NULL DEFAULT 0,
    current_version     text,
    ready_nodes         integer NOT NULL DEFAULT 0,
    endpoint            text,
    conditions          jsonb NOT NULL DEFAULT '[]',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- Names are unique among an organization's clusters, including one being
-- deleted (its name is freed once the data plane has removed it).
CREATE UNIQUE INDEX vector_clusters_organization_name_key
    ON vector_clusters (organization_id, name);
CREATE INDEX vector_clusters_organization_idx ON vector_clusters (organization_id, id);

CREATE TABLE inference_endpoints (
    id                         uuid PRIMARY KEY,
    organization_id            uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    data_plane_id              uuid NOT NULL REFERENCES data_planes (id),
    name                       text NOT NULL,
    -- desired
    model_repository           text,
    model_revision             text,
    image                      text,
    engine                     text NOT NULL DEFAULT 'vllm',
    gpu_model                  text NOT NULL,
    gpu_count                  integer NOT NULL CHECK (gpu_count > 0),
    min_replicas               integer NOT NULL CHECK (min_replicas >= 0),
    max_replicas               integer NOT NULL CHECK (max_replicas >= min_replicas AND max_replicas > 0),
    scale_to_zero_after_seconds integer CHECK (scale_to_zero_after_seconds > 0),
    target_concurrency         integer CHECK (target_concurrency > 0),
    generation                 bigint NOT NULL DEFAULT 1,
    deletion_requested_at      timestamptz,
    -- observed
    phase                      text NOT NULL DEFAULT 'Provisioning',
    observed_generation        bigint NOT NULL DEFAULT 0,
    served_revision            text,
    ready_replicas             integer NOT NULL DEFAULT 0,
    endpoint                   text,
    conditions                 jsonb NOT NULL DEFAULT '[]',
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT inference_endpoints_model_or_image
        CHECK ((model_repository IS NOT NULL) <> (image IS NOT NULL))
);
CREATE UNIQUE INDEX inference_endpoints_organization_name_key
    ON inference_endpoints (organization_id, name);
