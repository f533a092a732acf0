//! The webhook relay: a tenant's existing app (a pywa bot, an order system) keeps
//! receiving exactly what Meta sends for the tenant's numbers, from scrm, after scrm
//! has stored it.
//!
//! - [`queue`]: the pipeline, in the transaction that stores a webhook body, queues
//!   one delivery per tenant the body reached whose relay is set (`hooks`, kind
//!   `relay`), keyed by the contact so one contact's webhooks stay in order.
//! - [`Relay`]: the sender. It posts each due delivery's body (read from the inbox,
//!   byte for byte; a body that also carried other tenants' numbers is cut down to
//!   this tenant's changes) to the relay's URL, signed as Meta signs
//!   (`X-Hub-Signature-256: sha256=…`, HMAC-SHA256 with the app's own secret, a
//!   tenant secret). A 2xx answer delivers it; anything else is retried with
//!   back-off; after `max_attempts` it is `dead`, listed for a person to re-queue.
//!   A contact's next webhook waits while an earlier one is retried.

mod deliver;

pub use deliver::{Relay, RelaySettings, for_tenant};

use scrm_store::{HookRepo, Store, StoreError};

/// The hook kind of the relay.
pub const KIND: &str = "relay";

/// The tenant secret the app's secret is kept in.
pub const SECRET: &str = "relay_app_secret";

/// Queues the relay deliveries of a stored batch: `(inbox body, tenant, contact)`
/// for each tenant a body reached. Inside the pipeline's transaction.
///
/// # Errors
/// On database failure.
pub(crate) fn queue(tx: &dyn Store, reached: &[(i64, String, String)]) -> Result<(), StoreError> {
    if reached.is_empty() {
        return Ok(());
    }
    let relayed = HookRepo::tenants_with(tx, KIND)?;
    if relayed.is_empty() {
        return Ok(());
    }
    let now = scrm_store::now_ms();
    for (inbox_id, tenant, contact) in reached {
        if relayed.contains(tenant) {
            HookRepo::enqueue(tx, tenant, KIND, contact, *inbox_id, now)?;
        }
    }
    Ok(())
}
