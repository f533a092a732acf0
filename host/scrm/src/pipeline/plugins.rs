//! Running a stored message's plugins (classifier, then responder) and what they
//! made of it.

use scrm_engine::error::CallError;
use scrm_engine::responder::ConversationView;
use scrm_engine::{ActiveBinding, PluginHost, TenantPlugins};
use scrm_store::contacts::Contact;
use scrm_store::messages::ClassifyOutcome;
use scrm_wire::content::Content;
use scrm_wire::payload::InboundMessage;
use std::time::Instant;

/// A stored message that still needs its plugins (classifier, then responder).
pub(super) struct ToClassify {
    pub tenant: String,
    pub message_id: i64,
    pub message: InboundMessage,
    pub contact: Contact,
    pub conversation: ConversationView,
    /// False for an edited message: the classifier sees the new version, but the
    /// responder does not answer the same message twice.
    pub respond: bool,
}

/// One plugin call, for metrics: `(tenant, slot, plugin, result code, seconds)`.
pub(super) type CallRecord = (String, &'static str, String, String, f64);
/// A binding this message's fault quarantined: `(tenant, slot, version, plugin, reason)`.
pub(super) type Quarantine = (String, &'static str, i64, String, String);

/// What the plugins made of one message, for the second transaction and for metrics.
pub(super) struct Classified {
    pub tenant: String,
    pub message_id: i64,
    pub label: Option<String>,
    pub outcome: ClassifyOutcome,
    /// The responder's label and its actions (or why it failed), when one ran.
    pub response: Option<(String, Result<Vec<serde_json::Value>, String>)>,
    pub calls: Vec<CallRecord>,
    pub quarantined: Vec<Quarantine>,
    /// The contact, when the tenant syncs with a CRM (a mapper and a connector are
    /// installed) and this is a new message: its CRM writes are queued.
    pub sync: Option<i64>,
    /// The message's first results (not an edit's): recorded, answered and synced
    /// once, by whichever worker or host records them first.
    pub first: bool,
    /// The sender.
    pub contact_id: i64,
    /// The message's wamid and time (Unix ms) when it is a WhatsApp order.
    pub order: Option<(String, i64)>,
}

/// Runs the snapshot's classifier, then its responder, on one stored message.
/// Blocking.
pub(super) fn classify(host: &PluginHost, plugins: &TenantPlugins, job: ToClassify) -> Classified {
    let mut out = Classified {
        tenant: job.tenant.clone(),
        message_id: job.message_id,
        label: None,
        outcome: ClassifyOutcome::NoClassifier,
        response: None,
        calls: Vec::new(),
        quarantined: Vec::new(),
        sync: (job.respond && plugins.mapper.is_some() && plugins.connector.is_some())
            .then_some(job.contact.id),
        first: job.respond,
        contact_id: job.contact.id,
        order: matches!(job.message.content, Content::Order(_)).then(|| {
            (
                job.message.id.clone(),
                job.message.timestamp.saturating_mul(1000),
            )
        }),
    };
    let mut classification = None;
    if let Some(binding) = &plugins.classifier {
        let result = timed(&mut out, binding, "classifier", |b| {
            crate::slots::classify(host, b, &job.message, &job.contact)
        });
        out.label = Some(binding.label());
        out.outcome = match result {
            Ok(c) => {
                let outcome = ClassifyOutcome::Classified {
                    tags: c.tags.clone(),
                    classification: c.details.clone(),
                };
                classification = Some(c);
                outcome
            }
            Err(e) => ClassifyOutcome::Failed(format!("{}: {e}", e.code())),
        };
    }
    if let Some(binding) = plugins.responder.as_ref().filter(|_| job.respond) {
        let result = timed(&mut out, binding, "responder", |b| {
            crate::slots::respond(
                host,
                b,
                &job.message,
                &job.contact,
                &job.conversation,
                classification.as_ref(),
            )
        });
        out.response = Some((
            binding.label(),
            result.map_err(|e| format!("{}: {e}", e.code())),
        ));
    }
    out
}

/// Calls `f` on `binding`, recording the call's metrics and any quarantine it causes.
fn timed<T>(
    out: &mut Classified,
    binding: &ActiveBinding,
    slot: &'static str,
    f: impl FnOnce(&ActiveBinding) -> Result<T, CallError>,
) -> Result<T, CallError> {
    let site = binding.site();
    let started = Instant::now();
    let result = f(binding);
    let secs = started.elapsed().as_secs_f64();
    if let Some(reason) = binding.record(result.as_ref().err()) {
        out.quarantined.push((
            site.tenant.clone(),
            slot,
            binding.version,
            site.plugin.clone(),
            reason,
        ));
    }
    let code = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => {
            if e.is_fault() {
                tracing::warn!(tenant = %site.tenant, plugin = %site.plugin, slot, code = e.code(), error = %e, "plugin call failed");
            }
            e.code().to_string()
        }
    };
    out.calls.push((site.tenant, slot, site.plugin, code, secs));
    result
}

/// Counts one message's plugin calls in `metrics` and marks what they quarantined.
pub(super) fn count_calls(metrics: &crate::metrics::Metrics, r: &Classified) {
    for (tenant, slot, plugin, result, secs) in &r.calls {
        metrics
            .plugin_calls
            .get_or_create(&crate::metrics::PluginLabels {
                tenant: tenant.clone(),
                slot: (*slot).into(),
                plugin: plugin.clone(),
                result: result.clone(),
            })
            .inc();
        metrics
            .plugin_latency
            .get_or_create(&crate::metrics::PluginLatencyLabels {
                tenant: tenant.clone(),
                slot: (*slot).into(),
                plugin: plugin.clone(),
            })
            .observe(*secs);
    }
    for q in &r.quarantined {
        tracing::warn!(tenant = %q.0, slot = q.1, plugin = %q.3, reason = %q.4, "plugin quarantined");
        metrics.mark_quarantined(&q.0, q.1, &q.3, true);
    }
}

/// Messages' plugins done, back to the lane that stored them: which batch, and for
/// each message its index in the batch and its results (or why the call could not
/// be made at all: a panic in the host).
pub(super) struct Done {
    pub batch: u64,
    pub results: Vec<(usize, Result<Classified, String>)>,
}

/// A batch's messages for one plugin thread, and where to send their results.
struct Work {
    batch: u64,
    jobs: Vec<(usize, ToClassify)>,
    reply: tokio::sync::mpsc::UnboundedSender<Done>,
}

/// Threads that run plugins, each taking its messages in the order they were
/// given: all of one contact's messages go to the same thread, so a contact's
/// messages are classified and answered in order while other contacts' run beside
/// them. A batch reaches each thread as one hand-off (one wake-up, one answer), not
/// one per message. The threads end when the pool is dropped.
#[derive(Debug)]
pub(super) struct PluginPool {
    queues: Vec<std::sync::mpsc::Sender<Work>>,
}

impl PluginPool {
    /// `workers` threads running `host`'s plugins, inside the runtime `rt` (plugins'
    /// capabilities may need it).
    pub fn start(
        host: std::sync::Arc<PluginHost>,
        workers: usize,
        rt: tokio::runtime::Handle,
    ) -> PluginPool {
        let queues = (0..workers.max(1))
            .map(|n| {
                let (tx, rx) = std::sync::mpsc::channel::<Work>();
                let (host, rt) = (host.clone(), rt.clone());
                std::thread::Builder::new()
                    .name(format!("scrm-plugins-{n}"))
                    .spawn(move || {
                        super::lower_priority();
                        let _runtime = rt.enter();
                        for w in rx {
                            let results = w
                                .jobs
                                .into_iter()
                                .map(|(index, job)| (index, run_one(&host, job)))
                                .collect();
                            let _ = w.reply.send(Done {
                                batch: w.batch,
                                results,
                            });
                        }
                    })
                    .expect("spawn a plugin worker thread");
                tx
            })
            .collect();
        PluginPool { queues }
    }

    /// Gives the messages of `batch` to the threads of their contacts, in order.
    /// How many hand-offs were made: the answers to wait for.
    pub fn submit(
        &self,
        batch: u64,
        jobs: Vec<ToClassify>,
        reply: &tokio::sync::mpsc::UnboundedSender<Done>,
    ) -> usize {
        let mut per_thread: Vec<Vec<(usize, ToClassify)>> =
            (0..self.queues.len()).map(|_| Vec::new()).collect();
        for (index, job) in jobs.into_iter().enumerate() {
            let thread = job.contact.id.unsigned_abs() as usize % self.queues.len();
            per_thread[thread].push((index, job));
        }
        let mut handed = 0;
        for (queue, jobs) in self.queues.iter().zip(per_thread) {
            if jobs.is_empty() {
                continue;
            }
            handed += 1;
            let work = Work {
                batch,
                jobs,
                reply: reply.clone(),
            };
            if let Err(std::sync::mpsc::SendError(w)) = queue.send(work) {
                let results = w
                    .jobs
                    .into_iter()
                    .map(|(i, _)| (i, Err("the plugin worker stopped".to_string())))
                    .collect();
                let _ = w.reply.send(Done { batch, results });
            }
        }
        handed
    }
}

/// One message's plugins, on one snapshot of its tenant's bindings (its whole
/// pipeline sees one set of versions); a panic fails this message only.
fn run_one(host: &PluginHost, job: ToClassify) -> Result<Classified, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let plugins = host.snapshot(&job.tenant);
        classify(host, &plugins, job)
    }))
    .map_err(|_| "the host panicked running this message's plugins".to_string())
}
