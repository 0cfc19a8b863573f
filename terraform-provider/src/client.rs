//! The HTTP client of the REST API: a bearer API key, a timeout on every
//! call, and retries of transient failures. Every mutation carries an
//! `Idempotency-Key` chosen once per logical request and sent again by each
//! retry, so a create whose answer was lost is replayed, never doubled. The
//! key is random, not derived from the body: the same body sent after a
//! destroy must create again, not replay the old answer.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::dto::Problem;
use crate::error::Error;

/// The longest any one HTTP request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ATTEMPTS: u32 = 4;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: String,
    first_retry_delay: Duration,
}

/// Statuses that say "try again later", not "this request is wrong".
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504)
}

/// The wait before retry `attempt` (1 for the first retry): doubling.
fn retry_delay(first: Duration, attempt: u32) -> Duration {
    first * 2u32.pow(attempt.saturating_sub(1))
}

impl Client {
    pub fn new(endpoint: &str, api_key: &str) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!(
                "terraform-provider-quartermaster/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: endpoint.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            first_retry_delay: FIRST_RETRY_DELAY,
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.send(Method::GET, path, None::<&()>).await
    }

    /// Reads `path`; `None` when the API says it is not there (gone, or
    /// never was).
    pub async fn find<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, Error> {
        match self.get(path).await {
            Ok(found) => Ok(Some(found)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Deletes `path`; already gone is no error.
    pub async fn delete(&self, path: &str) -> Result<(), Error> {
        match self
            .send::<(), serde::de::IgnoredAny>(Method::DELETE, path, None)
            .await
        {
            Err(error) if !error.is_not_found() => Err(error),
            _ => Ok(()),
        }
    }

    /// Sends `body` (as JSON) and reads the answer as `T`.
    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, Error> {
        let url = format!("{}{path}", self.base);
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|source| Error::Decode {
                url: url.clone(),
                source,
            })?;
        let idempotency_key =
            (method != Method::GET).then(|| format!("terraform-{}", uuid::Uuid::new_v4()));
        let mut attempt = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.api_key);
            if let Some(key) = &idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            attempt += 1;
            let last = attempt == ATTEMPTS;
            let response = match request.send().await {
                Ok(response) => response,
                Err(source) if !last && (source.is_timeout() || source.is_connect()) => {
                    tokio::time::sleep(retry_delay(self.first_retry_delay, attempt)).await;
                    continue;
                }
                Err(source) => return Err(Error::Transport { url, source }),
            };
            let status = response.status();
            if !last && retryable(status) {
                tokio::time::sleep(retry_delay(self.first_retry_delay, attempt)).await;
                continue;
            }
            let bytes = response.bytes().await.map_err(|source| Error::Transport {
                url: url.clone(),
                source,
            })?;
            return if status.is_success() {
                serde_json::from_slice(&bytes).map_err(|source| Error::Decode { url, source })
            } else {
                Err(failure(status, &bytes))
            };
        }
    }
}

/// An error answer: its problem document, or the start of whatever it is.
fn failure(status: StatusCode, body: &[u8]) -> Error {
    match serde_json::from_slice::<Problem>(body) {
        Ok(problem) if !problem.title.is_empty() => Error::from_problem(status.as_u16(), problem),
        _ => Error::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    use super::*;

    /// A loopback server answering `answers` in turn; each request's head
    /// is sent back through the channel.
    fn server(answers: Vec<(u16, &'static str)>) -> (String, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for (status, body) in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = n.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let mut body_in = vec![0; length];
                reader.read_exact(&mut body_in).unwrap();
                tx.send(head).unwrap();
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                reader.get_mut().write_all(answer.as_bytes()).unwrap();
            }
        });
        (address, rx)
    }

    fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn client(address: &str) -> Client {
        Client {
            first_retry_delay: Duration::from_millis(1),
            ..Client::new(address, "qm_test").unwrap()
        }
    }

    #[tokio::test]
    async fn a_retried_create_sends_the_same_idempotency_key_each_time() {
        let (address, heads) = server(vec![(503, "{}"), (502, "{}"), (202, r#"{"id": 7}"#)]);
        let created: serde_json::Value = client(&address)
            .send(
                Method::POST,
                "/v1/things",
                Some(&serde_json::json!({"a": 1})),
            )
            .await
            .unwrap();
        assert_eq!(created["id"], 7);
        let heads: Vec<String> = heads.try_iter().collect();
        assert_eq!(heads.len(), 3);
        let keys: Vec<_> = heads
            .iter()
            .map(|h| header(h, "idempotency-key").unwrap())
            .collect();
        assert!(keys[0].starts_with("terraform-"));
        assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
        assert_eq!(header(&heads[0], "authorization"), Some("Bearer qm_test"));
    }

    #[tokio::test]
    async fn two_creates_use_two_keys_and_reads_use_none() {
        let (address, heads) = server(vec![(202, "{}"), (202, "{}"), (200, "{}")]);
        let client = client(&address);
        for _ in 0..2 {
            let _: serde_json::Value = client
                .send(Method::POST, "/v1/things", Some(&()))
                .await
                .unwrap();
        }
        let _: serde_json::Value = client.get("/v1/things").await.unwrap();
        let heads: Vec<String> = heads.try_iter().collect();
        assert_ne!(
            header(&heads[0], "idempotency-key"),
            header(&heads[1], "idempotency-key")
        );
        assert_eq!(header(&heads[2], "idempotency-key"), None);
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried_and_keeps_its_problem() {
        let problem = r#"{"type": "https://quartermaster.dev/problems/plan-limit-exceeded",
            "title": "The plan does not allow this", "status": 403, "detail": "Upgrade to Business."}"#;
        let (address, heads) = server(vec![(403, problem)]);
        let error = client(&address)
            .get::<serde_json::Value>("/v1/things")
            .await
            .unwrap_err();
        assert_eq!(error.summary(), "The plan does not allow this");
        assert_eq!(error.detail(), "Upgrade to Business.");
        assert_eq!(heads.try_iter().count(), 1);
    }

    #[tokio::test]
    async fn an_endless_outage_gives_up_after_the_last_attempt() {
        let (address, heads) = server(vec![(503, "oops"); ATTEMPTS as usize]);
        let error = client(&address)
            .get::<serde_json::Value>("/v1/things")
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::Status { status: 503, .. }),
            "{error}"
        );
        assert_eq!(heads.try_iter().count(), ATTEMPTS as usize);
    }

    #[test]
    fn retries_wait_longer_each_time() {
        let first = Duration::from_millis(500);
        let waits: Vec<_> = (1..=3).map(|n| retry_delay(first, n)).collect();
        assert_eq!(
            waits,
            [
                Duration::from_millis(500),
                Duration::from_secs(1),
                Duration::from_secs(2)
            ]
        );
    }
}
