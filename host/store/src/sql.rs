//! One connection API over both backends, so each query is written once.
//!
//! A repository function takes a [`Conn`] and runs SQL through [`Conn::execute`],
//! [`Conn::query`], [`Conn::query_opt`] and [`Conn::query_one`], with parameters
//! from [`params!`](crate::params) and columns read by [`Row::get`]. The SQL is
//! written in the dialect both engines share (`ON CONFLICT … DO UPDATE`,
//! `RETURNING`, `COALESCE`, window functions) with SQLite's `?N` placeholders; the
//! PostgreSQL side rewrites them to `$N` once per connection and keeps the prepared
//! statement. Where the engines differ (JSON paths, `FOR UPDATE SKIP LOCKED`),
//! [`Conn::dialect`] picks the text.
//!
//! Parameter and column types are a closed set ([`Param`], [`Col`]): 64-bit
//! integers, doubles, text and bytes, each optional. PostgreSQL checks a bound
//! value's type exactly, so an `i32` or a `bool` bound to a `BIGINT` column would
//! fail at run time; here it does not compile. [`Value`] is any one of them, for
//! code that copies columns it does not know in advance.

use crate::StoreError;
use postgres::types::{ToSql as PgToSql, Type};
use rusqlite::ToSql as SqliteToSql;
use std::cell::RefCell;
use std::collections::HashMap;

/// Which engine a [`Conn`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A PostgreSQL connection with its prepared statements and transaction depth.
pub struct PgSession {
    pub(crate) client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
    depth: u32,
}

impl std::fmt::Debug for PgSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSession")
            .field("statements", &self.statements.len())
            .field("depth", &self.depth)
            .finish()
    }
}

/// Statements kept per PostgreSQL connection; past this the cache starts over (a
/// guard against dynamic SQL, which is rare).
const STATEMENT_CACHE: usize = 512;

impl PgSession {
    pub(crate) fn new(client: postgres::Client) -> PgSession {
        PgSession {
            client,
            statements: HashMap::new(),
            depth: 0,
        }
    }

    fn statement(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<postgres::Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let types: Vec<Type> = params.iter().map(|p| p.pg_type()).collect();
        let stmt = self
            .client
            .prepare_typed(&to_pg(sql), &types)
            .map_err(|e| match e.as_db_error() {
                // The server refused the statement itself: a bug, shown with its text.
                Some(db) => StoreError::BadSql {
                    sql: sql.split_whitespace().collect::<Vec<_>>().join(" "),
                    reason: db.message().to_string(),
                },
                None => StoreError::Postgres(e),
            })?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    /// Whether the connection is usable for another caller: not broken, and not
    /// left inside a transaction.
    pub(crate) fn healthy(&self) -> bool {
        !self.client.is_closed() && self.depth == 0
    }
}

#[derive(Clone, Copy)]
enum Kind<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a RefCell<PgSession>),
}

/// A connection of either backend, or a transaction on one.
#[derive(Clone, Copy)]
pub struct Conn<'a> {
    kind: Kind<'a>,
    key: Option<&'a crate::SecretsKey>,
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conn({:?})", self.dialect())
    }
}

