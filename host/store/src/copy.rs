//! Copying an SQLite database into PostgreSQL (`scrm migrate-store`): every table of
//! the schema, in an order that satisfies the foreign keys, safe to run again.
//!
//! [`sqlite_to_postgres`] opens the SQLite file (migrating it to this build's schema,
//! or refusing one a newer scrm wrote) and the PostgreSQL database (migrated to the
//! same version), checks that both have the same tables and columns and that the
//! SQLite rows keep their foreign keys, and only then writes. The tables and their
//! order come from the SQLite schema itself (`sqlite_master`, `PRAGMA
//! foreign_key_list`), so a table a later migration adds is copied with no change
//! here, and one PostgreSQL lacks stops the copy before any row is written.
//!
//! Rows are read by `rowid`, a page at a time, and inserted in one PostgreSQL
//! transaction per page with `ON CONFLICT (primary key) DO NOTHING`: a row already
//! there is kept as it is, so a second run copies only what is missing and never
//! duplicates. A column that references its own table (a merged contact's
//! `merged_into`) is filled in after the table's rows, so rows may point forwards.
//! Then each identity sequence is moved past the highest id, and each table's counts
//! are compared.
//!
//! ```no_run
//! let counts = scrm_store::copy::sqlite_to_postgres(
//!     std::path::Path::new("scrm-data/scrm.db"),
//!     "postgres://scrm:pw@db.internal/scrm",
//!     |t| println!("{} {}", t.table, t.target),
//! )?;
//! # Ok::<(), scrm_store::copy::CopyError>(())
//! ```

use crate::params;
use crate::sql::{Conn, Param, Value};
use crate::{Db, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Rows read from SQLite and written to PostgreSQL in one transaction.
const PAGE: i64 = 1000;

/// Values bound per `INSERT` (PostgreSQL takes at most 65,535).
const VALUES_PER_STATEMENT: usize = 20_000;

/// One table's row counts after a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// The table.
    pub table: String,
    /// Rows in the SQLite database.
    pub source: u64,
    /// Rows this run inserted into PostgreSQL; the others were there already.
    pub copied: u64,
    /// Rows in the PostgreSQL table afterwards: `source`, or more when it held rows
    /// the SQLite database does not.
    pub target: u64,
}

/// Why a copy stopped. Pages committed before the failure stay in PostgreSQL;
/// running the copy again completes it.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The SQLite file does not exist (it is never created by a copy).
    #[error("no SQLite database at {}", .0.display())]
    NoSource(PathBuf),
    /// The SQLite file could not be opened or migrated.
    #[error("cannot open SQLite database {}: {error}", path.display())]
    Source {
        /// The file.
        path: PathBuf,
        /// Why.
        error: StoreError,
    },
    /// Connecting to or migrating PostgreSQL failed, or a query outside any table.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing one table's rows failed.
    #[error("copying table {table}: {error}")]
    Table {
        /// The table.
        table: String,
        /// The database's error.
        error: StoreError,
    },
    /// The two schemas differ for a table (a migration one backend lacks).
    #[error("table {table} is not the same in SQLite and PostgreSQL: {detail}")]
    Schema {
        /// The table.
        table: String,
        /// What differs.
        detail: String,
    },
    /// A table has no primary key, so a second run could not skip its copied rows.
    #[error(
        "table {table} has no primary key: a second copy could not tell its copied rows from new ones"
    )]
    NoKey {
        /// The table.
        table: String,
    },
    /// The foreign keys between these tables form a cycle.
    #[error("tables {} reference each other in a cycle: no copy order satisfies their foreign keys", .tables.join(", "))]
    Cycle {
        /// The tables in or behind the cycle.
        tables: Vec<String>,
    },
    /// SQLite rows reference rows that do not exist; PostgreSQL would refuse them.
    #[error(
        "the SQLite database breaks its own foreign keys: {rows} row(s) of table {table} reference rows that do not exist (PRAGMA foreign_key_check); nothing was copied"
    )]
    DanglingKeys {
        /// The first table with such rows.
        table: String,
        /// How many of its rows.
        rows: u64,
    },
    /// A stored value does not fit its PostgreSQL column.
    #[error("table {table}, column {column}: {detail}")]
    Value {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What the value is and what the column takes.
        detail: String,
    },
    /// The counts after the copy do not add up.
    #[error(
        "table {table}: {sqlite} rows in SQLite, {postgres} in PostgreSQL after the copy: {detail}"
    )]
    Count {
        /// The table.
        table: String,
        /// Rows in SQLite.
        sqlite: u64,
        /// Rows in PostgreSQL.
        postgres: u64,
        /// What does not add up.
        detail: String,
    },
}

/// Copies every row of the SQLite database at `from` into the PostgreSQL database
/// at `to_url`, calling `progress` after each table, and returns every table's
/// counts in copy order. No host may be using either database meanwhile.
///
/// # Errors
/// [`CopyError`]: the file is missing or newer than this build, PostgreSQL cannot be
/// reached, the schemas differ, a row is refused, or the counts do not add up — each
/// naming the table.
pub fn sqlite_to_postgres(
    from: &Path,
    to_url: &str,
    mut progress: impl FnMut(&TableCount),
) -> Result<Vec<TableCount>, CopyError> {
    if !from.is_file() {
        return Err(CopyError::NoSource(from.to_path_buf()));
    }
    let source = Db::open(from).map_err(|error| match error {
        StoreError::SchemaTooNew { .. } => CopyError::Store(error),
        error => CopyError::Source {
            path: from.to_path_buf(),
            error,
        },
    })?;
    let target = Db::connect(to_url, 2)?;
    // One read transaction on SQLite: every table is read from the same snapshot.
    source.with_conn(|s| s.tx(|s| target.with_conn(|d| Ok(copy_all(s, d, &mut progress)))))?
}

