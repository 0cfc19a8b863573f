//! The request as forwarded and the answer as returned, as pure functions.
//!
//! The engine is always asked for usage: for a stream, in every chunk
//! (`stream_options.continuous_usage_stats`, vLLM's
//! `vllm/entrypoints/openai/protocol.py` `StreamOptions`), so that a
//! stream the client drops half-way still counts the tokens it was sent.
//! What the client did not ask for is taken out again, so it sees what
//! vLLM would have sent it.

use bytes::{Bytes, BytesMut};
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::GatewayError;

/// What the client asked of usage in a stream. vLLM's `StreamOptions`
/// defaults `include_usage` to true once `stream_options` is sent at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientUsage {
    pub include_usage: bool,
    pub continuous: bool,
}

/// A request body ready to forward.
#[derive(Debug)]
pub struct Prepared<T> {
    /// What the caller's `resolve` made of the client's `model`.
    pub resolved: T,
    pub stream: Option<ClientUsage>,
    pub body: Bytes,
}

/// Reads the client's `model`, puts the engine's that `resolve` names in
/// its place, and asks for usage in a stream.
pub fn prepare<T>(
    body: &[u8],
    resolve: impl FnOnce(&str) -> Result<(String, T), GatewayError>,
) -> Result<Prepared<T>, GatewayError> {
    // Only `model`, `stream` and `stream_options` are read; the rest (the
    // prompt) passes as the client wrote it, never parsed into values.
    let mut request: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(body)
        .map_err(|e| GatewayError::BadRequest(format!("the body is not a JSON object: {e}")))?;
    let model: String = request
        .get("model")
        .and_then(|m| serde_json::from_str(m.get()).ok())
        .ok_or_else(|| {
            GatewayError::BadRequest("`model` must be a string naming the endpoint".into())
        })?;
    let (served, resolved) = resolve(&model)?;
    request.insert("model".into(), raw(&served)?);
    let stream = if request.get("stream").is_some_and(|s| s.get() == "true") {
        let asked: Option<Map<String, Value>> = request
            .get("stream_options")
            .and_then(|o| serde_json::from_str(o.get()).ok());
        let client = ClientUsage {
            include_usage: asked
                .as_ref()
                .is_some_and(|o| o.get("include_usage") != Some(&Value::Bool(false))),
            continuous: asked
                .as_ref()
                .is_some_and(|o| o.get("continuous_usage_stats") == Some(&Value::Bool(true))),
        };
        let mut options = asked.unwrap_or_default();
        options.insert("include_usage".into(), Value::Bool(true));
        options.insert("continuous_usage_stats".into(), Value::Bool(true));
        request.insert("stream_options".into(), raw(&options)?);
        Some(client)
    } else {
        None
    };
    let body = serde_json::to_vec(&request).map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    Ok(Prepared {
        resolved,
        stream,
        body: body.into(),
    })
}

fn raw(value: &impl serde::Serialize) -> Result<Box<RawValue>, GatewayError> {
    serde_json::value::to_raw_value(value).map_err(|e| GatewayError::BadRequest(e.to_string()))
}

/// Tokens as the engine counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
}

impl Tokens {
    /// The `usage` of a whole answer, read without building the rest.
    pub fn of_answer(answer: &[u8]) -> Option<Tokens> {
        #[derive(serde::Deserialize)]
        struct Answer {
            usage: Option<Usage>,
        }
        Some(serde_json::from_slice::<Answer>(answer).ok()?.usage?.into())
    }

    pub fn total(self) -> u64 {
        self.input + self.output
    }
}

/// Splits a byte stream into server-sent events, each with its blank-line
/// terminator, as they complete.
#[derive(Debug, Default)]
pub struct Events {
    buffer: BytesMut,
}

impl Events {
    /// The events `chunk` completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Bytes> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = event_end(&self.buffer) {
            events.push(self.buffer.split_to(end).freeze());
        }
        events
    }

    /// What is left when the stream ends: an event the engine did not
    /// terminate, passed on as it is.
    pub fn rest(&mut self) -> Option<Bytes> {
        (!self.buffer.is_empty()).then(|| self.buffer.split().freeze())
    }
}

