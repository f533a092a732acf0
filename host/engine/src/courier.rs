//! Calling a tenant's courier (since WIT 0.1.1): where a parcel is.

use super::bindings::scrm::plugin::commerce::Tracking;
use super::bindings::track::TrackError;
use super::call::classify_failure;
use super::error::CallError;
use super::{ActiveBinding, PluginHost, SlotExports};

/// Why a tracking lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum TrackFailure {
    /// The plugin trapped, timed out or broke a limit.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The service does not know the parcel.
    #[error("the tracking service does not know the parcel: {0}")]
    NotFound(String),
    /// The service refused the key or the request, or the configuration is bad.
    #[error("the tracking service refused: {0}")]
    Refused(String),
    /// The service is unreachable or failing; retry later.
    #[error("the tracking service is unavailable: {0}")]
    Unavailable(String),
}

impl PluginHost {
    /// Asks `courier` where the parcel `number` is.
    ///
    /// # Errors
    /// [`TrackFailure`].
    pub fn track(
        &self,
        courier: &ActiveBinding,
        carrier: Option<&str>,
        number: &str,
    ) -> Result<Tracking, TrackFailure> {
        let site = courier.site();
        let SlotExports::Courier(ix) = &courier.component.exports else {
            return Err(CallError::Guest {
                site,
                message: "the bound component is not a courier".into(),
            }
            .into());
        };
        courier.ensure_active()?;
        let mut store = self.store_for(courier);
        let carrier = carrier.map(str::to_string);
        let result = courier
            .component
            .pre
            .instantiate(&mut store)
            .and_then(|inst| ix.load(&mut store, &inst))
            .and_then(|g| g.call_track(&mut store, carrier.as_deref(), number));
        crate::usage::observe(&store, courier);
        match result {
            Err(e) => Err(classify_failure(&store, e, site, &courier.limits).into()),
            Ok(Ok(t)) => Ok(t),
            Ok(Err(e)) => Err(match e {
                TrackError::NotFound(m) => TrackFailure::NotFound(m),
                TrackError::InvalidConfig(message) => {
                    CallError::InvalidConfig { site, message }.into()
                }
                TrackError::Refused(m) => TrackFailure::Refused(m),
                TrackError::Unavailable(m) | TrackError::Failed(m) => TrackFailure::Unavailable(m),
            }),
        }
    }
}