impl<'a> Conn<'a> {
    /// A SQLite connection.
    pub fn sqlite(c: &'a rusqlite::Connection) -> Conn<'a> {
        Conn {
            kind: Kind::Sqlite(c),
            key: None,
        }
    }

    /// A PostgreSQL connection.
    pub fn postgres(s: &'a RefCell<PgSession>) -> Conn<'a> {
        Conn {
            kind: Kind::Postgres(s),
            key: None,
        }
    }

    /// This connection, sealing and opening tenant secrets with `key`.
    pub fn with_key(self, key: Option<&'a crate::SecretsKey>) -> Conn<'a> {
        Conn { key, ..self }
    }

    /// The key tenant secrets are sealed with on this connection, if any.
    pub(crate) fn secrets_key(&self) -> Option<&'a crate::SecretsKey> {
        self.key
    }

    /// Which engine this is.
    pub fn dialect(&self) -> Dialect {
        match self.kind {
            Kind::Sqlite(_) => Dialect::Sqlite,
            Kind::Postgres(_) => Dialect::Postgres,
        }
    }

    /// `sqlite` on SQLite, `postgres` on PostgreSQL: for the few statements whose
    /// text differs.
    pub fn pick<'s>(&self, sqlite: &'s str, postgres: &'s str) -> &'s str {
        match self.dialect() {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    /// Runs one statement; returns how many rows it changed.
    ///
    /// # Errors
    /// The database's.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        match self.kind {
            Kind::Sqlite(c) => {
                let values: Vec<&dyn SqliteToSql> = params.iter().map(|p| p.sqlite()).collect();
                Ok(c.prepare_cached(sql)?.execute(&*values)?)
            }
            Kind::Postgres(s) => {
                let mut s = s.borrow_mut();
                let stmt = s.statement(sql, params)?;
                let values: Vec<&(dyn PgToSql + Sync)> = params.iter().map(|p| p.pg()).collect();
                Ok(s.client.execute(&stmt, &values)? as usize)
            }
        }
    }

    /// Runs a query and maps every row with `f`.
    ///
    /// # Errors
    /// The database's, or `f`'s.
    pub fn query<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        match self.kind {
            Kind::Sqlite(c) => {
                let values: Vec<&dyn SqliteToSql> = params.iter().map(|p| p.sqlite()).collect();
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(&*values)?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row(RowKind::Sqlite(r)))?);
                }
                Ok(out)
            }
            Kind::Postgres(s) => {
                // The rows are fetched whole and the connection released before `f`
                // runs, so `f` may query again.
                let rows = {
                    let mut s = s.borrow_mut();
                    let stmt = s.statement(sql, params)?;
                    let values: Vec<&(dyn PgToSql + Sync)> =
                        params.iter().map(|p| p.pg()).collect();
                    s.client.query(&stmt, &values)?
                };
                rows.iter().map(|r| f(&Row(RowKind::Postgres(r)))).collect()
            }
        }
    }

    /// Runs a query expected to return at most one row.
    ///
    /// # Errors
    /// The database's, or `f`'s.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut f = Some(f);
        let mut rows = self.query(sql, params, |r| {
            let f = f.take().ok_or(StoreError::TooManyRows)?;
            f(r)
        })?;
        Ok(rows.pop())
    }

    /// Runs a query that returns exactly one row (an aggregate, a `RETURNING`).
    ///
    /// # Errors
    /// The database's, `f`'s, or [`StoreError::NoRows`].
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, params, f)?.ok_or(StoreError::NoRows)
    }

    /// Runs statements separated by `;`, without parameters (migrations, DDL).
    ///
    /// # Errors
    /// The database's.
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match self.kind {
            Kind::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Kind::Postgres(s) => Ok(s.borrow_mut().client.batch_execute(sql)?),
        }
    }

    /// Runs `f` in a transaction (a savepoint when one is open already): committed
    /// when `f` succeeds, rolled back when it fails.
    ///
    /// # Errors
    /// What `f` returns, or the database's failure to begin or commit.
    pub fn tx<R>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let depth = self.begin()?;
        match f(self) {
            Ok(r) => {
                self.end(depth, true)?;
                Ok(r)
            }
            Err(e) => {
                // The rollback's own failure (a dead connection) must not hide why.
                let _ = self.end(depth, false);
                Err(e)
            }
        }
    }

    fn begin(&self) -> Result<u32, StoreError> {
        match self.kind {
            Kind::Sqlite(c) => {
                if c.is_autocommit() {
                    c.execute_batch("BEGIN")?;
                    Ok(0)
                } else {
                    c.execute_batch("SAVEPOINT scrm_tx")?;
                    Ok(1)
                }
            }
            Kind::Postgres(s) => {
                let mut s = s.borrow_mut();
                let depth = s.depth;
                if depth == 0 {
                    s.client.batch_execute("BEGIN")?;
                } else {
                    s.client
                        .batch_execute(&format!("SAVEPOINT scrm_tx{depth}"))?;
                }
                s.depth += 1;
                Ok(depth)
            }
        }
    }

    fn end(&self, depth: u32, commit: bool) -> Result<(), StoreError> {
        let sql = match (depth, commit) {
            (0, true) => "COMMIT".to_string(),
            (0, false) => "ROLLBACK".to_string(),
            (d, true) => format!("RELEASE SAVEPOINT scrm_tx{}", self.savepoint(d)),
            (d, false) => {
                let n = self.savepoint(d);
                format!("ROLLBACK TO SAVEPOINT scrm_tx{n}; RELEASE SAVEPOINT scrm_tx{n}")
            }
        };
        match self.kind {
            Kind::Sqlite(c) => Ok(c.execute_batch(&sql)?),
            Kind::Postgres(s) => {
                let mut s = s.borrow_mut();
                s.depth = depth;
                Ok(s.client.batch_execute(&sql)?)
            }
        }
    }

    fn savepoint(&self, depth: u32) -> String {
        match self.kind {
            Kind::Sqlite(_) => String::new(),
            Kind::Postgres(_) => depth.to_string(),
        }
    }

    /// Serialises work on `key` across connections and hosts until the enclosing
    /// transaction ends: a PostgreSQL advisory lock. SQLite has one writer, which
    /// serialises everything already. Call inside [`Conn::tx`].
    ///
    /// # Errors
    /// The database's.
    pub fn lock(&self, key: &str) -> Result<(), StoreError> {
        if self.dialect() == Dialect::Postgres {
            self.query_one(
                "SELECT pg_advisory_xact_lock(hashtextextended(?1, 0))::text",
                crate::params![key],
                |_| Ok(()),
            )?;
        }
        Ok(())
    }
}

