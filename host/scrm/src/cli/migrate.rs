//! `scrm migrate-store`: copy an SQLite data directory's database into PostgreSQL
//! (local; no server involved). The copy itself is `scrm_store::copy`; this command
//! checks its input, keeps a host off the data directory meanwhile, and reports.

use anyhow::{Context, bail};
use clap::Args;
use scrm_store::copy::{self, CopyError, TableCount};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `scrm migrate-store`.
#[derive(Debug, Args)]
pub struct MigrateStoreArgs {
    /// The SQLite data directory to copy from (the one holding scrm.db). No host may
    /// be running on it.
    #[arg(long, value_name = "DIR", env = "SCRM_DATA_DIR")]
    from: PathBuf,
    /// The PostgreSQL database to copy into (postgres://user:password@host/db). Its
    /// schema is created or migrated; rows already there are kept.
    #[arg(
        long,
        value_name = "URL",
        env = "SCRM_DATABASE_URL",
        hide_env_values = true
    )]
    to: String,
}

/// Runs the copy on a blocking thread (it is all synchronous database work).
pub async fn run(args: MigrateStoreArgs) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || migrate(&args))
        .await
        .context("the copy stopped unexpectedly")?
}

fn migrate(args: &MigrateStoreArgs) -> anyhow::Result<()> {
    let url = scrm_store::mask_url(&args.to);
    if !(args.to.starts_with("postgres://") || args.to.starts_with("postgresql://")) {
        bail!("--to must be a PostgreSQL URL (postgres://user:password@host/db), got {url}");
    }
    let db = args.from.join("scrm.db");
    if !db.is_file() {
        bail!(
            "{} holds no scrm.db: give --from the data directory of an SQLite host (its --data-dir)",
            args.from.display()
        );
    }
    let _lock = lock(&args.from)?;
    println!("copying {} into {url}", db.display());
    let started = Instant::now();
    let counts = copy::sqlite_to_postgres(&db, &args.to, print_table).map_err(explain)?;
    let (source, copied, present) = counts.iter().fold((0, 0, 0), |(s, c, p), t| {
        (s + t.source, c + t.copied, p + t.source - t.copied)
    });
    println!(
        "done: {} tables, {source} rows in SQLite: {copied} copied now, {present} already in \
         PostgreSQL; every table's count checked ({:.1} s)",
        counts.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn print_table(t: &TableCount) {
    let mut line = format!(
        "{:<24} {:>10} rows  {:>10} copied",
        t.table, t.source, t.copied
    );
    if t.target > t.source {
        line.push_str(&format!(
            "  ({} in PostgreSQL: {} not from this copy)",
            t.target,
            t.target - t.source
        ));
    }
    println!("{line}");
}

/// Adds what to do next to errors that can leave part of the rows copied.
fn explain(e: CopyError) -> anyhow::Error {
    let partial = matches!(
        e,
        CopyError::Table { .. } | CopyError::Value { .. } | CopyError::Count { .. }
    );
    let e = anyhow::Error::new(e);
    if partial {
        e.context(
            "the copy stopped; the tables before this one are complete, and running the \
             same command again after fixing the cause resumes it",
        )
    } else {
        e
    }
}

/// Takes the data directory's lock (the one `scrm serve` takes), so no host writes to
/// the SQLite file during the copy, and none starts on it until the copy ends.
fn lock(dir: &Path) -> anyhow::Result<std::fs::File> {
    crate::instance::lock_data_dir(dir)?.map_err(|pid| {
        anyhow::anyhow!(
            "data directory {} is in use by a running scrm (pid {pid}, lock file {}): stop \
             that host first, so that nothing is written to scrm.db during the copy",
            dir.display(),
            dir.join("scrm.lock").display()
        )
    })
}
