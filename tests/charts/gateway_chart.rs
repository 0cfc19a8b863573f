//! The operator chart's optional quartermaster-gateway: off by default;
//! on, two replicas on separate nodes under a budget, the data plane's
//! token from its Secret, read-only RBAC, and tenants' endpoints admitting
//! the namespace it runs in.

use serde_json::{Value, json};

use crate::operator_chart::{rules, strings};
use crate::{OPERATOR, all_on, containers, env, name, of_kind, one, pod_spec, render, template};

const CONTROL_PLANE_URL: &str = "gateway.controlPlaneUrl=https://qm.example.com";

/// Helm's arguments for the gateway on, and `extra`.
fn gateway_on<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--set", "gateway.enabled=true", "--set", CONTROL_PLANE_URL];
    args.extend_from_slice(extra);
    args
}

/// The chart rendered with the gateway on (and `extra` values).
fn with_gateway(extra: &[&str]) -> Vec<Value> {
    render(OPERATOR, &gateway_on(extra))
}

fn gateway_container(objects: &[Value]) -> &Value {
    let deployment = one(objects, "Deployment", "-gateway");
    let [gateway] = containers(deployment) else {
        panic!("one container: {deployment}")
    };
    gateway
}

/// The one element of a list.
fn only(list: &Value) -> &Value {
    match list.as_array().map(Vec::as_slice) {
        Some([element]) => element,
        _ => panic!("one element: {list}"),
    }
}

/// The objects of the gateway's component.
fn gateway_objects(objects: &[Value]) -> Vec<&Value> {
    objects
        .iter()
        .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway")
        .collect()
}

/// The operator's `--gateway-namespace=` argument.
fn admitted_gateway_namespace(objects: &[Value]) -> String {
    let [operator] = containers(one(objects, "Deployment", OPERATOR)) else {
        panic!("one operator container")
    };
    let args = strings(&operator["args"]);
    let found: Vec<&str> = args
        .iter()
        .filter_map(|a| a.strip_prefix("--gateway-namespace="))
        .collect();
    let [namespace] = found.as_slice() else {
        panic!("one --gateway-namespace: {args:?}")
    };
    (*namespace).to_owned()
}

#[test]
fn the_gateway_is_not_deployed_unless_enabled() {
    let defaults = render(OPERATOR, &[]);
    assert_eq!(gateway_objects(&defaults), Vec::<&Value>::new());
    let enabled = with_gateway(&[]);
    let kinds: Vec<&str> = gateway_objects(&enabled)
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
    ] {
        assert!(kinds.contains(&kind), "no gateway {kind}: {kinds:?}");
    }
    assert!(!kinds.contains(&"Ingress"), "no Ingress unless asked");
}

