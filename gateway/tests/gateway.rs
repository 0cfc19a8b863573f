//! The gateway in front of the vLLM stand-in: keys, scope, streams, tokens,
//! cold starts, the queue, refusals and limits.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on the first unexpected value"
)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crds::gateway::{Refusal, RefusedOrganization};
use futures::StreamExt;
use gateway::control_plane::{self, ControlPlane};
use gateway::standin::Engine;
use gateway::stream::Tokens;
use serde_json::{Value, json};
use support::*;
use tokio::sync::Semaphore;

fn engine() -> Engine {
    Engine::new(SERVED, Some(ENGINE_KEY))
}

fn chat(model: &str, words: &str, max_tokens: u64) -> Value {
    json!({"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": words}]})
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (
        status,
        response.json::<Value>().await.unwrap()["error"].clone(),
    )
}

#[tokio::test]
async fn a_key_of_its_own_reaches_the_engine_which_sees_only_the_engines_key_and_model() {
    let h = harness(engine(), Options::default()).await;
    let response = h
        .post(
            "/v1/chat/completions",
            "qmi_all",
            chat("chat", "one two three", 4),
        )
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["usage"]["prompt_tokens"], 3);
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "tok0 tok1 tok2 tok3"
    );
    // The stand-in refuses a wrong engine key or model: it answered, so the
    // gateway sent its own key and the served model.
    assert_eq!(h.engine.received()[0]["model"], SERVED);

    for (key, code) in [("", "missing_api_key"), ("qmi_unknown", "invalid_api_key")] {
        let request = h
            .http
            .post(format!("{}/v1/chat/completions", h.url))
            .json(&chat("chat", "x", 1));
        let request = if key.is_empty() {
            request
        } else {
            request.bearer_auth(key)
        };
        let (status, error) = error_of(request.send().await.unwrap()).await;
        assert_eq!((status, error["code"].as_str().unwrap()), (401, code));
        assert_eq!(error["type"], "authentication_error");
    }
    assert_eq!(
        h.engine.received().len(),
        1,
        "refused requests are not forwarded"
    );
}

#[tokio::test]
async fn another_organizations_endpoint_or_an_endpoint_out_of_scope_is_refused_with_nothing_forwarded()
 {
    let h = harness(engine(), Options::default()).await;
    for (key, model, status, code) in [
        ("qmi_theirs", format!("{ORG}/chat"), 404, "model_not_found"),
        ("qmi_theirs", CHAT.to_string(), 404, "model_not_found"),
        ("qmi_chat", "embed".to_owned(), 403, "endpoint_not_allowed"),
        ("qmi_all", "nope".to_owned(), 404, "model_not_found"),
    ] {
        let (got, error) = error_of(
            h.post("/v1/chat/completions", key, chat(&model, "x", 1))
                .await,
        )
        .await;
        assert_eq!(
            (got, error["code"].as_str().unwrap()),
            (status, code),
            "{key} → {model}"
        );
    }
    assert!(h.engine.received().is_empty());
    // Their own "chat" is theirs, not ORG's.
    let ok = h
        .post("/v1/chat/completions", "qmi_theirs", chat("chat", "x", 1))
        .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn models_lists_what_the_key_may_call() {
    let h = harness(engine(), Options::default()).await;
    let list: Value = h
        .http
        .get(format!("{}/v1/models", h.url))
        .bearer_auth("qmi_chat")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [format!("{ORG}/chat")]);
}

