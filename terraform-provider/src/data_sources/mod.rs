//! Data sources: what the API offers, read at plan time. Each says its
//! schema and how to fetch it ([`ApiData`]); [`Fetched`] serves it to
//! Terraform, errors as diagnostics.

mod plans;
mod regions;

pub use plans::Plans;
pub use regions::Regions;

use std::marker::PhantomData;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tf_provider::schema::Schema;
use tf_provider::value::ValueEmpty;
use tf_provider::{DataSource, Diagnostics};

use crate::error::Error;
use crate::provider::{Api, Shared};

#[async_trait]
pub trait ApiData: Send + Sync + 'static {
    type State: Serialize + DeserializeOwned + Send;

    fn schema() -> Schema;
    async fn fetch(api: &Api) -> Result<Self::State, Error>;
}

/// `D` served to Terraform.
#[derive(Debug)]
pub struct Fetched<D> {
    shared: Shared,
    data: PhantomData<fn() -> D>,
}

impl<D> Fetched<D> {
    pub fn new(shared: Shared) -> Self {
        Fetched {
            shared,
            data: PhantomData,
        }
    }
}

#[async_trait]
impl<D: ApiData> DataSource for Fetched<D> {
    type State<'a> = D::State;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(D::schema())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        _config: D::State,
        _meta: ValueEmpty,
    ) -> Option<D::State> {
        self.shared.run(diags, D::fetch).await
    }
}
