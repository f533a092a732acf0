//! The seam between scrm and its database: one trait per repository, all of them
//! together [`Store`], implemented by a connection of either backend ([`Conn`]).
//!
//! Callers never see a driver. [`crate::Db::read`] and [`crate::Db::write`] hand a
//! closure a `&dyn Store`; the closure calls repository methods by their trait, e.g.
//! `TenantRepo::get(s, "acme")`, and groups writes that must land together with
//! [`transaction`]. A second backend implements the same traits for its own
//! connection type and plugs in behind [`crate::Db`]; nothing above the store
//! changes.
//!
//! Each repository module (`tenants`, `messages`, `crm`, …) owns its row types, its
//! trait (declared with [`repo!`](crate::repo)) and the queries behind it, written
//! once for both engines against [`Conn`] (see [`crate::sql`]). The macro writes
//! every method once: the trait's declaration and its implementation, which calls
//! the module's query function of the same name with the connection first.

use crate::StoreError;
use crate::sql::Conn;

/// Declares a repository trait and implements it for [`Conn`] by calling the
/// enclosing module's functions of the same names with the connection first.
#[macro_export]
#[doc(hidden)]
macro_rules! repo {
    (
        $(#[$tmeta:meta])*
        pub trait $trait:ident {
            $(
                $(#[$meta:meta])*
                fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;
            )*
        }
    ) => {
        $(#[$tmeta])*
        pub trait $trait {
            $(
                $(#[$meta])*
                ///
                /// # Errors
                /// On database failure.
                fn $name(&self, $($arg: $ty),*) -> $ret;
            )*
        }

        impl $trait for $crate::sql::Conn<'_> {
            $(
                fn $name(&self, $($arg: $ty),*) -> $ret {
                    $name(self, $($arg),*)
                }
            )*
        }
    };
}

/// Every repository: what a closure given to [`crate::Db::read`] or
/// [`crate::Db::write`] can use.
pub trait Store:
    crate::alerts::AlertRepo
    + crate::analytics::AnalyticsRepo
    + crate::apps::AppRepo
    + crate::assist::AssistRepo
    + crate::calls::CallRepo
    + crate::campaigns::CampaignRepo
    + crate::canned::CannedRepo
    + crate::consent::ConsentRepo
    + crate::contacts::ContactRepo
    + crate::conversations::ConversationRepo
    + crate::crm::CrmRepo
    + crate::events::EventRepo
    + crate::flows::FlowRepo
    + crate::health::HealthRepo
    + crate::hooks::HookRepo
    + crate::hosts::HostRepo
    + crate::inbox::InboxRepo
    + crate::kv::KvRepo
    + crate::links::LinkRepo
    + crate::media::MediaRepo
    + crate::messages::MessageRepo
    + crate::orders::OrderRepo
    + crate::outbox::OutboxRepo
    + crate::people::PeopleRepo
    + crate::plugins::PluginRepo
    + crate::reports::ReportRepo
    + crate::secrets::SecretRepo
    + crate::sessions::SessionRepo
    + crate::settings::SettingRepo
    + crate::templates::TemplateRepo
    + crate::tenants::TenantRepo
{
    /// Runs `f` in a transaction: committed when `f` succeeds, rolled back when it
    /// fails. Use [`transaction`], which passes a result through.
    ///
    /// # Errors
    /// What `f` returns, or the database's failure to begin or commit.
    fn transaction_dyn(
        &self,
        f: &mut dyn FnMut(&dyn Store) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Serialises work on `key` across connections and hosts until the enclosing
    /// transaction ends (see [`Conn::lock`]). Call inside [`transaction`].
    ///
    /// # Errors
    /// The database's.
    fn lock(&self, key: &str) -> Result<(), StoreError>;
}

impl Store for Conn<'_> {
    fn transaction_dyn(
        &self,
        f: &mut dyn FnMut(&dyn Store) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.tx(|c| f(c))
    }

    fn lock(&self, key: &str) -> Result<(), StoreError> {
        Conn::lock(self, key)
    }
}

/// Runs `f` in one transaction of `store` and returns its result: everything `f`
/// writes lands together, or nothing does.
///
/// # Errors
/// What `f` returns, or the database's failure to begin or commit.
pub fn transaction<R>(
    store: &dyn Store,
    f: impl FnOnce(&dyn Store) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let mut f = Some(f);
    let mut out = None;
    store.transaction_dyn(&mut |tx| {
        let f = f.take().expect("a transaction runs its closure once");
        out = Some(f(tx)?);
        Ok(())
    })?;
    Ok(out.expect("a committed transaction ran its closure"))
}

/// Like [`transaction`], for work that can refuse: `Ok(Err(e))` from `f` rolls the
/// transaction back and is returned as it is; `Ok(Ok(r))` commits.
///
/// # Errors
/// What `f` returns, or the database's failure to begin or commit.
pub fn transaction_if<R, E>(
    store: &dyn Store,
    f: impl FnOnce(&dyn Store) -> Result<Result<R, E>, StoreError>,
) -> Result<Result<R, E>, StoreError> {
    let mut f = Some(f);
    let mut out = None;
    let result = store.transaction_dyn(&mut |tx| {
        let f = f.take().expect("a transaction runs its closure once");
        match f(tx)? {
            Ok(r) => {
                out = Some(Ok(r));
                Ok(())
            }
            Err(e) => {
                out = Some(Err(e));
                Err(StoreError::RolledBack)
            }
        }
    });
    match (result, out) {
        (Ok(()), Some(out)) | (Err(StoreError::RolledBack), Some(out)) => Ok(out),
        (Err(e), _) => Err(e),
        (Ok(()), None) => unreachable!("a committed transaction ran its closure"),
    }
}
