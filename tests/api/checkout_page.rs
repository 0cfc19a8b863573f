//! Stripe Checkout, stood in for on a loopback port: localstripe has no
//! Checkout Sessions. The stand-in answers `POST /v1/checkout/sessions`
//! (checking every parameter Quartermaster must send, and refusing the
//! request with a Stripe error naming the first one that is wrong), serves
//! the hosted page on which the customer types a card, and answers
//! `GET /v1/checkout/sessions/{id}`. In setup mode, saving the card makes a
//! real SetupIntent in localstripe; in payment mode, paying makes and
//! confirms a real PaymentIntent there, so a declined card is declined by
//! localstripe. Every other Stripe call is passed through to localstripe
//! unchanged, so customers, intents and default cards are localstripe's own.
//!
//! The session's shape follows Stripe's API reference for the Checkout
//! Session object: `status` is `open` until the customer finishes, then
//! `complete`; in payment mode `payment_status` is `unpaid` until the money
//! is captured, then `paid`, with `amount_total` and `payment_intent`; in
//! setup mode it is `no_payment_required`.

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

/// The parameters a payment-mode checkout (credit) must be opened with, and
/// nothing else: one line of an inline price, the currency being the line's.
const PAYMENT_PARAMETERS: [&str; 11] = [
    "cancel_url",
    "client_reference_id",
    "customer",
    "line_items[0][price_data][currency]",
    "line_items[0][price_data][product_data][name]",
    "line_items[0][price_data][unit_amount]",
    "line_items[0][quantity]",
    "metadata[organization_id]",
    "metadata[purpose]",
    "mode",
    "success_url",
];

/// The parameters a setup-mode checkout must be opened with, and nothing else.
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
    /// In payment mode, the PaymentIntent that paid the session.
    pub payment_intent: Option<String>,
}

impl Session {
    fn is_payment(&self) -> bool {
        self.params["mode"] == "payment"
    }

