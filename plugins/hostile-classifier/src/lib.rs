//! A classifier that misbehaves on purpose, for testing that the host contains it.
//! Its config chooses how: `behaviour = "loop" | "memory-bomb" | "panic" |
//! "recursion" | "oversized-output" | "guest-error" | "kv-write" | "kv-read" | "http" |
//! "ok"`.

use scrm_plugin_sdk::{Classification, Classifier, ClassifyError, Contact, Message};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Config {
    behaviour: String,
    /// For `behaviour = "http"`: the URLs to GET, in order.
    #[serde(default)]
    urls: Vec<String>,
}

/// The exported classifier.
#[derive(Debug)]
pub struct Hostile;

impl Classifier for Hostile {
    fn classify(_msg: Message, _sender: Contact) -> Result<Classification, ClassifyError> {
        let config: Config = scrm_plugin_sdk::config::parse()
            .map_err(ClassifyError::InvalidConfig)?
            .ok_or_else(|| ClassifyError::InvalidConfig("behaviour is required".into()))?;
        match config.behaviour.as_str() {
            "loop" => {
                let mut i: u64 = 0;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "recursion" => Ok(Classification {
                tags: vec![format!("depth-{}", recurse(std::hint::black_box(u64::MAX)))],
                ..Classification::default()
            }),
            "oversized-output" => Ok(Classification {
                tags: (0..20_000).map(|i| format!("tag-{i:08}")).collect(),
                ..Classification::default()
            }),
            "guest-error" => Err(ClassifyError::Failed("refusing on purpose".into())),
            // Writes a secret into its key-value store, then reports what it can read:
            // used to show another tenant's copy of this plugin cannot see it.
            "kv-write" => {
                scrm_plugin_sdk::kv::set("secret", b"tenant data")
                    .map_err(|e| ClassifyError::Failed(format!("{e:?}")))?;
                Ok(kv_report())
            }
            "kv-read" => Ok(kv_report()),
            // GETs each URL and tags what happened: `status-200`, or the refusal code.
            "http" => Ok(Classification {
                tags: config
                    .urls
                    .iter()
                    .map(|u| match scrm_plugin_sdk::http::get(u) {
                        Ok(r) => format!("status-{}", r.status),
                        Err(scrm_plugin_sdk::http::HttpError::Refused(code)) => code,
                        Err(e) => format!("error-{e:?}"),
                    })
                    .collect(),
                ..Classification::default()
            }),
            "ok" => Ok(Classification {
                tags: vec!["hostile-ok".into()],
                ..Classification::default()
            }),
            other => Err(ClassifyError::InvalidConfig(format!(
                "unknown behaviour {other:?}"
            ))),
        }
    }
}

/// Tags what the plugin's key-value store holds under "secret".
fn kv_report() -> Classification {
    let tag = match scrm_plugin_sdk::kv::get("secret") {
        Ok(Some(v)) => format!("kv-found-{}", String::from_utf8_lossy(&v).replace(' ', "-")),
        Ok(None) => "kv-empty".to_string(),
        Err(e) => format!("kv-error-{e:?}"),
    };
    Classification {
        tags: vec![tag],
        ..Classification::default()
    }
}

/// Recurses `n` times without tail calls, to overflow the stack.
fn recurse(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let mut frame = [0u8; 256];
    frame[(n % 256) as usize] = n as u8;
    1 + recurse(std::hint::black_box(n - 1)) + u64::from(std::hint::black_box(frame)[0])
}

scrm_plugin_sdk::export_classifier!(Hostile);
