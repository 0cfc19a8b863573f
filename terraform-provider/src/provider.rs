//! The provider: its block, the API client it configures, and the
//! resources and data sources it serves.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tf_provider::schema::Schema;
use tf_provider::value::ValueEmpty;
use tf_provider::{Diagnostics, DynamicDataSource, DynamicResource, Provider, map};
use uuid::Uuid;

use crate::client::Client;
use crate::data_sources::{Fetched, Plans, Regions};
use crate::dto::{List, Organization};
use crate::error::Error;
use crate::resource::Managed;
use crate::resources::{
    ApiKey, BackupSchedule, InferenceEndpoint, InferenceKey, MaintenanceWindow, OfCluster,
    VectorCluster, WebhookEndpoint,
};
use crate::schema::{number, optional, schema, sensitive, string};
use crate::settings::{ProviderConfig, Settings};

/// The configured API: a client and the organization everything lives in.
#[derive(Debug)]
pub struct Api {
    pub client: Client,
    pub organization_id: Uuid,
    pub ready_timeout: Duration,
}

impl Api {
    pub fn organization_path(&self) -> String {
        format!("/v1/organizations/{}", self.organization_id)
    }

    /// The path of `rest` under the organization.
    pub fn path(&self, rest: &str) -> String {
        format!("{}/{rest}", self.organization_path())
    }
}

/// The API once the provider is configured, shared with every resource
/// (they are made before Terraform configures the provider).
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<OnceLock<Api>>);

impl Shared {
    pub fn api(&self, diags: &mut Diagnostics) -> Option<&Api> {
        let api = self.0.get();
        if api.is_none() {
            diags.root_error(
                "The provider is not configured",
                "Terraform asked for a resource before configuring the quartermaster provider.",
            );
        }
        api
    }

    /// `call` with the API, its error reported to Terraform.
    pub async fn run<'s, T, F, Fut>(&'s self, diags: &mut Diagnostics, call: F) -> Option<T>
    where
        F: FnOnce(&'s Api) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let api = self.api(diags)?;
        call(api).await.map_err(|error| error.report(diags)).ok()
    }
}

#[derive(Debug, Default)]
pub struct QuartermasterProvider {
    shared: Shared,
}

/// The organization an API key belongs to (a key has exactly one).
async fn organization_of_key(client: &Client) -> Result<Uuid, Error> {
    let organizations: List<Organization> = client.get("/v1/organizations").await?;
    match organizations.data.as_slice() {
        [only] => Ok(only.id),
        several => Err(Error::Config(format!(
            "the API key sees {} organizations; set `organization_id` (or QUARTERMASTER_ORGANIZATION_ID) to choose one",
            several.len()
        ))),
    }
}

#[async_trait]
impl Provider for QuartermasterProvider {
    type Config<'a> = ProviderConfig;
    type MetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(schema(
            "Quartermaster: managed Qdrant vector clusters and GPU inference endpoints.",
            [
                (
                    "endpoint",
                    optional(
                        string(),
                        "The API's base URL, such as `https://api.example.com`. Default: `QUARTERMASTER_ENDPOINT`.",
                    ),
                ),
                (
                    "api_key",
                    sensitive(optional(
                        string(),
                        "An organization API key (`qm_…`). Default: `QUARTERMASTER_API_KEY`.",
                    )),
                ),
                (
                    "organization_id",
                    optional(
                        string(),
                        "The organization to manage. Default: `QUARTERMASTER_ORGANIZATION_ID`, else the organization the API key belongs to.",
                    ),
                ),
                (
                    "ready_timeout_seconds",
                    optional(
                        number(),
                        "How long to wait for a cluster or endpoint to become Ready, or to be deleted. Default: 1200.",
                    ),
                ),
            ],
        ))
    }

    async fn configure<'a>(
        &self,
        diags: &mut Diagnostics,
        _terraform_version: String,
        config: ProviderConfig,
    ) -> Option<()> {
        let settings = match Settings::resolve(&config, |name| std::env::var(name).ok()) {
            Ok(settings) => settings,
            Err(problems) => {
                for problem in problems {
                    Error::Config(problem).report(diags);
                }
                return None;
            }
        };
        let configured = async {
            let client = Client::new(&settings.endpoint, &settings.api_key)?;
            let organization_id = match settings.organization_id {
                Some(id) => id,
                None => organization_of_key(&client).await?,
            };
            Ok::<_, Error>(Api {
                client,
                organization_id,
                ready_timeout: settings.ready_timeout,
            })
        };
        match configured.await {
            // Terraform configures a provider process once; a second
            // configuration would be the same one.
            Ok(api) => {
                let _ = self.shared.0.set(api);
                Some(())
            }
            Err(error) => {
                error.report(diags);
                None
            }
        }
    }

    fn get_resources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicResource>>> {
        let shared = &self.shared;
        Some(map! {
            "vector_cluster" => Managed::<VectorCluster>::new(shared.clone()),
            "inference_endpoint" => Managed::<InferenceEndpoint>::new(shared.clone()),
            "api_key" => Managed::<ApiKey>::new(shared.clone()),
            "inference_key" => Managed::<InferenceKey>::new(shared.clone()),
            "backup_schedule" => Managed::<OfCluster<BackupSchedule>>::new(shared.clone()),
            "maintenance_window" => Managed::<OfCluster<MaintenanceWindow>>::new(shared.clone()),
            "webhook_endpoint" => Managed::<WebhookEndpoint>::new(shared.clone()),
        })
    }

    fn get_data_sources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicDataSource>>> {
        Some(map! {
            "plans" => Fetched::<Plans>::new(self.shared.clone()),
            "regions" => Fetched::<Regions>::new(self.shared.clone()),
        })
    }
}
