-- Which catalog price list rates a resource's usage (owned by metering): a
-- cluster or endpoint made in a customer-run data plane is rated by that
-- data plane's list. A resource absent here is rated by the catalog's own
-- prices. Written once, when the resource is made; a resource keeps its
-- data plane for life.
CREATE TABLE resource_price_lists (
    resource_id     uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    price_list      text NOT NULL
);
CREATE INDEX resource_price_lists_organization_idx ON resource_price_lists (organization_id);
