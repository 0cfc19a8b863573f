//! Children of an `InferenceEndpoint`: a Deployment on GPU nodes, a
//! Service, a PodDisruptionBudget, a HorizontalPodAutoscaler, and a Secret
//! with the endpoint's API key. Pure functions of the validated endpoint.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
    MetricIdentifier, MetricSpec, MetricTarget, PodsMetricSource,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, Secret, SecretKeySelector, Service, ServicePort,
    ServiceSpec, Toleration, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;

use super::network_policy::{self, SystemNamespaces};
use super::{InvalidCluster, child_meta, string_map};
use crate::crd::inference_endpoint::{InferenceEndpoint, InferenceEndpointSpec, Served};
use crate::names::{LABEL_ENDPOINT, MANAGED_BY, MAX_CLUSTER_NAME, NameTooLong, endpoint_secret};
use crate::{gpu, serving};

pub use crate::names::ENDPOINT_API_KEY as API_KEY;

#[derive(Debug, Clone)]
pub struct ValidatedEndpoint {
    pub name: String,
    pub namespace: String,
    pub spec: InferenceEndpointSpec,
    pub owner: OwnerReference,
    /// The data plane's own namespaces, admitted by the endpoint's policy.
    pub system: SystemNamespaces,
}

impl ValidatedEndpoint {
    pub fn new(
        endpoint: &InferenceEndpoint,
        system: &SystemNamespaces,
    ) -> Result<Self, InvalidCluster> {
        let name = endpoint.meta().name.clone().unwrap_or_default();
        if name.len() > MAX_CLUSTER_NAME {
            return Err(NameTooLong(name).into());
        }
        let namespace = endpoint
            .meta()
            .namespace
            .clone()
            .ok_or(InvalidCluster::Incomplete)?;
        let owner = endpoint
            .controller_owner_ref(&())
            .ok_or(InvalidCluster::Incomplete)?;
        if let Some(v) = endpoint.spec.violations().into_iter().next() {
            return Err(v.into());
        }
        Ok(ValidatedEndpoint {
            name,
            namespace,
            spec: endpoint.spec.clone(),
            owner,
            system: system.clone(),
        })
    }

    pub fn selector(&self) -> BTreeMap<String, String> {
        string_map([
            ("app.kubernetes.io/name", "inference".to_owned()),
            ("app.kubernetes.io/instance", self.name.clone()),
        ])
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.selector();
        labels.insert(
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGED_BY.to_owned(),
        );
        labels.insert(LABEL_ENDPOINT.to_owned(), self.name.clone());
        labels
    }

    fn meta(&self, name: &str) -> ObjectMeta {
        child_meta(&self.namespace, self.labels(), &self.owner, name)
    }

    pub fn secret_name(&self) -> String {
        endpoint_secret(&self.name)
    }

    pub fn url(&self) -> String {
        format!("http://{}.{}.svc.cluster.local", self.name, self.namespace)
    }
}

/// What this reconcile runs: which model, and how many replicas it sets
/// itself (`None`: the autoscaler decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub served: Served,
    pub replicas: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredEndpoint {
    pub network_policy: NetworkPolicy,
    pub secret: Secret,
    pub service: Service,
    pub deployment: Deployment,
    pub pdb: PodDisruptionBudget,
    pub hpa: HorizontalPodAutoscaler,
}

pub fn desired(endpoint: &ValidatedEndpoint, api_key: &str, plan: &Plan) -> DesiredEndpoint {
    DesiredEndpoint {
        network_policy: network_policy::render(
            endpoint.meta(&endpoint.name),
            endpoint.selector(),
            &network_policy::endpoint_flows(endpoint),
        ),
        secret: secret(endpoint, api_key),
        service: service(endpoint),
        deployment: deployment(endpoint, plan),
        pdb: pdb(endpoint),
        hpa: hpa(endpoint),
    }
}

fn secret(endpoint: &ValidatedEndpoint, api_key: &str) -> Secret {
    Secret {
        metadata: endpoint.meta(&endpoint.secret_name()),
        type_: Some("Opaque".to_owned()),
        data: Some([(API_KEY.to_owned(), ByteString(api_key.as_bytes().to_vec()))].into()),
        ..Secret::default()
    }
}

