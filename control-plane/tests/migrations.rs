//! Migrations that move stored data: rows written under the earlier schema
//! read back the same under the new one.

use crds::backup::{BackupDestination, BackupPolicy, Retention};
use crds::inference_endpoint::InferenceEndpointSpec;
use crds::maintenance::{MaintenanceWindow, Weekday};
use crds::vector_cluster::NodeResources;
use crds::{EngineVersion, VectorClusterSpec};
use sqlx::PgPool;
use uuid::Uuid;

/// The migration that folds the typed spec columns into `spec jsonb`.
const RESOURCE_SPEC: i64 = 20261207000013;

async fn migrate(pool: &PgPool, versions: impl Fn(i64) -> bool) {
    for migration in control_plane::db::MIGRATOR
        .iter()
        .filter(|m| versions(m.version))
    {
        sqlx::raw_sql(migration.sql.clone())
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("migration {}: {e}", migration.version));
    }
}

#[sqlx::test(migrations = false)]
async fn clusters_and_endpoints_keep_their_spec_when_its_columns_fold_into_one_value(pool: PgPool) {
    migrate(&pool, |v| v < RESOURCE_SPEC).await;
    let org = Uuid::now_v7();
    sqlx::query("INSERT INTO organizations (id, name) VALUES ($1, 'acme')")
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
    let (with_backups, without) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO data_planes (id, name, region, kind, kubeconfig, backup_destination)
         VALUES ($1, 'eu-1', 'eu-west', 'kubernetes', 'not used',
                 '{\"bucket\": \"qm\", \"endpoint\": \"http://s3.invalid\", \"prefix\": \"eu\",
                   \"credentialsSecret\": \"quartermaster-backup-credentials\"}'),
                ($2, 'us-1', 'us-east', 'simulated', NULL, NULL)",
    )
    .bind(with_backups)
    .bind(without)
    .execute(&pool)
    .await
    .unwrap();
    let (search, bare, orphan_policy) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO vector_clusters (id, organization_id, data_plane_id, name, version, nodes,
             replication_factor, cpu_millicores, memory_mib, storage_gib, backup_schedule,
             backup_retention_days, backup_retention_count, backup_verify, maintenance_window,
             suspended_by, suspended_reason)
         VALUES ($1, $4, $5, 'search', '1.13.6', 3, 2, 1000, 2048, 10, '0 2 * * *', 7, 5, true,
                 '{\"day\": \"sun\", \"startHour\": 22, \"durationHours\": 4}', 'admin', 'held'),
                ($2, $4, $5, 'bare', '1.14.0', 1, 1, 500, 1024, 1, NULL, NULL, NULL, false, NULL,
                 NULL, NULL),
                ($3, $4, $6, 'orphan', '1.14.0', 1, 1, 500, 1024, 1, '@daily', 3, 3, false,
                 NULL, NULL, NULL)",
    )
    .bind(search)
    .bind(bare)
    .bind(orphan_policy)
    .bind(org)
    .bind(with_backups)
    .bind(without)
    .execute(&pool)
    .await
    .unwrap();
    let (hub, image) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO inference_endpoints (id, organization_id, data_plane_id, name,
             model_repository, model_revision, image, engine, gpu_model, gpu_count,
             min_replicas, max_replicas, scale_to_zero_after_seconds, target_concurrency,
             cpu_millicores, memory_mib)
         VALUES ($1, $3, $4, 'chat', 'meta-llama/Llama-3.1-8B-Instruct', '0e9e39f', NULL, 'vllm',
                 'nvidia-l4', 2, 0, 3, 600, 8, 8000, 32768),
                ($2, $3, $4, 'custom', NULL, NULL, 'ghcr.io/acme/tgi:1', 'tgi', 'nvidia-h100-80gb',
                 1, 1, 1, NULL, NULL, 4000, 16384)",
    )
    .bind(hub)
    .bind(image)
    .bind(org)
    .bind(with_backups)
    .execute(&pool)
    .await
    .unwrap();

    migrate(&pool, |v| v >= RESOURCE_SPEC).await;

    let cluster = |id: Uuid| {
        let pool = pool.clone();
        async move {
            let (spec, version): (sqlx::types::Json<VectorClusterSpec>, String) =
                sqlx::query_as("SELECT spec, version FROM vector_clusters WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            assert_eq!(version, spec.0.version.to_string(), "the generated column");
            spec.0
        }
    };
    let size = |cpu_millicores, memory_mib, storage_gib| NodeResources {
        cpu_millicores,
        memory_mib,
        storage_gib,
    };
    assert_eq!(
        cluster(search).await,
        VectorClusterSpec {
            backup: Some(BackupPolicy {
                schedule: "0 2 * * *".into(),
                retention: Retention {
                    count: 5,
                    max_age_days: 7,
                },
                destination: BackupDestination {
                    bucket: "qm".into(),
                    prefix: "eu".into(),
                    endpoint: "http://s3.invalid".into(),
                    region: "us-east-1".into(),
                    credentials_secret: "quartermaster-backup-credentials".into(),
                },
                verify: true,
            }),
            maintenance_window: Some(MaintenanceWindow {
                day: Some(Weekday::Sun),
                start_hour: 22,
                duration_hours: 4,
            }),
            // Not stored: the store reads it from `suspended_by`.
            suspend: false,
            ..VectorClusterSpec::new(EngineVersion::new(1, 13, 6), 3, 2, size(1000, 2048, 10))
        }
    );
    assert_eq!(
        cluster(bare).await,
        VectorClusterSpec::new(EngineVersion::new(1, 14, 0), 1, 1, size(500, 1024, 1))
    );
    // A schedule in a region with nowhere to put backups never took one.
    assert_eq!(cluster(orphan_policy).await.backup, None);

    let endpoint = |id: Uuid| {
        let pool = pool.clone();
        async move {
            let spec: sqlx::types::Json<InferenceEndpointSpec> =
                sqlx::query_scalar("SELECT spec FROM inference_endpoints WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            serde_json::to_value(spec.0).unwrap()
        }
    };
    assert_eq!(
        endpoint(hub).await,
        serde_json::json!({
            "model": { "repository": "meta-llama/Llama-3.1-8B-Instruct", "revision": "0e9e39f" },
            "engine": "vllm",
            "gpu": { "model": "nvidia-l4", "count": 2 },
            "replicas": { "min": 0, "max": 3, "scaleToZeroAfterSeconds": 600 },
            "targetConcurrency": 8,
            "resources": { "cpuMillicores": 8000, "memoryMib": 32768, "shmMib": 8192 },
        })
    );
    assert_eq!(
        endpoint(image).await,
        serde_json::json!({
            "image": "ghcr.io/acme/tgi:1",
            "engine": "tgi",
            "gpu": { "model": "nvidia-h100-80gb", "count": 1 },
            "replicas": { "min": 1, "max": 1 },
            "targetConcurrency": 16,
            "resources": { "cpuMillicores": 4000, "memoryMib": 16384, "shmMib": 8192 },
        })
    );
}
