//! A local server that speaks OpenAI's chat-completions wire format (what OpenAI,
//! Azure OpenAI, vLLM, llama.cpp's server and Ollama answer on
//! `POST /v1/chat/completions`), for the AI replies flow's tests.
//!
//! It checks each request's shape — a `model` it serves, `messages` with `system`,
//! `user` and `assistant` roles and string contents, a positive `max_tokens` when
//! given, the API key as a bearer token — and answers as OpenAI does: the
//! assistant's message in `choices[0]`, with `usage` (prompt and completion tokens,
//! counted here as words). It can be made to answer 429 or 5xx, to answer late, or
//! to say what the next answers are.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The API key the server accepts.
pub const API_KEY: &str = "sk-local-test-key";
/// The model it serves.
pub const MODEL: &str = "llama3.1:8b";

/// How the server answers the next requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Answers normally.
    Answer,
    /// Answers with this HTTP status and an OpenAI error body.
    Status(u16),
    /// Answers normally, after this long.
    Late(Duration),
}

#[derive(Debug, Default)]
struct Inner {
    requests: Vec<Value>,
    answers: VecDeque<String>,
    mode: Option<Mode>,
}

/// A running server.
#[derive(Debug, Clone)]
pub struct ChatServer {
    /// `http://127.0.0.1:PORT/v1`, what a client names as its base URL.
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl ChatServer {
    /// Starts one on a free loopback port.
    pub async fn start() -> ChatServer {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .route("/v1/models", axum::routing::get(models))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        ChatServer { base, inner }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches("/v1").parse().ok())
            .expect("a port")
    }

    /// The next answers' texts, in order (after them: a default answer).
    pub fn answer_with(&self, texts: &[&str]) {
        let mut inner = self.inner.lock().unwrap();
        inner.answers = texts.iter().map(|t| (*t).to_owned()).collect();
    }

    /// How it answers from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.inner.lock().unwrap().mode = Some(mode);
    }

    /// Every well-formed request it answered or refused, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.inner.lock().unwrap().requests.clone()
    }
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (status, Json(body)).into_response()
}

/// Why a request is not one OpenAI would take; none when it is.
fn malformed(body: &Value) -> Option<String> {
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Some("you must provide a model parameter".into());
    }
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        return Some("messages must be a non-empty array".into());
    };
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or_default();
        if !["system", "user", "assistant"].contains(&role) {
            return Some(format!(
                "messages[{i}].role must be system, user or assistant"
            ));
        }
        if !m["content"].is_string() {
            return Some(format!("messages[{i}].content must be a string"));
        }
    }
    match &body["max_tokens"] {
        Value::Null => None,
        v if v.as_u64().is_some_and(|n| n > 0) => None,
        _ => Some("max_tokens must be a positive integer".into()),
    }
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

async fn complete(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {API_KEY}"));
    if !authorised {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        );
    }
    if let Some(why) = malformed(&body) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            &why,
        );
    }
    let (mode, answer) = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(body.clone());
        let answer = inner.answers.pop_front();
        (inner.mode.clone().unwrap_or(Mode::Answer), answer)
    };
    let model = body["model"].as_str().unwrap_or_default();
    if model != MODEL {
        return error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            &format!("The model `{model}` does not exist or you do not have access to it."),
        );
    }
    match mode {
        Mode::Status(429) => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "rate_limit_exceeded",
                "Rate limit reached for requests",
            );
        }
        Mode::Status(s) => {
            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error(
                status,
                "server_error",
                "server_error",
                "The server had an error",
            );
        }
        Mode::Late(wait) => tokio::time::sleep(wait).await,
        Mode::Answer => {}
    }
    let text = answer.unwrap_or_else(|| "Grazie per averci scritto! Le rispondiamo subito.".into());
    let prompt: u64 = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| words(m["content"].as_str().unwrap_or_default()))
        .sum();
    let completion = words(&text);
    Json(json!({
        "id": format!("chatcmpl-{}", prompt + completion),
        "object": "chat.completion",
        "created": 1_796_000_000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion}
    }))
    .into_response()
}

async fn models() -> Json<Value> {
    Json(json!({"object": "list", "data": [
        {"id": MODEL, "object": "model", "created": 1_796_000_000, "owned_by": "local"}
    ]}))
}
