//! A loopback stand-in for vLLM's OpenAI server, for tests, the benchmark
//! and `quartermaster dev`. It answers in vLLM's shapes, read in
//! `vllm/entrypoints/openai/protocol.py` (`ChatCompletionResponse`,
//! `ChatCompletionStreamResponse`, `CompletionResponse`,
//! `EmbeddingResponse`, `UsageInfo`, `ErrorResponse` with `ErrorInfo`
//! whose `code` is the HTTP status) and `serving_chat.py` (a first chunk
//! with the role, one per token, a last with `finish_reason`, then with
//! `stream_options.include_usage` a chunk with `choices: []` and the
//! usage, and `data: [DONE]`; with `continuous_usage_stats` every chunk
//! carries the usage so far). It refuses what vLLM refuses: a missing or
//! wrong `Authorization` (`{"error": "Unauthorized"}`, as its API-key
//! middleware answers) and a model it does not serve (404).
//!
//! Its "tokens" are words: the prompt's words are its prompt tokens, and
//! it writes `max_tokens` words (16 when not given).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// How the stand-in behaves.
#[derive(Debug, Clone)]
pub struct Engine {
    /// What it serves (its `--model`).
    pub model: String,
    /// Its `VLLM_API_KEY`; `None` accepts any caller.
    pub api_key: Option<String>,
    /// The time one token takes: waited before each chunk of a stream
    /// after the first, and for all the tokens before a whole answer.
    pub token_delay: Duration,
    /// When set, each chunk after the first waits for a permit: a test
    /// decides when the engine sends on.
    pub release: Option<Arc<Semaphore>>,
}

impl Engine {
    pub fn new(model: &str, api_key: Option<&str>) -> Engine {
        Engine {
            model: model.to_owned(),
            api_key: api_key.map(str::to_owned),
            token_delay: Duration::ZERO,
            release: None,
        }
    }
}

/// A running stand-in: where it listens and what it was asked.
#[derive(Debug, Clone)]
pub struct Running {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Value>>>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bodies it received, oldest first.
    pub fn received(&self) -> Vec<Value> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

struct Shared {
    engine: Engine,
    received: Arc<Mutex<Vec<Value>>>,
}

/// Serves `engine` on a free loopback port until the runtime ends.
pub async fn serve(engine: Engine) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let received = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::new(Shared {
        engine,
        received: Arc::clone(&received),
    });
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/health", get(|| async { StatusCode::OK }))
        .with_state(shared);
    tokio::spawn(async move {
        if let Err(err) = crate::serve(listener, app).await {
            tracing::warn!(error = %err, "the stand-in engine stopped");
        }
    });
    Ok(Running { addr, received })
}

fn error(status: StatusCode, kind: &str, message: String, param: Option<&str>) -> Response {
    let body = json!({ "error": {
        "message": message, "type": kind, "param": param, "code": status.as_u16(),
    }});
    (status, axum::Json(body)).into_response()
}

/// vLLM's checks, in its order: the key, the body, the model.
fn admit(shared: &Shared, headers: &HeaderMap, body: &Bytes) -> Result<Value, Box<Response>> {
    if let Some(key) = &shared.engine.api_key {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(format!("Bearer {key}").as_str()) {
            let refused = (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "Unauthorized"})),
            );
            return Err(Box::new(refused.into_response()));
        }
    }
    let request: Value = serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "BadRequestError",
            format!("invalid JSON: {e}"),
            None,
        ))
    })?;
    if let Ok(mut received) = shared.received.lock() {
        received.push(request.clone());
    }
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if model != shared.engine.model {
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "NotFoundError",
            format!("The model `{model}` does not exist."),
            Some("model"),
        )));
    }
    Ok(request)
}

fn words(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.split_whitespace().count() as u64,
        Value::Array(items) => items.iter().map(words).sum(),
        Value::Object(o) => o.get("content").map_or(0, words),
        _ => 0,
    }
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "total_tokens": prompt + completion, "completion_tokens": completion, "prompt_tokens_details": null})
}

struct Generation {
    prompt: u64,
    tokens: u64,
    stream: bool,
    include_usage: bool,
    continuous: bool,
}