/// Gives a SQLite connection PostgreSQL's `greatest(a, b, …)` and `least(a, b, …)`:
/// the largest (smallest) argument that is not `NULL`, `NULL` when all are. SQLite's
/// own two-argument `max`/`min` return `NULL` when any argument is, and PostgreSQL
/// has no such functions, so queries use these on both.
///
/// # Errors
/// SQLite's, when a function cannot be registered.
pub(crate) fn sqlite_functions(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::Value;
    fn pick(
        ctx: &rusqlite::functions::Context<'_>,
        want: std::cmp::Ordering,
    ) -> rusqlite::Result<Value> {
        let mut best: Option<Value> = None;
        for i in 0..ctx.len() {
            let v: Value = ctx.get(i)?;
            let better = match (&best, &v) {
                (_, Value::Null) => false,
                (None, _) => true,
                (Some(b), v) => compare(v, b) == want,
            };
            if better {
                best = Some(v);
            }
        }
        Ok(best.unwrap_or(Value::Null))
    }
    fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
        let num = |v: &Value| match v {
            Value::Integer(i) => Some(*i as f64),
            Value::Real(r) => Some(*r),
            _ => None,
        };
        match (a, b, num(a), num(b)) {
            (Value::Integer(x), Value::Integer(y), _, _) => x.cmp(y),
            (_, _, Some(x), Some(y)) => x.total_cmp(&y),
            (Value::Text(x), Value::Text(y), _, _) => x.cmp(y),
            _ => std::cmp::Ordering::Equal,
        }
    }
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    c.create_scalar_function("greatest", -1, flags, |ctx| {
        pick(ctx, std::cmp::Ordering::Greater)
    })?;
    c.create_scalar_function("least", -1, flags, |ctx| {
        pick(ctx, std::cmp::Ordering::Less)
    })?;
    Ok(())
}

