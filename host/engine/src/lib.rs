//! The plugin runtime: one wasmtime engine, bindings generated once from `wit/`,
//! components compiled once per content hash and shared by every tenant that binds
//! them, per-call limits (epoch deadline, fuel, memory, output cap), quarantine, and
//! an atomically swapped table of tenant → slot → binding.
//!
//! A call takes a snapshot of its tenant's bindings ([`PluginHost::snapshot`]) and
//! runs every slot of one message's pipeline on it, so an install or rollback
//! applies to the next message while in-flight ones finish on their version.
//!
//! Host capabilities ([`capabilities`]: log, config, kv, clock, secrets, outbound
//! HTTP) each follow one shape: a per-call state, a `Host` impl, `add_to_linker`.
//! Key-value data and secrets come from the host through the traits in [`storage`].
//!
//! Key types: [`PluginHost`], [`Slot`], [`ActiveBinding`], [`TenantPlugins`],
//! [`BindingSpec`].
//!
//! **Never depends on** a database driver, an HTTP server, the WhatsApp wire format
//! or the store: it speaks the WIT contract's types, and the host converts its own
//! types to them beside the pipeline that calls the slots.

pub mod bindings;
pub mod build;
pub mod cache;
mod call;
pub mod capabilities;
pub mod classifier;
pub mod contract;
pub mod courier;
pub mod crm;
pub mod engine;
pub mod error;
pub mod flow;
pub mod limits;
pub mod responder;
mod slot;
pub mod storage;
pub mod usage;

pub use limits::{LimitOverrides, PluginLimits};
pub use slot::Slot;

use call::CallState;
use error::{CallError, CallSite, InstallError};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use storage::{KvBackend, SecretSource};
use wasmtime::Engine;
use wasmtime::component::{InstancePre, Linker};

/// The WIT package version this host implements.
pub const WIT_VERSION: &str = "0.1.2";

/// Where a component's slot export lives, looked up once at load.
pub(crate) enum SlotExports {
    Classifier(bindings::classify::GuestIndices),
    Mapper(bindings::mapping::GuestIndices),
    /// The CRM calls, and the order lookup when the connector offers one.
    Connector(
        bindings::connect::GuestIndices,
        Option<bindings::order_lookup::GuestIndices>,
    ),
    Responder(bindings::respond::GuestIndices),
    Geocoder(bindings::geocode::GuestIndices),
    Flow(bindings::flow::GuestIndices),
    Courier(bindings::track::GuestIndices),
}

