//! `data.quartermaster_plans`: the plans on offer with their limits, and
//! the one the organization is on.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::map;
use tf_provider::schema::{AttributeType, Schema};
use tf_provider::value::Value;

use super::ApiData;
use crate::dto::{List, Organization, Plan};
use crate::error::Error;
use crate::provider::Api;
use crate::schema::{boolean, computed, number, schema, string};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub plans: Value<Vec<Plan>>,
    pub current: Value<String>,
}

#[derive(Debug)]
pub struct Plans;

#[async_trait]
impl ApiData for Plans {
    type State = State;

    fn schema() -> Schema {
        let plan = AttributeType::Object(map! {
            "id" => string(),
            "name" => string(),
            "base_fee_minor" => number(),
            "currency" => string(),
            "max_vector_clusters" => number(),
            "max_nodes_per_cluster" => number(),
            "max_replication_factor" => number(),
            "max_gpus_per_endpoint" => number(),
            "included_storage_gib" => number(),
            "backups" => string(),
            "maintenance_windows" => boolean(),
        });
        schema(
            "The plans on offer and the organization's own.",
            [
                (
                    "plans",
                    computed(
                        AttributeType::List(Box::new(plan)),
                        "Each plan with its monthly fee (minor units of `currency`) and limits; `max_vector_clusters` is null when unlimited; `backups` is `none`, `daily` or `scheduled`; `maintenance_windows` whether its clusters may have one.",
                    ),
                ),
                (
                    "current",
                    computed(string(), "The id of the organization's plan."),
                ),
            ],
        )
    }

    async fn fetch(api: &Api) -> Result<State, Error> {
        let plans: List<Plan> = api.client.get("/v1/plans").await?;
        let organization: Organization = api.client.get(&api.organization_path()).await?;
        Ok(State {
            plans: Value::Value(plans.data),
            current: Value::Value(organization.plan),
        })
    }
}