#[tokio::test]
async fn a_revoked_key_stops_working_within_ten_seconds_and_an_unchanged_set_costs_a_304() {
    let state = Arc::new(ControlPlaneState::default());
    *state.set.lock().unwrap() = key_set();
    let cp_url = control_plane(Arc::clone(&state)).await;
    let h = harness(
        engine(),
        Options {
            set: Default::default(),
            ..Options::default()
        },
    )
    .await;
    let cp = ControlPlane::new(&cp_url, DATA_PLANE_TOKEN, Duration::from_secs(5)).unwrap();
    tokio::spawn(control_plane::keep_keys(
        cp,
        Arc::clone(&h.gateway.keys),
        Arc::clone(&h.gateway.metrics),
        Duration::from_millis(200),
    ));
    let works = |key: &'static str| {
        let h = &h;
        async move {
            h.post("/v1/chat/completions", key, chat("chat", "x", 1))
                .await
                .status()
                == 200
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !works("qmi_all").await {
        assert!(Instant::now() < deadline, "the first set never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        *state.not_modified.lock().unwrap() > 0,
        "an unchanged set is answered 304"
    );

    state
        .set
        .lock()
        .unwrap()
        .keys
        .retain(|k| k.organization_id != ORG || k.endpoint_id.is_some());
    let revoked = Instant::now();
    while works("qmi_all").await {
        assert!(
            revoked.elapsed() < Duration::from_secs(10),
            "still accepted 10 s after revocation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(works("qmi_chat").await, "the other keys stay");
}

/// A streamed chat of `words` for `max_tokens` from an engine that sends
/// its first chunk, then one more per permit of the semaphore.
async fn streamed(
    permits: usize,
    words: &str,
    max_tokens: u64,
) -> (Harness, Arc<Semaphore>, reqwest::Response) {
    let release = Arc::new(Semaphore::new(permits));
    let engine = Engine {
        release: Some(Arc::clone(&release)),
        ..engine()
    };
    let h = harness(engine, Options::default()).await;
    let mut body = chat("chat", words, max_tokens);
    body["stream"] = json!(true);
    let response = h.post("/v1/chat/completions", "qmi_all", body).await;
    (h, release, response)
}

#[tokio::test]
async fn a_stream_passes_through_chunk_by_chunk() {
    let (_h, release, response) = streamed(0, "a b", 3).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = response.bytes_stream();
    // A gateway that buffered the answer would wait for the engine forever.
    let first = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("the first chunk must arrive while the engine holds the rest")
        .unwrap()
        .unwrap();
    // The engine holds every later chunk until released: this one came alone.
    let text = String::from_utf8(first.to_vec()).unwrap();
    assert!(
        text.starts_with("data: ") && text.contains("\"role\":\"assistant\""),
        "{text}"
    );
    assert!(!text.contains("tok0"));
    release.add_permits(100);
    let mut rest = String::new();
    while let Some(chunk) = stream.next().await {
        rest.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
    assert!(rest.contains("tok2"));
    assert!(
        !rest.contains("usage"),
        "the client did not ask for usage: {rest}"
    );
}

#[tokio::test]
async fn tokens_per_key_are_what_the_engine_reported_in_every_kind_of_answer() {
    let h = harness(engine(), Options::default()).await;
    // Non-streaming chat: 3 in, 4 out.
    let a: Value = h
        .post(
            "/v1/chat/completions",
            "qmi_all",
            chat("chat", "one two three", 4),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            a["usage"]["prompt_tokens"].as_u64(),
            a["usage"]["completion_tokens"].as_u64()
        ),
        (Some(3), Some(4))
    );
    // A stream asking for the final usage: 2 in, 5 out, which it sees.
    let mut s = chat("chat", "a b", 5);
    s["stream"] = json!(true);
    s["stream_options"] = json!({"include_usage": true});
    let text = h
        .post("/v1/chat/completions", "qmi_all", s)
        .await
        .text()
        .await
        .unwrap();
    let usage_chunks: Vec<&str> = text.lines().filter(|l| l.contains("\"usage\"")).collect();
    assert_eq!(
        usage_chunks.len(),
        1,
        "only the final usage chunk, as vLLM sends it: {text}"
    );
    assert!(
        usage_chunks[0].contains("\"choices\":[]")
            && usage_chunks[0].contains("\"completion_tokens\":5")
    );
    // Embeddings through the scoped key's sibling: 4 in.
    let e = h
        .post(
            "/v1/embeddings",
            "qmi_all",
            json!({"model": "embed", "input": "w x y z"}),
        )
        .await;
    assert_eq!(e.status(), 200);
    // Completions by the scoped key: 1 in, 2 out.
    let c = h
        .post(
            "/v1/completions",
            "qmi_chat",
            json!({"model": "chat", "prompt": "hi", "max_tokens": 2}),
        )
        .await;
    assert_eq!(c.status(), 200);

    let pending = h.gateway.ledger.pending();
    assert_eq!(
        pending[&key("qmi_all", ORG, None).id],
        Tokens {
            input: 3 + 2 + 4,
            output: 4 + 5
        }
    );
    assert_eq!(
        pending[&key("qmi_chat", ORG, Some(CHAT)).id],
        Tokens {
            input: 1,
            output: 2
        }
    );
}

#[tokio::test]
async fn a_stream_the_client_drops_half_way_counts_what_it_was_sent() {
    let (h, _release, response) = streamed(3, "a b c d e", 50).await;
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("tok2") {
        seen.push_str(std::str::from_utf8(&stream.next().await.unwrap().unwrap()).unwrap());
    }
    drop(stream);
    let key = key("qmi_all", ORG, None).id;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(tokens) = h.gateway.ledger.pending().get(&key) {
            assert_eq!(
                *tokens,
                Tokens {
                    input: 5,
                    output: 3
                }
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dropped stream was never counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_request_to_an_endpoint_at_zero_wakes_it_and_is_held_until_a_pod_is_ready() {
    let h = harness(
        engine(),
        Options {
            ready: false,
            wake_after: Some(Duration::from_millis(300)),
            ..Options::default()
        },
    )
    .await;
    let response = h
        .post("/v1/chat/completions", "qmi_all", chat("chat", "x", 1))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(*h.waker.woken.lock().unwrap(), [CHAT]);
    assert_eq!(
        h.gateway.pods.waiting(CHAT),
        0,
        "the queue place was given back"
    );
}

#[tokio::test]
async fn past_the_queue_a_request_gets_429_with_retry_after_and_a_hold_ends_at_its_timeout() {
    let h = Arc::new(
        harness(
            engine(),
            Options {
                ready: false,
                queue: 1,
                ..Options::default()
            },
        )
        .await,
    );
    let held = {
        let h = Arc::clone(&h);
        tokio::spawn(async move {
            h.http
                .post(format!("{}/v1/chat/completions", h.url))
                .bearer_auth("qmi_all")
                .header(gateway::proxy::COLD_START_TIMEOUT_HEADER, "2")
                .json(&chat("chat", "x", 1))
                .send()
                .await
                .unwrap()
        })
    };
    while h.gateway.pods.waiting(CHAT) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut registry = prometheus_client::registry::Registry::default();
    h.gateway.metrics.register(&mut registry);
    let exposed = telemetry::metrics::render(&registry).unwrap();
    assert!(
        exposed.contains(&format!("queue_depth{{endpoint=\"{CHAT}\"}} 1")),
        "{exposed}"
    );
    let response = h
        .post("/v1/chat/completions", "qmi_all", chat("chat", "x", 1))
        .await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let (_, error) = error_of(response).await;
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("rate_limit_error"), Some("cold_start_queue_full"))
    );

    let (status, error) = error_of(held.await.unwrap()).await;
    assert_eq!(
        (status, error["code"].as_str().unwrap()),
        (504, "cold_start_timeout")
    );
    assert!(h.engine.received().is_empty());
}

#[tokio::test]
async fn a_suspended_organization_and_a_spent_limit_are_refused_at_once() {
    for (refusal, status, code) in [
        (Refusal::Suspended, 403, "organization_suspended"),
        (Refusal::SpendLimit, 402, "spend_limit_reached"),
    ] {
        let mut set = key_set();
        set.refused.push(RefusedOrganization {
            organization_id: ORG,
            refusal,
        });
        let h = harness(
            engine(),
            Options {
                set,
                ready: false,
                ..Options::default()
            },
        )
        .await;
        let (got, error) = error_of(
            h.post("/v1/chat/completions", "qmi_all", chat("chat", "x", 1))
                .await,
        )
        .await;
        assert_eq!((got, error["code"].as_str().unwrap()), (status, code));
        assert!(
            h.waker.woken.lock().unwrap().is_empty(),
            "nothing is woken for a refused organization"
        );
        assert!(h.engine.received().is_empty());
    }
}

#[tokio::test]
async fn a_key_over_its_requests_or_tokens_per_minute_gets_429() {
    let mut set = key_set();
    set.keys[0].requests_per_minute = Some(2);
    set.keys[1].tokens_per_minute = Some(10);
    let h = harness(
        engine(),
        Options {
            set,
            ..Options::default()
        },
    )
    .await;
    for _ in 0..2 {
        assert_eq!(
            h.post("/v1/chat/completions", "qmi_all", chat("chat", "x", 1))
                .await
                .status(),
            200
        );
    }
    let response = h
        .post("/v1/chat/completions", "qmi_all", chat("chat", "x", 1))
        .await;
    assert!(response.headers().contains_key("retry-after"));
    let (status, error) = error_of(response).await;
    assert_eq!(
        (status, error["code"].as_str().unwrap()),
        (429, "requests_per_minute")
    );

    // 6 in + 4 out reach the 10 tokens: the next request waits.
    let first = h
        .post(
            "/v1/chat/completions",
            "qmi_chat",
            chat("chat", "a b c d e f", 4),
        )
        .await;
    assert_eq!(first.status(), 200);
    let (status, error) = error_of(
        h.post("/v1/chat/completions", "qmi_chat", chat("chat", "x", 1))
            .await,
    )
    .await;
    assert_eq!(
        (status, error["code"].as_str().unwrap()),
        (429, "tokens_per_minute")
    );
    assert_eq!(h.engine.received().len(), 3);
}

/// A gateway that served one chat (2 tokens in, 3 out), and a stand-in
/// control plane that refuses its first `refuse` reports.
async fn one_chat_to_report(refuse: u32) -> (Arc<ControlPlaneState>, Harness, ControlPlane) {
    let state = Arc::new(ControlPlaneState::default());
    *state.refuse.lock().unwrap() = refuse;
    let cp_url = control_plane(Arc::clone(&state)).await;
    let h = harness(engine(), Options::default()).await;
    let served = h
        .post(
            "/v1/chat/completions",
            "qmi_all",
            chat("chat", "one two", 3),
        )
        .await;
    assert_eq!(served.status(), 200);
    let cp = ControlPlane::new(&cp_url, DATA_PLANE_TOKEN, Duration::from_secs(5)).unwrap();
    (state, h, cp)
}

#[tokio::test]
async fn closed_minutes_are_reported_as_usage_events_and_forgotten_once_stored() {
    let (state, h, cp) = one_chat_to_report(0).await;
    control_plane::report(&cp, &h.gateway.ledger, "gateway/test", true).await;
    let events = state.events.lock().unwrap().clone();
    let key_id = key("qmi_all", ORG, None).id;
    let by_meter = |meter: &str| {
        events
            .iter()
            .find(|e| e["data"]["meter"] == meter)
            .unwrap()
            .clone()
    };
    assert_eq!(by_meter("input_tokens")["data"]["value"], 2);
    assert_eq!(by_meter("output_tokens")["data"]["value"], 3);
    assert_eq!(
        by_meter("input_tokens")["data"]["dimension"],
        format!("{key_id} {SERVED}")
    );
    assert_eq!(
        by_meter("input_tokens")["subject"],
        format!("organizations/{ORG}/endpoints/{CHAT}")
    );
    assert_eq!(by_meter("input_tokens")["source"], "gateway/test");
    assert!(h.gateway.ledger.pending().is_empty());
}

#[tokio::test]
async fn at_shutdown_the_last_minutes_are_reported_again_until_the_control_plane_takes_them() {
    let (state, h, cp) = one_chat_to_report(1).await;
    // Stopped at once: the only report is the final one, refused the first time.
    control_plane::keep_reporting(
        cp,
        Arc::clone(&h.gateway.ledger),
        "gateway/test".into(),
        Duration::from_secs(3600),
        async {},
    )
    .await;
    assert_eq!(
        *state.refuse.lock().unwrap(),
        0,
        "the first report was refused"
    );
    assert_eq!(
        state.events.lock().unwrap().len(),
        2,
        "input and output tokens"
    );
    assert!(h.gateway.ledger.pending().is_empty());
}
