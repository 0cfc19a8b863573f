//! The real router served on loopback, for the benchmarks that drive it.

use sqlx::PgPool;

/// Serves the router on its own two-worker runtime, as a deployment would
/// on this machine, with a pool of its own to `like`'s database; its
/// address.
pub fn serve(like: PgPool) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let pool = control_plane::db::connect_like(&like).await.unwrap();
            let state = dashboard_api::AppState::new(
                pool,
                billing::Catalog::default_catalog().unwrap(),
                dashboard_api::Config {
                    secure_cookies: false,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", listener.local_addr().unwrap()))
                .unwrap();
            axum::serve(listener, dashboard_api::router(state))
                .await
                .unwrap();
        });
    });
    rx.recv().unwrap()
}
