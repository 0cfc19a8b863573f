//! Restores: into any placement and size, proven by replica states and
//! counts, refused before loading when the bytes or the shards do not fit.

use operator::backup::qdrant::SnapshotApi;
use operator::backup::run;
use operator::backup::{BackupError, manifest};
use serde_json::json;

use crate::moto::Moto;
use crate::qdrant::{assert_answers_documented, cluster, config, shard_data};
use crate::{API_KEY, PREFIX, calls, data, sha256, source, source_cluster};

#[tokio::test]
async fn a_backup_holds_each_shard_once_and_restores_into_another_placement_and_size() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    let (nodes, q) = source_cluster().await;
    let taken = run::take(&api, &store, PREFIX, "b1", &source(&nodes))
        .await
        .unwrap();

    assert_eq!(taken.collections(), ["docs", "images"]);
    assert_eq!(taken.collections["docs"].points, 1000);
    assert_eq!(taken.collections["images"].points, 40);
    assert_eq!(taken.collections["docs"].config, config(2, 1));
    // `images` has a replica on both nodes and is snapshotted once.
    let stored: Vec<(&str, u32, u32, u64, String)> = taken
        .snapshots
        .iter()
        .map(|s| {
            (
                s.collection.as_str(),
                s.shard,
                s.node,
                s.size,
                s.sha256.clone(),
            )
        })
        .collect();
    let before = data(&q);
    let hash = |c: &str, s: u32| sha256(&before[&(c.to_owned(), s)][0]);
    assert_eq!(
        stored,
        [
            ("docs", 0, 0, 9 * 1024 * 1024, hash("docs", 0)),
            ("images", 0, 0, 3000, hash("images", 0)),
            ("docs", 1, 1, 2000, hash("docs", 1)),
        ]
    );
    assert_eq!(
        taken.snapshots[0].key,
        "org-acme/search/b1/docs/shard-0.snapshot"
    );
    assert_eq!(
        calls(&q, 0),
        [
            "GET /collections",
            "GET /collections/docs",
            "GET /collections/docs/cluster",
            "GET /collections/docs/shards/0/snapshot",
            "GET /collections/images",
            "GET /collections/images/cluster",
            "GET /collections/images/shards/0/snapshot",
            "POST /collections/docs/points/count",
            "POST /collections/images/points/count",
        ]
    );
    // The manifest is in the bucket, as the program returned it.
    assert_eq!(
        run::read_manifest(&store, PREFIX, "b1").await.unwrap(),
        taken
    );
    assert_eq!(moto.open_uploads().await, 0);

    // Three new nodes where Qdrant puts every shard somewhere else.
    let (new, fresh) = cluster(3, 1).await;
    let workdir = tempfile::tempdir().unwrap();
    let restored = run::restore(&api, &store, PREFIX, "b1", &new, workdir.path())
        .await
        .unwrap();
    assert_eq!(restored, taken);
    let after = data(&fresh);
    for (key, replicas) in &before {
        assert_eq!(
            after[key].len(),
            replicas.len(),
            "{key:?}: as many replicas as the collection's factor"
        );
        assert!(
            after[key].iter().all(|r| *r == replicas[0]),
            "{key:?}: every replica holds the backed-up bytes"
        );
    }
    assert_eq!(fresh.lock().unwrap().count("docs"), 1000);
    assert_eq!(fresh.lock().unwrap().configs["docs"], config(2, 1));
    assert_eq!(
        calls(&fresh, 0),
        [
            "GET /collections",
            "PUT /collections/docs",
            "GET /collections/docs/cluster",
            "PUT /collections/images",
            "GET /collections/images/cluster",
            // Node 0 holds none of the shards now: nothing is loaded here.
            // The proof: every replica active, and the points counted.
            "GET /collections/docs/cluster",
            "POST /collections/docs/points/count",
            "GET /collections/images/cluster",
            "POST /collections/images/points/count",
        ]
    );
    assert_eq!(
        std::fs::read_dir(workdir.path()).unwrap().count(),
        0,
        "no files left behind"
    );

    // Into a single node, which takes every shard: proven too.
    let (one, lonely) = cluster(1, 0).await;
    run::restore(&api, &store, PREFIX, "b1", &one, workdir.path())
        .await
        .unwrap();
    assert_eq!(lonely.lock().unwrap().count("docs"), 1000);
    assert_eq!(lonely.lock().unwrap().count("images"), 40);

    // Run again after it finished, it creates nothing and lands the same.
    run::restore(&api, &store, PREFIX, "b1", &one, workdir.path())
        .await
        .unwrap();
    let creates = calls(&lonely, 0)
        .iter()
        .filter(|c| c.starts_with("PUT"))
        .count();
    assert_eq!(creates, 2, "no collection is created twice");
    assert_eq!(lonely.lock().unwrap().count("docs"), 1000);

    for cluster in [&fresh, &q] {
        assert_answers_documented(cluster);
    }
}

