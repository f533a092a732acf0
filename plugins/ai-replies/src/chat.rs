//! OpenAI's chat-completions wire format, as OpenAI, Azure OpenAI, vLLM, llama.cpp's
//! server and Ollama speak it: the request the flow sends to
//! `{endpoint}/chat/completions` and what it reads from the answer.

use serde::{Deserialize, Serialize};

/// One message of the conversation the model sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// Its text.
    pub content: String,
}

/// The request body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest<'a> {
    /// The model.
    pub model: &'a str,
    /// The conversation, oldest first, the system prompt at the top.
    pub messages: Vec<ChatMessage>,
    /// The longest answer, in tokens.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
}

/// What the flow reads from an answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChatResponse {
    /// The model that answered (echoed by the endpoint).
    #[serde(default)]
    pub model: Option<String>,
    /// The answers; the first is used.
    pub choices: Vec<Choice>,
    /// Tokens used; some servers omit it (then 0).
    #[serde(default)]
    pub usage: Option<TokenUsage>,
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Choice {
    /// The assistant's message.
    pub message: AnswerMessage,
    /// Why it stopped (`stop`, `length`, …).
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The assistant's message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AnswerMessage {
    /// Its text (absent for tool calls, which the flow never asks for).
    #[serde(default)]
    pub content: Option<String>,
}

/// Tokens used.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct TokenUsage {
    /// Of the prompt.
    #[serde(default)]
    pub prompt_tokens: u32,
    /// Of the answer.
    #[serde(default)]
    pub completion_tokens: u32,
}

/// An endpoint's error body: `{"error": {"message", "type", "code"}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// Why a call to the endpoint gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatError {
    /// The flow's configuration is wrong (the endpoint refused the key, does not
    /// know the model, or refused the request's shape): a person must fix it.
    Config(String),
    /// The endpoint is slow, overloaded or failing (timeout, 429, 5xx, no answer):
    /// this message goes to a person; later ones try again.
    Unavailable(String),
}

/// What an HTTP answer of the endpoint means.
///
/// # Errors
/// [`ChatError`] for a refusal or a failure, with the endpoint's own words.
pub fn read(status: u16, body: &[u8]) -> Result<ChatResponse, ChatError> {
    if (200..300).contains(&status) {
        return serde_json::from_slice(body).map_err(|e| {
            ChatError::Unavailable(format!(
                "the endpoint's answer is not a chat completion: {e}"
            ))
        });
    }
    let said = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| match b.error.code {
            Some(code) => format!(
                "{} ({})",
                b.error.message,
                code.as_str().map_or(code.to_string(), str::to_owned)
            ),
            None => b.error.message,
        })
        .unwrap_or_else(|_| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
    let why = format!("HTTP {status}: {said}");
    Err(match status {
        400 | 401 | 403 | 404 | 422 => ChatError::Config(why),
        _ => ChatError::Unavailable(why),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_read_with_its_usage() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini",
            "choices":[{"index":0,"message":{"role":"assistant","content":"Ciao!"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
        let r = read(200, body).unwrap();
        assert_eq!(r.choices[0].message.content.as_deref(), Some("Ciao!"));
        assert_eq!(
            r.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((12, 3))
        );
    }

    #[test]
    fn refusals_are_configuration_and_failures_are_unavailability() {
        let unknown = br#"{"error":{"message":"The model `x` does not exist","type":"invalid_request_error","code":"model_not_found"}}"#;
        assert_eq!(
            read(404, unknown),
            Err(ChatError::Config(
                "HTTP 404: The model `x` does not exist (model_not_found)".into()
            ))
        );
        assert!(matches!(read(429, b"{}"), Err(ChatError::Unavailable(_))));
        assert!(
            matches!(read(503, b"<html>busy</html>"), Err(ChatError::Unavailable(e)) if e.contains("busy"))
        );
        assert!(matches!(
            read(200, b"not json"),
            Err(ChatError::Unavailable(_))
        ));
    }

    #[test]
    fn the_request_has_openai_s_shape() {
        let req = ChatRequest {
            model: "llama3.1:8b",
            messages: vec![ChatMessage {
                role: "system",
                content: "Be brief.".into(),
            }],
            max_tokens: 300,
            temperature: 0.3,
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["max_tokens"], 300);
    }
}
