//! The one adapter between Terraform's resource protocol and the API's
//! resources: each resource says how to plan, call and convert
//! ([`ApiResource`]); planning, replacement, waiting, deletion and error
//! reporting are done here once for all of them.

use std::fmt::Debug;
use std::marker::PhantomData;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tf_provider::schema::Schema;
use tf_provider::value::ValueEmpty;
use tf_provider::{AttributePath, Diagnostics, Resource};

use crate::error::Error;
use crate::provider::{Api, Shared};
use crate::wait::{self, Progress};

/// A resource as the API shows it, and how far the data plane has come.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed<S> {
    pub state: S,
    pub progress: Progress,
}

impl<S> Observed<S> {
    /// A resource the API acts on at once.
    pub fn settled(state: S) -> Self {
        Observed {
            state,
            progress: Progress::Settled,
        }
    }
}

#[async_trait]
pub trait ApiResource: Send + Sync + 'static {
    type State: Serialize + DeserializeOwned + Clone + PartialEq + Debug + Send + Sync;

    /// What messages call it: "vector cluster".
    const KIND: &'static str;
    /// Attributes the API cannot change in place: a change replaces the resource.
    const REPLACE_ON_CHANGE: &'static [&'static str];

    fn schema() -> Schema;
    fn id(state: &Self::State) -> Option<&str>;
    /// The state of a resource to be created: what the API will choose, unknown.
    fn plan_create(proposed: Self::State) -> Self::State;
    /// The state after a change to `prior` (never called without one).
    fn plan_update(prior: &Self::State, proposed: Self::State, config: &Self::State)
    -> Self::State;
    /// The state to adopt by `terraform import`, before it is read.
    fn import(id: &str) -> Result<Self::State, Error>;

    async fn create(api: &Api, planned: &Self::State) -> Result<Observed<Self::State>, Error>;
    /// `None` when the resource is gone.
    async fn read(api: &Api, state: &Self::State) -> Result<Option<Observed<Self::State>>, Error>;
    async fn update(
        api: &Api,
        prior: &Self::State,
        planned: &Self::State,
    ) -> Result<Observed<Self::State>, Error>;
    /// Asks for deletion; a resource already gone is no error.
    async fn delete(api: &Api, state: &Self::State) -> Result<(), Error>;

    /// What the plan should warn of before `planned` changes `prior` in
    /// place, as (summary, detail), read from the API.
    async fn plan_warnings(
        _api: &Api,
        _prior: &Self::State,
        _planned: &Self::State,
    ) -> Result<Vec<(String, String)>, Error> {
        Ok(Vec::new())
    }
}

/// `R` served to Terraform.
#[derive(Debug)]
pub struct Managed<R> {
    shared: Shared,
    resource: PhantomData<fn() -> R>,
}

impl<R> Managed<R> {
    pub fn new(shared: Shared) -> Self {
        Managed {
            shared,
            resource: PhantomData,
        }
    }
}

/// Which of `attributes` differ between two states.
pub fn changed<S: Serialize>(
    prior: &S,
    proposed: &S,
    attributes: &[&'static str],
) -> Vec<&'static str> {
    let (Ok(prior), Ok(proposed)) = (serde_json::to_value(prior), serde_json::to_value(proposed))
    else {
        return Vec::new();
    };
    attributes
        .iter()
        .copied()
        .filter(|name| prior.get(name) != proposed.get(name))
        .collect()
}

fn describe<R: ApiResource>(state: &R::State) -> String {
    format!("{} {}", R::KIND, R::id(state).unwrap_or("(no id)"))
}

/// Waits until `observed` is settled: the state to keep, and why the
/// resource is not settled if it is not.
async fn settle<R: ApiResource>(
    api: &Api,
    observed: Observed<R::State>,
) -> (R::State, Option<Error>) {
    let first = observed.state.clone();
    let mut pending = Some(observed);
    let outcome = wait::until(api.ready_timeout, wait::POLL_INTERVAL, || {
        let pending = pending.take();
        let first = &first;
        async move {
            let seen = match pending {
                Some(seen) => seen,
                None => R::read(api, first).await?.ok_or_else(|| Error::Failed {
                    what: describe::<R>(first),
                    phase: "gone".into(),
                    reason: "it was deleted while Terraform waited for it".into(),
                })?,
            };
            let (phase, reason) = match seen.progress {
                Progress::Settled => return Ok(Ok(seen.state)),
                Progress::Working(phase) => return Ok(Err((seen.state, phase))),
                Progress::Failed { phase, reason } => (phase, reason),
                Progress::Deleting => (
                    "Deleting".into(),
                    "its deletion was requested while Terraform waited for it".into(),
                ),
            };
            Err(Error::Failed {
                what: describe::<R>(&seen.state),
                phase,
                reason,
            })
        }
    })
    .await;
    match outcome {
        Ok(Ok(state)) => (state, None),
        Ok(Err((state, phase))) => {
            let what = describe::<R>(&state);
            let waited = api.ready_timeout;
            (
                state,
                Some(Error::Timeout {
                    what,
                    waited,
                    phase,
                }),
            )
        }
        Err(error) => (first, Some(error)),
    }
}

