//! Taking a backup: each shard once from an active replica, retried
//! uploads, and no manifest for a backup that did not complete.

use operator::backup::qdrant::SnapshotApi;
use operator::backup::run;

use crate::moto::Moto;
use crate::qdrant::{cluster, config};
use crate::{API_KEY, PREFIX, calls, data, sha256, source, source_cluster};

#[tokio::test]
async fn an_interrupted_upload_is_retried_and_a_failed_backup_has_no_manifest() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();

    // The first download breaks off half-way: streamed and sent again.
    let (nodes, q) = cluster(1, 0).await;
    {
        let mut c = q.lock().unwrap();
        c.create("docs", config(1, 1));
        c.fill("docs", 0, 60, 6 * 1024 * 1024);
        c.nodes[0].broken_downloads = 1;
    }
    let docs = data(&q)[&("docs".to_owned(), 0)][0].clone();
    let taken = run::take(&api, &store, PREFIX, "b1", &source(&nodes))
        .await
        .unwrap();
    assert_eq!(taken.snapshots[0].sha256, sha256(&docs));
    assert_eq!(taken.snapshots[0].size, docs.len() as u64);
    let downloads = calls(&q, 0)
        .iter()
        .filter(|c| c.ends_with("/snapshot"))
        .count();
    assert_eq!(downloads, 2, "a fresh snapshot for the retry");
    assert_eq!(
        moto.open_uploads().await,
        0,
        "the broken upload was aborted"
    );
    let workdir = tempfile::tempdir().unwrap();
    let (target, fresh) = cluster(1, 0).await;
    run::restore(&api, &store, PREFIX, "b1", &target, workdir.path())
        .await
        .unwrap();
    assert_eq!(data(&fresh)[&("docs".to_owned(), 0)], [docs]);

    // A node whose downloads always break: the backup fails, and without a
    // manifest it can never be restored from.
    q.lock().unwrap().nodes[0].broken_downloads = usize::MAX;
    let err = run::take(&api, &store, PREFIX, "b2", &source(&nodes))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reading the snapshot"), "{err}");
    assert_eq!(moto.open_uploads().await, 0);
    let (target, fresh) = cluster(1, 0).await;
    let err = run::restore(&api, &store, PREFIX, "b2", &target, workdir.path())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "backup `b2` has no manifest: it never completed, and cannot be restored"
    );
    assert!(calls(&fresh, 0).is_empty());
}

#[tokio::test]
async fn a_shard_without_an_active_replica_fails_the_backup() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    let (nodes, q) = source_cluster().await;
    q.lock().unwrap().nodes[1]
        .replicas
        .get_mut(&("docs".to_owned(), 1))
        .unwrap()
        .state = "Dead";
    let err = run::take(&api, &store, PREFIX, "b1", &source(&nodes))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Qdrant: shard 1 of docs has no active replica to snapshot"
    );
    assert!(
        run::read_manifest(&store, PREFIX, "b1").await.is_err(),
        "no manifest"
    );
}
