//! The store and the key set against a real database.

use billing::Catalog;
use chrono::{Duration, Utc};
use crds::gateway::{DEFAULT_COLD_START_TIMEOUT_SECONDS, Refusal, RefusedOrganization, key_hash};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::*;
use crate::access::{self, OrgAccess, Principal};
use crate::endpoints::{self, CreateEndpoint};
use crate::money::suspension::{self, Cause, Scope};
use crate::organizations::{self, OrganizationName};
use crate::page::PageRequest;
use crate::{Error, data_planes};

fn catalog() -> Catalog {
    Catalog::default_catalog().unwrap()
}

/// A member (owner) of a new organization on `plan`, and their access.
async fn organization(conn: &mut PgConnection, name: &str, plan: &str) -> OrgAccess {
    let user = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'not used')")
        .bind(user)
        .bind(format!("{name}@example.com"))
        .execute(&mut *conn)
        .await
        .unwrap();
    let org = organizations::create(conn, user, OrganizationName::parse(name).unwrap())
        .await
        .unwrap();
    sqlx::query("UPDATE subscriptions SET plan = $2 WHERE organization_id = $1")
        .bind(org.id)
        .bind(plan)
        .execute(&mut *conn)
        .await
        .unwrap();
    access::resolve(conn, &Principal::User { user_id: user }, org.id)
        .await
        .unwrap()
}

async fn endpoint(conn: &mut PgConnection, access: &OrgAccess, name: &str, region: &str) -> Uuid {
    let request = CreateEndpoint {
        name: name.into(),
        region: region.into(),
        model_repository: Some("meta-llama/Llama-3.1-8B-Instruct".into()),
        model_revision: Some("main".into()),
        gpu_model: "nvidia-l4".into(),
        ..Default::default()
    };
    endpoints::create(conn, access, &catalog(), &request)
        .await
        .unwrap()
        .id
}

fn named(name: &str) -> CreateInferenceKey {
    CreateInferenceKey {
        name: name.into(),
        ..Default::default()
    }
}

