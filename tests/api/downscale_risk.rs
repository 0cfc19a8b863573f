//! The downscale risk of a cluster through the REST API: what the data
//! plane last reported of its shards, played through the operator's own
//! plan, before a resize is asked for.

use chrono::{Duration, Utc};
use control_plane::provisioner::Provisioner;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_downscale_says_what_moves_where_and_what_would_refuse_it(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (_, key, id, one) = app.ada_with_a_cluster("business").await;
    app.patch(&one, &key, json!({ "nodes": 3 })).await.ok(202);
    let risk = |nodes: &str| format!("{one}/downscale-risk?nodes={nodes}");

    // Not yet reported by the data plane: nothing can be told of a shrink,
    // while growing moves nothing off any node.
    app.get(&risk("2"), &key)
        .await
        .problem(409, "placement-unknown");
    let grow = app.get(&risk("4"), &key).await;
    assert_eq!(grow.ok(200)["removed_nodes"], json!([]));

    // As the operator reports it: two collections of three shards, one
    // replica each, round robin over nodes 0, 1 and 2.
    let shards: Vec<_> = (0..3).map(|s| json!({ "id": s, "nodes": [s] })).collect();
    let placement = json!({ "collections": [
        { "name": "docs", "points": 9000, "pointBytes": 3072, "shards": shards },
        { "name": "faq", "points": 30, "pointBytes": 1536, "shards": shards },
    ] });
    sqlx::query("UPDATE vector_clusters SET placement = $2 WHERE id = $1::uuid")
        .bind(&id)
        .bind(&placement)
        .execute(&pool)
        .await
        .unwrap();
    let reply = app.get(&risk("2"), &key).await;
    let r = reply.ok(200);
    assert_eq!(r["object"], "downscale_risk");
    assert_eq!(
        (r["current_nodes"].clone(), r["nodes"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(r["refused"], json!([]));
    assert_eq!(r["removed_nodes"], json!([2]));
    assert_eq!(
        r["last_replica_leaving"],
        json!([{ "collection": "docs", "shard": 2 }, { "collection": "faq", "shard": 2 }])
    );
    let transfers = r["transfers"].as_array().unwrap();
    assert_eq!(transfers.len(), 2, "{transfers:?}");
    assert_eq!(
        transfers[0],
        json!({ "collection": "docs", "shard": 2, "kind": "move", "from_node": 2,
                "to_node": 0, "points": 3000, "bytes": 3000 * 3072 })
    );
    assert_eq!(r["points"], 3000 + 10);
    assert_eq!(r["bytes"], 3000 * 3072 + 10 * 1536);
    assert_eq!(r["blocked"], json!(null));

    // Below the replication factor: refused, with the reason.
    app.patch(&one, &key, json!({ "replication_factor": 3 }))
        .await
        .ok(202);
    let below = app.get(&risk("2"), &key).await;
    let refused = below.ok(200)["refused"].as_array().unwrap();
    assert!(
        refused[0]
            .as_str()
            .unwrap()
            .contains("a replication factor of 3 needs at least 3 nodes"),
        "{refused:?}"
    );

    // Bad input, and another tenant.
    app.get(&risk("0"), &key)
        .await
        .problem(422, "validation-failed");
    app.get(&risk("many"), &key)
        .await
        .problem(400, "invalid-query");
    let bob = app.signup("bob@example.com").await;
    let bobs = app.api_key(&bob).await;
    app.get(&risk("2"), &bobs).await.problem(404, "not-found");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_simulated_cluster_holds_no_shards_so_only_the_node_leaves(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let provisioner = Provisioner::new(pool, Duration::seconds(0));
    let (_, key, _, one) = app.ada_with_a_cluster("business").await;
    app.patch(&one, &key, json!({ "nodes": 2 })).await.ok(202);
    provisioner.run_once_at(Utc::now()).await.unwrap();
    let reply = app
        .get(&format!("{one}/downscale-risk?nodes=1"), &key)
        .await;
    let r = reply.ok(200);
    assert_eq!(r["transfers"], json!([]));
    assert_eq!(r["removed_nodes"], json!([1]));
    assert_eq!(r["points"], 0);
}