fn copy_all(
    s: &Conn<'_>,
    d: &Conn<'_>,
    progress: &mut impl FnMut(&TableCount),
) -> Result<Vec<TableCount>, CopyError> {
    check_foreign_keys(s)?;
    let tables = plan(s, d)?;
    let mut counts = Vec::with_capacity(tables.len());
    for table in &tables {
        let count = copy_table(s, d, table)?;
        progress(&count);
        counts.push(count);
    }
    Ok(counts)
}

/// A table as both sides have it.
#[derive(Debug)]
struct Table {
    name: String,
    columns: Vec<Column>,
    /// The primary key's columns.
    key: Vec<String>,
    /// Positions of the columns that reference this same table: written after every
    /// row is in, so a row may reference one copied after it.
    deferred: Vec<usize>,
    /// PostgreSQL's identity columns.
    identity: Vec<String>,
}

#[derive(Debug)]
struct Column {
    name: String,
    kind: Kind,
}

/// The PostgreSQL column types the schema uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Real,
    Text,
    Blob,
}

impl Kind {
    fn of(pg_type: &str) -> Option<Kind> {
        Some(match pg_type {
            "bigint" => Kind::Integer,
            "double precision" => Kind::Real,
            "text" => Kind::Text,
            "bytea" => Kind::Blob,
            _ => return None,
        })
    }

    fn null(self) -> Value {
        match self {
            Kind::Integer => Value::Integer(None),
            Kind::Real => Value::Real(None),
            Kind::Text => Value::Text(None),
            Kind::Blob => Value::Blob(None),
        }
    }
}

/// The SQLite tables, SQLite's own aside, of the database file and the inbox's.
const TABLES: &str = "SELECT name FROM main.sqlite_master
     WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
     UNION SELECT name FROM inbox.sqlite_master
     WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
     ORDER BY name";

/// Every SQLite table but SQLite's own, parents before children, described: a
/// reference SQLite cannot declare because it crosses files
/// ([`CROSS_FILE`](crate::inbox::file::CROSS_FILE)) orders them too.
fn plan(s: &Conn<'_>, d: &Conn<'_>) -> Result<Vec<Table>, CopyError> {
    let names: Vec<String> = s.query(TABLES, params![], |r| r.get(0))?;
    let mut parents = BTreeMap::new();
    for name in &names {
        check_name(name, name)?;
        let refs: BTreeSet<String> = s
            .query(
                "SELECT \"table\" FROM pragma_foreign_key_list(?1)",
                params![name],
                |r| r.get(0),
            )?
            .into_iter()
            .collect();
        parents.insert(name.clone(), refs);
    }
    for (table, _, references) in crate::inbox::file::CROSS_FILE {
        if let Some(refs) = parents.get_mut(*table) {
            refs.insert(references.to_string());
        }
    }
    order(&parents)?
        .into_iter()
        .map(|name| describe(s, d, &name))
        .collect()
}

/// The tables with every table after those it references (references to itself
/// aside), alphabetical among equals.
fn order(parents: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<String>, CopyError> {
    let mut left: BTreeSet<&String> = parents.keys().collect();
    let mut done = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready: Vec<&String> = left
            .iter()
            .copied()
            .filter(|t| parents[*t].iter().all(|p| p == *t || !left.contains(p)))
            .collect();
        if ready.is_empty() {
            return Err(CopyError::Cycle {
                tables: left.into_iter().cloned().collect(),
            });
        }
        for t in ready {
            left.remove(t);
            done.push(t.clone());
        }
    }
    Ok(done)
}

/// Table and column names go into SQL text, so only plain identifiers are taken.
fn check_name(table: &str, name: &str) -> Result<(), CopyError> {
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        Ok(())
    } else {
        Err(CopyError::Schema {
            table: table.to_string(),
            detail: format!("{name:?} is not a plain identifier"),
        })
    }
}

