//! The rendered NetworkPolicies of two tenants, evaluated by Kubernetes'
//! rules (`policy_eval`): every flow of the README's "Network flows" table
//! is allowed, and every other (source, destination, port), cross-tenant
//! ones first, is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use operator::build::backup_job::{self, BackupJob, Work};
use operator::build::endpoint::{self as endpoint_build, Plan, ValidatedEndpoint};
use operator::build::network_policy::{self, SystemNamespaces};
use operator::build::{self, ApiKeys, Rollout, ValidatedCluster};
use operator::crd::backup::BackupDestination;
use operator::crd::inference_endpoint::InferenceEndpoint;
use operator::names::Names;

use crate::policy_eval::{Cluster, Labels, Pod, Source};

const OPERATOR: &str = "quartermaster-system";

fn system() -> SystemNamespaces {
    SystemNamespaces {
        operator: OPERATOR.to_owned(),
        prometheus: Some("monitoring".to_owned()),
        gateway: Some("qm-gateway".to_owned()),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn pod(name: &str, namespace: &str, labels: Labels, ports: &[(&str, i32)]) -> Pod {
    Pod {
        name: format!("{namespace}/{name}"),
        namespace: namespace.to_owned(),
        labels,
        ports: ports.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect(),
    }
}

/// A tenant's cluster: its policy and its pods as the StatefulSet controller
/// makes them (the template's labels plus the controller's own).
fn qdrant(namespace: &str, name: &str, nodes: u32, cidrs: &[&str]) -> (build::Desired, Vec<Pod>) {
    let mut vc = crate::cluster(crate::v(13), nodes, 1);
    vc.metadata.name = Some(name.to_owned());
    vc.metadata.namespace = Some(namespace.to_owned());
    vc.spec.allowed_source_cidrs = cidrs.iter().map(|c| (*c).to_owned()).collect();
    let cluster = ValidatedCluster::new(&vc, &system()).unwrap();
    let keys = ApiKeys {
        admin: "a".into(),
        read_only: "r".into(),
    };
    let desired = build::desired(&cluster, &keys, Rollout { partition: 0 });
    let template = &desired.statefulset.spec.as_ref().unwrap().template;
    let pods = (0..nodes)
        .map(|ordinal| {
            let mut labels = template.metadata.as_ref().unwrap().labels.clone().unwrap();
            labels.insert(
                "statefulset.kubernetes.io/pod-name".into(),
                format!("{name}-{ordinal}"),
            );
            labels.insert("controller-revision-hash".into(), format!("{name}-6d4f"));
            pod(
                &format!("{name}-{ordinal}"),
                namespace,
                labels,
                &[("http", 6333), ("grpc", 6334), ("p2p", 6335)],
            )
        })
        .collect();
    (desired, pods)
}

fn backup_pod(namespace: &str, cluster: &str) -> Pod {
    let destination = BackupDestination {
        bucket: "qm-backups".into(),
        prefix: String::new(),
        endpoint: "https://s3.example.com".into(),
        region: "us-east-1".into(),
        credentials_secret: "backup-credentials".into(),
    };
    let job = backup_job::build(
        &BackupJob {
            name: "search-nightly",
            namespace,
            cluster,
            backup: "search-nightly",
            destination: &destination,
            work: Work::Backup {
                version: "1.13.0",
                nodes: 3,
            },
            image: "ghcr.io/quartermaster/quartermaster-operator:test",
            owner: Default::default(),
        },
        &Names::of(cluster).unwrap(),
    );
    let mut labels = job.spec.unwrap().template.metadata.unwrap().labels.unwrap();
    labels.insert(
        "batch.kubernetes.io/job-name".into(),
        "search-nightly".into(),
    );
    pod("backup", namespace, labels, &[])
}

fn inference(namespace: &str) -> (endpoint_build::DesiredEndpoint, Pod) {
    let mut ie: InferenceEndpoint = crate::endpoint::endpoint(1, "0e9e39f");
    ie.metadata.namespace = Some(namespace.to_owned());
    let endpoint = ValidatedEndpoint::new(&ie, &system()).unwrap();
    let plan = Plan {
        served: endpoint.spec.served(),
        replicas: None,
    };
    let desired = endpoint_build::desired(&endpoint, "k", &plan);
    let template = &desired.deployment.spec.as_ref().unwrap().template;
    let mut labels = template.metadata.as_ref().unwrap().labels.clone().unwrap();
    labels.insert("pod-template-hash".into(), "7c9d".into());
    (desired, pod("chat", namespace, labels, &[("http", 8000)]))
}

fn deny(namespace: &str) -> k8s_openapi::api::networking::v1::NetworkPolicy {
    network_policy::default_deny(ObjectMeta {
        name: Some("default-deny".into()),
        namespace: Some(namespace.into()),
        ..ObjectMeta::default()
    })
}

#[test]
fn exactly_the_documented_flows_reach_the_tenants_pods() {
    let (acme_search, acme_search_pods) = qdrant("org-acme", "search", 3, &["203.0.113.0/24"]);
    let (acme_logs, acme_logs_pods) = qdrant("org-acme", "logs", 1, &[]);
    let (globex_search, globex_search_pods) = qdrant("org-globex", "search", 1, &[]);
    let (chat, chat_pod) = inference("org-acme");
    let (globex_chat, globex_chat_pod) = inference("org-globex");
    let cluster = Cluster {
        namespaces: [
            "org-acme",
            "org-globex",
            OPERATOR,
            "monitoring",
            "qm-gateway",
            "kube-system",
        ]
        .into_iter()
        .map(|n| (n.to_owned(), labels(&[("kubernetes.io/metadata.name", n)])))
        .collect(),
        policies: vec![
            deny("org-acme"),
            deny("org-globex"),
            acme_search.network_policy,
            acme_logs.network_policy,
            globex_search.network_policy,
            chat.network_policy,
            globex_chat.network_policy,
        ],
    };

    let app = |namespace| pod("web", namespace, labels(&[("app", "web")]), &[]);
    let system_pod = |name: &str, namespace| pod(name, namespace, labels(&[("app", name)]), &[]);
    let mut sources: BTreeMap<String, Source> = BTreeMap::new();
    let mut add = |name: &str, source: Source| {
        sources.insert(name.to_owned(), source);
    };
    add("acme/web", Source::Pod(app("org-acme")));
    add("acme/backup", Source::Pod(backup_pod("org-acme", "search")));
    add(
        "acme/logs-backup",
        Source::Pod(backup_pod("org-acme", "logs")),
    );
    for p in acme_search_pods.iter().chain(&acme_logs_pods) {
        add(&p.name.replace("org-", ""), Source::Pod(p.clone()));
    }
    add("acme/chat", Source::Pod(chat_pod.clone()));
    add("globex/web", Source::Pod(app("org-globex")));
    add(
        "globex/search-0",
        Source::Pod(globex_search_pods[0].clone()),
    );
    add(
        "globex/backup",
        Source::Pod(backup_pod("org-globex", "search")),
    );
    add("operator", Source::Pod(system_pod("operator", OPERATOR)));
    add("collector", Source::Pod(system_pod("collector", OPERATOR)));
    add(
        "prometheus",
        Source::Pod(system_pod("prometheus", "monitoring")),
    );
    add("gateway", Source::Pod(system_pod("gateway", "qm-gateway")));
    add(
        "kube-system",
        Source::Pod(system_pod("coredns", "kube-system")),
    );
    let address = |a: &str| Source::External(a.parse::<IpAddr>().unwrap());
    add("client-in-range", address("203.0.113.7"));
    add("client-out-of-range", address("198.51.100.9"));

    let mut destinations: BTreeMap<String, Pod> = BTreeMap::new();
    for p in acme_search_pods.iter().chain(&acme_logs_pods) {
        destinations.insert(p.name.replace("org-", ""), p.clone());
    }
    destinations.insert("acme/chat".into(), chat_pod);
    destinations.insert("globex/search-0".into(), globex_search_pods[0].clone());
    destinations.insert("globex/chat".into(), globex_chat_pod);
    let ports = [6333, 6334, 6335, 8000, 22, 9090];

    // The README's table, row by row: (sources, destinations, ports).
    let acme_search = ["acme/search-0", "acme/search-1", "acme/search-2"];
    let client = [6333, 6334];
    // Every pod of the tenant, whatever it runs.
    let acme_pods: Vec<&str> = sources
        .keys()
        .map(String::as_str)
        .filter(|s| s.starts_with("acme/"))
        .collect();
    let rows: Vec<(Vec<&str>, Vec<&str>, Vec<i32>)> = vec![
        // The tenant's own pods → its clusters' client ports and its endpoints.
        (
            acme_pods.clone(),
            [&acme_search[..], &["acme/logs-0"]].concat(),
            client.to_vec(),
        ),
        (acme_pods.clone(), vec!["acme/chat"], vec![8000]),
        (
            vec!["globex/web", "globex/backup", "globex/search-0"],
            vec!["globex/search-0"],
            client.to_vec(),
        ),
        (
            vec!["globex/web", "globex/backup", "globex/search-0"],
            vec!["globex/chat"],
            vec![8000],
        ),
        // Peers ↔ peers, every Qdrant port.
        (acme_search.to_vec(), acme_search.to_vec(), vec![6335]),
        (vec!["acme/logs-0"], vec!["acme/logs-0"], vec![6335]),
        (vec!["globex/search-0"], vec!["globex/search-0"], vec![6335]),
        // The operator and the collector → REST (health, points), engines.
        (
            vec!["operator", "collector"],
            [&acme_search[..], &["acme/logs-0", "globex/search-0"]].concat(),
            vec![6333],
        ),
        (
            vec!["operator", "collector"],
            vec!["acme/chat", "globex/chat"],
            vec![8000],
        ),
        // Prometheus → metrics ports (Qdrant's REST port, the engine's).
        (
            vec!["prometheus"],
            [&acme_search[..], &["acme/logs-0", "globex/search-0"]].concat(),
            vec![6333],
        ),
        (
            vec!["prometheus"],
            vec!["acme/chat", "globex/chat"],
            vec![8000],
        ),
        // The gateway → endpoints.
        (
            vec!["gateway"],
            vec!["acme/chat", "globex/chat"],
            vec![8000],
        ),
        // Listed CIDRs → client ports of that cluster only.
        (
            vec!["client-in-range"],
            acme_search.to_vec(),
            client.to_vec(),
        ),
    ];
    let expected: BTreeSet<(String, String, i32)> = rows
        .iter()
        .flat_map(|(from, to, ports)| {
            from.iter().flat_map(move |f| {
                to.iter().flat_map(move |t| {
                    ports
                        .iter()
                        .map(move |p| ((*f).to_owned(), (*t).to_owned(), *p))
                })
            })
        })
        .collect();

    let mut allowed = BTreeSet::new();
    for (from, source) in &sources {
        for (to, destination) in &destinations {
            for port in ports {
                if cluster.allows(source, destination, port) {
                    allowed.insert((from.clone(), to.clone(), port));
                }
            }
        }
    }
    let unexpected: Vec<_> = allowed.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&allowed).collect();
    assert!(
        unexpected.is_empty() && missing.is_empty(),
        "allowed but not in the table: {unexpected:#?}\nin the table but refused: {missing:#?}"
    );
    assert!(
        !allowed.iter().any(
            |(from, to, _)| from.starts_with("globex") && to.starts_with("acme")
                || from.starts_with("acme") && to.starts_with("globex")
        ),
        "no flow crosses tenants"
    );
}

#[test]
fn the_evaluator_follows_kubernetes_rules_for_unselected_pods_and_ip_blocks() {
    // A pod no policy selects admits everything; ipBlock never matches a pod.
    let (search, pods) = qdrant("org-acme", "search", 1, &["10.0.0.0/8"]);
    let cluster = Cluster {
        namespaces: [
            (
                "org-acme".to_owned(),
                labels(&[("kubernetes.io/metadata.name", "org-acme")]),
            ),
            (
                "other".to_owned(),
                labels(&[("kubernetes.io/metadata.name", "other")]),
            ),
        ]
        .into(),
        policies: vec![search.network_policy],
    };
    let outsider = Source::Pod(pod("x", "other", labels(&[]), &[]));
    let unselected = pod("web", "org-acme", labels(&[("app", "web")]), &[]);
    assert!(cluster.allows(&outsider, &unselected, 22));
    assert!(
        !cluster.allows(&outsider, &pods[0], 6333),
        "a pod address inside the listed range is still not an ipBlock source"
    );
    assert!(cluster.allows(
        &Source::External("10.1.2.3".parse().unwrap()),
        &pods[0],
        6333
    ));
}
