-- Labels: key/value metadata on clusters and endpoints, in Kubernetes'
-- label syntax (checked by control-plane/src/labels.rs). They are not part
-- of the spec: changing them bumps no generation and reaches no data plane.
ALTER TABLE vector_clusters
    ADD COLUMN labels jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT vector_clusters_labels_object CHECK (jsonb_typeof(labels) = 'object');
ALTER TABLE inference_endpoints
    ADD COLUMN labels jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT inference_endpoints_labels_object CHECK (jsonb_typeof(labels) = 'object');

-- Metering's: which labels a resource carried over [valid_from, valid_to),
-- so that a report or an invoice reads an hour's usage under the labels in
-- force when that hour started. The control plane writes it through
-- `metering::labels::record`, in the transaction that changes the labels.
-- Labels given at creation hold from `-infinity`, so the resource's first
-- (partial) hour carries them. A resource with no row here had none. Rows
-- outlive the resource, as its rollups do.
CREATE TABLE resource_labels (
    organization_id uuid NOT NULL,
    resource_id     uuid NOT NULL,
    labels          jsonb NOT NULL CHECK (jsonb_typeof(labels) = 'object'),
    valid_from      timestamptz NOT NULL,
    valid_to        timestamptz,
    PRIMARY KEY (resource_id, valid_from),
    CONSTRAINT resource_labels_forward CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX resource_labels_one_open ON resource_labels (resource_id) WHERE valid_to IS NULL;
CREATE INDEX resource_labels_organization_idx ON resource_labels (organization_id, valid_from);
