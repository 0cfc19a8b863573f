//! Wakes the long polls of desired state. Each control-plane replica holds
//! one `LISTEN` connection and fans its notifications out to the requests
//! waiting on it; a request also reads again every few seconds, so a
//! notification lost while the connection is re-made delays a change,
//! never loses it.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio::time::Instant;
use uuid::Uuid;

/// The channel the desired-state triggers notify, with the data plane's id.
const CHANNEL: &str = "qm_desired_state";
/// The longest a waiting request goes without reading again.
const REREAD: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Changes {
    tx: broadcast::Sender<Uuid>,
}

impl Changes {
    /// Starts listening on a connection of `pool`'s database.
    pub fn start(pool: PgPool) -> Changes {
        let (tx, _) = broadcast::channel(1024);
        tokio::spawn(listen(pool, tx.clone()));
        Changes { tx }
    }

    pub fn subscribe(&self) -> Waiter {
        Waiter(self.tx.subscribe())
    }
}

/// A request's view of the notifications, taken before it reads, so that
/// no change between its read and its wait is missed.
#[derive(Debug)]
pub struct Waiter(broadcast::Receiver<Uuid>);

impl Waiter {
    /// Waits until `data_plane`'s desired state may have changed, for at
    /// most [`REREAD`] and never past `deadline`.
    pub async fn wait(&mut self, data_plane: Uuid, deadline: Instant) {
        let until = deadline.min(Instant::now() + REREAD);
        let _ = tokio::time::timeout_at(until, async {
            loop {
                match self.0.recv().await {
                    Ok(id) if id != data_plane => continue,
                    // Its own change, a lag (maybe its own), or the listener
                    // gone: read again.
                    Ok(_) | Err(_) => return,
                }
            }
        })
        .await;
    }
}

async fn listen(pool: PgPool, tx: broadcast::Sender<Uuid>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(err) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %err, "listening for desired-state changes failed");
                } else {
                    while let Ok(notification) = listener.recv().await {
                        if let Ok(id) = notification.payload().parse() {
                            let _ = tx.send(id);
                        }
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "connecting to listen for desired-state changes failed")
            }
        }
        if pool.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
