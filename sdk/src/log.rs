//! Structured logging into the host's log; records carry the tenant, plugin and
//! version. The host may drop records past a per-call budget.

use crate::classifier::scrm::plugin::log as host;
/// A log record's level (the WIT `log.level`).
pub use host::Level;

/// Writes a record at `level` with key/value `fields`.
pub fn write(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    host::write(level, message, &fields);
}

/// Writes a debug record.
pub fn debug(message: &str) {
    write(Level::Debug, message, &[]);
}

/// Writes an info record.
pub fn info(message: &str) {
    write(Level::Info, message, &[]);
}

/// Writes a warning.
pub fn warn(message: &str) {
    write(Level::Warn, message, &[]);
}

/// Writes an error record.
pub fn error(message: &str) {
    write(Level::Error, message, &[]);
}

pub use host::Level as LogLevel;