    fn json(&self, base: &str) -> Value {
        if self.is_payment() {
            return self.payment_json(base);
        }
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

    fn payment_json(&self, base: &str) -> Value {
        let paid = self.payment_intent.is_some();
        let line = |name: &str| self.params[&format!("line_items[0][{name}]")].clone();
        json!({
            "id": self.id,
            "object": "checkout.session",
            "amount_total": line("price_data][unit_amount").parse::<i64>().unwrap(),
            "cancel_url": self.params["cancel_url"],
            "client_reference_id": self.params["client_reference_id"],
            "currency": line("price_data][currency"),
            "customer": self.params["customer"],
            "livemode": false,
            "metadata": {
                "organization_id": self.params["metadata[organization_id]"],
                "purpose": self.params["metadata[purpose]"],
            },
            "mode": "payment",
            "payment_intent": self.payment_intent,
            "payment_status": if paid { "paid" } else { "unpaid" },
            "setup_intent": null,
            "status": if paid { "complete" } else { "open" },
            "success_url": self.params["success_url"],
            "ui_mode": "hosted",
            "url": (!paid).then(|| format!("{base}/pay/{}", self.id)),
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
    /// Off-session charges by idempotency key: Stripe answers a repeated
    /// key with the first answer, without charging again.
    charges: Mutex<BTreeMap<String, (StatusCode, Bytes)>>,
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
            charges: Mutex::new(BTreeMap::new()),
        });
        let app = Router::new()
            .route("/v1/checkout/sessions", post(open))
            .route("/v1/checkout/sessions/{id}", get(read))
            .route("/pay/{id}", get(card_form).post(save_card))
            .route("/v1/payment_intents", post(charge_off_session))
            .fallback(pass_through)
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        CheckoutPage(shared)
    }

    /// The API base to give the Stripe client.
    pub fn api_base(&self) -> String {
        format!("{}/", self.0.base)
    }

    /// How many distinct off-session charges were made.
    pub fn charges(&self) -> usize {
        self.0.charges.lock().unwrap().len()
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
    if params.get("mode").map(String::as_str) == Some("payment") {
        return check_payment(params, &names);
    }
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

/// A payment for credit: one line, quantity one, of a positive amount in
/// the installation's currency, for Quartermaster's own customer.
fn check_payment(params: &BTreeMap<String, String>, names: &[&str]) -> Result<(), String> {
    if names != PAYMENT_PARAMETERS {
        return Err(format!(
            "parameters {names:?}, expected {PAYMENT_PARAMETERS:?}"
        ));
    }
    let amount = params["line_items[0][price_data][unit_amount]"].parse::<i64>();
    let checks = [
        (
            params["line_items[0][price_data][currency]"] == "usd",
            "the line's currency must be usd",
        ),
        (
            amount.is_ok_and(|a| a > 0),
            "unit_amount must be a positive integer",
        ),
        (
            params["line_items[0][quantity]"] == "1",
            "quantity must be 1",
        ),
        (
            params["metadata[purpose]"] == "credit",
            "purpose must be credit",
        ),
        (
            params["customer"].starts_with("cus_"),
            "customer must be a customer id",
        ),
        (
            params["client_reference_id"] == params["metadata[organization_id]"],
            "client_reference_id must be the organization",
        ),
        (
            params["success_url"].starts_with("http"),
            "success_url must be a web address",
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
        payment_intent: None,
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
    if session.is_payment() {
        return pay(&shared, &session, card).await;
    }
    let intent = localstripe_json(
        &shared,
        "setup_intents".to_owned(),
        vec![
            ("customer", session.params["customer"].clone()),
            ("usage", "off_session".to_owned()),
        ],
    )
    .await;
    let intent_id = intent["id"].as_str().unwrap().to_owned();
    let mut form = vec![("payment_method_data[type]", "card".to_owned())];
    form.extend(card_fields(true, card));
    let confirmed = localstripe(&shared, format!("setup_intents/{intent_id}/confirm"), form)
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

/// A POST to localstripe's API under the secret key.
fn localstripe(
    shared: &Shared,
    path: String,
    form: Vec<(&'static str, String)>,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
    shared
        .http
        .post(format!("{}/v1/{path}", shared.localstripe))
        .basic_auth(SECRET_KEY, Some(""))
        .form(&form)
        .send()
}

/// A POST to localstripe's API, its JSON answer.
async fn localstripe_json(
    shared: &Shared,
    path: String,
    form: Vec<(&'static str, String)>,
) -> Value {
    localstripe(shared, path, form)
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A test card's fields as localstripe takes them: inline in a
/// confirmation (`payment_method_data[card][…]`) or for a PaymentMethod of
/// its own (`card[…]`).
fn card_fields(inline: bool, number: String) -> Vec<(&'static str, String)> {
    let names = if inline {
        [
            "payment_method_data[card][number]",
            "payment_method_data[card][exp_month]",
            "payment_method_data[card][exp_year]",
            "payment_method_data[card][cvc]",
        ]
    } else {
        [
            "card[number]",
            "card[exp_month]",
            "card[exp_year]",
            "card[cvc]",
        ]
    };
    names
        .into_iter()
        .zip([number, "12".to_owned(), "2030".to_owned(), "123".to_owned()])
        .collect()
}

/// The customer pays the session with `card`: a PaymentIntent for the
/// session's customer and amount, confirmed in localstripe. A declined card
/// leaves the session open (HTTP 402, as Stripe answers a card error).
async fn pay(shared: &Shared, session: &Session, card: String) -> Response {
    let mut form = vec![("type", "card".to_owned())];
    form.extend(card_fields(false, card));
    let method = localstripe_json(shared, "payment_methods".to_owned(), form).await;
    let line = |name: &str| session.params[&format!("line_items[0][price_data][{name}]")].clone();
    let intent = localstripe_json(
        shared,
        "payment_intents".to_owned(),
        vec![
            ("customer", session.params["customer"].clone()),
            ("amount", line("unit_amount")),
            ("currency", line("currency")),
            ("payment_method", method["id"].as_str().unwrap().to_owned()),
        ],
    )
    .await;
    let intent_id = intent["id"].as_str().unwrap().to_owned();
    let confirmed = localstripe_json(
        shared,
        format!("payment_intents/{intent_id}/confirm"),
        vec![],
    )
    .await;
    if confirmed["status"] != "succeeded" {
        return (
            StatusCode::PAYMENT_REQUIRED,
            Html("<p>Your card was declined.</p>".to_owned()),
        )
            .into_response();
    }
    let mut sessions = shared.sessions.lock().unwrap();
    let stored = sessions.iter_mut().find(|s| s.id == session.id).unwrap();
    stored.payment_intent = Some(intent_id);
    Redirect::to(&stored.success_url()).into_response()
}

/// The parameters of an off-session charge, and nothing else.
const CHARGE_PARAMETERS: [&str; 8] = [
    "amount",
    "confirm",
    "currency",
    "customer",
    "description",
    "metadata[top_up_id]",
    "off_session",
    "payment_method",
];

/// An off-session charge (`POST /v1/payment_intents` with `confirm` and
/// `off_session`), which localstripe refuses as unexpected parameters. Per
/// Stripe's API reference, `off_session` may only be used with
/// `confirm=true`. The stand-in checks the request, then makes and confirms
/// the PaymentIntent in localstripe without those two, so the card's answer
/// (succeeded, or declined with HTTP 402) is localstripe's.
async fn charge_off_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let names: Vec<&str> = params.keys().map(String::as_str).collect();
    if names != CHARGE_PARAMETERS {
        return refuse(format!(
            "parameters {names:?}, expected {CHARGE_PARAMETERS:?}"
        ));
    }
    if params["confirm"] != "true" || params["off_session"] != "true" {
        return refuse("off_session can only be used with confirm=true".to_owned());
    }
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|k| k.to_str().ok())
        .filter(|k| k.starts_with("qm-charge-"))
        .map(str::to_owned)
    else {
        return refuse("no `qm-charge-…` Idempotency-Key".to_owned());
    };
    if let Some((status, body)) = shared.charges.lock().unwrap().get(&key).cloned() {
        return (status, body).into_response();
    }
    let mut create: Vec<(&'static str, String)> =
        ["amount", "currency", "customer", "payment_method"]
            .into_iter()
            .map(|name| (name, params[name].clone()))
            .collect();
    create.push(("metadata[top_up_id]", params["metadata[top_up_id]"].clone()));
    let intent = localstripe_json(&shared, "payment_intents".to_owned(), create).await;
    let Some(id) = intent["id"].as_str() else {
        return refuse(format!("localstripe refused the PaymentIntent: {intent}"));
    };
    let confirmed = localstripe(&shared, format!("payment_intents/{id}/confirm"), vec![])
        .await
        .unwrap();
    let status = StatusCode::from_u16(confirmed.status().as_u16()).unwrap();
    let answer = (status, confirmed.bytes().await.unwrap());
    shared.charges.lock().unwrap().insert(key, answer.clone());
    answer.into_response()
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
