//! Prometheus metrics of the process, served at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels naming one outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// e.g. `accepted`, `signature_mismatch`.
    pub result: String,
}

/// Labels of an item kept raw.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UnhandledLabels {
    /// `unmodeled` or `unrouted`.
    pub reason: String,
    /// The item's kind (message type, change field, …).
    pub kind: String,
}

/// Labels of a plugin call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    /// Tenant.
    pub tenant: String,
    /// Slot.
    pub slot: String,
    /// `name@version`.
    pub plugin: String,
    /// `ok` or the error code.
    pub result: String,
}

/// Labels of a plugin call's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLatencyLabels {
    /// Tenant.
    pub tenant: String,
    /// Slot.
    pub slot: String,
    /// `name@version`.
    pub plugin: String,
}

/// Labels of a flow job outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowJobLabels {
    /// Tenant.
    pub tenant: String,
    /// The flow.
    pub flow: String,
    /// `done`, `skipped`, `retry`, `failed`.
    pub result: String,
}

/// Labels of an automated send: the flow and version that caused it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowSendLabels {
    /// Tenant.
    pub tenant: String,
    /// The flow.
    pub flow: String,
    /// The flow's version.
    pub version: String,
}

/// Labels of a CRM sync job outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CrmJobLabels {
    /// Tenant.
    pub tenant: String,
    /// `contact`, `message` or `deal`.
    pub kind: String,
    /// `ok`, `retry` or `failed`.
    pub result: String,
}

/// Labels of a CRM sync job's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CrmLatencyLabels {
    /// Tenant.
    pub tenant: String,
    /// `contact`, `message` or `deal`.
    pub kind: String,
}

/// Labels of a send outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SendLabels {
    /// Tenant.
    pub tenant: String,
    /// `sent`, `retry`, `rate_limited`, `needs_template`, `undeliverable`,
    /// `suppressed`, `marketing_paused`, `dead`.
    pub result: String,
}

/// Labels of a Cloud API health probe.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GraphProbeLabels {
    /// The Meta app.
    pub app: String,
    /// `primary` or `backup`.
    pub target: String,
}

/// Labels of a failed (or slow) Cloud API health probe.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GraphProbeFailureLabels {
    /// The Meta app.
    pub app: String,
    /// `primary` or `backup`.
    pub target: String,
    /// `slow`, `failed` or `rejected`.
    pub reason: String,
}

/// Labels naming one tenant secret.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SecretLabels {
    /// Its tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
}

/// Labels naming one tenant.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabel {
    /// The tenant.
    pub tenant: String,
}

/// Labels naming one Meta app.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabel {
    /// The Meta app.
    pub app: String,
}

