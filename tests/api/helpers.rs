//! A test app: the router on 127.0.0.1:0 over the test's own database, and
//! a client that speaks to it as a customer would.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

pub const REGION: &str = "eu-test";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub pool: PgPool,
    /// The simulated data plane serving [`REGION`].
    pub data_plane: Uuid,
    /// What the API has counted.
    pub metrics: dashboard_api::ApiMetrics,
    client: reqwest::Client,
}

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Session(String),
    Key(String),
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts a problem document of `slug` with `status`, and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16, slug: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("https://quartermaster.dev/problems/{slug}"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        &self.body
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        &self.body
    }
}

/// A signed-up user with their first organization.
pub struct Customer {
    pub session: Auth,
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> TestApp {
        Self::spawn_with(pool, None).await
    }

    /// As [`TestApp::spawn`], collecting payment through `payments`.
    pub async fn spawn_with(pool: PgPool, payments: Option<dashboard_api::Payments>) -> TestApp {
        let config = dashboard_api::Config {
            secure_cookies: false,
            payments,
            webhook_urls: control_plane::webhooks::UrlPolicy::AllowLoopback,
            ..Default::default()
        };
        Self::spawn_configured(pool, config).await
    }

    /// As [`TestApp::spawn`], with `config`.
    pub async fn spawn_configured(pool: PgPool, config: dashboard_api::Config) -> TestApp {
        let mut conn = pool.acquire().await.unwrap();
        let data_plane =
            control_plane::data_planes::ensure_simulated(&mut conn, "sim-test", REGION)
                .await
                .unwrap();
        drop(conn);
        let state = dashboard_api::AppState::new(
            pool.clone(),
            billing::Catalog::default_catalog().unwrap(),
            config,
        )
        .await
        .unwrap();
        let metrics = state.metrics.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, dashboard_api::router(state)).await });
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        TestApp {
            base,
            pool,
            data_plane,
            metrics,
            client,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        request = match auth {
            Auth::None => request,
            Auth::Session(cookie) => request.header("cookie", cookie),
            Auth::Key(token) => request.bearer_auth(token),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        reply(response).await
    }

    pub async fn raw(&self, request: reqwest::RequestBuilder) -> Reply {
        reply(request.send().await.unwrap()).await
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Reply {
        self.send(Method::GET, path, auth, None, &[]).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> Reply {
        self.send(Method::POST, path, auth, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, auth: &Auth, body: Value) -> Reply {
        self.send(Method::PATCH, path, auth, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str, auth: &Auth) -> Reply {
        self.send(Method::DELETE, path, auth, None, &[]).await
    }

    pub async fn signup(&self, email: &str) -> Customer {
        let reply = self
            .post(
                "/v1/signup",
                &Auth::None,
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        let body = reply.ok(201).clone();
        Customer {
            session: Auth::Session(session_cookie(&reply)),
            org_id: body["organization"]["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            user_id: body["user"]["id"].as_str().unwrap().parse().unwrap(),
            email: email.to_owned(),
        }
    }

    /// A new customer made a platform administrator, as `quartermaster
    /// admin grant` makes one.
    pub async fn signup_admin(&self, email: &str) -> Customer {
        let customer = self.signup(email).await;
        let email = control_plane::accounts::Email::parse(email).unwrap();
        let mut conn = self.pool.acquire().await.unwrap();
        control_plane::admin::grant(&mut conn, &email)
            .await
            .unwrap();
        customer
    }

    /// A new API key of `customer`'s organization, with the default scopes.
    pub async fn api_key(&self, customer: &Customer) -> Auth {
        let reply = self
            .post(
                &format!("/v1/organizations/{}/api-keys", customer.org_id),
                &customer.session,
                json!({ "name": "test" }),
            )
            .await;
        Auth::Key(reply.ok(201)["token"].as_str().unwrap().to_owned())
    }

    /// Moves organization `org_id` to `plan` through the API (no payment
    /// provider is configured here, so no card is needed).
    pub async fn set_plan(&self, org_id: Uuid, auth: &Auth, plan: &str) {
        let reply = self
            .send(
                Method::PUT,
                &format!("/v1/organizations/{org_id}/billing/plan"),
                auth,
                Some(json!({ "plan": plan })),
                &[],
            )
            .await;
        assert_eq!(reply.ok(200)["plan"], plan);
    }

    /// Ada on `plan` with an API key and a cluster named `search`: her, the
    /// key, the cluster's id and its API path.
    pub async fn ada_with_a_cluster(&self, plan: &str) -> (Customer, Auth, String, String) {
        let ada = self.signup("ada@example.com").await;
        self.set_plan(ada.org_id, &ada.session, plan).await;
        let key = self.api_key(&ada).await;
        let created = self.create_cluster(ada.org_id, &key, "search").await;
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/organizations/{}/clusters/{id}", ada.org_id);
        (ada, key, id, path)
    }

    pub async fn create_cluster(&self, org_id: Uuid, auth: &Auth, name: &str) -> Value {
        self.post(
            &format!("/v1/organizations/{org_id}/clusters"),
            auth,
            json!({ "name": name, "region": REGION }),
        )
        .await
        .ok(202)
        .clone()
    }

    /// Sets where the simulated data plane's inference gateway answers.
    /// A fresh ingest token of data plane `data_plane`: what its collector
    /// and gateway call with.
    pub async fn data_plane_token(&self, data_plane: Uuid) -> String {
        let mut conn = self.pool.acquire().await.unwrap();
        control_plane::data_planes::issue_ingest_token(&mut conn, data_plane)
            .await
            .unwrap()
    }

    /// An endpoint `chat` serving Llama 3.1 8B in `region`; its id.
    pub async fn create_endpoint(&self, org_id: Uuid, auth: &Auth, region: &str) -> String {
        let created = self
            .post(
                &format!("/v1/organizations/{org_id}/endpoints"),
                auth,
                json!({
                    "name": "chat", "region": region,
                    "model_repository": "meta-llama/Llama-3.1-8B-Instruct",
                    "gpu_model": "nvidia-l4",
                }),
            )
            .await;
        created.ok(202)["id"].as_str().unwrap().to_owned()
    }

    pub async fn set_gateway_url(&self, url: &str) {
        let mut conn = self.pool.acquire().await.unwrap();
        control_plane::data_planes::set_gateway_url(&mut conn, "sim-test", Some(url))
            .await
            .unwrap();
    }

    /// Every stored row of the tables a request could change, as JSON, so
    /// a test can assert that a refused request changed nothing at all.
    pub async fn stored_rows(&self) -> BTreeMap<&'static str, Value> {
        let mut rows = BTreeMap::new();
        for table in [
            "users",
            "organizations",
            "memberships",
            "subscriptions",
            "sessions",
            "api_keys",
            "inference_keys",
            "vector_clusters",
            "inference_endpoints",
            "audit_log",
            "outbox",
            "idempotency_keys",
            "webhook_endpoints",
            "webhook_events",
            "webhook_deliveries",
            "usage_alerts",
            "resource_labels",
            "data_planes",
            "data_plane_enrollments",
            "resource_price_lists",
        ] {
            // Table names come from the list above, never from input. An API
            // key's `last_used_at` records authentication, which a refused
            // request also passes through.
            let sql = format!(
                "SELECT coalesce(jsonb_agg(to_jsonb(t) - 'last_used_at' ORDER BY to_jsonb(t)::text), '[]') FROM {table} t"
            );
            let value: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&self.pool)
                .await
                .unwrap();
            rows.insert(table, value);
        }
        rows
    }
}

/// The Prometheus exposition of whatever `register` registers, prefixed as
/// `quartermaster serve` prefixes it.
pub fn exposition(register: impl FnOnce(&mut prometheus_client::registry::Registry)) -> String {
    let mut registry = prometheus_client::registry::Registry::with_prefix("quartermaster");
    register(&mut registry);
    telemetry::metrics::render(&registry).unwrap()
}

/// Asserts that each line is in `text`.
#[track_caller]
pub fn assert_lines(text: &str, lines: &[String]) {
    for line in lines {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing {line:?} in:\n{text}"
        );
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// `qm_session=…` from a response's Set-Cookie, ready for a Cookie header.
pub fn session_cookie(reply: &Reply) -> String {
    let set_cookie = reply.headers["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}