/// A compiled component, ready to instantiate; shared across tenants.
pub struct LoadedComponent {
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
    /// The world it implements.
    pub slot: Slot,
    pub(crate) pre: InstancePre<CallState>,
    pub(crate) exports: SlotExports,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("sha256", &self.sha256)
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

/// The binding a call runs on: a component version plus its configuration.
#[derive(Debug)]
pub struct ActiveBinding {
    /// The tenant.
    pub tenant: String,
    /// The slot.
    pub slot: Slot,
    /// Per tenant and slot install number.
    pub version: i64,
    /// The component's human name.
    pub name: String,
    /// The compiled component.
    pub component: Arc<LoadedComponent>,
    /// The installed configuration.
    pub config: Arc<[u8]>,
    /// The limits its calls run under (host defaults with its overrides).
    pub limits: PluginLimits,
    /// Its outbound HTTP policy.
    pub http: Arc<capabilities::http::HttpPolicy>,
    /// Consecutive faults so far.
    faults: AtomicU32,
    /// Set once the binding is quarantined; calls are skipped.
    quarantine: Mutex<Option<String>>,
    /// Idle warm instances, when its isolation is [`limits::Isolation::Warm`].
    warm: Mutex<Vec<classifier::WarmInstance>>,
    /// Receives what each call used (local runs; none in the pipeline).
    usage: Option<usage::UsageObserver>,
}

impl ActiveBinding {
    /// Why the binding is quarantined, if it is.
    pub fn quarantined(&self) -> Option<String> {
        self.quarantine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Counts a call's outcome. Returns the quarantine reason when this fault is the
    /// one that crosses the threshold.
    pub fn record(&self, fault: Option<&CallError>) -> Option<String> {
        let Some(err) = fault.filter(|e| e.is_fault()) else {
            self.faults.store(0, Ordering::Relaxed);
            return None;
        };
        let n = self.faults.fetch_add(1, Ordering::Relaxed) + 1;
        if n < self.limits.quarantine_after {
            return None;
        }
        let mut q = self.quarantine.lock().unwrap_or_else(|p| p.into_inner());
        if q.is_some() {
            return None;
        }
        let reason = format!("{n} consecutive faults, last {}", err.code());
        *q = Some(reason.clone());
        Some(reason)
    }

    /// Pauses the binding (a quarantine that is not a fault: its configuration is not
    /// usable) with `reason`. Returns the reason when this call paused it.
    pub fn pause(&self, reason: &str) -> Option<String> {
        let mut q = self.quarantine.lock().unwrap_or_else(|p| p.into_inner());
        if q.is_some() {
            return None;
        }
        *q = Some(reason.to_owned());
        Some(reason.to_owned())
    }

    /// Fails with [`CallError::Quarantined`] when calls to this binding are skipped.
    pub(crate) fn ensure_active(&self) -> Result<(), CallError> {
        match self.quarantined() {
            Some(reason) => Err(CallError::Quarantined {
                site: self.site(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Identifies this binding in errors and logs.
    pub fn site(&self) -> CallSite {
        CallSite {
            tenant: self.tenant.clone(),
            plugin: format!("{}@{}", self.name, self.version),
            sha256: self.component.sha256[..12].to_string(),
        }
    }

    /// "name@version sha256:…", recorded on what this binding produced.
    pub fn label(&self) -> String {
        format!(
            "{}@{} sha256:{}",
            self.name,
            self.version,
            &self.component.sha256[..12]
        )
    }
}

/// One tenant's bindings at one moment; a message's pipeline uses one snapshot.
#[derive(Debug, Default, Clone)]
pub struct TenantPlugins {
    /// The classifier, if installed.
    pub classifier: Option<Arc<ActiveBinding>>,
    /// The mapper, if installed.
    pub mapper: Option<Arc<ActiveBinding>>,
    /// The connector, if installed.
    pub connector: Option<Arc<ActiveBinding>>,
    /// The responder, if installed.
    pub responder: Option<Arc<ActiveBinding>>,
    /// The geocoder, if installed.
    pub geocoder: Option<Arc<ActiveBinding>>,
    /// The courier, if installed.
    pub courier: Option<Arc<ActiveBinding>>,
    /// The enabled flows, by name.
    pub flows: std::collections::BTreeMap<String, Arc<ActiveBinding>>,
}

impl TenantPlugins {
    /// The binding of `slot`, if installed.
    pub fn slot(&self, slot: Slot) -> Option<&Arc<ActiveBinding>> {
        match slot {
            Slot::Classifier => self.classifier.as_ref(),
            Slot::Mapper => self.mapper.as_ref(),
            Slot::Connector => self.connector.as_ref(),
            Slot::Responder => self.responder.as_ref(),
            Slot::Geocoder => self.geocoder.as_ref(),
            Slot::Flow => None,
            Slot::Courier => self.courier.as_ref(),
        }
    }

    /// The enabled flow `name`, if there is one.
    pub fn flow(&self, name: &str) -> Option<&Arc<ActiveBinding>> {
        self.flows.get(name)
    }

    fn slot_mut(&mut self, slot: Slot) -> &mut Option<Arc<ActiveBinding>> {
        match slot {
            Slot::Classifier => &mut self.classifier,
            Slot::Mapper => &mut self.mapper,
            Slot::Connector => &mut self.connector,
            Slot::Responder => &mut self.responder,
            Slot::Geocoder => &mut self.geocoder,
            // Flows are kept by name (see `PluginHost::activate`).
            Slot::Courier => &mut self.courier,
            Slot::Flow => unreachable!("flows are not a single slot"),
        }
    }
}

/// A binding to activate: which component a tenant's slot runs, with what.
#[derive(Debug, Clone, Default)]
pub struct BindingSpec {
    /// The tenant.
    pub tenant_id: String,
    /// The slot's name, e.g. `classifier`.
    pub slot: String,
    /// Per tenant and slot install number.
    pub version: i64,
    /// The component's SHA-256 (it must have been saved or loaded before).
    pub sha256: String,
    /// The component's human name.
    pub name: String,
    /// The configuration installed with it.
    pub config: Vec<u8>,
    /// Limit overrides, a JSON object (or null).
    pub limits: serde_json::Value,
    /// Outbound HTTP policy, a JSON object (or null).
    pub http: serde_json::Value,
    /// Why calls are skipped, when the binding is quarantined.
    pub quarantine: Option<String>,
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What checking a component found.
#[derive(Debug, Clone)]
pub struct Inspected {
    /// Its SHA-256.
    pub sha256: String,
    /// The slot whose world it implements.
    pub slot: Slot,
}

/// The plugin runtime of the process.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<CallState>,
    limits: PluginLimits,
    components_dir: PathBuf,
    cache: cache::CompileCache,
    kv: Option<Arc<dyn KvBackend>>,
    secrets: Option<Arc<dyn SecretSource>>,
    kv_quota: capabilities::kv::KvQuota,
    compiled: RwLock<HashMap<String, Arc<LoadedComponent>>>,
    tenants: RwLock<HashMap<String, Arc<TenantPlugins>>>,
    /// Warm instances kept by all bindings (see [`limits::Isolation::Warm`]).
    warm_kept: Arc<std::sync::atomic::AtomicUsize>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("limits", &self.limits)
            .field("components_dir", &self.components_dir)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Creates the runtime; components are kept as `<sha256>.wasm` in `components_dir`
    /// and their compiled forms in `cache_dir`.
    ///
    /// # Errors
    /// When the engine or linker cannot be built, or a directory cannot be created.
    pub fn new(
        limits: PluginLimits,
        components_dir: PathBuf,
        cache_dir: PathBuf,
    ) -> anyhow::Result<PluginHost> {
        std::fs::create_dir_all(&components_dir)?;
        let engine = engine::build(&limits).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let cache = cache::CompileCache::new(&engine, cache_dir)?;
        let mut linker = Linker::new(&engine);
        // WASI with an empty context: guests built with std import it, but get no
        // files, environment, network or sockets; stderr is captured per call.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        capabilities::log::add_to_linker(&mut linker, |s: &mut CallState| &mut s.log)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        capabilities::config::add_to_linker(&mut linker, |s: &mut CallState| &mut s.config)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        capabilities::kv::add_to_linker(&mut linker, |s: &mut CallState| &mut s.kv)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        capabilities::clock::add_to_linker(&mut linker, |s: &mut CallState| &mut s.clock)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        capabilities::secrets::add_to_linker(&mut linker, |s: &mut CallState| &mut s.secrets)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        capabilities::automation::add_to_linker(&mut linker, |s: &mut CallState| &mut s.automation)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Ok(PluginHost {
            engine,
            linker,
            limits,
            components_dir,
            cache,
            kv: None,
            secrets: None,
            kv_quota: capabilities::kv::KvQuota::default(),
            compiled: RwLock::default(),
            tenants: RwLock::default(),
            warm_kept: Arc::default(),
        })
    }

    /// Gives plugins their key-value store in `kv`, with `quota` per namespace, and
    /// their tenants' secrets from `secrets`.
    pub fn with_storage(
        mut self,
        kv: Arc<dyn KvBackend>,
        quota: capabilities::kv::KvQuota,
        secrets: Arc<dyn SecretSource>,
    ) -> PluginHost {
        self.kv = Some(kv);
        self.kv_quota = quota;
        self.secrets = Some(secrets);
        self
    }

    /// The key-value namespace of `binding`.
    pub(crate) fn kv_for(&self, binding: &ActiveBinding) -> capabilities::kv::KvState {
        capabilities::kv::KvState::new(
            self.kv.clone(),
            &binding.tenant,
            &binding.name,
            self.kv_quota,
        )
    }

    /// The outbound HTTP state of one call of `binding`: the values of the
    /// credentials its policy adds (renewed first when they are about to expire).
    pub(crate) fn http_for(&self, binding: &ActiveBinding) -> capabilities::http::HttpState {
        let Some(source) = self
            .secrets
            .clone()
            .filter(|_| !binding.http.credentials.is_empty())
        else {
            return capabilities::http::HttpState::new(binding.http.clone(), Vec::new(), None);
        };
        let mut values = Vec::new();
        for c in &binding.http.credentials {
            if values.iter().any(|(n, _)| *n == c.secret) {
                continue;
            }
            match source.credential(&binding.tenant, &c.secret, None) {
                Ok(Some(v)) => values.push((c.secret.clone(), v)),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(tenant = %binding.tenant, secret = %c.secret, error = %e,
                        "cannot read a tenant credential");
                }
            }
        }
        let renew = capabilities::http::Renewal {
            source,
            tenant: binding.tenant.clone(),
        };
        capabilities::http::HttpState::new(binding.http.clone(), values, Some(renew))
    }

    /// A fresh store for one call of `binding`: its limits, config, key-value
    /// namespace and HTTP policy.
    pub(crate) fn store_for(&self, binding: &ActiveBinding) -> wasmtime::Store<CallState> {
        call::new_store(
            &self.engine,
            &binding.limits,
            &binding.site(),
            binding.config.clone(),
            self.kv_for(binding),
            self.http_for(binding),
            capabilities::secrets::SecretsState::new(
                self.secrets.clone(),
                &binding.tenant,
                binding.http.secrets.clone().into(),
            ),
        )
    }

    /// Starts a warm instance's next call of `binding` with the state a fresh
    /// store would have: its log budget and HTTP state (request count, credential
    /// values) renewed.
    pub(crate) fn reset_for_call(
        &self,
        store: &mut wasmtime::Store<CallState>,
        binding: &ActiveBinding,
    ) {
        let site = binding.site();
        let http = self.http_for(binding);
        let state = store.data_mut();
        state.log = capabilities::log::LogState::new(
            &site.tenant,
            &site.plugin,
            binding.limits.log_records_per_call,
        );
        state.http = http;
    }

    /// Warm instances idle in the bindings' pools (see [`limits::Isolation::Warm`]).
    pub fn warm_idle(&self) -> usize {
        self.warm_kept.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The host's default limits.
    pub fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    /// Compiles `bytes` and checks which slot's world they implement. Blocking:
    /// call from a blocking thread.
    ///
    /// # Errors
    /// [`InstallError`] saying why the bytes cannot be a plugin.
    pub fn inspect(&self, bytes: &[u8]) -> Result<(Inspected, Arc<LoadedComponent>), InstallError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        if let Some(c) = self.compiled_get(&sha256) {
            return Ok((
                Inspected {
                    sha256,
                    slot: c.slot,
                },
                c,
            ));
        }
        // What the component declares, checked before compiling: a core module, another
        // world or an unknown WIT version is refused with the reason, cheaply.
        contract::read(bytes)?;
        let component = self
            .cache
            .load_or_compile(&self.engine, &sha256, bytes)
            .map_err(|e| InstallError::NotAComponent(format!("{e:#}")))?;
        let pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| InstallError::WrongWorld {
                    supported: contract::supported_worlds(),
                    reason: format!("{e:#}"),
                })?;
        let (slot, exports) = find_slot(&pre).map_err(|reason| InstallError::WrongWorld {
            supported: contract::supported_worlds(),
            reason,
        })?;
        let loaded = Arc::new(LoadedComponent {
            sha256: sha256.clone(),
            slot,
            pre,
            exports,
        });
        // Instantiate once and type-check the export now, so a mismatch is refused at
        // install time rather than at the first call.
        self.check_instantiates(&loaded)?;
        self.compiled
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sha256.clone(), loaded.clone());
        Ok((Inspected { sha256, slot }, loaded))
    }

    /// A store with no configuration, storage, network or secrets, under the host's
    /// default limits: for install checks and `describe`.
    pub(crate) fn bare_store(&self, site: &CallSite) -> wasmtime::Store<CallState> {
        let kv = capabilities::kv::KvState::new(None, "", "", self.kv_quota);
        let http = capabilities::http::HttpState::new(Arc::default(), Vec::new(), None);
        call::new_store(
            &self.engine,
            &self.limits,
            site,
            Arc::from(&[][..]),
            kv,
            http,
            capabilities::secrets::SecretsState::new(None, "", Arc::default()),
        )
    }

    fn check_instantiates(&self, loaded: &LoadedComponent) -> Result<(), InstallError> {
        let site = CallSite {
            tenant: "(install check)".into(),
            plugin: "(install check)".into(),
            sha256: loaded.sha256[..12].to_string(),
        };
        let mut store = self.bare_store(&site);
        let wrong = |e: wasmtime::Error| InstallError::WrongWorld {
            supported: contract::supported_worlds(),
            reason: format!("{e:#}"),
        };
        let instance = loaded.pre.instantiate(&mut store).map_err(wrong)?;
        match &loaded.exports {
            SlotExports::Classifier(i) => i.load(&mut store, &instance).map(drop),
            SlotExports::Mapper(i) => i.load(&mut store, &instance).map(drop),
            SlotExports::Connector(i, orders) => i.load(&mut store, &instance).and_then(|_| {
                orders
                    .as_ref()
                    .map_or(Ok(()), |o| o.load(&mut store, &instance).map(drop))
            }),
            SlotExports::Responder(i) => i.load(&mut store, &instance).map(drop),
            SlotExports::Geocoder(i) => i.load(&mut store, &instance).map(drop),
            SlotExports::Flow(i) => i.load(&mut store, &instance).map(drop),
            SlotExports::Courier(i) => i.load(&mut store, &instance).map(drop),
        }
        .map_err(wrong)
    }

    fn compiled_get(&self, sha256: &str) -> Option<Arc<LoadedComponent>> {
        self.compiled
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(sha256)
            .cloned()
    }

    /// Where a component's bytes are kept.
    pub fn component_path(&self, sha256: &str) -> PathBuf {
        self.components_dir.join(format!("{sha256}.wasm"))
    }

    /// Stores a checked component's bytes by hash (atomically: temp file, rename).
    ///
    /// # Errors
    /// On I/O failure.
    pub fn save_component(&self, sha256: &str, bytes: &[u8]) -> Result<(), InstallError> {
        let path = self.component_path(sha256);
        if path.exists() {
            return Ok(());
        }
        let tmp = path.with_extension("wasm.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    /// Loads a stored component by hash, compiling it once.
    ///
    /// # Errors
    /// When the bytes are missing or no longer a valid plugin.
    pub fn load(&self, sha256: &str) -> Result<Arc<LoadedComponent>, InstallError> {
        if let Some(c) = self.compiled_get(sha256) {
            return Ok(c);
        }
        let bytes = std::fs::read(self.component_path(sha256))?;
        Ok(self.inspect(&bytes)?.1)
    }

    /// The limits a binding with `overrides` (a JSON object) would run under.
    ///
    /// # Errors
    /// A message naming the field that is unknown or out of range.
    pub fn limits_for(&self, overrides: &serde_json::Value) -> Result<PluginLimits, String> {
        let o: crate::limits::LimitOverrides = if overrides.is_null() {
            Default::default()
        } else {
            serde_json::from_value(overrides.clone()).map_err(|e| e.to_string())?
        };
        self.limits.with(&o)
    }

    /// The binding `row` describes, with its component loaded.
    fn binding(
        &self,
        row: &BindingSpec,
        component: Arc<LoadedComponent>,
        usage: Option<usage::UsageObserver>,
    ) -> Result<ActiveBinding, InstallError> {
        let limits = self.limits_for(&row.limits).unwrap_or_else(|e| {
            tracing::warn!(tenant = %row.tenant_id, slot = %row.slot, error = %e, "stored limits invalid; using host defaults");
            self.limits
        });
        let slot: Slot = row
            .slot
            .parse()
            .map_err(|e: String| InstallError::WrongSlot {
                world: component.slot.world(),
                slot: e,
            })?;
        Ok(ActiveBinding {
            tenant: row.tenant_id.clone(),
            slot,
            version: row.version,
            name: row.name.clone(),
            component,
            config: Arc::from(row.config.as_slice()),
            limits,
            http: Arc::new(serde_json::from_value(row.http.clone()).unwrap_or_default()),
            faults: AtomicU32::new(0),
            quarantine: Mutex::new(row.quarantine.clone()),
            warm: Mutex::default(),
            usage,
        })
    }

    /// A binding of `component` outside every tenant's table, whose calls report
    /// what they used to `usage`: for running a plugin locally (`scrm plugin run`)
    /// through the same calls, limits and capabilities as the pipeline. `row`'s
    /// limits must be valid (see [`PluginHost::limits_for`]); its `sha256` is ignored.
    ///
    /// # Errors
    /// When `row.slot` does not name a slot.
    pub fn detached_binding(
        &self,
        row: &BindingSpec,
        component: Arc<LoadedComponent>,
        usage: Option<usage::UsageObserver>,
    ) -> Result<Arc<ActiveBinding>, InstallError> {
        Ok(Arc::new(self.binding(row, component, usage)?))
    }

    /// Makes `row` the active binding of its tenant and slot; the next call uses it.
    ///
    /// # Errors
    /// When its component cannot be loaded.
    pub fn activate(&self, row: &BindingSpec) -> Result<(), InstallError> {
        let component = self.load(&row.sha256)?;
        let binding = Arc::new(self.binding(row, component, None)?);
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let mut next = tenants
            .get(&row.tenant_id)
            .map(|t| (**t).clone())
            .unwrap_or_default();
        match row.slot.strip_prefix("flow:") {
            Some(name) => {
                next.flows.insert(name.to_string(), binding);
            }
            None => {
                let slot = binding.slot;
                *next.slot_mut(slot) = Some(binding);
            }
        }
        tenants.insert(row.tenant_id.clone(), Arc::new(next));
        Ok(())
    }

    /// Stops the tenant's flow `name` (disabled); the next event finds it gone.
    pub fn deactivate_flow(&self, tenant: &str, name: &str) {
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = tenants.get(tenant) {
            let mut next = (**current).clone();
            next.flows.remove(name);
            tenants.insert(tenant.to_string(), Arc::new(next));
        }
    }

    /// Usage of the instance pool, for metrics.
    pub fn pool_usage(&self) -> Option<(u64, u64)> {
        self.engine
            .pooling_allocator_metrics()
            .map(|m| (m.component_instances(), m.memories() as u64))
    }

    /// The tenant's bindings now; hold it for the whole pipeline of one message.
    pub fn snapshot(&self, tenant: &str) -> Arc<TenantPlugins> {
        self.tenants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .cloned()
            .unwrap_or_default()
    }
}

/// Which slot's interface `pre` exports, and where.
fn find_slot(pre: &InstancePre<CallState>) -> Result<(Slot, SlotExports), String> {
    if let Ok(i) = bindings::classify::GuestIndices::new(pre) {
        return Ok((Slot::Classifier, SlotExports::Classifier(i)));
    }
    if let Ok(i) = bindings::mapping::GuestIndices::new(pre) {
        return Ok((Slot::Mapper, SlotExports::Mapper(i)));
    }
    if let Ok(i) = bindings::connect::GuestIndices::new(pre) {
        let orders = bindings::order_lookup::GuestIndices::new(pre).ok();
        return Ok((Slot::Connector, SlotExports::Connector(i, orders)));
    }
    if let Ok(i) = bindings::respond::GuestIndices::new(pre) {
        return Ok((Slot::Responder, SlotExports::Responder(i)));
    }
    if let Ok(i) = bindings::geocode::GuestIndices::new(pre) {
        return Ok((Slot::Geocoder, SlotExports::Geocoder(i)));
    }
    if let Ok(i) = bindings::flow::GuestIndices::new(pre) {
        return Ok((Slot::Flow, SlotExports::Flow(i)));
    }
    if let Ok(i) = bindings::track::GuestIndices::new(pre) {
        return Ok((Slot::Courier, SlotExports::Courier(i)));
    }
    Err(format!(
        "it exports none of {}",
        Slot::ALL.map(Slot::export).join(", ")
    ))
}