/// Rewrites SQLite's `?N` placeholders (and bare `?`) to PostgreSQL's `$N`, leaving
/// quoted text alone.
pub(crate) fn to_pg(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    let mut next = 1;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                out.push('$');
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str(&next.to_string());
                    next += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// A value bound to a statement: one of a closed set of types both engines store
/// alike.
pub trait Param {
    /// As SQLite binds it.
    fn sqlite(&self) -> &dyn SqliteToSql;
    /// As PostgreSQL binds it.
    fn pg(&self) -> &(dyn PgToSql + Sync);
    /// Its PostgreSQL type, declared when the statement is prepared.
    fn pg_type(&self) -> Type;
}

macro_rules! param {
    ($($t:ty => $pg:expr),* $(,)?) => {
        $(
            impl Param for $t {
                fn sqlite(&self) -> &dyn SqliteToSql { self }
                fn pg(&self) -> &(dyn PgToSql + Sync) { self }
                fn pg_type(&self) -> Type { $pg }
            }
            impl Param for Option<$t> {
                fn sqlite(&self) -> &dyn SqliteToSql { self }
                fn pg(&self) -> &(dyn PgToSql + Sync) { self }
                fn pg_type(&self) -> Type { $pg }
            }
        )*
    };
}

param! {
    i64 => Type::INT8,
    f64 => Type::FLOAT8,
    String => Type::TEXT,
    &str => Type::TEXT,
    Vec<u8> => Type::BYTEA,
    &[u8] => Type::BYTEA,
}

impl<T: Param + NotRef> Param for &T {
    fn sqlite(&self) -> &dyn SqliteToSql {
        (**self).sqlite()
    }
    fn pg(&self) -> &(dyn PgToSql + Sync) {
        (**self).pg()
    }
    fn pg_type(&self) -> Type {
        (**self).pg_type()
    }
}

/// Flags are stored as 0/1 integers on both engines (`BIGINT` on PostgreSQL).
impl Param for bool {
    fn sqlite(&self) -> &dyn SqliteToSql {
        self
    }
    fn pg(&self) -> &(dyn PgToSql + Sync) {
        const ONE: i64 = 1;
        const ZERO: i64 = 0;
        if *self { &ONE } else { &ZERO }
    }
    fn pg_type(&self) -> Type {
        Type::INT8
    }
}

/// Marks the owned parameter types, so a reference to one binds like the value.
pub trait NotRef {}
impl NotRef for i64 {}
impl NotRef for bool {}
impl NotRef for &str {}
impl NotRef for f64 {}
impl NotRef for String {}
impl NotRef for Vec<u8> {}
impl NotRef for Option<i64> {}
impl NotRef for Option<f64> {}
impl NotRef for Option<String> {}
impl NotRef for Option<Vec<u8>> {}

/// Builds a parameter list: `params![id, name]`.
#[macro_export]
macro_rules! params {
    () => { &[] as &[&dyn $crate::sql::Param] };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::sql::Param),+] as &[&dyn $crate::sql::Param]
    };
}

enum RowKind<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

/// One result row of either backend.
pub struct Row<'a>(RowKind<'a>);

impl std::fmt::Debug for Row<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Row")
    }
}

impl Row<'_> {
    /// Column `i` (from 0) as `T`.
    ///
    /// # Errors
    /// When the column is missing or holds another type.
    pub fn get<T: Col>(&self, i: usize) -> Result<T, StoreError> {
        match &self.0 {
            RowKind::Sqlite(r) => T::sqlite(r, i),
            RowKind::Postgres(r) => T::pg(r, i),
        }
    }
}

