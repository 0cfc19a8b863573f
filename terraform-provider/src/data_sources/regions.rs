//! `data.quartermaster_regions`: where clusters and endpoints can go.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::map;
use tf_provider::schema::{AttributeType, Schema};
use tf_provider::value::Value;

use super::ApiData;
use crate::dto::{List, Region};
use crate::error::Error;
use crate::provider::Api;
use crate::schema::{boolean, computed, schema, string};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub regions: Value<Vec<Region>>,
    pub names: Value<Vec<String>>,
}

pub fn state(regions: Vec<Region>) -> State {
    State {
        names: Value::Value(regions.iter().map(|r| r.region.clone()).collect()),
        regions: Value::Value(regions),
    }
}

#[derive(Debug)]
pub struct Regions;

#[async_trait]
impl ApiData for Regions {
    type State = State;

    fn schema() -> Schema {
        let region = AttributeType::Object(map! {
            "region" => string(),
            "simulated" => boolean(),
        });
        schema(
            "The regions clusters and endpoints can be placed in, each a data plane.",
            [
                (
                    "regions",
                    computed(
                        AttributeType::List(Box::new(region)),
                        "Each region: `region` (its name) and `simulated` (a data plane that serves no traffic).",
                    ),
                ),
                (
                    "names",
                    computed(
                        AttributeType::List(Box::new(string())),
                        "The regions' names.",
                    ),
                ),
            ],
        )
    }

    async fn fetch(api: &Api) -> Result<State, Error> {
        let regions: List<Region> = api.client.get("/v1/regions").await?;
        Ok(state(regions.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_listed_with_their_names() {
        let read = state(vec![
            Region {
                region: "local".into(),
                simulated: true,
            },
            Region {
                region: "eu-west".into(),
                simulated: false,
            },
        ]);
        assert_eq!(
            read.names,
            Value::Value(vec!["local".to_owned(), "eu-west".to_owned()])
        );
        let regions = read.regions.as_option().unwrap();
        assert_eq!(
            regions[0],
            Region {
                region: "local".into(),
                simulated: true
            }
        );
    }
}