#[test]
fn the_gateway_runs_two_replicas_on_separate_nodes_under_a_disruption_budget() {
    let objects = with_gateway(&[]);
    let deployment = one(&objects, "Deployment", "-gateway");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let selector = &deployment["spec"]["selector"];
    let pdb = one(&objects, "PodDisruptionBudget", "-gateway");
    assert_eq!(&pdb["spec"]["selector"], selector);
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    let spread = only(&pod_spec(deployment)["topologySpreadConstraints"]);
    assert_eq!(spread["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(spread["maxSkew"], 1);
    assert_eq!(spread["whenUnsatisfiable"], "DoNotSchedule");
    assert_eq!(
        spread["labelSelector"], *selector,
        "spreads its own pods, and only them"
    );

    let gateway = gateway_container(&objects);
    assert_eq!(
        gateway["image"],
        "ghcr.io/quartermaster/quartermaster-gateway:0.1.0"
    );
    assert_eq!(
        gateway["args"],
        json!([
            "--listen=0.0.0.0:8080",
            "--metrics-listen=0.0.0.0:9090",
            "--refresh-seconds=5",
            "--max-staleness-seconds=900",
            "--queue=64",
            "--report-seconds=15",
        ])
    );
    assert_eq!(
        gateway["ports"],
        json!([
            { "name": "http", "containerPort": 8080, "protocol": "TCP" },
            { "name": "metrics", "containerPort": 9090, "protocol": "TCP" },
        ])
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            gateway[probe]["httpGet"],
            json!({ "path": "/health", "port": "http" }),
            "{probe}"
        );
    }
    assert_eq!(
        env(gateway, "POD_NAME").map(|e| &e["valueFrom"]["fieldRef"]["fieldPath"]),
        Some(&json!("metadata.name"))
    );
    assert_eq!(
        env(gateway, "QM_CONTROL_PLANE_URL").map(|e| &e["value"]),
        Some(&json!("https://qm.example.com"))
    );

    let tuned = with_gateway(&["--set", "gateway.replicas=3", "--set", "gateway.queue=8"]);
    assert_eq!(one(&tuned, "Deployment", "-gateway")["spec"]["replicas"], 3);
    assert!(strings(&gateway_container(&tuned)["args"]).contains(&"--queue=8"));
}

#[test]
fn the_gateway_reads_the_data_plane_token_from_the_existing_secret() {
    for (extra, secret, key) in [
        (vec![], "quartermaster-ingest", "token"),
        (
            vec![
                "--set",
                "gateway.existingSecret.name=dp-token",
                "--set",
                "gateway.existingSecret.key=value",
            ],
            "dp-token",
            "value",
        ),
    ] {
        let objects = with_gateway(&extra);
        let deployment = one(&objects, "Deployment", "-gateway");
        let gateway = gateway_container(&objects);
        let volume = only(&pod_spec(deployment)["volumes"]);
        assert_eq!(volume["secret"]["secretName"], secret);
        let item = only(&volume["secret"]["items"]);
        assert_eq!(item["key"], key);
        let mount = gateway["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == volume["name"])
            .unwrap_or_else(|| panic!("{volume} not mounted: {gateway}"));
        assert_eq!(mount["readOnly"], true);
        let file = format!(
            "{}/{}",
            mount["mountPath"].as_str().unwrap(),
            item["path"].as_str().unwrap()
        );
        assert_eq!(
            env(gateway, "QM_INGEST_TOKEN_FILE").map(|e| &e["value"]),
            Some(&json!(file)),
            "the token file is the Secret's key, mounted"
        );
    }
}

#[test]
fn the_gateway_may_only_read_endpoints_their_slices_and_secrets() {
    let objects = with_gateway(&[]);
    let role = one(&objects, "ClusterRole", "-gateway");
    let read = json!(["get", "list", "watch"]);
    assert_eq!(
        rules(role),
        [
            json!({ "apiGroups": ["quartermaster.dev"], "resources": ["inferenceendpoints"], "verbs": read }),
            json!({ "apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read }),
            json!({ "apiGroups": [""], "resources": ["secrets"], "verbs": read }),
        ]
    );
    let binding = one(&objects, "ClusterRoleBinding", "-gateway");
    let account = one(&objects, "ServiceAccount", "-gateway");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["subjects"],
        json!([{ "kind": "ServiceAccount", "name": name(account), "namespace": "qm-system" }])
    );
    assert_eq!(
        pod_spec(one(&objects, "Deployment", "-gateway"))["serviceAccountName"],
        name(account)
    );
}

#[test]
fn the_gateway_is_refused_without_a_control_plane_url() {
    let output = template(OPERATOR, &["--set", "gateway.enabled=true"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "rendered without it");
    assert!(
        stderr.contains("gateway.controlPlaneUrl"),
        "the missing value is not named: {stderr}"
    );
}

#[test]
fn the_operator_admits_the_release_namespace_when_the_gateway_runs_there() {
    assert_eq!(admitted_gateway_namespace(&render(OPERATOR, &[])), "");
    assert_eq!(admitted_gateway_namespace(&with_gateway(&[])), "qm-system");
    let named = with_gateway(&["--set", "networkPolicy.gatewayNamespace=ingress-nginx"]);
    assert_eq!(
        admitted_gateway_namespace(&named),
        "ingress-nginx",
        "a namespace named is kept: the gateway is behind its ingress controller"
    );
}

#[test]
fn the_gateway_service_serves_http_on_port_80_and_the_ingress_routes_to_it() {
    let objects = render(OPERATOR, &["-f", &all_on(OPERATOR)]);
    let service = one(&objects, "Service", "-gateway");
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(
        service["spec"]["ports"],
        json!([{ "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" }]),
        "the API only: metrics have their own Service"
    );
    let deployment = one(&objects, "Deployment", "-gateway");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let ingress = one(&objects, "Ingress", "-gateway");
    assert_eq!(
        ingress["spec"]["rules"],
        json!([{ "host": "inference.eu-1.example.com", "http": { "paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": { "service": { "name": name(service), "port": { "name": "http" } } },
        }] } }])
    );
    assert_eq!(
        ingress["spec"]["tls"],
        json!([{ "hosts": ["inference.eu-1.example.com"], "secretName": "inference-eu-1-tls" }])
    );
    assert_eq!(
        of_kind(&objects, "ServiceMonitor")
            .iter()
            .filter(|m| name(m).ends_with("-gateway"))
            .count(),
        1,
        "the gateway is scraped"
    );

    let balanced = with_gateway(&["--set", "gateway.service.type=LoadBalancer"]);
    assert_eq!(
        one(&balanced, "Service", "-gateway")["spec"]["type"],
        "LoadBalancer"
    );
    for refused in [
        "gateway.service.type=ExternalName",
        "gateway.ingress.enabled=true",
    ] {
        let output = template(OPERATOR, &gateway_on(&["--set", refused]));
        assert!(!output.status.success(), "rendered with {refused}");
    }
}

#[test]
fn a_misspelt_gateway_value_fails_the_render() {
    for typo in [
        "gateway.replica=3",
        "gateway.service.ports=80",
        "gateway.ingress.tls.secret=tls",
        "gateway.existingSecret.namespace=other",
    ] {
        let output = template(OPERATOR, &gateway_on(&["--set", typo]));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains("Additional property"),
            "accepted `{typo}`: {stderr}"
        );
    }
}