/// The table's columns as SQLite orders them, typed as PostgreSQL has them.
fn describe(s: &Conn<'_>, d: &Conn<'_>, name: &str) -> Result<Table, CopyError> {
    let schema = |detail: String| CopyError::Schema {
        table: name.to_string(),
        detail,
    };
    let sqlite: Vec<(String, i64)> = s.query(
        "SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid",
        params![name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut pg: BTreeMap<String, (String, bool)> = d
        .query(
            "SELECT column_name::text, data_type::text, is_identity::text
             FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name::text = ?1",
            params![name],
            |r| Ok((r.get(0)?, (r.get(1)?, r.get::<String>(2)? == "YES"))),
        )?
        .into_iter()
        .collect();
    if pg.is_empty() {
        return Err(schema("PostgreSQL has no such table".into()));
    }
    let mut columns = Vec::with_capacity(sqlite.len());
    let mut identity = Vec::new();
    for (column, _) in &sqlite {
        check_name(name, column)?;
        let Some((pg_type, is_identity)) = pg.remove(column) else {
            return Err(schema(format!("PostgreSQL has no column {column}")));
        };
        let kind = Kind::of(&pg_type).ok_or_else(|| {
            schema(format!(
                "column {column} is {pg_type} in PostgreSQL, which the copy does not write"
            ))
        })?;
        if is_identity {
            identity.push(column.clone());
        }
        columns.push(Column {
            name: column.clone(),
            kind,
        });
    }
    if let Some(extra) = pg.keys().next() {
        return Err(schema(format!("SQLite has no column {extra}")));
    }
    let mut key: Vec<(i64, String)> = sqlite
        .into_iter()
        .filter(|(_, pk)| *pk > 0)
        .map(|(c, pk)| (pk, c))
        .collect();
    key.sort();
    if key.is_empty() {
        return Err(CopyError::NoKey {
            table: name.to_string(),
        });
    }
    let own: Vec<String> = s.query(
        "SELECT \"from\" FROM pragma_foreign_key_list(?1) WHERE \"table\" = ?1",
        params![name],
        |r| r.get(0),
    )?;
    let deferred = (0..columns.len())
        .filter(|i| own.contains(&columns[*i].name))
        .collect();
    Ok(Table {
        name: name.to_string(),
        columns,
        key: key.into_iter().map(|(_, c)| c).collect(),
        deferred,
        identity,
    })
}

/// Refuses a source whose rows reference rows that do not exist: PostgreSQL would
/// refuse them halfway through.
fn check_foreign_keys(s: &Conn<'_>) -> Result<(), CopyError> {
    let broken: Vec<(String, u64)> = s.query(
        "SELECT \"table\", count(*) FROM pragma_foreign_key_check GROUP BY 1 ORDER BY 1",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    match broken.into_iter().next() {
        Some((table, rows)) => Err(CopyError::DanglingKeys { table, rows }),
        None => Ok(()),
    }
}

fn copy_table(s: &Conn<'_>, d: &Conn<'_>, t: &Table) -> Result<TableCount, CopyError> {
    let at = |error| CopyError::Table {
        table: t.name.clone(),
        error,
    };
    let count = format!("SELECT count(*) FROM \"{}\"", t.name);
    let source: u64 = s.query_one(&count, params![], |r| r.get(0)).map_err(at)?;
    let before: u64 = d.query_one(&count, params![], |r| r.get(0)).map_err(at)?;
    let select = format!(
        "SELECT rowid, {} FROM \"{}\" WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        quoted(t.columns.iter().map(|c| c.name.as_str())),
        t.name
    );
    let mut copied = 0;
    let mut deferred = Vec::new();
    let mut after = i64::MIN;
    loop {
        let page = read_page(s, t, &select, after).map_err(at)?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        let full = page.len() as i64 == PAGE;
        let rows = page
            .into_iter()
            .map(|(_, row)| prepare(t, row, &mut deferred))
            .collect::<Result<Vec<_>, _>>()?;
        copied += d.tx(|d| insert(d, t, &rows)).map_err(at)?;
        if !full {
            break;
        }
    }
    d.tx(|d| fill_deferred(d, t, &deferred)).map_err(at)?;
    reset_sequences(d, t).map_err(at)?;
    let target: u64 = d.query_one(&count, params![], |r| r.get(0)).map_err(at)?;
    check_counts(t, source, before, copied, target)
}

fn read_page(
    s: &Conn<'_>,
    t: &Table,
    select: &str,
    after: i64,
) -> Result<Vec<(i64, Vec<Value>)>, StoreError> {
    s.query(select, params![after, PAGE], |r| {
        let row = (1..=t.columns.len())
            .map(|i| r.get::<Value>(i))
            .collect::<Result<_, _>>()?;
        Ok((r.get(0)?, row))
    })
}

/// A self-referencing column's value, written once every row of the table is in.
#[derive(Debug)]
struct Deferred {
    /// The column's position.
    column: usize,
    value: Value,
    /// The row's primary key.
    key: Vec<Value>,
}

/// Gives each value its PostgreSQL column's type, and sets aside the values of
/// self-referencing columns for [`fill_deferred`].
fn prepare(
    t: &Table,
    row: Vec<Value>,
    deferred: &mut Vec<Deferred>,
) -> Result<Vec<Value>, CopyError> {
    let mut row = row
        .into_iter()
        .zip(&t.columns)
        .map(|(v, c)| {
            coerce(v, c.kind).map_err(|detail| CopyError::Value {
                table: t.name.clone(),
                column: c.name.clone(),
                detail,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for &i in &t.deferred {
        if !row[i].is_null() {
            let value = std::mem::replace(&mut row[i], t.columns[i].kind.null());
            let key = t.key.iter().map(|k| row[position(t, k)].clone()).collect();
            deferred.push(Deferred {
                column: i,
                value,
                key,
            });
        }
    }
    Ok(row)
}

fn position(t: &Table, column: &str) -> usize {
    t.columns
        .iter()
        .position(|c| c.name == column)
        .expect("key columns are columns")
}

/// `v` as a value of `kind`: integers widen to reals (as SQLite stores them in a
/// `REAL` column); anything else must already be of its column's type.
fn coerce(v: Value, kind: Kind) -> Result<Value, String> {
    if v.is_null() {
        return Ok(kind.null());
    }
    match (v, kind) {
        (v @ Value::Integer(_), Kind::Integer)
        | (v @ Value::Real(_), Kind::Real)
        | (v @ Value::Text(_), Kind::Text)
        | (v @ Value::Blob(_), Kind::Blob) => Ok(v),
        (Value::Integer(Some(i)), Kind::Real) => Ok(Value::Real(Some(i as f64))),
        (v, kind) => Err(format!(
            "holds {v:?}, but the PostgreSQL column takes {kind:?} values"
        )),
    }
}

fn insert(d: &Conn<'_>, t: &Table, rows: &[Vec<Value>]) -> Result<u64, StoreError> {
    let columns = quoted(t.columns.iter().map(|c| c.name.as_str()));
    let key = quoted(t.key.iter().map(String::as_str));
    let width = t.columns.len();
    let mut inserted = 0;
    for chunk in rows.chunks((VALUES_PER_STATEMENT / width).max(1)) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let row: Vec<String> = (1..=width).map(|c| format!("?{}", r * width + c)).collect();
                format!("({})", row.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO \"{}\" ({columns}) VALUES {} ON CONFLICT ({key}) DO NOTHING",
            t.name,
            values.join(", ")
        );
        let params: Vec<&dyn Param> = chunk.iter().flatten().map(|v| v as &dyn Param).collect();
        inserted += d.execute(&sql, &params)? as u64;
    }
    Ok(inserted)
}

/// Sets the self-referencing columns set aside by [`prepare`], where still unset (a
/// row that was there before keeps its value).
fn fill_deferred(d: &Conn<'_>, t: &Table, deferred: &[Deferred]) -> Result<(), StoreError> {
    for later in deferred {
        let column = &t.columns[later.column].name;
        let key: Vec<String> = t
            .key
            .iter()
            .enumerate()
            .map(|(n, k)| format!("\"{k}\" = ?{}", n + 2))
            .collect();
        let sql = format!(
            "UPDATE \"{}\" SET \"{column}\" = ?1 WHERE \"{column}\" IS NULL AND {}",
            t.name,
            key.join(" AND ")
        );
        let params: Vec<&dyn Param> = std::iter::once(&later.value)
            .chain(&later.key)
            .map(|v| v as &dyn Param)
            .collect();
        d.execute(&sql, &params)?;
    }
    Ok(())
}

/// Moves each identity sequence past the table's highest id (never back), so the
/// next row PostgreSQL numbers does not collide with a copied one.
fn reset_sequences(d: &Conn<'_>, t: &Table) -> Result<(), StoreError> {
    for column in &t.identity {
        let sql = format!(
            "SELECT setval(seq, greatest(top, coalesce(pg_sequence_last_value(seq), 0), 1))
             FROM (SELECT pg_get_serial_sequence('\"{t}\"', '{column}')::regclass AS seq,
                          (SELECT max(\"{column}\") FROM \"{t}\") AS top) AS s
             WHERE seq IS NOT NULL AND top IS NOT NULL",
            t = t.name
        );
        d.query(&sql, params![], |_| Ok(()))?;
    }
    Ok(())
}

fn check_counts(
    t: &Table,
    source: u64,
    before: u64,
    copied: u64,
    target: u64,
) -> Result<TableCount, CopyError> {
    let detail = if target < source {
        Some(format!("{} row(s) did not arrive", source - target))
    } else if target != before + copied {
        Some(format!(
            "{before} were there before and {copied} were inserted: something else wrote to the table during the copy"
        ))
    } else {
        None
    };
    match detail {
        Some(detail) => Err(CopyError::Count {
            table: t.name.clone(),
            sqlite: source,
            postgres: target,
            detail,
        }),
        None => Ok(TableCount {
            table: t.name.clone(),
            source,
            copied,
            target,
        }),
    }
}

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::postgres_database;

    /// Every table of the schema, one row or more each (contacts and messages span
    /// several pages), with a BLOB, NULLs, a REAL and a contact merged into a later one.
    const ROWS: &str = r#"
INSERT INTO settings (key, value) VALUES ('operator_token_sha256', 'abc'), ('x', 'y');
INSERT INTO meta_apps (id, app_secret, verify_token, created_at, graph_url, backup_graph_url)
    VALUES ('app1', 's3cret', 'vt', 1, 'http://graph.local', NULL);
INSERT INTO tenants (id, app_id, default_region, created_at, limits) VALUES ('acme', 'app1', 'IT', 2, '{}');
INSERT INTO phone_numbers (phone_number_id, tenant_id) VALUES ('100', 'acme');
INSERT INTO components (sha256, name, world, size, created_at) VALUES ('c0ffee', 'kw', 'classifier', 3, 3);
INSERT INTO component_blobs (sha256, bytes) VALUES ('c0ffee', x'0061736d');
INSERT INTO plugin_bindings (tenant_id, slot, version, sha256, config, created_at)
    VALUES ('acme', 'classifier', 1, 'c0ffee', x'00ff10', 4);
INSERT INTO plugin_slots (tenant_id, slot, active_version, updated_at) VALUES ('acme', 'classifier', 1, 4);
INSERT INTO flow_catalog (sha256, name, info, added_at) VALUES ('c0ffee', 'quick-replies', '{}', 5);
INSERT INTO flow_triggers (sha256, kind) VALUES ('c0ffee', 'message');
INSERT INTO flow_jobs (tenant_id, flow, contact_id, kind, timer_key, event, payload, due_at, fire_at, created_at)
    VALUES ('acme', 'quick-replies', 0, 'timer', 'k', '{}', X'01', 6, 6, 6);
INSERT INTO flow_sends (tenant_id, flow, contact_id, last_sent_at) VALUES ('acme', 'quick-replies', 1, 7);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200)
INSERT INTO contacts (id, tenant_id, wa_id, user_id, phone_e164, name, created_at, updated_at, profile_name)
    SELECT i, 'acme', '3934700' || i, NULL, '+3934700' || i, 'Contact ' || i, i, i, 'C' || i FROM n;
UPDATE contacts SET merged_into = 1200 WHERE id = 1;
INSERT INTO conversations (id, tenant_id, contact_id, phone_number_id, created_at, last_message_at)
    VALUES (1, 'acme', 1200, '100', 5, 5);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
INSERT INTO messages (id, tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                      text, content, context, raw, status, created_at)
    SELECT i, 'acme', 1, 1200, 'wamid.' || i, 'inbound', 'text', 1000 + i,
           CASE WHEN i % 2 = 0 THEN 'hello ' || i END, '{}', '{}', '{"id":"wamid.' || i || '"}', 'received', i FROM n;
INSERT INTO message_tags (message_id, tag) VALUES (1, 'greeting'), (2, 'greeting');
INSERT INTO message_statuses (tenant_id, wamid, status, timestamp, raw, created_at)
    VALUES ('acme', 'wamid.1', 'read', 6, '{}', 6);
INSERT INTO message_revisions (tenant_id, target_wamid, wamid, action, raw, timestamp, created_at)
    VALUES ('acme', 'wamid.1', 'wamid.edit', 'edit', '{}', 7, 7);
INSERT INTO webhook_inbox (id, app_id, received_at, body, state) VALUES (1, 'app1', 8, x'7b7d00ff', 'done');
INSERT INTO unhandled_items (inbox_id, item_index, reason, kind, raw, created_at)
    VALUES (1, 0, 'unmodeled', 'x', '{}', 8);
INSERT INTO tenant_secrets (tenant_id, name, value, updated_at) VALUES ('acme', 'token', 'tok', 9);
INSERT INTO plugin_kv (tenant_id, plugin, key, value, updated_at) VALUES ('acme', 'kw', 'k', x'00019f92ff', 9);
INSERT INTO waba_numbers (app_id, phone_number_id, waba_id, tenant_id) VALUES ('app1', '100', 'waba', 'acme');
INSERT INTO account_events (app_id, tenant_id, waba_id, field, kind, raw, dedupe_key, created_at)
    VALUES ('app1', NULL, 'waba', 'account_update', 'account_update', '{}', 'd1', 10);
INSERT INTO consent (tenant_id, wa_id, opted_in_at, updated_at) VALUES ('acme', '39347001', 11, 11);
INSERT INTO number_pauses (phone_number_id, scope, until, reason, created_at) VALUES ('100', 'marketing', 99, '368', 12);
INSERT INTO outbox (tenant_id, phone_number_id, to_wa, kind, category, body, source, state, not_before,
                    created_at, updated_at)
    VALUES ('acme', '100', '39347001', 'text', 'service', '{}', 'api', 'sent', 13, 13, 13);
INSERT INTO media (tenant_id, direction, kind, message_id, state, created_at, updated_at)
    VALUES ('acme', 'inbound', 'image', 1, 'pending', 14, 14);
INSERT INTO media_uploads (phone_number_id, sha256, meta_media_id, uploaded_at) VALUES ('100', 'aa', 'm1', 15);
INSERT INTO graph_health (app_id, active, updated_at) VALUES ('app1', 'primary', 16);
INSERT INTO graph_probes (app_id, target, url, at, latency_ms, outcome) VALUES ('app1', 'primary', 'u', 16, 5, 'ok');
INSERT INTO graph_switches (app_id, at, from_target, to_target, from_url, to_url, reason)
    VALUES ('app1', 16, 'primary', 'backup', 'u', 'b', 'primary_unhealthy');
INSERT INTO crm_settings (tenant_id, mode, batch_minutes, pull_seconds, rate_requests, rate_seconds,
                          retention_days, updated_at, merge_confidence)
    VALUES ('acme', 'batch', 5, 0, 100, 10, 180, 17, 0.87);
INSERT INTO crm_jobs (tenant_id, kind, contact_id, message_id, key, state, due_at, created_at, updated_at)
    VALUES ('acme', 'message', 1200, 2, 'message:2', 'queued', 18, 18, 18);
INSERT INTO crm_links (tenant_id, object, local_id, crm_id, synced_at) VALUES ('acme', 'contact', 1200, 'crm-1', 19);
INSERT INTO crm_fields (tenant_id, contact_id, field, value, changed_at, source)
    VALUES ('acme', 1200, 'name', '"Contact"', 19, 'crm');
INSERT INTO crm_reviews (tenant_id, kind, contact_id, detail, state, created_at)
    VALUES ('acme', 'duplicate', 1, '{}', 'open', 20);
INSERT INTO crm_cursors (tenant_id, cursor, pulled_at) VALUES ('acme', 'cursor-1', 20);
INSERT INTO contact_purchases (tenant_id, contact_id, sku, message_id, at) VALUES ('acme', 1200, 'sku-1', 3, 21);
INSERT INTO crm_unread_flags (message_id, flagged_at) VALUES (4, 22);
INSERT INTO crm_deals (tenant_id, contact_id, kind, key, crm_id, updated_at)
    VALUES ('acme', 1200, 'deal', 'APL-IP15PM', 'deal-1', 22);
INSERT INTO crm_phone_problems (tenant_id, crm_id, phone, country, reason, seen_at)
    VALUES ('acme', 'crm-9', '123', NULL, 'not a valid number', 22);
INSERT INTO crm_audits (tenant_id, at, sampled, compared, fields, accuracy, mismatches)
    VALUES ('acme', 23, 1, 1, '{}', 1.0, '[]');
INSERT INTO crm_mapping_log (tenant_id, week, field, outcome, count)
    VALUES ('acme', 345600000, 'customer_level', 'defaulted', 2);
INSERT INTO links (token, tenant_id, outbox_id, recipient, url, created_at)
    VALUES ('tok-1', 'acme', 1, '39347001', 'https://shop.example/', 23);
INSERT INTO link_clicks (token, tenant_id, contact_id, clicked_at, user_agent)
    VALUES ('tok-1', 'acme', 1200, 23, NULL);
INSERT INTO number_pace (phone_number_id, next_slot_us) VALUES ('100', 23);
INSERT INTO recipient_pace (phone_number_id, to_wa, tat_ms) VALUES ('100', '39347001', 23);
INSERT INTO singleton_leases (name, holder, lease_until) VALUES ('crm-pull', 'host-a', 24);
UPDATE tenants SET waba_id = 'waba', templates_synced_at = 25 WHERE id = 'acme';
INSERT INTO templates (tenant_id, name, language, status, category, parameter_format, body_params,
                       parameters, components, meta_id, source, status_at, synced_at)
    VALUES ('acme', 'order_update', 'en_US', 'APPROVED', 'UTILITY', 'POSITIONAL', 2,
            '{"format":"POSITIONAL","body":2}', '[]', '759133452832154', 'meta', 25, 25);
INSERT INTO campaigns (id, tenant_id, name, template, language, category, params, audience,
                       phone_number_id, interactions, state, scheduled_at, plan, created_at,
                       started_at, updated_at)
    VALUES (1, 'acme', 'spring', 'order_update', 'en_US', 'utility', '["{{ contact.name }}"]',
            'tag:vip AND NOT tag:complained', '100', 3, 'running', NULL, '{"batch":false}', 26, 26, 26);
INSERT INTO campaign_recipients (campaign_id, contact_id, wa_id, batch, state, reason, outbox_id,
                                 queued_at, updated_at)
    VALUES (1, 1200, '39347001200', 0, 'queued', NULL, 1, 26, 26),
           (1, 2, '39347002', 0, 'skipped', 'no_opt_in', NULL, NULL, 26);
INSERT INTO people (id, tenant_id, email, name, role, password_hash, created_at)
    VALUES (1, 'acme', 'giulia@acme.example', 'Giulia', 'agent', '$argon2id$v=19$x', 27);
INSERT INTO teams (id, tenant_id, name, created_at, last_assigned) VALUES (1, 'acme', 'Vendite', 27, 1);
INSERT INTO team_members (team_id, person_id) VALUES (1, 1);
INSERT INTO api_tokens (tenant_id, role, person_id, name, token_sha256, prefix, created_at, last_used_at)
    VALUES ('acme', 'agent', 1, 'ci', 'ab12', 'scrm_t_ab', 27, 28);
INSERT INTO audit_log (tenant_id, actor, action, target, status, remote_addr, at)
    VALUES ('acme', 'operator', 'person.add', '/v1/tenants/acme/people', 201, '127.0.0.1', 27);
UPDATE conversations SET state = 'open', assignee_person = 1, assignee_team = 1, assigned_at = 27 WHERE id = 1;
INSERT INTO conversation_notes (tenant_id, conversation_id, author, body, created_at)
    VALUES ('acme', 1, 'person:1', 'vuole lo sconto', 28);
INSERT INTO canned_responses (tenant_id, shortcut, title, body, created_at, updated_at)
    VALUES ('acme', 'spedizione', 'Spedizione', 'Ciao {{ contact.first_name | default("") }}', 28, 28);
INSERT INTO sessions (id_sha256, tenant_id, person_id, csrf, created_at, expires_at, remote_addr)
    VALUES ('cd34', 'acme', 1, 'csrf', 28, 99, '127.0.0.1');
INSERT INTO login_links (token_sha256, tenant_id, person_id, created_at, expires_at, used_at)
    VALUES ('ef56', 'acme', 1, 28, 29, NULL);
INSERT INTO login_failures (key, at) VALUES ('account:acme:giulia@acme.example', 28);
INSERT INTO analytics_settings (tenant_id, settings, updated_at)
    VALUES ('acme', '{"watched_words": ["sconto"]}', 29);
INSERT INTO alerts (tenant_id, kind, subject, message, details, raised_at, updated_at, cleared_at)
    VALUES ('acme', 'agent_slow', 'person:1', 'slow', '{}', 29, 29, NULL);
INSERT INTO orders (tenant_id, order_id, source, contact_id, placed_at, total, currency,
                    payment_method, state, paid_at, updated_at)
    VALUES ('acme', 'A-1', 'api', 1200, 29, 59.9, 'EUR', 'card', 'paid', 30, 30);
INSERT INTO reports (tenant_id, week, body, generated_at, emailed_at, email_attempts, email_error)
    VALUES ('acme', '2026-W48', '{}', 30, NULL, 1, 'refused');
INSERT INTO alert_notices (alert_id, tenant_id, event, created_at, attempts, next_at, done_at, delivered, last_error)
    VALUES (1, 'acme', 'raised', 29, 1, 30, 30, 'webhook', NULL);
INSERT INTO hooks (tenant_id, kind, url, secret_name, types, created_at, updated_at)
    VALUES ('acme', 'relay', 'https://bot.example/webhook', 'relay_app_secret', '*', 31, 31);
INSERT INTO hook_deliveries (tenant_id, kind, ordering, inbox_id, state, attempts, next_at,
                             last_status, last_error, created_at, delivered_at)
    VALUES ('acme', 'relay', '393471234567', 1, 'delivered', 1, 31, 200, NULL, 31, 31);
INSERT INTO calls (tenant_id, call_id, conversation_id, contact_id, phone_number_id, direction, state,
                   started_at, ended_at, duration_s, errors, events, created_at, updated_at)
    VALUES ('acme', 'wacid.1', 1, 1, '100', 'user_initiated', 'completed', 32000, 92000, 60, '[]',
            '[{"event": "connect"}, {"event": "terminate"}]', 32000, 92000);
INSERT INTO drafts (tenant_id, conversation_id, flow, flow_version, text, note, state, created_at,
                    decided_at, decided_by, sent_text, outbox_id)
    VALUES ('acme', 1, 'ai-replies', 1, 'Ciao!', 'llama3', 'sent', 33, 34, 'person:1', 'Ciao Anna!', 1);
INSERT INTO model_usage (tenant_id, flow, model, prompt_tokens, completion_tokens, cost, latency_ms,
                         conversation_id, at)
    VALUES ('acme', 'ai-replies', 'llama3', 812, 64, 0.0019, 420, 1, 33);
"#;

    /// A filled SQLite file (in `dir`), checked to hold rows in every table.
    fn filled(dir: &Path) -> PathBuf {
        let path = dir.join("scrm.db");
        let db = Db::open(&path).unwrap();
        db.with_conn(|c| {
            c.batch(ROWS)?;
            let tables: Vec<String> = c.query(super::TABLES, params![], |r| r.get(0))?;
            for t in tables {
                let n: i64 = c.query_one(&format!("SELECT count(*) FROM {t}"), params![], |r| {
                    r.get(0)
                })?;
                assert!(n > 0, "table {t} has no rows in this test: add one to ROWS");
            }
            Ok(())
        })
        .unwrap();
        path
    }

    fn count(counts: &[TableCount], table: &str) -> TableCount {
        counts.iter().find(|c| c.table == table).unwrap().clone()
    }

    #[test]
    fn copies_every_row_of_every_table_and_a_second_run_adds_nothing() {
        let Some(url) = postgres_database() else {
            eprintln!("SKIPPED: no PostgreSQL here");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = filled(dir.path());
        let mut seen = Vec::new();
        let first = sqlite_to_postgres(&path, &url, |t| seen.push(t.table.clone())).unwrap();
        assert_eq!(
            seen,
            first.iter().map(|t| t.table.clone()).collect::<Vec<_>>()
        );
        let tables = Db::open(&path)
            .unwrap()
            .with_conn(|c| c.query(super::TABLES, params![], |r| r.get::<String>(0)));
        assert_eq!(first.len(), tables.unwrap().len(), "every table is copied");
        for t in &first {
            assert!(
                t.source > 0 && t.copied == t.source && t.target == t.source,
                "{t:?}"
            );
        }
        assert_eq!(count(&first, "messages").target, 2500);
        assert_eq!(count(&first, "contacts").target, 1200);
        let order: Vec<&str> = first.iter().map(|t| t.table.as_str()).collect();
        let at = |t: &str| order.iter().position(|o| *o == t).unwrap();
        assert!(at("meta_apps") < at("tenants") && at("contacts") < at("messages"));
        assert!(
            at("messages") < at("crm_unread_flags") && at("components") < at("component_blobs")
        );
        // A reference across SQLite's files orders the tables too.
        assert!(at("webhook_inbox") < at("unhandled_items"));

        let pg = Db::connect(&url, 2).unwrap();
        check_rows(&pg);
        // The target gains a row the source lacks and changes one it has: a second run
        // keeps both as they are and copies nothing.
        pg.with_conn(|c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES ('only_in_pg', '1')",
                params![],
            )?;
            c.execute(
                "UPDATE settings SET value = 'changed' WHERE key = 'x'",
                params![],
            )
        })
        .unwrap();
        let second = sqlite_to_postgres(&path, &url, |_| {}).unwrap();
        for (a, b) in first.iter().zip(&second) {
            assert_eq!((&a.table, a.source, 0), (&b.table, b.source, b.copied));
            let extra = u64::from(b.table == "settings");
            assert_eq!(b.target, a.target + extra, "{b:?}");
        }
        let x: String = pg
            .with_conn(|c| {
                c.query_one(
                    "SELECT value FROM settings WHERE key = 'x'",
                    params![],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(x, "changed");
        // New rows are numbered after the copied ones.
        let id: i64 = pg
            .with_conn(|c| {
                c.query_one(
                    "INSERT INTO contacts (tenant_id, wa_id, created_at, updated_at)
                     VALUES ('acme', 'new', 1, 1) RETURNING id",
                    params![],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(id, 1201);
    }

    /// Values arrive exactly: bytes, NULLs, reals, a reference to a later row.
    fn check_rows(pg: &Db) {
        pg.with_conn(|c| {
            let kv: Vec<u8> = c.query_one("SELECT value FROM plugin_kv", params![], |r| r.get(0))?;
            assert_eq!(kv, [0x00, 0x01, 0x9f, 0x92, 0xff]);
            let body: Vec<u8> = c.query_one("SELECT body FROM webhook_inbox", params![], |r| r.get(0))?;
            assert_eq!(body, b"{}\x00\xff");
            let (user, merged): (Option<String>, Option<i64>) = c.query_one(
                "SELECT user_id, merged_into FROM contacts WHERE id = 1",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            assert_eq!((user, merged), (None, Some(1200)));
            let texts: Vec<Option<String>> = c.query(
                "SELECT text FROM messages WHERE id IN (1, 2) ORDER BY id",
                params![],
                |r| r.get(0),
            )?;
            assert_eq!(texts, [None, Some("hello 2".to_string())]);
            let (raw, confidence): (String, f64) = c.query_one(
                "SELECT m.raw, s.merge_confidence FROM messages m, crm_settings s WHERE m.id = 2500",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            assert_eq!((raw.as_str(), confidence), (r#"{"id":"wamid.2500"}"#, 0.87));
            let tenant: Option<String> =
                c.query_one("SELECT tenant_id FROM account_events", params![], |r| r.get(0))?;
            assert_eq!(tenant, None);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_table_postgres_lacks_stops_the_copy_before_any_row_is_written() {
        let Some(url) = postgres_database() else {
            eprintln!("SKIPPED: no PostgreSQL here");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = filled(dir.path());
        Db::open(&path)
            .unwrap()
            .with_conn(|c| {
                c.batch("CREATE TABLE added_later (id INTEGER PRIMARY KEY, note TEXT) STRICT")
            })
            .unwrap();
        let err = sqlite_to_postgres(&path, &url, |_| {}).unwrap_err();
        assert!(
            matches!(&err, CopyError::Schema { table, .. } if table == "added_later"),
            "{err}"
        );
        assert!(
            err.to_string().contains("PostgreSQL has no such table"),
            "{err}"
        );
        let rows: i64 = Db::connect(&url, 1)
            .unwrap()
            .with_conn(|c| c.query_one("SELECT count(*) FROM settings", params![], |r| r.get(0)))
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn a_source_with_dangling_references_is_refused_before_any_row_is_written() {
        let Some(url) = postgres_database() else {
            eprintln!("SKIPPED: no PostgreSQL here");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scrm.db");
        Db::open(&path)
            .unwrap()
            .with_conn(|c| {
                c.batch(
                    "PRAGMA foreign_keys = OFF;
                     INSERT INTO settings (key, value) VALUES ('a', 'b');
                     INSERT INTO message_tags (message_id, tag) VALUES (42, 'orphan');",
                )
            })
            .unwrap();
        let err = sqlite_to_postgres(&path, &url, |_| {}).unwrap_err();
        assert!(
            matches!(&err, CopyError::DanglingKeys { table, rows: 1 } if table == "message_tags"),
            "{err}"
        );
        let rows: i64 = Db::connect(&url, 1)
            .unwrap()
            .with_conn(|c| c.query_one("SELECT count(*) FROM settings", params![], |r| r.get(0)))
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn a_row_colliding_with_another_on_a_unique_key_stops_the_copy_naming_it() {
        let Some(url) = postgres_database() else {
            eprintln!("SKIPPED: no PostgreSQL here");
            return;
        };
        let parents = "INSERT INTO meta_apps (id, app_secret, verify_token, created_at)
                           VALUES ('app1', 's', 'v', 1);
                       INSERT INTO tenants (id, app_id, default_region, created_at)
                           VALUES ('acme', 'app1', 'IT', 1);";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scrm.db");
        Db::open(&path)
            .unwrap()
            .with_conn(|c| {
                c.batch(parents)?;
                c.batch(
                    "INSERT INTO contacts (id, tenant_id, wa_id, created_at, updated_at)
                     VALUES (1, 'acme', '393471', 1, 1)",
                )
            })
            .unwrap();
        // Another history: the same WhatsApp id under another contact id.
        Db::connect(&url, 1)
            .unwrap()
            .with_conn(|c| {
                c.batch(parents)?;
                c.batch(
                    "INSERT INTO contacts (id, tenant_id, wa_id, created_at, updated_at)
                     VALUES (7, 'acme', '393471', 1, 1)",
                )
            })
            .unwrap();
        let err = sqlite_to_postgres(&path, &url, |_| {}).unwrap_err();
        assert!(
            matches!(&err, CopyError::Table { table, .. } if table == "contacts"),
            "{err}"
        );
        assert!(err.to_string().contains("contacts_wa_id"), "{err}");
    }

    #[test]
    fn refuses_a_missing_source_without_creating_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scrm.db");
        let err = sqlite_to_postgres(&path, "postgres://u:pw@127.0.0.1:9/x", |_| {}).unwrap_err();
        assert!(matches!(err, CopyError::NoSource(_)), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn orders_parents_first_and_names_a_cycle() {
        let refs = |pairs: &[(&str, &[&str])]| -> BTreeMap<String, BTreeSet<String>> {
            pairs
                .iter()
                .map(|(t, ps)| (t.to_string(), ps.iter().map(|p| p.to_string()).collect()))
                .collect()
        };
        let ordered = order(&refs(&[
            ("messages", &["contacts", "tenants"]),
            ("contacts", &["tenants", "contacts"]),
            ("tenants", &["apps"]),
            ("apps", &[]),
            ("events", &["elsewhere"]),
        ]))
        .unwrap();
        assert_eq!(
            ordered,
            ["apps", "events", "tenants", "contacts", "messages"]
        );
        let err = order(&refs(&[("a", &["b"]), ("b", &["a"]), ("c", &[])])).unwrap_err();
        assert!(
            matches!(&err, CopyError::Cycle { tables } if tables == &["a", "b"]),
            "{err}"
        );
    }

    #[test]
    fn values_bind_and_read_back_alike_on_both_backends() {
        for t in crate::testing::backends() {
            let row =
                t.db.with_conn(|c| {
                    c.batch(
                        "CREATE TABLE v (i BIGINT, r DOUBLE PRECISION, t TEXT, b BYTEA, n BIGINT)",
                    )?;
                    let values = [
                        Value::Integer(Some(-7)),
                        Value::Real(Some(0.5)),
                        Value::Text(Some("é".into())),
                        Value::Blob(Some(vec![0, 255])),
                        Value::Integer(None),
                    ];
                    let params: Vec<&dyn Param> = values.iter().map(|v| v as &dyn Param).collect();
                    c.execute("INSERT INTO v VALUES (?1, ?2, ?3, ?4, ?5)", &params)?;
                    c.query_one("SELECT i, r, t, b, n FROM v", params![], |r| {
                        (0..5)
                            .map(|i| r.get::<Value>(i))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .unwrap();
            // SQLite does not type a NULL; PostgreSQL says the column's type.
            let null = match t.backend {
                "sqlite" => Value::Text(None),
                _ => Value::Integer(None),
            };
            assert_eq!(
                row,
                [
                    Value::Integer(Some(-7)),
                    Value::Real(Some(0.5)),
                    Value::Text(Some("é".into())),
                    Value::Blob(Some(vec![0, 255])),
                    null,
                ],
                "{}",
                t.backend
            );
        }
    }

    #[test]
    fn coerces_integers_to_reals_and_refuses_other_mismatches() {
        assert_eq!(
            coerce(Value::Integer(Some(2)), Kind::Real),
            Ok(Value::Real(Some(2.0)))
        );
        assert_eq!(coerce(Value::Text(None), Kind::Blob), Ok(Value::Blob(None)));
        assert!(coerce(Value::Text(Some("1".into())), Kind::Integer).is_err());
    }
}
