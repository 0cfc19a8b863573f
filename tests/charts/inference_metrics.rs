//! The autoscaling metric path, end to end: the chart's PodMonitor scrapes
//! the pods the operator builds for an endpoint, on the port its engine
//! serves; the chart's adapter rule reads series the engine really exports
//! (a vLLM stand-in in vLLM's shapes) and names the metric exactly as the
//! HorizontalPodAutoscaler the operator builds asks for it.

use operator::build::SystemNamespaces;
use operator::build::endpoint::{self, Plan, ValidatedEndpoint};
use operator::crd::inference_endpoint::{
    EndpointResources, EngineKind, GpuRequest, HubModel, InferenceEndpoint, InferenceEndpointSpec,
    Replicas,
};
use operator::engine::{QdrantHttp, RequestCounter};
use operator::serving;
use serde_json::Value;

use crate::vllm::{self, Load};
use crate::{OPERATOR, all_on, one, render};

fn built(engine: EngineKind) -> endpoint::DesiredEndpoint {
    let mut ie = InferenceEndpoint::new(
        "chat",
        InferenceEndpointSpec {
            model: Some(HubModel {
                repository: vllm::MODEL.into(),
                revision: "0e9e39f".into(),
            }),
            image: None,
            engine,
            gpu: GpuRequest {
                model: "nvidia-l4".into(),
                count: 1,
            },
            replicas: Replicas {
                min: 1,
                max: 4,
                scale_to_zero_after_seconds: None,
            },
            target_concurrency: 8,
            resources: EndpointResources {
                cpu_millicores: 4000,
                memory_mib: 16384,
                shm_mib: 4096,
            },
            env: vec![],
            suspend: false,
        },
    );
    ie.metadata.namespace = Some("qm-org".into());
    ie.metadata.uid = Some("9a9a9a9a-1111-4000-8000-000000000001".into());
    let system = SystemNamespaces {
        operator: "qm-system".into(),
        prometheus: Some("monitoring".into()),
        gateway: None,
    };
    let validated = ValidatedEndpoint::new(&ie, &system).unwrap();
    let plan = Plan {
        served: validated.spec.served(),
        replicas: None,
    };
    endpoint::desired(&validated, "key-for-tests", &plan)
}

/// `name → sum of its samples` over a Prometheus text exposition.
fn samples(exposition: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            (series.split('{').next()? == name).then(|| value.parse().ok())?
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The series a rule's metricsQuery sums: each `name{<<.LabelMatchers>>}`.
fn summed_series(query: &str) -> Vec<String> {
    query
        .split("{<<.LabelMatchers>>}")
        .filter_map(|before| before.rsplit('(').next())
        .filter(|name| !name.is_empty() && !name.contains(')'))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn scrape_rule_adapter_rule_and_hpa_metric_agree_for_every_engine() {
    let objects = render(OPERATOR, &["-f", &all_on(OPERATOR)]);
    let monitor = one(&objects, "PodMonitor", "-inference");
    let rules_map = one(&objects, "ConfigMap", "-adapter-rules");
    let rules: Value =
        serde_yaml::from_str(rules_map["data"]["config.yaml"].as_str().unwrap()).unwrap();
    let rules = rules["rules"].as_array().unwrap();
    let load = Load {
        running: 3,
        waiting: 2,
        finished: 17,
    };
    let engine_url = vllm::serve(load, "key-for-tests").await;
    let scraped = reqwest::get(format!("{engine_url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    for kind in serving::ALL {
        let engine = serving::engine(kind);
        let desired = built(kind);
        // The scrape: the PodMonitor selects these pods, on a port they have.
        let template = &desired.deployment.spec.as_ref().unwrap().template;
        let labels = template.metadata.as_ref().unwrap().labels.as_ref().unwrap();
        let selector = monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap();
        for (key, value) in selector {
            assert_eq!(
                Some(value.as_str().unwrap()),
                labels.get(key).map(String::as_str),
                "{kind:?}: the PodMonitor selects {key}={value}"
            );
        }
        assert_eq!(monitor["spec"]["namespaceSelector"]["any"], true);
        let endpoint = &monitor["spec"]["podMetricsEndpoints"][0];
        assert_eq!(endpoint["path"], "/metrics");
        let container = &template.spec.as_ref().unwrap().containers[0];
        let port = container
            .ports
            .iter()
            .flatten()
            .find(|p| Some(p.name.as_deref().unwrap_or_default()) == endpoint["port"].as_str())
            .unwrap_or_else(|| panic!("{kind:?}: no container port {}", endpoint["port"]));
        assert_eq!(port.container_port, engine.port());

        // The adapter rule: named as the HPA asks, over the engine's series.
        let hpa = desired.hpa.spec.as_ref().unwrap();
        let asked = &hpa.metrics.as_ref().unwrap()[0]
            .pods
            .as_ref()
            .unwrap()
            .metric
            .name;
        let rule = rules
            .iter()
            .find(|r| r["name"]["as"] == asked.as_str())
            .unwrap_or_else(|| panic!("{kind:?}: no adapter rule serves {asked}"));
        let series = engine.load_series();
        assert!(
            rule["seriesQuery"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}{{", series[0])),
            "{rule}"
        );
        assert_eq!(
            summed_series(rule["metricsQuery"].as_str().unwrap()),
            series,
            "{kind:?}: {rule}"
        );
        if kind == EngineKind::Vllm {
            // Over what vLLM really exports, the HPA sees running + waiting.
            let seen: f64 = series
                .iter()
                .map(|name| {
                    samples(&scraped, name).unwrap_or_else(|| panic!("vLLM exports no {name}"))
                })
                .sum();
            assert_eq!(seen, 5.0);
        }
    }

    // Idle detection reads the same engine's finished-request counter.
    let counted = QdrantHttp::new()
        .unwrap()
        .requests(
            &engine_url,
            serving::engine(EngineKind::Vllm).requests_metric(),
        )
        .await
        .unwrap();
    assert_eq!(counted, 17);
    // Its API key guards the inference routes, not the metrics.
    let models = reqwest::get(format!("{engine_url}/v1/models"))
        .await
        .unwrap();
    assert_eq!(models.status(), 401);
}