fn generation(request: &Value, prompt_field: &str) -> Generation {
    let options = request.get("stream_options");
    Generation {
        prompt: request.get(prompt_field).map_or(0, words),
        // An embedding writes no tokens.
        tokens: match prompt_field {
            "input" => 0,
            _ => request
                .get("max_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(16),
        },
        stream: request
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        include_usage: options.is_some_and(|o| {
            o.get("include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(true)
        }),
        continuous: options.is_some_and(|o| {
            o.get("continuous_usage_stats")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        }),
    }
}

fn text(tokens: u64) -> String {
    (0..tokens)
        .map(|i| format!("tok{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// vLLM's checks, then `answer` to what was asked, its prompt read from
/// `prompt_field`.
async fn respond(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    prompt_field: &str,
    answer: fn(&Engine, Generation) -> Response,
) -> Response {
    match admit(shared, headers, body) {
        Ok(request) => {
            let g = generation(&request, prompt_field);
            if !g.stream && !shared.engine.token_delay.is_zero() {
                let tokens = u32::try_from(g.tokens).unwrap_or(u32::MAX);
                tokio::time::sleep(shared.engine.token_delay * tokens).await;
            }
            answer(&shared.engine, g)
        }
        Err(refused) => *refused,
    }
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    respond(&shared, &headers, &body, "messages", chat_answer).await
}

async fn completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&shared, &headers, &body, "prompt", completion_answer).await
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&shared, &headers, &body, "input", embedding_answer).await
}

fn chat_answer(engine: &Engine, g: Generation) -> Response {
    let model = engine.model.clone();
    if !g.stream {
        return axum::Json(json!({
            "id": "chatcmpl-standin", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text(g.tokens), "refusal": null, "annotations": null, "audio": null, "function_call": null, "tool_calls": [], "reasoning_content": null}, "logprobs": null, "finish_reason": "length", "stop_reason": null}],
            "service_tier": null, "system_fingerprint": null, "usage": usage(g.prompt, g.tokens), "prompt_logprobs": null, "kv_transfer_params": null,
        }))
        .into_response();
    }
    let chunk = move |choices: Value, sent: u64| {
        let mut c = json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": choices});
        if g.continuous && g.include_usage {
            c["usage"] = usage(g.prompt, sent);
        }
        c
    };
    let mut chunks = vec![chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]),
        0,
    )];
    for i in 0..g.tokens {
        let last = i + 1 == g.tokens;
        chunks.push(chunk(
            json!([{"index": 0, "delta": {"content": format!("{}tok{i}", if i == 0 { "" } else { " " })}, "logprobs": null, "finish_reason": if last { json!("length") } else { Value::Null }, "stop_reason": null}]),
            i + 1,
        ));
    }
    sse(engine, chunks, g)
}

fn completion_answer(engine: &Engine, g: Generation) -> Response {
    let model = engine.model.clone();
    if !g.stream {
        return axum::Json(json!({
            "id": "cmpl-standin", "object": "text_completion", "created": 0, "model": model,
            "choices": [{"index": 0, "text": text(g.tokens), "logprobs": null, "finish_reason": "length", "stop_reason": null, "prompt_logprobs": null}],
            "service_tier": null, "system_fingerprint": null, "usage": usage(g.prompt, g.tokens), "kv_transfer_params": null,
        }))
        .into_response();
    }
    let chunks = (0..g.tokens)
        .map(|i| {
            let last = i + 1 == g.tokens;
            let mut c = json!({"id": "cmpl-standin", "object": "text_completion", "created": 0, "model": model,
                "choices": [{"index": 0, "text": format!(" tok{i}"), "logprobs": null, "finish_reason": if last { json!("length") } else { Value::Null }, "stop_reason": null}]});
            if g.continuous && g.include_usage {
                c["usage"] = usage(g.prompt, i + 1);
            }
            c
        })
        .collect();
    sse(engine, chunks, g)
}

/// The chunks as server-sent events, then the usage chunk if asked for,
/// then `[DONE]`; paced by the engine's delay and release.
fn sse(engine: &Engine, chunks: Vec<Value>, g: Generation) -> Response {
    let model = engine.model.clone();
    let mut events: Vec<Bytes> = chunks
        .into_iter()
        .map(|c| Bytes::from(format!("data: {c}\n\n")))
        .collect();
    if g.include_usage {
        let last = json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [], "usage": usage(g.prompt, g.tokens)});
        events.push(Bytes::from(format!("data: {last}\n\n")));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let delay = engine.token_delay;
    let release = engine.release.clone();
    let stream = futures::stream::unfold((events.into_iter(), true), move |(mut rest, first)| {
        let release = release.clone();
        async move {
            let event = rest.next()?;
            if !first {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                if let Some(release) = release {
                    release.acquire().await.ok()?.forget();
                }
            }
            Some((Ok::<_, Infallible>(event), (rest, false)))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn embedding_answer(engine: &Engine, g: Generation) -> Response {
    axum::Json(json!({
        "id": "embd-standin", "object": "list", "created": 0, "model": engine.model,
        "data": [{"index": 0, "object": "embedding", "embedding": [0.1, 0.2, 0.3, 0.4]}],
        "usage": {"prompt_tokens": g.prompt, "total_tokens": g.prompt, "completion_tokens": 0, "prompt_tokens_details": null},
    }))
    .into_response()
}

async fn models(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({"object": "list", "data": [{
        "id": shared.engine.model, "object": "model", "created": 0, "owned_by": "vllm",
        "root": shared.engine.model, "parent": null, "max_model_len": 8192,
    }]}))
    .into_response()
}