/// What a create or update answered, once settled; `None` when the API
/// refused it. A resource the API took but that did not settle is still
/// returned, so Terraform keeps it (tainted) with the error.
async fn settled<R: ApiResource>(
    api: &Api,
    diags: &mut Diagnostics,
    answer: Result<Observed<R::State>, Error>,
) -> Option<R::State> {
    let observed = answer.map_err(|error| error.report(diags)).ok()?;
    let (state, error) = settle::<R>(api, observed).await;
    if let Some(error) = error {
        error.report(diags);
    }
    Some(state)
}

/// Asks for deletion, then waits until the API no longer has the resource,
/// so that one of the same name can be created right after.
async fn delete<R: ApiResource>(api: &Api, state: &R::State) -> Result<(), Error> {
    R::delete(api, state).await?;
    let gone = wait::until(api.ready_timeout, wait::POLL_INTERVAL, || async {
        Ok(match R::read(api, state).await? {
            None => Ok(()),
            Some(_) => Err(()),
        })
    })
    .await?;
    gone.map_err(|_| Error::Timeout {
        what: describe::<R>(state),
        waited: api.ready_timeout,
        phase: "Deleting".into(),
    })
}

#[async_trait]
impl<R: ApiResource> Resource for Managed<R> {
    type State<'a> = R::State;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(R::schema())
    }

    /// Refreshes from the API: a change made elsewhere (the dashboard)
    /// shows in the next plan; a resource deleted elsewhere is dropped.
    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: R::State,
        private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<(R::State, ValueEmpty)> {
        let Some(api) = self.shared.api(diags) else {
            return Some((state, private));
        };
        match R::read(api, &state).await {
            Ok(
                Some(Observed {
                    progress: Progress::Deleting,
                    ..
                })
                | None,
            ) => None,
            Ok(Some(observed)) => Some((observed.state, private)),
            Err(error) => {
                error.report(diags);
                Some((state, private))
            }
        }
    }

    async fn plan_create<'a>(
        &self,
        _diags: &mut Diagnostics,
        proposed: R::State,
        _config: R::State,
        _meta: ValueEmpty,
    ) -> Option<(R::State, ValueEmpty)> {
        Some((R::plan_create(proposed), ValueEmpty::default()))
    }

    /// Plans the change; one made in place is told what it will do (a
    /// shrink's shard moves), and a failure to tell is only a warning.
    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: R::State,
        proposed: R::State,
        config: R::State,
        private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<(R::State, ValueEmpty, Vec<AttributePath>)> {
        let replace: Vec<AttributePath> = changed(&prior, &proposed, R::REPLACE_ON_CHANGE)
            .into_iter()
            .map(AttributePath::new)
            .collect();
        if proposed == prior {
            return Some((prior, private, replace));
        }
        let planned = R::plan_update(&prior, proposed, &config);
        if replace.is_empty()
            && let Some(api) = self.shared.api(diags)
        {
            match R::plan_warnings(api, &prior, &planned).await {
                Ok(warnings) => {
                    for (summary, detail) in warnings {
                        diags.root_warning(summary, detail);
                    }
                }
                Err(error) => diags.root_warning(
                    format!("Could not tell what this change to the {} does", R::KIND),
                    error.detail(),
                ),
            }
        }
        Some((planned, private, replace))
    }

    async fn plan_destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior: R::State,
        private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<ValueEmpty> {
        Some(private)
    }

    /// Creates and waits until settled.
    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned: R::State,
        _config: R::State,
        private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<(R::State, ValueEmpty)> {
        let api = self.shared.api(diags)?;
        let created = R::create(api, &planned).await;
        let state = settled::<R>(api, diags, created).await?;
        Some((state, private))
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: R::State,
        planned: R::State,
        _config: R::State,
        private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<(R::State, ValueEmpty)> {
        let api = self.shared.api(diags)?;
        let updated = R::update(api, &prior, &planned).await;
        let state = settled::<R>(api, diags, updated).await?;
        Some((state, private))
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        state: R::State,
        _private: ValueEmpty,
        _meta: ValueEmpty,
    ) -> Option<()> {
        let api = self.shared.api(diags)?;
        let deleted = delete::<R>(api, &state).await;
        deleted.map_err(|error| error.report(diags)).ok()
    }

    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(R::State, ValueEmpty)> {
        let state = R::import(&id).map_err(|error| error.report(diags)).ok()?;
        Some((state, ValueEmpty::default()))
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use tf_provider::value::Value;

    use super::changed;

    #[derive(Clone, Serialize)]
    struct Thing {
        name: Value<String>,
        region: Value<String>,
        nodes: Value<i64>,
    }

    #[test]
    fn only_the_named_attributes_that_differ_force_a_replacement() {
        let prior = Thing {
            name: Value::Value("a".into()),
            region: Value::Value("eu".into()),
            nodes: Value::Value(1),
        };
        let proposed = Thing {
            name: Value::Value("a".into()),
            region: Value::Value("us".into()),
            nodes: Value::Value(3),
        };
        assert_eq!(changed(&prior, &proposed, &["name", "region"]), ["region"]);
    }

    #[test]
    fn an_unknown_value_of_a_replacing_attribute_forces_a_replacement() {
        let prior = Thing {
            name: Value::Value("a".into()),
            region: Value::Value("eu".into()),
            nodes: Value::Null,
        };
        let proposed = Thing {
            region: Value::Unknown,
            ..prior.clone()
        };
        assert_eq!(changed(&prior, &proposed, &["name", "region"]), ["region"]);
    }
}