/// The end of the first complete event: after `\n\n` or `\r\n\r\n`.
fn event_end(buffer: &[u8]) -> Option<usize> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Reads one event of a stream: updates `seen` with the usage it carries
/// (cumulative, so the last one seen is what was sent) and gives what the
/// client is to receive, if anything.
pub fn relay(event: Bytes, client: ClientUsage, seen: &mut Tokens) -> Option<Bytes> {
    // Only a chunk naming `usage` needs reading; the rest pass untouched.
    if !contains(&event, b"\"usage\"") {
        return Some(event);
    }
    let Some(data) = std::str::from_utf8(&event)
        .ok()
        .and_then(|text| text.trim_end().strip_prefix("data:"))
        .map(str::trim_start)
    else {
        return Some(event);
    };
    // Read once, borrowing: the usage's own text and how many choices.
    let Ok(chunk) = serde_json::from_str::<Chunk<'_>>(data) else {
        return Some(event);
    };
    let Some(usage) = chunk.usage else {
        return Some(event);
    };
    if let Ok(tokens) = serde_json::from_str::<Usage>(usage.get()) {
        *seen = tokens.into();
    }
    if chunk.choices.is_some_and(|c| c.is_empty()) {
        return client.include_usage.then_some(event);
    }
    if client.continuous {
        return Some(event);
    }
    Some(without(data, usage.get()).map_or(event, |rest| Bytes::from(format!("data: {rest}\n\n"))))
}

/// A chunk of a stream, as far as the relay reads it.
#[derive(serde::Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
    #[serde(default)]
    choices: Option<Vec<serde::de::IgnoredAny>>,
}

#[derive(serde::Deserialize)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

impl From<Usage> for Tokens {
    fn from(usage: Usage) -> Tokens {
        Tokens {
            input: usage.prompt_tokens.unwrap_or(0),
            output: usage.completion_tokens.unwrap_or(0),
        }
    }
}