/// Every metric the host records.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Webhook POSTs by result.
    pub webhooks: Family<ResultLabel, Counter>,
    /// Inbound messages stored for the first time.
    pub messages_stored: Counter,
    /// Redelivered messages recognised and skipped.
    pub messages_duplicate: Counter,
    /// Items kept raw because the host does not model or cannot route them.
    pub unhandled: Family<UnhandledLabels, Counter>,
    /// Plugin calls by outcome.
    pub plugin_calls: Family<PluginLabels, Counter>,
    /// Plugin call latency in seconds.
    pub plugin_latency: Family<PluginLatencyLabels, Histogram>,
    /// 1 for each quarantined binding.
    pub quarantined: Family<PluginLatencyLabels, Gauge>,
    /// Live component instances in the pool.
    pub pool_instances: Gauge,
    /// Linear memories in use in the pool.
    pub pool_memories: Gauge,
    /// Outbox send outcomes.
    pub sends: Family<SendLabels, Counter>,
    /// Cloud API health probe latency in seconds, per app and target.
    pub graph_probe_latency: Family<GraphProbeLabels, Histogram>,
    /// Cloud API health probes that were slow, failed or rejected.
    pub graph_probe_failures: Family<GraphProbeFailureLabels, Counter>,
    /// 1 while an app sends through its backup Cloud API URL.
    pub graph_backup_active: Family<AppLabel, Gauge>,
    /// Seconds since each tenant secret was set (read from the store on each scrape).
    pub secret_age: Family<SecretLabels, Gauge>,
    /// Switches between primary and backup, per app and target switched to.
    pub graph_switches: Family<GraphProbeLabels, Counter>,
    /// CRM sync jobs run, by outcome.
    pub crm_jobs: Family<CrmJobLabels, Counter>,
    /// Time to run one CRM sync job (mapper and connector calls included), seconds.
    pub crm_latency: Family<CrmLatencyLabels, Histogram>,
    /// Flow events and timers handled, by outcome.
    pub flow_jobs: Family<FlowJobLabels, Counter>,
    /// Messages flows queued, by flow and version.
    pub flow_sends: Family<FlowSendLabels, Counter>,
    /// How late timers fired past their due time and settle delay, seconds.
    pub flow_lateness: Histogram,
    /// Clicks on tracked links recorded (link previews and HEAD requests are not).
    pub link_clicks: Family<TenantLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("scrm");
        let webhooks = Family::<ResultLabel, Counter>::default();
        registry.register("webhooks", "Webhook POSTs by result", webhooks.clone());
        let messages_stored = Counter::default();
        registry.register(
            "messages_stored",
            "Inbound messages stored",
            messages_stored.clone(),
        );
        let messages_duplicate = Counter::default();
        registry.register(
            "messages_duplicate",
            "Redelivered messages recognised and skipped",
            messages_duplicate.clone(),
        );
        let unhandled = Family::<UnhandledLabels, Counter>::default();
        registry.register(
            "items_unhandled",
            "Webhook items kept raw: not modeled yet or not routable",
            unhandled.clone(),
        );
        let plugin_calls = Family::<PluginLabels, Counter>::default();
        registry.register(
            "plugin_calls",
            "Plugin calls by outcome",
            plugin_calls.clone(),
        );
        let plugin_latency = Family::<PluginLatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_005, 2.0, 20))
        });
        registry.register(
            "plugin_call_seconds",
            "Plugin call latency, fresh instance included",
            plugin_latency.clone(),
        );
        let quarantined = Family::<PluginLatencyLabels, Gauge>::default();
        registry.register(
            "plugin_quarantined",
            "1 while a tenant's plugin binding is quarantined",
            quarantined.clone(),
        );
        let pool_instances = Gauge::default();
        registry.register(
            "pool_component_instances",
            "Component instances alive in the pooling allocator",
            pool_instances.clone(),
        );
        let pool_memories = Gauge::default();
        registry.register(
            "pool_memories",
            "Linear memories in use in the pooling allocator",
            pool_memories.clone(),
        );
        let sends = Family::<SendLabels, Counter>::default();
        registry.register(
            "sends",
            "Outbox send outcomes by tenant and result",
            sends.clone(),
        );
        let graph_probe_latency =
            Family::<GraphProbeLabels, Histogram>::new_with_constructor(|| {
                Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0])
            });
        registry.register(
            "graph_probe_seconds",
            "Cloud API health probe latency by app and target (primary, backup)",
            graph_probe_latency.clone(),
        );
        let graph_probe_failures = Family::<GraphProbeFailureLabels, Counter>::default();
        registry.register(
            "graph_probe_failures",
            "Cloud API health probes that were slow, failed or rejected",
            graph_probe_failures.clone(),
        );
        let graph_backup_active = Family::<AppLabel, Gauge>::default();
        registry.register(
            "graph_backup_active",
            "1 while an app sends through its backup Cloud API base URL",
            graph_backup_active.clone(),
        );
        let secret_age = Family::<SecretLabels, Gauge>::default();
        registry.register(
            "secret_age_seconds",
            "Seconds since each tenant secret was set; rotate past the tenant's rotation period",
            secret_age.clone(),
        );
        let graph_switches = Family::<GraphProbeLabels, Counter>::default();
        registry.register(
            "graph_switches",
            "Switches between an app's primary and backup Cloud API base URLs, by target",
            graph_switches.clone(),
        );
        let crm_jobs = Family::<CrmJobLabels, Counter>::default();
        registry.register(
            "crm_jobs",
            "CRM sync jobs run, by kind and outcome",
            crm_jobs.clone(),
        );
        let crm_latency = Family::<CrmLatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register(
            "crm_job_seconds",
            "Time to run one CRM sync job, mapper and connector calls included",
            crm_latency.clone(),
        );
        let flow_jobs = Family::<FlowJobLabels, Counter>::default();
        registry.register(
            "flow_jobs",
            "Flow events and timers handled, by flow and outcome",
            flow_jobs.clone(),
        );
        let flow_sends = Family::<FlowSendLabels, Counter>::default();
        registry.register(
            "flow_sends",
            "Messages queued by flows, by the flow and version that caused them",
            flow_sends.clone(),
        );
        let flow_lateness = Histogram::new([0.1, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0, 86_400.0]);
        registry.register(
            "flow_timer_lateness_seconds",
            "How late timers fired past their due time plus the settle delay",
            flow_lateness.clone(),
        );
        let link_clicks = Family::<TenantLabel, Counter>::default();
        registry.register(
            "link_clicks",
            "Clicks on tracked links recorded, by tenant (link previews and HEAD requests are not counted)",
            link_clicks.clone(),
        );
        Metrics {
            registry,
            flow_jobs,
            flow_sends,
            flow_lateness,
            link_clicks,
            crm_jobs,
            crm_latency,
            graph_probe_latency,
            graph_probe_failures,
            graph_backup_active,
            secret_age,
            graph_switches,
            sends,
            quarantined,
            pool_instances,
            pool_memories,
            webhooks,
            messages_stored,
            messages_duplicate,
            unhandled,
            plugin_calls,
            plugin_latency,
        }
    }

    /// Counts one webhook POST outcome.
    pub fn webhook(&self, result: &str) {
        self.webhooks
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .inc();
    }

    /// Counts one flow job outcome.
    pub fn flow_job(&self, tenant: &str, flow: &str, result: &str) {
        self.flow_jobs
            .get_or_create(&FlowJobLabels {
                tenant: tenant.to_string(),
                flow: flow.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// Counts one message a flow queued.
    pub fn flow_send(&self, tenant: &str, flow: &str, version: i64) {
        self.flow_sends
            .get_or_create(&FlowSendLabels {
                tenant: tenant.to_string(),
                flow: flow.to_string(),
                version: version.to_string(),
            })
            .inc();
    }

    /// Counts one send outcome of a tenant.
    pub fn send(&self, tenant: &str, result: &str) {
        self.sends
            .get_or_create(&SendLabels {
                tenant: tenant.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// Counts one recorded click on a tracked link of `tenant`.
    pub fn link_click(&self, tenant: &str) {
        self.link_clicks
            .get_or_create(&TenantLabel {
                tenant: tenant.to_string(),
            })
            .inc();
    }

    /// Marks a binding (by its row) quarantined or not.
    pub fn set_quarantined(&self, row: &scrm_store::plugins::BindingRow, on: bool) {
        self.mark_quarantined(
            &row.tenant_id,
            &row.slot,
            &format!("{}@{}", row.name, row.version),
            on,
        );
    }

    /// Marks the binding `plugin` (`name@version`) of a tenant's slot quarantined or not.
    pub fn mark_quarantined(&self, tenant: &str, slot: &str, plugin: &str, on: bool) {
        self.quarantined
            .get_or_create(&PluginLatencyLabels {
                tenant: tenant.to_string(),
                slot: slot.to_string(),
                plugin: plugin.to_string(),
            })
            .set(i64::from(on));
    }

    /// Records one Cloud API health probe: its latency and, unless `outcome` is
    /// `ok`, a failure with the outcome as reason.
    pub fn graph_probe(&self, app: &str, target: &str, seconds: f64, outcome: &str) {
        let labels = GraphProbeLabels {
            app: app.to_string(),
            target: target.to_string(),
        };
        self.graph_probe_latency
            .get_or_create(&labels)
            .observe(seconds);
        if outcome != "ok" {
            self.graph_probe_failures
                .get_or_create(&GraphProbeFailureLabels {
                    app: labels.app,
                    target: labels.target,
                    reason: outcome.to_string(),
                })
                .inc();
        }
    }

    /// Replaces the secret ages with `ages` as of `now` (ms): deleted secrets vanish.
    pub fn set_secret_ages(&self, ages: &[scrm_store::secrets::SecretAge], now: i64) {
        self.secret_age.clear();
        for a in ages {
            self.secret_age
                .get_or_create(&SecretLabels {
                    tenant: a.tenant.clone(),
                    name: a.name.clone(),
                })
                .set((now - a.set_at) / 1000);
        }
    }

    /// Marks whether `app` sends through its backup Cloud API URL.
    pub fn set_graph_backup_active(&self, app: &str, on: bool) {
        self.graph_backup_active
            .get_or_create(&AppLabel {
                app: app.to_string(),
            })
            .set(i64::from(on));
    }

    /// Counts a switch of `app` to `target` (`primary` or `backup`).
    pub fn graph_switch(&self, app: &str, target: &str) {
        self.graph_switches
            .get_or_create(&GraphProbeLabels {
                app: app.to_string(),
                target: target.to_string(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
