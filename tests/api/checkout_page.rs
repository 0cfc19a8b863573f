//! Stripe Checkout, stood in for on a loopback port: localstripe has no
//! Checkout Sessions. The stand-in answers `POST /v1/checkout/sessions`
//! (checking every parameter Quartermaster must send, and refusing the
//! request with a Stripe error naming the first one that is wrong), serves
//! the hosted page on which the customer types a card, and answers
//! `GET /v1/checkout/sessions/{id}`. Saving the card makes a real
//! SetupIntent in localstripe; every other Stripe call is passed through to
//! localstripe unchanged, so customers, SetupIntents and default cards are
//! localstripe's own.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::localstripe::{LocalStripe, SECRET_KEY};

/// The parameters a checkout must be opened with, and nothing else.
const PARAMETERS: [&str; 8] = [
    "cancel_url",
    "client_reference_id",
    "currency",
    "customer",
    "metadata[organization_id]",
    "metadata[plan]",
    "mode",
    "success_url",
];

/// One session as opened, and how far the customer got.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub params: BTreeMap<String, String>,
    pub idempotency_key: String,
    pub setup_intent: Option<String>,
}

impl Session {
    fn json(&self, base: &str) -> Value {
        let complete = self.setup_intent.is_some();
        json!({
            "id": self.id,
            "object": "checkout.session",
            "cancel_url": self.params["cancel_url"],
            "client_reference_id": self.params["client_reference_id"],
            "currency": self.params["currency"],
            "customer": self.params["customer"],
            "livemode": false,
            "metadata": {
                "organization_id": self.params["metadata[organization_id]"],
                "plan": self.params["metadata[plan]"],
            },
            "mode": "setup",
            "payment_status": "no_payment_required",
            "setup_intent": self.setup_intent,
            "status": if complete { "complete" } else { "open" },
            "success_url": self.params["success_url"],
            "ui_mode": "hosted",
            "url": (!complete).then(|| format!("{base}/pay/{}", self.id)),
        })
    }

    /// Where the page sends the browser once the card is saved.
    fn success_url(&self) -> String {
        self.params["success_url"].replace("{CHECKOUT_SESSION_ID}", &self.id)
    }
}

#[derive(Debug)]
struct Shared {
    base: String,
    localstripe: String,
    http: reqwest::Client,
    sessions: Mutex<Vec<Session>>,
}

/// The stand-in, serving until the test ends.
#[derive(Debug, Clone)]
pub struct CheckoutPage(Arc<Shared>);

