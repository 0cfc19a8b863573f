use super::*;
use crate::build::fixtures::assert_snapshot;
use crate::crd::fixtures::endpoint_spec as spec;
use crate::crd::inference_endpoint::EngineKind;

fn validated(gpu_model: &str, count: u32) -> ValidatedEndpoint {
    let mut ie = InferenceEndpoint::new("chat", spec(gpu_model, count));
    ie.metadata.namespace = Some("org-acme".to_owned());
    ie.metadata.uid = Some("5f1c2d7e-0000-4000-8000-0000000000e1".to_owned());
    ValidatedEndpoint::new(&ie, &crate::build::fixtures::system()).unwrap()
}

fn plan(endpoint: &ValidatedEndpoint) -> Plan {
    Plan {
        served: endpoint.spec.served(),
        replicas: None,
    }
}

fn pod(d: &Deployment) -> &PodSpec {
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

#[test]
fn one_l4() {
    let e = validated("nvidia-l4", 1);
    let d = deployment(&e, &plan(&e));
    let p = pod(&d);
    let c = &p.containers[0];
    let limits = c.resources.as_ref().unwrap().limits.as_ref().unwrap();
    assert_eq!(limits["nvidia.com/gpu"], Quantity("1".into()));
    assert_eq!(
        c.resources.as_ref().unwrap().requests.as_ref().unwrap()["nvidia.com/gpu"],
        Quantity("1".into())
    );
    assert_eq!(
        p.node_selector.as_ref().unwrap()["nvidia.com/gpu.product"],
        "NVIDIA-L4"
    );
    let toleration = &p.tolerations.as_ref().unwrap()[0];
    assert_eq!(
        (toleration.key.as_deref(), toleration.operator.as_deref()),
        (Some("nvidia.com/gpu"), Some("Exists"))
    );
    let args = c.args.as_ref().unwrap();
    assert!(
        args.windows(2)
            .any(|w| w == ["--tensor-parallel-size", "1"])
    );
    assert!(args.windows(2).any(|w| w == ["--revision", "0e9e39f"]));
    assert_eq!(
        c.readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some("/health")
    );
    assert_eq!(
        c.startup_probe.as_ref().unwrap().failure_threshold,
        Some(120)
    );
    let shm = &p.volumes.as_ref().unwrap()[0];
    assert_eq!(
        shm.empty_dir.as_ref().unwrap().medium.as_deref(),
        Some("Memory")
    );
    let strategy = d
        .spec
        .as_ref()
        .unwrap()
        .strategy
        .as_ref()
        .unwrap()
        .rolling_update
        .as_ref()
        .unwrap();
    assert_eq!(
        strategy.max_unavailable,
        Some(IntOrString::Int(0)),
        "no capacity lost while rolling"
    );
    assert_eq!(
        d.spec.as_ref().unwrap().replicas,
        None,
        "the autoscaler owns the replica count"
    );
    assert_snapshot("endpoint-deployment-1xl4", &d);
}

#[test]
fn four_h100() {
    let e = validated("nvidia-h100-80gb", 4);
    let d = deployment(&e, &plan(&e));
    let p = pod(&d);
    let c = &p.containers[0];
    assert_eq!(
        c.resources.as_ref().unwrap().limits.as_ref().unwrap()["nvidia.com/gpu"],
        Quantity("4".into())
    );
    assert_eq!(
        p.node_selector.as_ref().unwrap()["nvidia.com/gpu.product"],
        "NVIDIA-H100-80GB-HBM3"
    );
    assert!(
        c.args
            .as_ref()
            .unwrap()
            .windows(2)
            .any(|w| w == ["--tensor-parallel-size", "4"])
    );
    assert_snapshot("endpoint-deployment-4xh100", &d);
    let h = hpa(&e);
    let s = h.spec.as_ref().unwrap();
    assert_eq!((s.min_replicas, s.max_replicas), (Some(1), 4));
    let target = &s.metrics.as_ref().unwrap()[0].pods.as_ref().unwrap().target;
    assert_eq!(target.average_value, Some(Quantity("16".into())));
}

#[test]
fn each_engine_gets_its_key_cache_and_load_metric_by_its_own_names() {
    let mut e = validated("nvidia-l4", 1);
    for (kind, key, cache, metric) in [
        (
            EngineKind::Vllm,
            "VLLM_API_KEY",
            "/root/.cache/huggingface",
            "vllm_requests_in_flight",
        ),
        (
            EngineKind::Tgi,
            "API_KEY",
            "/data",
            "tgi_requests_in_flight",
        ),
    ] {
        e.spec.engine = kind;
        let d = deployment(&e, &plan(&e));
        let c = &pod(&d).containers[0];
        let env = c.env.as_ref().unwrap();
        assert_eq!(env[0].name, key, "{kind:?}");
        assert_eq!(
            env[0]
                .value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .as_ref()
                .unwrap()
                .name,
            "chat-api-key"
        );
        let cache_mount = c
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == "model-cache")
            .unwrap();
        assert_eq!(cache_mount.mount_path, cache, "{kind:?}");
        let h = hpa(&e);
        let metrics = h.spec.unwrap().metrics.unwrap();
        assert_eq!(metrics[0].pods.as_ref().unwrap().metric.name, metric);
    }
}

#[test]
fn scaled_to_zero_the_operator_sets_the_replicas() {
    let e = validated("nvidia-l4", 1);
    let d = deployment(
        &e,
        &Plan {
            served: e.spec.served(),
            replicas: Some(0),
        },
    );
    assert_eq!(d.spec.unwrap().replicas, Some(0));
}

#[test]
fn a_rollback_serves_the_last_good_revision() {
    let e = validated("nvidia-l4", 1);
    let mut old = e.spec.served();
    if let Some(model) = old.model.as_mut() {
        model.revision = "a1b2c3d".into();
    }
    let d = deployment(
        &e,
        &Plan {
            served: old.clone(),
            replicas: None,
        },
    );
    let args = pod(&d).containers[0].args.clone().unwrap();
    assert!(args.windows(2).any(|w| w == ["--revision", "a1b2c3d"]));
    let current = deployment(&e, &plan(&e));
    let label = |d: &Deployment| {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap()["quartermaster.dev/revision"]
            .clone()
    };
    assert_ne!(label(&d), label(&current));
}
