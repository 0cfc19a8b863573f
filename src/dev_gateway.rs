//! The simulated data plane's inference gateway, for `dev`:
//! `quartermaster-gateway`'s library in this process, talking to this
//! control plane over HTTP with the data plane's own token (the key set,
//! wakes, usage), in front of a vLLM stand-in per served model. An
//! endpoint is routed to while the simulated data plane shows it Ready; a
//! request to one scaled to zero wakes it and is held until it is.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gateway::control_plane::{ControlPlane, keep_keys, keep_reporting};
use gateway::keys::KeyStore;
use gateway::pods::{Pod, Pods};
use gateway::standin::{self, Engine};
use gateway::{Gateway, router};
use sqlx::PgPool;
use uuid::Uuid;

/// The stand-ins' own key: the gateway sends it, customers never see it.
const ENGINE_KEY: &str = "dev-engine-key";

/// Starts the gateway on `listen` for data plane `data_plane` of the
/// control plane at `api_url`; answers where it listens.
pub async fn start(
    pool: PgPool,
    data_plane: Uuid,
    api_url: String,
    listen: SocketAddr,
) -> anyhow::Result<SocketAddr> {
    let mut conn = pool.acquire().await?;
    let token = control_plane::data_planes::issue_ingest_token(&mut conn, data_plane).await?;
    drop(conn);
    let control_plane = ControlPlane::new(&api_url, token, Duration::from_secs(10))?;
    let keys = Arc::new(KeyStore::new(Duration::from_secs(600)));
    let pods = Arc::new(Pods::default());
    let gateway = Arc::new(Gateway::new(
        Arc::clone(&keys),
        Arc::clone(&pods),
        Arc::new(control_plane.clone()),
        64,
    )?);
    tokio::spawn(keep_keys(
        control_plane.clone(),
        keys,
        Arc::clone(&gateway.metrics),
        Duration::from_secs(1),
    ));
    tokio::spawn(keep_reporting(
        control_plane,
        Arc::clone(&gateway.ledger),
        format!("quartermaster-gateway/dev/{}", Uuid::new_v4()),
        Duration::from_secs(10),
        std::future::pending(),
    ));
    tokio::spawn(follow(pool, data_plane, pods));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} for the inference gateway"))?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(err) = gateway::serve(listener, router(gateway)).await {
            tracing::error!(error = %err, "the inference gateway stopped");
        }
    });
    Ok(address)
}

/// Keeps each endpoint's pod as the simulated data plane shows it: a
/// stand-in serving its model while it is Ready, none otherwise.
async fn follow(pool: PgPool, data_plane: Uuid, pods: Arc<Pods>) {
    let mut engines: HashMap<String, String> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let serving = match pool.acquire().await {
            Ok(mut conn) => {
                control_plane::endpoints::data_plane::serving(&mut conn, data_plane).await
            }
            Err(err) => Err(err.into()),
        };
        let serving = match serving {
            Ok(serving) => serving,
            Err(err) => {
                tracing::warn!(error = %err, "reading the simulated endpoints failed");
                continue;
            }
        };
        for endpoint in serving {
            let url = match engines.get(&endpoint.served_model) {
                Some(url) => url.clone(),
                None => match standin::serve(Engine::new(&endpoint.served_model, Some(ENGINE_KEY)))
                    .await
                {
                    Ok(running) => {
                        engines.insert(endpoint.served_model.clone(), running.base_url());
                        running.base_url()
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "starting a stand-in engine failed");
                        continue;
                    }
                },
            };
            let ready = if endpoint.ready {
                vec![Pod::new(url, Some(ENGINE_KEY.to_owned()))]
            } else {
                Vec::new()
            };
            pods.set(endpoint.id, ready);
        }
    }
}
