//! Calling a tenant's classifier: the contract's message and contact in, tags and
//! signals out, within the binding's limits and output cap.

use super::SlotExports;
use super::bindings::ClassifyError;
use super::bindings::types as wit;
use super::call::classify_failure;
use super::error::CallError;
use super::{ActiveBinding, PluginHost};
use crate::limits::{Isolation, WARM_USES};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A classifier's answer, in the host's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// Tags to attach.
    pub tags: Vec<String>,
    /// Intent, entities, sentiment and priority as stored JSON.
    pub details: serde_json::Value,
}

impl Classification {
    /// The contract's view of it (as classifiers returned it).
    pub fn to_wit(&self) -> wit::Classification {
        crate::responder::to_wit_classification(self)
    }
}

impl PluginHost {
    /// Runs `binding` (a classifier) on one message in a fresh instance.
    ///
    /// # Errors
    /// A [`CallError`] naming tenant, plugin and cause; it fails this call only.
    pub fn classify(
        &self,
        binding: &ActiveBinding,
        msg: &wit::Message,
        sender: &wit::Contact,
    ) -> Result<Classification, CallError> {
        let site = binding.site();
        let SlotExports::Classifier(_) = &binding.component.exports else {
            return Err(CallError::Guest {
                site,
                message: "the bound component is not a classifier".into(),
            });
        };
        binding.ensure_active()?;
        if binding.limits.isolation == Isolation::Warm {
            return self.classify_warm(binding, msg, sender);
        }
        self.classify_fresh(binding, msg, sender)
            .map(Classification::from_wit)
    }

    /// Runs `binding` (a classifier) on one message in a fresh instance, whatever
    /// its isolation, and returns the answer as the plugin gave it: before the
    /// host trims, lowercases and deduplicates its tags and clamps its sentiment
    /// ([`Classification::from_wit`]). The output cap applies as for
    /// [`PluginHost::classify`]. For checking plugins (`scrm plugin test`).
    ///
    /// # Errors
    /// A [`CallError`] naming tenant, plugin and cause; it fails this call only.
    pub fn classify_as_given(
        &self,
        binding: &ActiveBinding,
        msg: &wit::Message,
        sender: &wit::Contact,
    ) -> Result<wit::Classification, CallError> {
        let SlotExports::Classifier(_) = &binding.component.exports else {
            return Err(CallError::Guest {
                site: binding.site(),
                message: "the bound component is not a classifier".into(),
            });
        };
        binding.ensure_active()?;
        self.classify_fresh(binding, msg, sender)
    }

    /// One call in a fresh instance; the plugin's answer within the output cap.
    fn classify_fresh(
        &self,
        binding: &ActiveBinding,
        msg: &wit::Message,
        sender: &wit::Contact,
    ) -> Result<wit::Classification, CallError> {
        let site = binding.site();
        let limits = &binding.limits;
        let mut store = self.store_for(binding);
        let pre = &binding.component.pre;
        let result = pre.instantiate(&mut store).and_then(|inst| {
            let func = classify_func(pre.component())
                .and_then(|i| inst.get_func(&mut store, i))
                .ok_or_else(|| wasmtime::format_err!("component has no classify export"))?;
            // SAFETY: `inspect` refused the component unless `GuestIndices::load`
            // type-checked this export against exactly these parameter and result
            // types (`check_instantiates`), and a compiled component's types never
            // change. Skipping the per-call check saves ≈ 1 µs of a fresh call.
            #[allow(unsafe_code)]
            let typed = unsafe { ClassifyFunc::new_unchecked(func) };
            typed.call(&mut store, (msg, sender)).map(|(r,)| r)
        });
        crate::usage::observe(&store, binding);
        let dropped = store.data().log.dropped();
        if dropped > 0 {
            tracing::debug!(tenant = %site.tenant, plugin = %site.plugin, dropped, "plugin log records over budget dropped");
        }
        finish_as_given(&store, result, site, limits)
    }

    /// Runs `binding` on one message in an instance from its warm pool (a new one
    /// when none is idle), which goes back to the pool unless the call failed or it
    /// has served [`WARM_USES`] calls. At most [`WARM_KEPT`] instances are kept
    /// idle host-wide: they hold slots of the instance pool.
    fn classify_warm(
        &self,
        binding: &ActiveBinding,
        msg: &wit::Message,
        sender: &wit::Contact,
    ) -> Result<Classification, CallError> {
        let idle = binding.warm.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut instance = match idle {
            Some(i) => i,
            None => self.warm_instance(binding)?,
        };
        let result = instance.classify(self, binding, msg, sender);
        instance.uses += 1;
        if result.is_ok() && instance.uses < WARM_USES {
            let kept = &self.warm_kept;
            let mut idle = binding.warm.lock().unwrap_or_else(|p| p.into_inner());
            if kept.fetch_add(1, Ordering::Relaxed) < WARM_KEPT {
                instance.kept = Some(kept.clone());
                idle.push(instance);
            } else {
                kept.fetch_sub(1, Ordering::Relaxed);
            }
        }
        result
    }