impl CheckoutPage {
    pub async fn start(localstripe: &LocalStripe) -> CheckoutPage {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shared = Arc::new(Shared {
            base: format!("http://{}", listener.local_addr().unwrap()),
            localstripe: localstripe.api_base().trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap(),
            sessions: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1/checkout/sessions", post(open))
            .route("/v1/checkout/sessions/{id}", get(read))
            .route("/pay/{id}", get(card_form).post(save_card))
            .fallback(pass_through)
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        CheckoutPage(shared)
    }

    /// The API base to give the Stripe client.
    pub fn api_base(&self) -> String {
        format!("{}/", self.0.base)
    }

    /// Every session opened so far.
    pub fn sessions(&self) -> Vec<Session> {
        self.0.sessions.lock().unwrap().clone()
    }

    /// Stripe's `checkout.session.completed` event for `id`, as delivered
    /// to `webhook_url` signed with `secret`; the webhook's answer.
    pub async fn deliver_completed(&self, id: &str, webhook_url: &str, secret: &str) -> Value {
        let session = find(&self.0, id).unwrap_or_else(|| panic!("no session {id} was opened"));
        let event = json!({
            "id": format!("evt_{id}"),
            "object": "event",
            "type": "checkout.session.completed",
            "data": { "object": session.json(&self.0.base) },
        })
        .to_string();
        let signature = billing::payments::webhook::sign(
            secret,
            chrono::Utc::now().timestamp(),
            event.as_bytes(),
        );
        let reply = self
            .0
            .http
            .post(webhook_url)
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(event)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        reply.json().await.unwrap()
    }
}

fn find(shared: &Shared, id: &str) -> Option<Session> {
    shared
        .sessions
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.id == id)
        .cloned()
}

fn refuse(message: String) -> Response {
    let body = json!({ "error": { "type": "invalid_request_error", "message": message } });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// What Quartermaster must send to open a checkout: setup mode for its own
/// customer, the organization in the metadata and as the reference, a plan,
/// return URLs where the session id is filled in, under an idempotency key.
fn check(params: &BTreeMap<String, String>, headers: &HeaderMap) -> Result<(), String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("authorization") != Some(&format!("Bearer {SECRET_KEY}")) {
        return Err("not authorized with the secret key".to_owned());
    }
    if !header("idempotency-key").is_some_and(|k| k.starts_with("qm-checkout-")) {
        return Err("no `qm-checkout-…` Idempotency-Key".to_owned());
    }
    let names: Vec<&str> = params.keys().map(String::as_str).collect();
    if names != PARAMETERS {
        return Err(format!("parameters {names:?}, expected {PARAMETERS:?}"));
    }
    let checks = [
        (params["mode"] == "setup", "mode must be setup"),
        (params["currency"] == "usd", "currency must be usd"),
        (
            params["customer"].starts_with("cus_"),
            "customer must be a customer id",
        ),
        (
            params["client_reference_id"] == params["metadata[organization_id]"],
            "client_reference_id must be the organization",
        ),
        (
            params["success_url"].contains("{CHECKOUT_SESSION_ID}"),
            "success_url must carry {CHECKOUT_SESSION_ID}",
        ),
        (
            params["cancel_url"].starts_with("http"),
            "cancel_url must be a web address",
        ),
    ];
    match checks.into_iter().find(|(ok, _)| !ok) {
        Some((_, why)) => Err(why.to_owned()),
        None => Ok(()),
    }
}

async fn open(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let params: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    if let Err(why) = check(&params, &headers) {
        return refuse(why);
    }
    let mut sessions = shared.sessions.lock().unwrap();
    let session = Session {
        id: format!("cs_test_{}", sessions.len() + 1),
        params,
        idempotency_key: headers["idempotency-key"].to_str().unwrap().to_owned(),
        setup_intent: None,
    };
    sessions.push(session.clone());
    axum::Json(session.json(&shared.base)).into_response()
}

async fn read(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match find(&shared, &id) {
        Some(session) => axum::Json(session.json(&shared.base)).into_response(),
        None => refuse(format!("No such checkout.session: '{id}'")),
    }
}

async fn card_form(Path(id): Path<String>) -> Html<String> {
    Html(format!(
        r#"<!doctype html><html lang="en"><head><title>Checkout (stand-in)</title></head>
        <body><main><h1>Save a card</h1>
        <form method="post" action="/pay/{id}">
          <label for="card">Card number</label> <input id="card" name="card" autocomplete="cc-number">
          <button type="submit">Save card</button>
        </form></main></body></html>"#
    ))
}

/// The customer saved `card`: a SetupIntent for the session's customer,
/// confirmed in localstripe, and back to the success URL.
async fn save_card(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let Some(card) = form.get("card").cloned() else {
        return refuse("the page's form has no card".to_owned());
    };
    let Some(session) = find(&shared, &id) else {
        return refuse(format!("No such checkout.session: '{id}'"));
    };
    let localstripe = |path: String, form: Vec<(&str, String)>| {
        shared
            .http
            .post(format!("{}/v1/{path}", shared.localstripe))
            .basic_auth(SECRET_KEY, Some(""))
            .form(&form)
            .send()
    };
    let intent: Value = localstripe(
        "setup_intents".to_owned(),
        vec![
            ("customer", session.params["customer"].clone()),
            ("usage", "off_session".to_owned()),
        ],
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let intent_id = intent["id"].as_str().unwrap().to_owned();
    let confirmed = localstripe(
        format!("setup_intents/{intent_id}/confirm"),
        vec![
            ("payment_method_data[type]", "card".to_owned()),
            ("payment_method_data[card][number]", card),
            ("payment_method_data[card][exp_month]", "12".to_owned()),
            ("payment_method_data[card][exp_year]", "2030".to_owned()),
            ("payment_method_data[card][cvc]", "123".to_owned()),
        ],
    )
    .await
    .unwrap();
    if !confirmed.status().is_success() {
        return refuse(format!("localstripe refused to confirm {intent_id}"));
    }
    let mut sessions = shared.sessions.lock().unwrap();
    let stored = sessions.iter_mut().find(|s| s.id == id).unwrap();
    stored.setup_intent = Some(intent_id);
    Redirect::to(&stored.success_url()).into_response()
}

/// Any other Stripe call, to localstripe as it came.
async fn pass_through(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = shared
        .http
        .request(method, format!("{}{path}", shared.localstripe))
        .body(body);
    for name in ["authorization", "content-type", "idempotency-key"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    (status, answer.bytes().await.unwrap()).into_response()
}
