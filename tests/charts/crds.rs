//! The operator chart's CRDs are the operator's own, as generated.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::{OPERATOR, chart_dir, documents, name};

const CRDS_FILE: &str = "crds/quartermaster.dev.yaml";

#[test]
fn the_operator_chart_carries_exactly_the_crds_the_operator_generates() {
    let path = chart_dir(OPERATOR).join(CRDS_FILE);
    let in_chart = documents(&std::fs::read_to_string(&path).unwrap());
    let generated: Vec<Value> = operator::crd::all()
        .iter()
        .map(|crd| serde_json::to_value(crd).unwrap())
        .collect();
    let stale: BTreeSet<&str> = generated
        .iter()
        .filter(|crd| !in_chart.contains(crd))
        .chain(in_chart.iter().filter(|crd| !generated.contains(crd)))
        .map(name)
        .collect();
    assert!(
        in_chart == generated,
        "charts/{OPERATOR}/{CRDS_FILE} is not what the operator generates \
         (differing: {stale:?}); regenerate it with \
         `cargo run -q -p operator -- crd > charts/{OPERATOR}/{CRDS_FILE}`"
    );
}