    /// A new instance of `binding` (a classifier) for its warm pool.
    fn warm_instance(&self, binding: &ActiveBinding) -> Result<WarmInstance, CallError> {
        let site = binding.site();
        let SlotExports::Classifier(indices) = &binding.component.exports else {
            return Err(CallError::Guest {
                site,
                message: "the bound component is not a classifier".into(),
            });
        };
        let mut store = self.store_for(binding);
        let guest = binding
            .component
            .pre
            .instantiate(&mut store)
            .and_then(|inst| indices.load(&mut store, &inst))
            .map_err(|e| classify_failure(&store, e, site, &binding.limits))?;
        Ok(WarmInstance {
            store,
            guest,
            uses: 0,
            kept: None,
        })
    }

    /// An instance of `binding` (a classifier) kept for repeated calls. Fresh
    /// instances per call are the default; this is for measuring the warm cost and
    /// for heavy guests (JavaScript, Python) whose instantiation dominates.
    ///
    /// # Errors
    /// A [`CallError`] when the component cannot be instantiated.
    pub fn warm_classifier(
        &self,
        binding: Arc<ActiveBinding>,
    ) -> Result<WarmClassifier, CallError> {
        let instance = self.warm_instance(&binding)?;
        Ok(WarmClassifier { instance, binding })
    }
}

/// Idle warm instances host-wide, at most.
pub const WARM_KEPT: usize = 256;

/// A classifier instance of a binding's warm pool.
pub(crate) struct WarmInstance {
    store: wasmtime::Store<super::call::CallState>,
    guest: super::bindings::classify::Guest,
    uses: u32,
    /// The host's count of idle warm instances, while this one is counted in it.
    kept: Option<Arc<AtomicUsize>>,
}

impl WarmInstance {
    /// One call, its per-call state (fuel, deadline, log budget, HTTP requests)
    /// started afresh.
    fn classify(
        &mut self,
        host: &PluginHost,
        binding: &ActiveBinding,
        msg: &wit::Message,
        sender: &wit::Contact,
    ) -> Result<Classification, CallError> {
        if let Some(kept) = self.kept.take() {
            kept.fetch_sub(1, Ordering::Relaxed);
        }
        let limits = binding.limits;
        let site = binding.site();
        host.reset_for_call(&mut self.store, binding);
        super::call::start_deadline(&mut self.store, limits.deadline_ms);
        let _ = self.store.set_fuel(limits.fuel);
        let result = self.guest.call_classify(&mut self.store, msg, sender);
        crate::usage::observe(&self.store, binding);
        finish(&self.store, result, site, &limits)
    }
}

impl std::fmt::Debug for WarmInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmInstance")
            .field("uses", &self.uses)
            .finish_non_exhaustive()
    }
}

