//! moto's S3 server (PyPI `moto[server]`) on a free loopback port, for the
//! tests of backups; stopped when dropped.

use std::process::Stdio;
use std::time::Duration;

use operator::backup::store::{Destination, Store};

pub const BUCKET: &str = "backups";

/// moto's S3, on a free loopback port, stopped when dropped.
pub struct Moto {
    pub endpoint: String,
    _process: tokio::process::Child,
}

impl Moto {
    pub async fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let process = tokio::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("moto_server ({e}); install it with `pip install 'moto[server]'`")
            });
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            // Creating the bucket is also the readiness check.
            if let Ok(reply) = http.put(format!("{endpoint}/{BUCKET}")).send().await
                && reply.status().is_success()
            {
                return Moto {
                    endpoint,
                    _process: process,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not start");
    }

    pub fn store(&self) -> Store {
        Store::s3(&Destination {
            bucket: BUCKET.into(),
            endpoint: self.endpoint.clone(),
            region: "us-east-1".into(),
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
        })
        .unwrap()
    }

    /// Multipart uploads begun and neither completed nor aborted.
    #[allow(
        dead_code,
        reason = "used by one of the two test crates that include this file"
    )]
    pub async fn open_uploads(&self) -> usize {
        let xml = reqwest::get(format!("{}/{BUCKET}?uploads", self.endpoint))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        xml.matches("<Upload>").count()
    }
}
