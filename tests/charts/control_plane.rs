//! The control plane chart: `quartermaster serve` behind a Service, its
//! migrations before it, its secrets by reference.

use serde_json::{Value, json};

use crate::{
    CONTROL_PLANE, all_on, containers, env, name, of_kind, one, pod_spec, render, template,
};

/// The default `existingSecret.name`.
const SECRET: &str = "quartermaster";

fn secret_ref(container: &Value, var: &str, key: &str) -> Value {
    let expected =
        json!({ "name": var, "valueFrom": { "secretKeyRef": { "name": SECRET, "key": key } } });
    assert_eq!(
        env(container, var),
        Some(&expected),
        "{var} of {}",
        container["name"]
    );
    expected
}

#[test]
fn migrations_run_before_install_and_upgrade_with_only_the_existing_secret() {
    let objects = render(CONTROL_PLANE, &["-f", &all_on(CONTROL_PLANE)]);
    let job = one(&objects, "Job", "-migrate");
    let hooks: Vec<&str> = job["metadata"]["annotations"]["helm.sh/hook"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .collect();
    assert_eq!(hooks, ["pre-install", "pre-upgrade"]);
    let [migrate] = containers(job) else {
        panic!("one container: {job}")
    };
    assert_eq!(migrate["args"], json!(["migrate"]));
    secret_ref(migrate, "DATABASE_URL", "DATABASE_URL");
    // On install the hook runs before any object of the release exists: it
    // must use none of them (the Secret is made beforehand, by hand).
    let pod = pod_spec(job);
    assert!(pod["serviceAccountName"].is_null(), "{pod}");
    assert!(pod["volumes"].is_null(), "{pod}");
    assert!(migrate["envFrom"].is_null(), "{migrate}");
}

#[test]
fn the_api_reads_the_database_url_and_stripe_keys_from_the_existing_secret() {
    let objects = render(CONTROL_PLANE, &["-f", &all_on(CONTROL_PLANE)]);
    let [api] = containers(one(&objects, "Deployment", "")) else {
        panic!("one container")
    };
    secret_ref(api, "DATABASE_URL", "DATABASE_URL");
    secret_ref(api, "STRIPE_SECRET_KEY", "STRIPE_SECRET_KEY");
    secret_ref(api, "STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET");
    // The SMTP URL may carry a password: from the Secret too.
    secret_ref(api, "QM_SMTP_URL", "QM_SMTP_URL");
    let value = |var: &str| env(api, var).map(|e| e["value"].clone());
    assert_eq!(
        value("QM_MAIL_FROM"),
        Some(json!("Quartermaster <noreply@example.com>"))
    );
    assert_eq!(
        value("QM_PUBLIC_URL"),
        Some(json!("https://quartermaster.example.com"))
    );

    let defaults = render(CONTROL_PLANE, &[]);
    let [api] = containers(one(&defaults, "Deployment", "")) else {
        panic!("one container")
    };
    assert_eq!(
        env(api, "STRIPE_SECRET_KEY"),
        None,
        "payments are off by default"
    );
    assert_eq!(env(api, "QM_SMTP_URL"), None, "mail is off by default");
}

#[test]
fn the_api_serves_on_8080_with_probes_metrics_on_9464_and_traces_when_asked() {
    let objects = render(CONTROL_PLANE, &["-f", &all_on(CONTROL_PLANE)]);
    let [api] = containers(one(&objects, "Deployment", "")) else {
        panic!("one container")
    };
    assert_eq!(api["args"], json!(["serve"]));
    let value = |var: &str| env(api, var).map(|e| e["value"].clone());
    assert_eq!(value("QM_LISTEN"), Some(json!("0.0.0.0:8080")));
    assert_eq!(value("QM_METRICS_LISTEN"), Some(json!("0.0.0.0:9464")));
    assert_eq!(value("QM_LOG_FORMAT"), Some(json!("json")));
    assert_eq!(
        value("OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some(json!("http://otel-collector.observability:4318"))
    );
    assert_eq!(value("OTEL_SERVICE_NAME"), Some(json!("quartermaster")));
    assert_eq!(
        api["ports"],
        json!([
            { "name": "http", "containerPort": 8080, "protocol": "TCP" },
            { "name": "metrics", "containerPort": 9464, "protocol": "TCP" },
        ])
    );
    assert_eq!(api["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(api["readinessProbe"]["httpGet"]["path"], "/readyz");

    let defaults = render(CONTROL_PLANE, &[]);
    let [api] = containers(one(&defaults, "Deployment", "")) else {
        panic!("one container")
    };
    assert_eq!(env(api, "OTEL_EXPORTER_OTLP_ENDPOINT"), None);
}

#[test]
fn the_ingress_routes_to_the_api_service_and_the_budget_keeps_a_replica_up() {
    let objects = render(CONTROL_PLANE, &["-f", &all_on(CONTROL_PLANE)]);
    let service = one(&objects, "Service", CONTROL_PLANE);
    let ingress = one(&objects, "Ingress", "");
    let backend = &ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
    assert_eq!(backend["name"].as_str(), Some(name(service)));
    assert_eq!(backend["port"]["name"], "http");
    assert_eq!(service["spec"]["ports"][0]["name"], "http");

    let deployment = one(&objects, "Deployment", "");
    let pdb = one(&objects, "PodDisruptionBudget", "");
    assert_eq!(
        pdb["spec"]["selector"], deployment["spec"]["selector"],
        "the budget covers the API's pods and not the migrations Job's"
    );
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert!(
        of_kind(
            &render(CONTROL_PLANE, &["--set", "replicaCount=1"]),
            "PodDisruptionBudget"
        )
        .is_empty(),
        "a budget over one replica would block every drain"
    );
}

#[test]
fn metrics_stay_in_the_cluster_when_the_api_is_a_load_balancer() {
    let objects = render(CONTROL_PLANE, &["--set", "service.type=LoadBalancer"]);
    let api = one(&objects, "Service", CONTROL_PLANE);
    assert_eq!(api["spec"]["type"], "LoadBalancer");
    assert_eq!(
        api["spec"]["ports"],
        json!([{ "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" }])
    );
    let metrics = one(&objects, "Service", "-metrics");
    assert_eq!(metrics["spec"]["type"], "ClusterIP");
    assert_eq!(metrics["spec"]["ports"][0]["port"], 9464);
}

#[test]
fn mail_is_refused_without_a_sender_and_the_public_url_must_be_a_web_origin() {
    for (set, why) in [
        ("mail.enabled=true", "a sender"),
        ("publicUrl=console.example.com", "a scheme"),
        ("publicUrl=https://console.example.com/app", "no path"),
    ] {
        let output = template(CONTROL_PLANE, &["--set", set]);
        assert!(
            !output.status.success(),
            "`{set}` was accepted, without {why}"
        );
    }
}