#[tokio::test]
async fn a_restore_that_cannot_land_every_point_fails_loudly() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    let workdir = tempfile::tempdir().unwrap();

    // A client writes 5 points into each shard right after its snapshot:
    // the count at the end of the backup is more than the snapshots hold.
    let (nodes, q) = source_cluster().await;
    q.lock().unwrap().nodes[1].writes_after_snapshot = 5;
    let taken = run::take(&api, &store, PREFIX, "b1", &source(&nodes))
        .await
        .unwrap();
    assert_eq!(taken.collections["docs"].points, 1005);
    let (new, _) = cluster(2, 1).await;
    let err = run::restore(&api, &store, PREFIX, "b1", &new, workdir.path())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackupError::Unproven { collection, .. } if collection == "docs"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the restore of `docs` is incomplete: 1000 points, where the backup recorded 1005"
    );

    // A target that already has `docs` with three shards: the backup has
    // no data for the third, refused before any shard is loaded.
    let (nodes, _) = source_cluster().await;
    run::take(&api, &store, PREFIX, "b2", &source(&nodes))
        .await
        .unwrap();
    let (new, other) = cluster(2, 0).await;
    other.lock().unwrap().create("docs", config(3, 1));
    let err = run::restore(&api, &store, PREFIX, "b2", &new, workdir.path())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the restore of `docs` is incomplete: the new cluster has shard(s) 2 that the backup does not"
    );
    assert!(
        !calls(&other, 0)
            .iter()
            .chain(&calls(&other, 1))
            .any(|c| c.contains("upload")),
        "nothing loaded"
    );
}

#[tokio::test]
async fn a_snapshot_changed_in_storage_fails_the_restore_before_anything_is_loaded() {
    let moto = Moto::start().await;
    let store = moto.store();
    let api = SnapshotApi::new(API_KEY).unwrap();
    let (nodes, _) = source_cluster().await;
    let taken = run::take(&api, &store, PREFIX, "b1", &source(&nodes))
        .await
        .unwrap();

    // One byte of the last snapshot changes in the bucket.
    let last = taken.snapshots.last().unwrap();
    let mut damaged = shard_data("docs", 1, 300, 2000);
    damaged[100] ^= 1;
    let key = manifest::snapshot_key(PREFIX, "b1", "docs", 1);
    assert_eq!(last.key, key);
    store.put(&key, damaged.clone()).await.unwrap();

    let (target, fresh) = cluster(2, 0).await;
    let workdir = tempfile::tempdir().unwrap();
    let err = run::restore(&api, &store, PREFIX, "b1", &target, workdir.path())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{key} does not match its manifest: expected 2000 bytes with SHA-256 {}, found 2000 \
             bytes with SHA-256 {}; nothing was restored from it",
            last.sha256,
            sha256(&damaged)
        )
    );
    assert!(
        calls(&fresh, 0).is_empty() && calls(&fresh, 1).is_empty(),
        "not even the intact collection was loaded"
    );
}

#[tokio::test]
async fn a_manifest_of_the_old_format_is_refused_with_its_reason() {
    let moto = Moto::start().await;
    let store = moto.store();
    // Format 1, as operators before one snapshot per shard wrote it.
    let old = json!({
        "format": 1, "cluster": "org-acme/search", "version": "1.13.6",
        "startedAt": "2026-11-25T02:00:00Z", "finishedAt": "2026-11-25T02:01:00Z",
        "snapshots": [{ "node": 0, "collection": "docs", "key": "org-acme/search/old/node-0/docs.snapshot",
                        "size": 10, "sha256": "00", "shards": [0] }],
        "points": { "docs": 3 }
    });
    store
        .put(
            &manifest::manifest_key(PREFIX, "old"),
            serde_json::to_vec(&old).unwrap(),
        )
        .await
        .unwrap();
    let err = run::read_manifest(&store, PREFIX, "old").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the manifest of backup `old` is not readable: it is in format 1, and this operator \
         restores format 2 (one snapshot per shard) only"
    );
}
