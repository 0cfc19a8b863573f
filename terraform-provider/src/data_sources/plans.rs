//! `data.quartermaster_plans`: the plans on offer with their limits, and
//! the one the organization is on.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeType, Schema};
use tf_provider::value::{Value, ValueEmpty};
use tf_provider::{DataSource, Diagnostics, map};

use crate::dto::{List, Organization, Plan};
use crate::error::Error;
use crate::provider::{Api, Shared};
use crate::schema::{boolean, computed, number, schema, string};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanObject {
    pub id: String,
    pub name: String,
    pub base_fee_minor: i64,
    pub currency: String,
    pub max_vector_clusters: Option<i64>,
    pub max_nodes_per_cluster: i64,
    pub max_replication_factor: i64,
    pub max_gpus_per_endpoint: i64,
    pub included_storage_gib: i64,
    pub backups: String,
    pub maintenance_windows: bool,
}

impl From<Plan> for PlanObject {
    fn from(p: Plan) -> Self {
        PlanObject {
            id: p.id,
            name: p.name,
            base_fee_minor: p.base_fee_minor,
            currency: p.currency,
            max_vector_clusters: p.max_vector_clusters,
            max_nodes_per_cluster: p.max_nodes_per_cluster,
            max_replication_factor: p.max_replication_factor,
            max_gpus_per_endpoint: p.max_gpus_per_endpoint,
            included_storage_gib: p.included_storage_gib,
            backups: p.backups,
            maintenance_windows: p.maintenance_windows,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub plans: Value<Vec<PlanObject>>,
    pub current: Value<String>,
}

#[derive(Debug)]
pub struct Plans {
    shared: Shared,
}

impl Plans {
    pub fn new(shared: Shared) -> Self {
        Plans { shared }
    }
}

async fn fetch(api: &Api) -> Result<State, Error> {
    let plans: List<Plan> = api.client.get("/v1/plans").await?;
    let organization: Organization = api.client.get(&api.organization_path()).await?;
    Ok(State {
        plans: Value::Value(plans.data.into_iter().map(PlanObject::from).collect()),
        current: Value::Value(organization.plan),
    })
}

#[async_trait]
impl DataSource for Plans {
    type State<'a> = State;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
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
        Some(schema(
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
        ))
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        _config: State,
        _meta: ValueEmpty,
    ) -> Option<State> {
        self.shared.run(diags, fetch).await
    }
}