/// A column type both backends read alike.
pub trait Col: Sized {
    /// From a SQLite row.
    ///
    /// # Errors
    /// The driver's.
    fn sqlite(r: &rusqlite::Row<'_>, i: usize) -> Result<Self, StoreError>;
    /// From a PostgreSQL row.
    ///
    /// # Errors
    /// The driver's.
    fn pg(r: &postgres::Row, i: usize) -> Result<Self, StoreError>;
}

macro_rules! col_exact {
    ($($t:ty),*) => {
        $(
            impl Col for $t {
                fn sqlite(r: &rusqlite::Row<'_>, i: usize) -> Result<Self, StoreError> { Ok(r.get(i)?) }
                fn pg(r: &postgres::Row, i: usize) -> Result<Self, StoreError> { Ok(r.try_get(i)?) }
            }
            impl Col for Option<$t> {
                fn sqlite(r: &rusqlite::Row<'_>, i: usize) -> Result<Self, StoreError> { Ok(r.get(i)?) }
                fn pg(r: &postgres::Row, i: usize) -> Result<Self, StoreError> { Ok(r.try_get(i)?) }
            }
        )*
    };
}
col_exact!(String, Vec<u8>);

/// Integers arrive as `INT8` from columns and `count(*)`, but as `INT4` from a
/// literal or an `int4` expression: both are read.
fn pg_int(r: &postgres::Row, i: usize) -> Result<Option<i64>, postgres::Error> {
    let ty = r.columns().get(i).map(|c| c.type_().clone());
    match ty {
        Some(Type::INT4) => Ok(r.try_get::<_, Option<i32>>(i)?.map(i64::from)),
        Some(Type::INT2) => Ok(r.try_get::<_, Option<i16>>(i)?.map(i64::from)),
        Some(Type::BOOL) => Ok(r.try_get::<_, Option<bool>>(i)?.map(i64::from)),
        _ => r.try_get(i),
    }
}

fn pg_float(r: &postgres::Row, i: usize) -> Result<Option<f64>, postgres::Error> {
    let ty = r.columns().get(i).map(|c| c.type_().clone());
    match ty {
        Some(Type::FLOAT4) => Ok(r.try_get::<_, Option<f32>>(i)?.map(f64::from)),
        Some(Type::INT8 | Type::INT4 | Type::INT2) => Ok(pg_int(r, i)?.map(|v| v as f64)),
        _ => r.try_get(i),
    }
}

/// The error a `NULL` read as a non-optional value gives.
fn pg_null(r: &postgres::Row, i: usize) -> StoreError {
    let name = r.columns().get(i).map_or("?", |c| c.name());
    StoreError::Column(format!("column {i} ({name}) is NULL"))
}

impl Col for i64 {
    fn sqlite(r: &rusqlite::Row<'_>, i: usize) -> Result<Self, StoreError> {
        Ok(r.get(i)?)
    }
    fn pg(r: &postgres::Row, i: usize) -> Result<Self, StoreError> {
        pg_int(r, i)?.ok_or_else(|| pg_null(r, i))
    }
}
impl Col for Option<i64> {
    fn sqlite(r: &rusqlite::Row<'_>, i: usize) -> Result<Self, StoreError> {
        Ok(r.get(i)?)
    }
    fn pg(r: &postgres::Row, i: usize) -> Result<Self, StoreError> {
        Ok(pg_int(r, i)?)
    }
}
impl Col for f64 {
    fn sqlite(r: &rusqlite::Row<'_>, i: usize) -> Result<Self, StoreError> {
        Ok(r.get(i)?)
    }
    fn pg(r: &postgres::Row, i: usize) -> Result<Self, StoreError> {
        pg_float(r, i)?.ok_or_else(|| pg_null(r, i))
    }
}
impl Col for Option<f64> {
    fn sqlite(r: &rusqlite::Row<'_>, i: usize) -> Result<Self, StoreError> {
        Ok(r.get(i)?)
    }
    fn pg(r: &postgres::Row, i: usize) -> Result<Self, StoreError> {
        Ok(pg_float(r, i)?)
    }
}
/// Flags are stored as 0/1 integers on both engines.
impl Col for bool {
    fn sqlite(r: &rusqlite::Row<'_>, i: usize) -> Result<Self, StoreError> {
        Ok(r.get(i)?)
    }
    fn pg(r: &postgres::Row, i: usize) -> Result<Self, StoreError> {
        Ok(<i64 as Col>::pg(r, i)? != 0)
    }
}

/// Counts and sizes stored as `BIGINT`, read back into the narrower type the code
/// uses; a value out of its range is an error, never truncated.
macro_rules! col_narrow {
    ($($t:ty),*) => {
        $(
            impl Col for $t {
                fn sqlite(r: &rusqlite::Row<'_>, i: usize) -> Result<Self, StoreError> {
                    narrow(<i64 as Col>::sqlite(r, i)?, i)
                }
                fn pg(r: &postgres::Row, i: usize) -> Result<Self, StoreError> {
                    narrow(<i64 as Col>::pg(r, i)?, i)
                }
            }
            impl Col for Option<$t> {
                fn sqlite(r: &rusqlite::Row<'_>, i: usize) -> Result<Self, StoreError> {
                    <Option<i64> as Col>::sqlite(r, i)?.map(|v| narrow(v, i)).transpose()
                }
                fn pg(r: &postgres::Row, i: usize) -> Result<Self, StoreError> {
                    <Option<i64> as Col>::pg(r, i)?.map(|v| narrow(v, i)).transpose()
                }
            }
        )*
    };
}
col_narrow!(u32, u64, usize, i32);

fn narrow<T: TryFrom<i64>>(v: i64, i: usize) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| {
        StoreError::Column(format!(
            "column {i} holds {v}, out of range for {}",
            std::any::type_name::<T>()
        ))
    })
}

/// A column value of whichever of the four types a row holds, for code that handles
/// columns it does not know in advance (copying a table between backends). It is
/// typed even when `NULL`, so it binds as exactly one PostgreSQL type; SQLite does
/// not type a `NULL`, which reads as `Text(None)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `INTEGER` / `BIGINT`.
    Integer(Option<i64>),
    /// `REAL` / `DOUBLE PRECISION`.
    Real(Option<f64>),
    /// `TEXT`.
    Text(Option<String>),
    /// `BLOB` / `BYTEA`.
    Blob(Option<Vec<u8>>),
}