fn fields(err: Error) -> Vec<String> {
    match err {
        Error::Validation(errors) => errors.errors().iter().map(|e| e.field.clone()).collect(),
        other => panic!("expected validation errors, got {other:?}"),
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_key_is_stored_by_its_hash_and_seen_only_in_its_organization(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let ada = organization(&mut conn, "ada", "starter").await;
    let bob = organization(&mut conn, "bob", "starter").await;
    let (key, token) = create(&mut conn, &ada, &catalog(), &named("chat app"))
        .await
        .unwrap();
    let secret = token.expose();
    assert!(
        secret.starts_with(&format!("qmi_{}_", key.prefix)),
        "{secret}"
    );
    assert_eq!(key.prefix.len(), 8);
    assert!(secret.len() >= 4 + 8 + 1 + 43, "{secret}");

    let stored: Vec<(String,)> = sqlx::query_as("SELECT hash FROM inference_keys")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(stored, [(key_hash(secret),)]);
    let row: String = sqlx::query_scalar("SELECT to_jsonb(k)::text FROM inference_keys k")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert!(!row.contains(secret), "the token is never stored: {row}");

    assert_eq!(get(&mut conn, &ada, key.id).await.unwrap(), key);
    assert!(matches!(
        get(&mut conn, &bob, key.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        revoke(&mut conn, &bob, key.id).await,
        Err(Error::NotFound { .. })
    ));
    let page = PageRequest::parse(None, None).unwrap();
    assert!(list(&mut conn, &bob, page).await.unwrap().data.is_empty());
    let listed = list(&mut conn, &ada, page).await.unwrap().data;
    assert_eq!(listed.iter().map(|k| k.id).collect::<Vec<_>>(), [key.id]);

    let revoked = revoke(&mut conn, &ada, key.id).await.unwrap();
    let at = revoked.revoked_at.unwrap();
    let again = revoke(&mut conn, &ada, key.id).await.unwrap();
    assert_eq!(
        again.revoked_at,
        Some(at),
        "revoking twice keeps the first time"
    );
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE target_type = 'inference_key' ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "inference_key.create",
            "inference_key.revoke",
            "inference_key.revoke"
        ]
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_request_is_refused_naming_each_field_at_fault(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    data_planes::ensure_simulated(&mut conn, "sim", "local")
        .await
        .unwrap();
    let ada = organization(&mut conn, "ada", "starter").await;
    let bob = organization(&mut conn, "bob", "starter").await;
    let bobs = endpoint(&mut conn, &bob, "chat", "local").await;
    let bad = CreateInferenceKey {
        name: " ".into(),
        endpoint_id: Some(bobs),
        expires_at: Some(Utc::now() - Duration::minutes(1)),
        requests_per_minute: Some(0),
        tokens_per_minute: Some(-5),
    };
    let err = create(&mut conn, &ada, &catalog(), &bad).await.unwrap_err();
    assert_eq!(
        fields(err),
        [
            "name",
            "expires_at",
            "requests_per_minute",
            "tokens_per_minute",
            "endpoint_id"
        ]
    );

    // Within range, over the Starter plan's cap: the plan's refusal.
    let over = CreateInferenceKey {
        requests_per_minute: Some(601),
        ..named("fast")
    };
    match create(&mut conn, &ada, &catalog(), &over).await {
        Err(Error::Denied(denial)) => {
            assert_eq!(denial.limit, "max_key_requests_per_minute");
            assert_eq!(denial.field, Some("requests_per_minute"));
        }
        other => panic!("expected a plan denial, got {other:?}"),
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM inference_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(count, 0);

    // An endpoint being deleted takes no new key.
    endpoints::delete(&mut conn, &bob, bobs).await.unwrap();
    let scoped = CreateInferenceKey {
        endpoint_id: Some(bobs),
        ..named("late")
    };
    let err = create(&mut conn, &bob, &catalog(), &scoped)
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["endpoint_id"]);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_key_set_holds_a_data_planes_own_keys_endpoints_and_refusals(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let here = data_planes::ensure_simulated(&mut conn, "sim-a", "here")
        .await
        .unwrap();
    let there = data_planes::ensure_simulated(&mut conn, "sim-b", "there")
        .await
        .unwrap();
    let ada = organization(&mut conn, "ada", "starter").await;
    let bob = organization(&mut conn, "bob", "business").await;
    let chat = endpoint(&mut conn, &ada, "chat", "here").await;
    let elsewhere = endpoint(&mut conn, &ada, "far", "there").await;
    let bobs = endpoint(&mut conn, &bob, "bots", "there").await;
    let create_key = async |conn: &mut PgConnection, access: &OrgAccess, request| {
        create(conn, access, &catalog(), &request).await.unwrap().0
    };
    let wide = create_key(&mut conn, &ada, named("wide")).await;
    let scoped = create_key(
        &mut conn,
        &ada,
        CreateInferenceKey {
            endpoint_id: Some(chat),
            requests_per_minute: Some(10),
            ..named("scoped")
        },
    )
    .await;
    let far = create_key(
        &mut conn,
        &ada,
        CreateInferenceKey {
            endpoint_id: Some(elsewhere),
            ..named("far")
        },
    )
    .await;
    let gone = create_key(&mut conn, &ada, named("gone")).await;
    revoke(&mut conn, &ada, gone.id).await.unwrap();
    let bobs_key = create_key(&mut conn, &bob, named("bob")).await;

    let set = key_set(&mut conn, here, &catalog()).await.unwrap();
    let ids: Vec<Uuid> = set.keys.iter().map(|k| k.id).collect();
    assert_eq!(ids, [wide.id, scoped.id], "not {far:?}, revoked or Bob's");
    // Starter caps a key left unlimited, and keeps a lower limit.
    assert_eq!(set.keys[0].requests_per_minute, Some(600));
    assert_eq!(set.keys[0].tokens_per_minute, Some(200_000));
    assert_eq!(set.keys[1].requests_per_minute, Some(10));
    assert_eq!(set.keys[1].endpoint_id, Some(chat));
    assert_eq!(set.endpoints.len(), 1);
    assert_eq!(set.endpoints[0].id, chat);
    assert_eq!(
        set.endpoints[0].served_model,
        "meta-llama/Llama-3.1-8B-Instruct"
    );
    assert_eq!(
        set.endpoints[0].cold_start_timeout_seconds,
        DEFAULT_COLD_START_TIMEOUT_SECONDS
    );
    assert!(set.refused.is_empty());

    let set = key_set(&mut conn, there, &catalog()).await.unwrap();
    let ids: Vec<Uuid> = set.keys.iter().map(|k| k.id).collect();
    assert_eq!(ids, [wide.id, far.id, bobs_key.id]);
    assert_eq!(set.keys[2].requests_per_minute, None, "business: unlimited");
    assert_eq!(set.endpoints.len(), 2);
    assert!(set.endpoints.iter().any(|e| e.id == bobs));

    // A spend limit reached, then a suspension for an unpaid invoice.
    let org = ada.organization_id();
    suspension::suspend(
        &mut conn,
        org,
        Scope::Organization,
        Cause::SpendLimit,
        "over",
        "test",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let refused = |refusal| {
        vec![RefusedOrganization {
            organization_id: org,
            refusal,
        }]
    };
    let set = key_set(&mut conn, here, &catalog()).await.unwrap();
    assert_eq!(set.refused, refused(Refusal::SpendLimit));
    suspension::resume(
        &mut conn,
        org,
        Scope::Organization,
        Cause::SpendLimit,
        "test",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    suspension::suspend(
        &mut conn,
        org,
        Scope::Organization,
        Cause::Billing,
        "unpaid",
        "test",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let set = key_set(&mut conn, here, &catalog()).await.unwrap();
    assert_eq!(set.refused, refused(Refusal::Suspended));

    // A deleted endpoint takes its scoped keys with it.
    endpoints::delete(&mut conn, &ada, chat).await.unwrap();
    let set = key_set(&mut conn, here, &catalog()).await.unwrap();
    assert_eq!(set, crds::gateway::KeySet::default());
}
