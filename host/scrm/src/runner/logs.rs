//! The log records a plugin writes during one call of a local run, caught on the
//! calling thread: the engine's `log` capability writes them to `tracing` (target
//! `scrm.plugin`, with the per-call budget applied), and a run shows them under
//! the call that wrote them instead of in a log.

use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// The target the engine writes plugins' records under.
const TARGET: &str = "scrm.plugin";

/// Runs `f` with the plugin records written on this thread caught; `f`'s result
/// and the records, as `level: message (fields)`.
pub(super) fn caught<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let records: Arc<Mutex<Vec<String>>> = Arc::default();
    let subscriber = Registry::default().with(Catch(records.clone()));
    let result = tracing::subscriber::with_default(subscriber, f);
    let records = std::mem::take(&mut *records.lock().unwrap_or_else(|p| p.into_inner()));
    (result, records)
}

struct Catch(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Catch {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() != TARGET {
            return;
        }
        let mut v = Fields::default();
        event.record(&mut v);
        let level = meta.level().as_str().to_lowercase();
        let line = if v.fields.is_empty() {
            format!("{level}: {}", v.message)
        } else {
            format!("{level}: {} ({})", v.message, v.fields)
        };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    fields: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "fields" {
            self.fields = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "fields" => self.fields = format!("{value:?}").trim_matches('"').to_string(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_plugin_records_only() {
        let ((), records) = caught(|| {
            tracing::info!(target: "scrm.plugin", tenant = "t", plugin = "p", fields = "k=v", "hello {}", 1);
            tracing::warn!(target: "scrm_engine", "not the plugin's");
        });
        assert_eq!(records, ["info: hello 1 (k=v)"]);
    }
}