impl Drop for WarmInstance {
    fn drop(&mut self) {
        if let Some(kept) = self.kept.take() {
            kept.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A classifier instance reused across calls (see [`PluginHost::warm_classifier`]).
/// After any error it must be dropped: a trapped instance is not reused.
pub struct WarmClassifier {
    instance: WarmInstance,
    binding: Arc<ActiveBinding>,
}

impl std::fmt::Debug for WarmClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmClassifier")
            .field("binding", &self.binding.label())
            .finish_non_exhaustive()
    }
}

impl WarmClassifier {
    /// Classifies one message on this instance, with the binding's per-call deadline
    /// and instruction budget reset first.
    ///
    /// # Errors
    /// A [`CallError`]; drop the instance afterwards.
    pub fn classify(
        &mut self,
        msg: &wit::Message,
        sender: &wit::Contact,
    ) -> Result<Classification, CallError> {
        let (i, limits) = (&mut self.instance, self.binding.limits);
        super::call::start_deadline(&mut i.store, limits.deadline_ms);
        let _ = i.store.set_fuel(limits.fuel);
        let result = i.guest.call_classify(&mut i.store, msg, sender);
        finish(&i.store, result, self.binding.site(), &limits)
    }
}

/// The classify export with the types the host binds it at.
type ClassifyFunc<'a> = wasmtime::component::TypedFunc<
    (&'a wit::Message, &'a wit::Contact),
    (Result<wit::Classification, ClassifyError>,),
>;

/// Where a component exports `scrm:plugin/classify.classify`.
fn classify_func(
    component: &wasmtime::component::Component,
) -> Option<wasmtime::component::ComponentExportIndex> {
    let iface = component.get_export_index(None, "scrm:plugin/classify@0.1.2")?;
    component.get_export_index(Some(&iface), "classify")
}

/// Turns a classify call's result into the host's answer, enforcing the output cap.
fn finish(
    store: &wasmtime::Store<super::call::CallState>,
    result: wasmtime::Result<Result<wit::Classification, ClassifyError>>,
    site: super::error::CallSite,
    limits: &crate::limits::PluginLimits,
) -> Result<Classification, CallError> {
    finish_as_given(store, result, site, limits).map(Classification::from_wit)
}

/// Turns a classify call's result into the plugin's answer, enforcing the output
/// cap (measured on the host's form of it, as stored).
fn finish_as_given(
    store: &wasmtime::Store<super::call::CallState>,
    result: wasmtime::Result<Result<wit::Classification, ClassifyError>>,
    site: super::error::CallSite,
    limits: &crate::limits::PluginLimits,
) -> Result<wit::Classification, CallError> {
    match result {
        Err(e) => Err(classify_failure(store, e, site, limits)),
        Ok(Err(ClassifyError::InvalidConfig(message))) => {
            Err(CallError::InvalidConfig { site, message })
        }
        Ok(Err(ClassifyError::Failed(message))) => Err(CallError::Guest { site, message }),
        Ok(Ok(c)) => {
            let cap = (limits.output_kib as usize) << 10;
            // Serialising the answer just to measure it costs more than the rest of
            // the conversion; only do it when a bound says it may be too large.
            if output_bound(&c) > cap {
                let size = output_size(&Classification::from_wit(c.clone()));
                if size > cap {
                    return Err(CallError::OutputTooLarge { site, size, cap });
                }
            }
            Ok(c)
        }
    }
}

/// The size the output cap counts: the answer's details as JSON plus its tags.
fn output_size(out: &Classification) -> usize {
    out.details.to_string().len() + out.tags.iter().map(String::len).sum::<usize>()
}

/// An upper bound of [`output_size`] of `c` once converted, computed without
/// serialising: a JSON string is at most 6 bytes per input byte (`\u00XX`) plus its
/// quotes, a number at most 24 bytes, lowercasing grows a tag at most 3 times, and
/// the fixed keys and punctuation take under 128 bytes.
fn output_bound(c: &wit::Classification) -> usize {
    let string = |s: &str| 6 * s.len() + 2;
    let tags: usize = c.tags.iter().map(|t| 3 * t.len()).sum();
    let intent = c.intent.as_ref().map_or(0, |i| string(&i.name) + 40);
    let entities: usize = c
        .entities
        .iter()
        .map(|e| string(&e.kind) + string(&e.value) + 20)
        .sum();
    128 + tags + intent + entities + 24
}

impl Classification {
    /// The host's form of a classifier's answer: tags trimmed, lowercased, without
    /// empty ones or repeats; sentiment clamped to [0, 1]; the rest as JSON.
    pub fn from_wit(c: wit::Classification) -> Classification {
        let mut tags: Vec<String> = Vec::with_capacity(c.tags.len());
        for t in c.tags {
            let t = t.trim().to_lowercase();
            if !t.is_empty() && !tags.contains(&t) {
                tags.push(t);
            }
        }
        let priority = c.priority.map(|p| match p {
            wit::Priority::Low => "low",
            wit::Priority::Normal => "normal",
            wit::Priority::High => "high",
            wit::Priority::Urgent => "urgent",
        });
        let details = json!({
            "intent": c.intent.map(|i| json!({"name": i.name, "confidence": i.confidence})),
            "entities": c.entities.into_iter().map(|e| json!({"kind": e.kind, "value": e.value})).collect::<Vec<_>>(),
            "sentiment": c.sentiment.map(|s| s.clamp(0.0, 1.0)),
            "priority": priority,
        });
        Classification { tags, details }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_bound_is_never_below_the_counted_size() {
        let nasty = "\u{1}\"\\\n\u{7f}é€😀İ";
        let c = wit::Classification {
            tags: vec![nasty.repeat(3), "İİİ".into(), String::new()],
            intent: Some(wit::Intent {
                name: nasty.into(),
                confidence: f32::MIN,
            }),
            entities: vec![wit::Entity {
                kind: nasty.into(),
                value: "\u{0}".repeat(50),
            }],
            sentiment: Some(f32::MIN_POSITIVE),
            priority: Some(wit::Priority::Urgent),
        };
        let bound = output_bound(&c);
        assert!(bound >= output_size(&Classification::from_wit(c)));
        let empty = wit::Classification {
            tags: vec![],
            intent: None,
            entities: vec![],
            sentiment: None,
            priority: None,
        };
        let bound = output_bound(&empty);
        assert!(bound >= output_size(&Classification::from_wit(empty)));
    }
}