impl Value {
    /// Whether this is a `NULL`.
    pub fn is_null(&self) -> bool {
        match self {
            Value::Integer(v) => v.is_none(),
            Value::Real(v) => v.is_none(),
            Value::Text(v) => v.is_none(),
            Value::Blob(v) => v.is_none(),
        }
    }
}

impl Param for Value {
    fn sqlite(&self) -> &dyn SqliteToSql {
        match self {
            Value::Integer(v) => v,
            Value::Real(v) => v,
            Value::Text(v) => v,
            Value::Blob(v) => v,
        }
    }
    fn pg(&self) -> &(dyn PgToSql + Sync) {
        match self {
            Value::Integer(v) => v,
            Value::Real(v) => v,
            Value::Text(v) => v,
            Value::Blob(v) => v,
        }
    }
    fn pg_type(&self) -> Type {
        match self {
            Value::Integer(_) => Type::INT8,
            Value::Real(_) => Type::FLOAT8,
            Value::Text(_) => Type::TEXT,
            Value::Blob(_) => Type::BYTEA,
        }
    }
}
impl NotRef for Value {}

impl Col for Value {
    fn sqlite(r: &rusqlite::Row<'_>, i: usize) -> Result<Self, StoreError> {
        use rusqlite::types::ValueRef;
        Ok(match r.get_ref(i)? {
            ValueRef::Null => Value::Text(None),
            ValueRef::Integer(v) => Value::Integer(Some(v)),
            ValueRef::Real(v) => Value::Real(Some(v)),
            ValueRef::Text(t) => Value::Text(Some(String::from_utf8(t.to_vec()).map_err(|e| {
                StoreError::Column(format!("column {i} holds text that is not UTF-8: {e}"))
            })?)),
            ValueRef::Blob(b) => Value::Blob(Some(b.to_vec())),
        })
    }
    fn pg(r: &postgres::Row, i: usize) -> Result<Self, StoreError> {
        use postgres::types::FromSql;
        let Some(column) = r.columns().get(i) else {
            return Err(StoreError::Column(format!("no column {i}")));
        };
        Ok(match column.type_() {
            &Type::INT8 | &Type::INT4 | &Type::INT2 | &Type::BOOL => Value::Integer(pg_int(r, i)?),
            &Type::FLOAT8 | &Type::FLOAT4 => Value::Real(pg_float(r, i)?),
            &Type::BYTEA => Value::Blob(r.try_get(i)?),
            t if <String as FromSql>::accepts(t) => Value::Text(r.try_get(i)?),
            t => {
                return Err(StoreError::Column(format!(
                    "column {i} ({}) has type {t}, which is none of integer, real, text, bytes",
                    column.name()
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::to_pg;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            to_pg("SELECT a FROM t WHERE b = ?1 AND c = ?12 AND d = '?3'"),
            "SELECT a FROM t WHERE b = $1 AND c = $12 AND d = '?3'"
        );
        assert_eq!(to_pg("VALUES (?, ?)"), "VALUES ($1, $2)");
    }
}