fn service(endpoint: &ValidatedEndpoint) -> Service {
    Service {
        metadata: endpoint.meta(&endpoint.name),
        spec: Some(ServiceSpec {
            selector: Some(endpoint.selector()),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port: 80,
                target_port: Some(IntOrString::String("http".to_owned())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn container(endpoint: &ValidatedEndpoint, served: &Served) -> Container {
    let spec = &endpoint.spec;
    let engine = serving::engine(spec.engine);
    let running = InferenceEndpointSpec {
        model: served.model.clone(),
        image: served.image.clone(),
        ..spec.clone()
    };
    let gpus = Quantity(spec.gpu.count.to_string());
    let amounts: BTreeMap<String, Quantity> = [
        (
            "cpu".to_owned(),
            Quantity(format!("{}m", spec.resources.cpu_millicores)),
        ),
        (
            "memory".to_owned(),
            Quantity(format!("{}Mi", spec.resources.memory_mib)),
        ),
        (gpu::RESOURCE.to_owned(), gpus),
    ]
    .into();
    let mut env = vec![EnvVar {
        name: engine.api_key_env().to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: endpoint.secret_name(),
                key: API_KEY.to_owned(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }];
    env.extend(spec.env.iter().map(|e| EnvVar {
        name: e.name.clone(),
        value: Some(e.value.clone()),
        ..EnvVar::default()
    }));
    Container {
        name: "engine".to_owned(),
        image: Some(
            served
                .image
                .clone()
                .unwrap_or_else(|| engine.image().to_owned()),
        ),
        args: served.model.as_ref().map(|_| engine.args(&running)),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_owned()),
            container_port: engine.port(),
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        env: Some(env),
        resources: Some(ResourceRequirements {
            requests: Some(amounts.clone()),
            limits: Some(amounts),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(probe(engine.health_path(), 5, 3)),
        liveness_probe: Some(probe(engine.health_path(), 15, 4)),
        // Downloading and loading weights takes minutes: up to 20 here.
        startup_probe: Some(probe(engine.health_path(), 10, 120)),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "shm".to_owned(),
                mount_path: "/dev/shm".to_owned(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "model-cache".to_owned(),
                mount_path: engine.cache_path().to_owned(),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    }
}

/// Rolling with no capacity lost: a new pod must be Ready before an old one
/// goes; a revision that is not Ready within the deadline is reported by the
/// Deployment as `ProgressDeadlineExceeded`, and rolled back.
pub const PROGRESS_DEADLINE_SECONDS: i32 = 1500;

fn deployment(endpoint: &ValidatedEndpoint, plan: &Plan) -> Deployment {
    let spec = &endpoint.spec;
    let product = gpu::model(&spec.gpu.model)
        .map(|m| m.product)
        .unwrap_or_default();
    let mut pod_labels = endpoint.labels();
    pod_labels.insert(
        "quartermaster.dev/revision".to_owned(),
        super::digest(plan.served.revision().as_bytes()),
    );
    Deployment {
        metadata: endpoint.meta(&endpoint.name),
        spec: Some(DeploymentSpec {
            replicas: plan.replicas.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            selector: LabelSelector {
                match_labels: Some(endpoint.selector()),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            progress_deadline_seconds: Some(PROGRESS_DEADLINE_SECONDS),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container(endpoint, &plan.served)],
                    node_selector: Some(string_map([(gpu::PRODUCT_LABEL, product.to_owned())])),
                    tolerations: Some(vec![Toleration {
                        key: Some(gpu::RESOURCE.to_owned()),
                        operator: Some("Exists".to_owned()),
                        effect: Some("NoSchedule".to_owned()),
                        ..Toleration::default()
                    }]),
                    volumes: Some(vec![
                        Volume {
                            name: "shm".to_owned(),
                            empty_dir: Some(EmptyDirVolumeSource {
                                medium: Some("Memory".to_owned()),
                                size_limit: Some(Quantity(format!("{}Mi", spec.resources.shm_mib))),
                            }),
                            ..Volume::default()
                        },
                        Volume {
                            name: "model-cache".to_owned(),
                            empty_dir: Some(EmptyDirVolumeSource::default()),
                            ..Volume::default()
                        },
                    ]),
                    termination_grace_period_seconds: Some(60),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn pdb(endpoint: &ValidatedEndpoint) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: endpoint.meta(&endpoint.name),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(endpoint.selector()),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// Scales between `max(min, 1)` and `max` on requests in flight per pod
/// (running and queued, as the engine counts them).
/// Scaling to and from zero is the operator's (an HPA cannot).
fn hpa(endpoint: &ValidatedEndpoint) -> HorizontalPodAutoscaler {
    let replicas = endpoint.spec.replicas;
    HorizontalPodAutoscaler {
        metadata: endpoint.meta(&endpoint.name),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: endpoint.name.clone(),
            },
            min_replicas: Some(i32::try_from(replicas.min.max(1)).unwrap_or(1)),
            max_replicas: i32::try_from(replicas.max).unwrap_or(i32::MAX),
            metrics: Some(vec![MetricSpec {
                type_: "Pods".to_owned(),
                pods: Some(PodsMetricSource {
                    metric: MetricIdentifier {
                        name: serving::engine(endpoint.spec.engine)
                            .load_metric()
                            .to_owned(),
                        selector: None,
                    },
                    target: MetricTarget {
                        type_: "AverageValue".to_owned(),
                        average_value: Some(Quantity(endpoint.spec.target_concurrency.to_string())),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        ..HorizontalPodAutoscaler::default()
    }
}

#[cfg(test)]
mod tests;
