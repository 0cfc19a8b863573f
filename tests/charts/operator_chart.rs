//! The operator chart: leader-elected replicas with least-privilege RBAC,
//! the optional usage collector, and the optional sync loop of a connected
//! data plane.

use serde_json::{Value, json};

use crate::{OPERATOR, all_on, containers, env, of_kind, one, pod_spec, render, template};

/// The Lease the operator holds (operator/src/names.rs, `MANAGED_BY`).
const LEASE: &str = "quartermaster-operator";

pub(crate) fn rules(role: &Value) -> &[Value] {
    role["rules"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

pub(crate) fn strings(list: &Value) -> Vec<&str> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

#[test]
fn rbac_names_every_verb_and_resource_and_holds_the_lease_only_in_its_namespace() {
    let objects = render(OPERATOR, &["-f", &all_on(OPERATOR)]);
    let roles: Vec<&Value> = ["ClusterRole", "Role"]
        .iter()
        .flat_map(|kind| of_kind(&objects, kind))
        .collect();
    assert_eq!(
        roles.len(),
        7,
        "the operator's, the provisioner's, the collector's, the gateway's, the Lease's \
         and the sync loop's two"
    );
    for role in &roles {
        for rule in rules(role) {
            for field in ["apiGroups", "resources", "verbs"] {
                assert!(!strings(&rule[field]).contains(&"*"), "wildcard in {rule}");
            }
            let verbs = strings(&rule["verbs"]);
            for never in ["escalate", "bind", "impersonate", "deletecollection"] {
                assert!(!verbs.contains(&never), "{never} in {rule}");
            }
            // The gateway watches engine keys by label, which RBAC cannot
            // express: gateway_chart checks its grant, exactly.
            if strings(&rule["resources"]).contains(&"secrets")
                && !crate::name(role).ends_with("-gateway")
            {
                assert!(
                    !verbs.contains(&"list") && !verbs.contains(&"watch"),
                    "Secrets are read by name, never listed: {rule}"
                );
            }
        }
    }
    for cluster_role in of_kind(&objects, "ClusterRole") {
        assert!(
            rules(cluster_role)
                .iter()
                .all(|r| !strings(&r["apiGroups"]).contains(&"coordination.k8s.io")),
            "Leases are not granted cluster-wide: {cluster_role}"
        );
    }
    let lease_role = one(&objects, "Role", "-leader-election");
    assert_eq!(
        rules(lease_role),
        [
            json!({ "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"] }),
            json!({
                "apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                "resourceNames": [LEASE], "verbs": ["get", "update"],
            }),
        ]
    );
    let binding = one(&objects, "RoleBinding", "-leader-election");
    assert_eq!(binding["subjects"][0]["namespace"], "qm-system");
}

#[test]
fn the_provisioner_may_apply_tenant_namespaces_and_resources_and_nothing_else() {
    // Only for a data plane not yet switched to connecting outward.
    let objects = render(OPERATOR, &["--set", "provisioner.enabled=true"]);
    let role = one(&objects, "ClusterRole", "-provisioner");
    assert_eq!(
        rules(role),
        [
            json!({ "apiGroups": [""], "resources": ["namespaces", "resourcequotas", "secrets"],
                    "verbs": ["get", "create", "patch"] }),
            json!({ "apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                    "verbs": ["get", "create", "patch"] }),
            json!({ "apiGroups": ["quartermaster.dev"],
                    "resources": ["vectorclusters", "inferenceendpoints",
                                  "vectorclusterbackups", "vectorclusterrestores"],
                    "verbs": ["get", "list", "create", "patch", "delete"] }),
        ]
    );
    let account = one(&objects, "ServiceAccount", "-provisioner");
    let binding = one(&objects, "ClusterRoleBinding", "-provisioner");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["name"], account["metadata"]["name"]);
    let token = one(&objects, "Secret", "-provisioner-token");
    assert_eq!(
        token["metadata"]["annotations"]["kubernetes.io/service-account.name"],
        account["metadata"]["name"]
    );

    let without = render(OPERATOR, &[]);
    assert!(of_kind(&without, "ServiceAccount").len() < of_kind(&objects, "ServiceAccount").len());
    assert!(of_kind(&without, "Secret").is_empty());
}

#[test]
fn the_operator_runs_two_leader_elected_replicas_under_a_disruption_budget() {
    let objects = render(OPERATOR, &[]);
    let deployment = one(&objects, "Deployment", OPERATOR);
    assert_eq!(deployment["spec"]["replicas"], 2);
    let [operator] = containers(deployment) else {
        panic!("one container: {deployment}")
    };
    assert_eq!(
        operator["args"],
        json!([
            "run",
            "--metrics-listen=0.0.0.0:9090",
            "--concurrency=16",
            // Admitted by the tenants' NetworkPolicies: Prometheus by
            // default, no gateway until one is named.
            "--prometheus-namespace=monitoring",
            "--gateway-namespace="
        ])
    );
    for (var, field) in [
        ("POD_NAMESPACE", "metadata.namespace"),
        ("POD_NAME", "metadata.name"),
    ] {
        assert_eq!(
            env(operator, var).map(|e| &e["valueFrom"]["fieldRef"]["fieldPath"]),
            Some(&json!(field)),
            "{var}"
        );
    }
    assert_eq!(
        env(operator, "QM_OPERATOR_IMAGE").map(|e| &e["value"]),
        Some(&operator["image"]),
        "backup Jobs run the operator's own image"
    );
    assert_eq!(
        operator["image"],
        "ghcr.io/quartermaster/quartermaster-operator:0.1.0"
    );
    let pdb = one(&objects, "PodDisruptionBudget", "");
    assert_eq!(pdb["spec"]["selector"], deployment["spec"]["selector"]);
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        of_kind(&objects, "Deployment").len(),
        1,
        "no collector unless asked"
    );
}

#[test]
fn the_collector_reads_its_token_from_the_existing_secret_and_spools_on_a_volume() {
    let objects = render(OPERATOR, &["-f", &all_on(OPERATOR)]);
    let deployment = one(&objects, "Deployment", "-collector");
    let [collector] = containers(deployment) else {
        panic!("one container: {deployment}")
    };
    let pod = pod_spec(deployment);
    assert_eq!(pod["serviceAccountName"], crate::name(deployment));
    let value = |var: &str| env(collector, var).map(|e| e["value"].clone());
    assert_eq!(
        value("QM_INGEST_URL"),
        Some(json!("https://quartermaster.example.com/v1/usage/events"))
    );
    assert_eq!(value("QM_DATA_PLANE"), Some(json!("eu-1")));
    assert_eq!(
        value("QM_INGEST_TOKEN_FILE"),
        Some(json!("/var/run/secrets/quartermaster/ingest-token"))
    );
    assert_eq!(
        pod["volumes"],
        json!([
            { "name": "spool", "persistentVolumeClaim": { "claimName": "qm-quartermaster-operator-collector-spool" } },
            { "name": "ingest-token", "secret": {
                "secretName": "quartermaster-ingest",
                "items": [{ "key": "token", "path": "ingest-token" }],
            } },
        ])
    );
    assert_eq!(
        collector["volumeMounts"],
        json!([
            { "name": "spool", "mountPath": "/var/lib/quartermaster/usage-spool" },
            { "name": "ingest-token", "mountPath": "/var/run/secrets/quartermaster", "readOnly": true },
        ])
    );
    assert!(
        strings(&collector["args"]).contains(&"--spool-dir=/var/lib/quartermaster/usage-spool")
    );
    one(&objects, "PersistentVolumeClaim", "-collector-spool");
}

#[test]
fn the_collector_is_refused_without_an_ingest_url_and_a_data_plane() {
    let output = template(OPERATOR, &["--set", "collector.enabled=true"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "rendered without them");
    for field in ["collector.ingestUrl", "collector.dataPlane"] {
        assert!(stderr.contains(field), "{field} not named: {stderr}");
    }
}

#[test]
fn the_operator_and_the_collector_export_spans_only_when_given_an_endpoint() {
    let objects = render(OPERATOR, &["-f", &all_on(OPERATOR)]);
    for (suffix, service) in [
        (OPERATOR, "quartermaster-operator"),
        ("-collector", "quartermaster-operator-collector"),
    ] {
        let [container] = containers(one(&objects, "Deployment", suffix)) else {
            panic!("one container")
        };
        let value = |var: &str| env(container, var).map(|e| e["value"].clone());
        assert_eq!(
            value("OTEL_EXPORTER_OTLP_ENDPOINT"),
            Some(json!("http://otel-collector.observability:4318"))
        );
        assert_eq!(value("OTEL_SERVICE_NAME"), Some(json!(service)));
    }

    let defaults = render(OPERATOR, &[]);
    let [operator] = containers(one(&defaults, "Deployment", OPERATOR)) else {
        panic!("one container")
    };
    assert_eq!(env(operator, "OTEL_EXPORTER_OTLP_ENDPOINT"), None);
}

#[test]
fn the_sync_loop_runs_once_enrolls_from_the_existing_secret_and_may_write_only_tenant_objects() {
    let objects = render(OPERATOR, &["-f", &all_on(OPERATOR)]);
    let deployment = one(&objects, "Deployment", "-sync");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let [sync] = containers(deployment) else {
        panic!("one container: {deployment}")
    };
    assert_eq!(strings(&sync["args"]), ["sync", "--rotate-after-hours=24"]);
    let value = |var: &str| env(sync, var).map(|e| e["value"].clone());
    for (var, expected) in [
        ("QM_CONTROL_PLANE_URL", "https://quartermaster.example.com"),
        (
            "QM_ENROLLMENT_TOKEN_FILE",
            "/var/run/secrets/quartermaster/enrollment-token",
        ),
        ("QM_BACKUP_BUCKET", "eu-1-backups"),
        ("QM_BACKUP_ENDPOINT", "https://s3.eu-west-1.amazonaws.com"),
        ("QM_BACKUP_REGION", "eu-west-1"),
        ("QM_BACKUP_PREFIX", "eu-1"),
        ("QM_BACKUP_CREDENTIALS_SECRET", "quartermaster-backup-key"),
    ] {
        assert_eq!(value(var), Some(json!(expected)), "{var}");
    }
    let pod = pod_spec(deployment);
    assert_eq!(pod["serviceAccountName"], crate::name(deployment));
    assert_eq!(
        pod["volumes"],
        json!([{ "name": "enrollment-token", "secret": {
            "secretName": "quartermaster-enrollment",
            "items": [{ "key": "token", "path": "enrollment-token" }],
        } }])
    );
    // What operator/src/sync applies, and in its own namespace the
    // credential's Secret and the backup key, by name.
    let cluster_role = one(&objects, "ClusterRole", "-sync");
    assert_eq!(
        rules(cluster_role),
        [
            json!({ "apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "create", "patch"] }),
            json!({ "apiGroups": [""], "resources": ["resourcequotas", "secrets"],
                    "verbs": ["create", "patch"] }),
            json!({ "apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                    "verbs": ["create", "patch"] }),
            json!({ "apiGroups": ["quartermaster.dev"],
                    "resources": ["vectorclusters", "inferenceendpoints",
                                  "vectorclusterbackups", "vectorclusterrestores"],
                    "verbs": ["get", "list", "watch", "create", "patch", "delete"] }),
        ]
    );
    let role = one(&objects, "Role", "-sync");
    assert_eq!(
        rules(role),
        [json!({ "apiGroups": [""], "resources": ["secrets"],
                 "resourceNames": ["quartermaster-data-plane-credential", "quartermaster-backup-key"],
                 "verbs": ["get", "patch"] })]
    );

    let defaults = render(OPERATOR, &[]);
    assert!(
        of_kind(&defaults, "Deployment")
            .iter()
            .all(|d| !crate::name(d).ends_with("-sync")),
        "no sync loop without a control plane URL"
    );
    let output = template(
        OPERATOR,
        &["--set", "controlPlane.url=https://cp.example.com"],
    );
    assert!(
        !output.status.success(),
        "rendered without an enrollment token"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("controlPlane"));
}