/// The JSON object `object` without its member `"usage": <value>`, where
/// `value` is a slice of `object`. A `"` cannot stand unescaped in a
/// string, so the nearest `"usage"` before the value is its key.
fn without(object: &str, value: &str) -> Option<String> {
    let start = (value.as_ptr() as usize).checked_sub(object.as_ptr() as usize)?;
    let end = start + value.len();
    let key = object.get(..start)?.rfind("\"usage\"")?;
    let before = object.get(..key)?.trim_end();
    let after = object.get(end..)?.trim_start();
    Some(match (before.strip_suffix(','), after.strip_prefix(',')) {
        // `…, "usage": v}` or `…, "usage": v, …`: drop the comma before.
        (Some(head), _) => format!("{head}{after}"),
        // `{"usage": v, …}`: drop the comma after.
        (None, Some(tail)) => format!("{before}{}", tail.trim_start()),
        (None, None) => format!("{before}{after}"),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn served(model: &str) -> Result<(String, String), GatewayError> {
        Ok(("meta-llama/Llama-3.1-8B".into(), model.to_owned()))
    }

    fn forwarded(p: &Prepared<String>) -> Value {
        serde_json::from_slice(&p.body).unwrap()
    }

    #[test]
    fn the_model_is_the_engines_and_a_stream_always_reports_usage() {
        let p = prepare(br#"{"model":"chat","stream":true,"messages":[]}"#, served).unwrap();
        assert_eq!(p.resolved, "chat");
        assert_eq!(p.stream, Some(ClientUsage::default()));
        let body = forwarded(&p);
        assert_eq!(body["model"], "meta-llama/Llama-3.1-8B");
        assert_eq!(
            body["stream_options"],
            json!({"include_usage": true, "continuous_usage_stats": true})
        );

        let asked = prepare(
            br#"{"model":"chat","stream":true,"stream_options":{}}"#,
            served,
        )
        .unwrap();
        assert_eq!(
            asked.stream,
            Some(ClientUsage {
                include_usage: true,
                continuous: false
            }),
            "vLLM's default once stream_options is sent"
        );
        let plain = prepare(br#"{"model":"chat"}"#, served).unwrap();
        assert_eq!(plain.stream, None);
        assert!(forwarded(&plain).get("stream_options").is_none());
    }

    #[test]
    fn an_answers_usage_is_read_and_one_without_is_none() {
        let answer = br#"{"id":"x","choices":[{"message":{"content":"usage"}}],"usage":{"prompt_tokens":3,"total_tokens":7,"completion_tokens":4,"prompt_tokens_details":null}}"#;
        assert_eq!(
            Tokens::of_answer(answer),
            Some(Tokens {
                input: 3,
                output: 4
            })
        );
        let embedding = br#"{"data":[],"usage":{"prompt_tokens":5,"total_tokens":5}}"#;
        assert_eq!(
            Tokens::of_answer(embedding),
            Some(Tokens {
                input: 5,
                output: 0
            })
        );
        assert_eq!(Tokens::of_answer(br#"{"error":{"code":400}}"#), None);
        assert_eq!(Tokens::of_answer(b"not json"), None);
    }

    #[test]
    fn the_prompt_passes_as_written() {
        let p = prepare(
            br#"{"model":"chat","messages":[{"role":"user","content":"a\u00e9 1.50"}]}"#,
            served,
        )
        .unwrap();
        let body = std::str::from_utf8(&p.body).unwrap();
        assert!(
            body.contains(r#""messages":[{"role":"user","content":"a\u00e9 1.50"}]"#),
            "{body}"
        );
    }

    #[test]
    fn a_body_without_a_model_string_is_refused() {
        for body in [&b"[]"[..], b"{}", br#"{"model":3}"#, b"not json"] {
            assert_eq!(prepare(body, served).unwrap_err().code(), "bad_request");
        }
    }

    #[test]
    fn events_are_cut_at_blank_lines_however_the_bytes_arrive() {
        let mut events = Events::default();
        assert!(events.push(b"data: {\"a\"").is_empty());
        let got = events.push(b":1}\n\ndata: [DONE]\r\n\r\ndata: x");
        assert_eq!(
            got,
            [
                Bytes::from("data: {\"a\":1}\n\n"),
                Bytes::from("data: [DONE]\r\n\r\n")
            ]
        );
        assert_eq!(events.rest(), Some(Bytes::from("data: x")));
        assert_eq!(events.rest(), None);
    }

    #[test]
    fn usage_the_client_did_not_ask_for_is_taken_out_and_still_counted() {
        let content = Bytes::from(
            "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}\n\n",
        );
        let last = Bytes::from(
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
        );
        let none = ClientUsage::default();
        let mut seen = Tokens::default();
        let relayed = relay(content.clone(), none, &mut seen).unwrap();
        assert_eq!(
            relayed,
            Bytes::from("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n")
        );
        assert_eq!(
            seen,
            Tokens {
                input: 5,
                output: 1
            }
        );
        assert_eq!(relay(last.clone(), none, &mut seen), None);
        assert_eq!(
            seen,
            Tokens {
                input: 5,
                output: 2
            }
        );

        let final_only = ClientUsage {
            include_usage: true,
            continuous: false,
        };
        assert_eq!(
            relay(last.clone(), final_only, &mut seen),
            Some(last.clone())
        );
        let every = ClientUsage {
            include_usage: true,
            continuous: true,
        };
        assert_eq!(relay(content.clone(), every, &mut seen), Some(content));
    }

    #[test]
    fn usage_is_cut_out_wherever_it_stands_and_the_rest_is_left_as_written() {
        let cases = [
            (
                r#"{"id":"a","usage":{"prompt_tokens":1},"x":"\"usage\":"}"#,
                r#"{"id":"a","x":"\"usage\":"}"#,
            ),
            (
                r#"{"usage": {"prompt_tokens":1}, "id":"a"}"#,
                r#"{"id":"a"}"#,
            ),
            (
                r#"{"id":"a", "usage" : {"prompt_tokens":1} }"#,
                r#"{"id":"a"}"#,
            ),
            (r#"{"usage":{"prompt_tokens":1}}"#, r#"{}"#),
        ];
        for (chunk, expected) in cases {
            let value = serde_json::from_str::<Chunk<'_>>(chunk)
                .unwrap()
                .usage
                .unwrap();
            let cut = without(chunk, value.get()).unwrap();
            assert_eq!(cut, expected, "{chunk}");
            let parsed: Value = serde_json::from_str(&cut).unwrap();
            assert!(parsed.get("usage").is_none());
        }
    }

    #[test]
    fn chunks_without_usage_pass_untouched() {
        let done = Bytes::from("data: [DONE]\n\n");
        let mut seen = Tokens::default();
        assert_eq!(
            relay(done.clone(), ClientUsage::default(), &mut seen),
            Some(done)
        );
        assert_eq!(seen, Tokens::default());
    }
}
