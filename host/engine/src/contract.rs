//! The `scrm:plugin` WIT package as this host knows it: the versions it has shipped
//! (and loads), the interfaces and worlds each has, and what a component file says
//! of itself — read from its bytes without compiling it ([`read`]).
//!
//! Compatibility (docs/plugins.md): a released version is never edited; while the
//! package is 0.x, a release that bumps the third number (0.1.0 → 0.1.1) only adds,
//! and wasmtime's linker matches a component's `scrm:plugin/log@0.1.0` with the
//! host's `@0.1.1` (semver-compatible names). A component built against a version
//! this host never shipped is refused with [`ContractError::UnknownVersion`], even
//! when its names would match: the host cannot know what it relies on.
//!
//! ```no_run
//! let bytes = std::fs::read("classifier.wasm").unwrap();
//! let info = scrm_engine::contract::read(&bytes).unwrap();
//! println!("{} (WIT {}), {} imports", info.world(), info.wit_version, info.imports.len());
//! ```

use crate::{Slot, WIT_VERSION};
use sha2::{Digest, Sha256};
use wasmparser::{Encoding, Parser, Payload};

/// The WIT package plugins are built against.
pub const PACKAGE: &str = "scrm:plugin";

/// Every version of [`PACKAGE`] this host has shipped, oldest first; it loads
/// components built against any of them. Only ever grows.
pub const SHIPPED: [&str; 3] = ["0.1.0", "0.1.1", WIT_VERSION];

/// The package's interfaces: name, the version that first shipped it, what it is.
const INTERFACES: [(&str, &str, &str); 20] = [
    ("types", "0.1.0", "shared types"),
    ("log", "0.1.0", "structured log records (a budget per call)"),
    ("config", "0.1.0", "the binding's configuration"),
    (
        "kv",
        "0.1.0",
        "the plugin's key-value store for its tenant (quotas)",
    ),
    ("clock", "0.1.0", "the host's clock"),
    (
        "secrets",
        "0.1.0",
        "HMAC keyed with a tenant secret its HTTP policy names",
    ),
    ("classify", "0.1.0", "the classifier slot"),
    ("mapping", "0.1.0", "the mapper slot"),
    ("connect", "0.1.0", "the connector slot"),
    ("respond", "0.1.0", "the responder slot"),
    ("geocode", "0.1.0", "the geocoder slot"),
    ("timers", "0.1.1", "a flow's durable timers"),
    ("profile", "0.1.1", "the event contact's profile"),
    ("commerce", "0.1.1", "order and parcel types"),
    ("orders", "0.1.1", "the event contact's orders"),
    (
        "parcels",
        "0.1.1",
        "parcel tracking through the courier slot",
    ),
    (
        "order-lookup",
        "0.1.1",
        "a connector's order lookup (optional)",
    ),
    ("automate", "0.1.1", "the flow slot"),
    ("track", "0.1.1", "the courier slot"),
    (
        "assist",
        "0.1.2",
        "a flow's drafts for agents and its model usage",
    ),
];

/// WASI packages the host links (0.2.x): with an empty context — no files,
/// environment, network or sockets — except `wasi:http`, which goes through the
/// binding's allowlist.
const WASI: [&str; 6] = ["cli", "clocks", "filesystem", "io", "random", "sockets"];

/// The interface a slot's component exports, without package or version.
pub fn slot_interface(slot: Slot) -> &'static str {
    match slot {
        Slot::Classifier => "classify",
        Slot::Mapper => "mapping",
        Slot::Connector => "connect",
        Slot::Responder => "respond",
        Slot::Geocoder => "geocode",
        Slot::Flow => "automate",
        Slot::Courier => "track",
    }
}

/// The version of [`PACKAGE`] that first shipped `slot`'s world.
pub fn since(slot: Slot) -> &'static str {
    let iface = slot_interface(slot);
    INTERFACES
        .iter()
        .find(|(name, ..)| *name == iface)
        .map_or(WIT_VERSION, |(_, since, _)| since)
}

/// Why a file is not a component this host can load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// Not WebAssembly at all.
    #[error(
        "not WebAssembly (no \\0asm header): expected a component built for wasm32-wasip2 or with `wasm-tools component new`"
    )]
    NotWasm,
    /// A core module rather than a component.
    #[error(
        "found a core module, not a component: build for wasm32-wasip2 (cargo), or wrap the module with `wasm-tools component new`"
    )]
    CoreModule,
    /// The bytes break off or are malformed.
    #[error("malformed component ({0}): rebuild it")]
    Malformed(String),
    /// It exports no slot interface of the package: another world.
    #[error(
        "it implements another world: it exports {}, none of the scrm:plugin slot interfaces ({}); build it against one of the worlds in wit/ ({})",
        list_or_nothing(.exports),
        Slot::ALL.map(slot_interface).join(", "),
        Slot::ALL.map(Slot::as_str).join(", ")
    )]
    OtherWorld {
        /// What it exports instead.
        exports: Vec<String>,
    },
    /// Built against a version of the package this host never shipped.
    #[error(
        "it was built against {PACKAGE}@{found}, a WIT version this host does not know (it loads {}): rebuild it against this host's wit/ ({PACKAGE}@{WIT_VERSION}) or upgrade scrm",
        SHIPPED.join(", ")
    )]
    UnknownVersion {
        /// The version it names.
        found: String,
    },
    /// It names several versions of the package.
    #[error("it mixes versions of {PACKAGE} ({}): rebuild it against one", .0.join(", "))]
    MixedVersions(Vec<String>),
    /// It names an interface in a version that did not have it.
    #[error(
        "it names {PACKAGE}/{interface}@{version}, but {interface} first shipped in {since}: rebuild it against this host's wit/"
    )]
    NotInVersion {
        /// The interface.
        interface: String,
        /// The version it names.
        version: String,
        /// The version that added the interface.
        since: String,
    },
}

fn list_or_nothing(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

/// An import or export of a component, with what this host makes of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Interface {
    /// Its full name, e.g. `scrm:plugin/log@0.1.1`.
    pub name: String,
    /// What it is, for an interface this host knows.
    pub about: String,
    /// False for an import this host does not provide: the component cannot be
    /// installed.
    pub provided: bool,
}

/// What a component file says of itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentInfo {
    /// Its size, bytes.
    pub size: usize,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
    /// The slot whose world it implements.
    pub slot: Slot,
    /// The version of [`PACKAGE`] it was built against.
    pub wit_version: String,
    /// Its imports, in order.
    pub imports: Vec<Interface>,
    /// Its exports, in order.
    pub exports: Vec<Interface>,
}

impl ComponentInfo {
    /// The world it implements, e.g. `scrm:plugin/classifier@0.1.0`.
    pub fn world(&self) -> String {
        format!("{PACKAGE}/{}@{}", self.slot.as_str(), self.wit_version)
    }

    /// Imports this host does not provide.
    pub fn missing(&self) -> impl Iterator<Item = &Interface> {
        self.imports.iter().filter(|i| !i.provided)
    }
}

/// Reads what a component declares: its world, the WIT version it was built
/// against, its imports and exports. Does not compile it (a malformed function body
/// is found when the host compiles it).
///
/// # Errors
/// [`ContractError`] saying why the bytes are not a component this host can load.
pub fn read(bytes: &[u8]) -> Result<ComponentInfo, ContractError> {
    if bytes.len() < 8 || bytes[..4] != *b"\0asm" {
        return Err(ContractError::NotWasm);
    }
    let (imports, exports) = top_level_names(bytes)?;
    let versions = package_versions(imports.iter().chain(&exports))?;
    let version = match versions.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        _ => return Err(ContractError::MixedVersions(versions)),
    };
    let slot = Slot::ALL
        .into_iter()
        .find(|slot| {
            exports
                .iter()
                .any(|e| split(e).is_some_and(|(iface, _)| iface == slot_interface(*slot)))
        })
        .ok_or_else(|| ContractError::OtherWorld {
            exports: exports.clone(),
        })?;
    let version = version.expect("a slot export names the package");
    if !SHIPPED.contains(&version.as_str()) {
        return Err(ContractError::UnknownVersion { found: version });
    }
    for name in imports.iter().chain(&exports) {
        check_in_version(name)?;
    }
    Ok(ComponentInfo {
        size: bytes.len(),
        sha256: hex::encode(Sha256::digest(bytes)),
        slot,
        wit_version: version,
        imports: imports.into_iter().map(|n| describe(n, true)).collect(),
        exports: exports.into_iter().map(|n| describe(n, false)).collect(),
    })
}

/// The names of the outermost component's imports and exports.
fn top_level_names(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), ContractError> {
    let malformed = |e: wasmparser::BinaryReaderError| ContractError::Malformed(e.to_string());
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } if depth == 0 => return Err(ContractError::CoreModule),
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth == 0 => break,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(s) if depth == 0 => {
                for import in s {
                    imports.push(import.map_err(malformed)?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(s) if depth == 0 => {
                for export in s {
                    exports.push(export.map_err(malformed)?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

/// `scrm:plugin/NAME@VERSION` → `(NAME, VERSION)` ("" for no version).
fn split(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    Some(rest.split_once('@').unwrap_or((rest, "")))
}

/// The distinct versions of the package the names use, in order.
fn package_versions<'a>(
    names: impl Iterator<Item = &'a String>,
) -> Result<Vec<String>, ContractError> {
    let mut versions: Vec<String> = Vec::new();
    for (_, version) in names.filter_map(|n| split(n)) {
        if version.is_empty() {
            return Err(ContractError::UnknownVersion {
                found: "(no version)".into(),
            });
        }
        if !versions.iter().any(|v| v == version) {
            versions.push(version.to_string());
        }
    }
    Ok(versions)
}

/// Refuses a package interface named in a version that did not have it.
fn check_in_version(name: &str) -> Result<(), ContractError> {
    let Some((iface, version)) = split(name) else {
        return Ok(());
    };
    let Some((_, since, _)) = INTERFACES.iter().find(|(n, ..)| *n == iface) else {
        // Unknown to every version: reported as not provided.
        return Ok(());
    };
    if version_key(version) < version_key(since) {
        return Err(ContractError::NotInVersion {
            interface: iface.to_string(),
            version: version.to_string(),
            since: since.to_string(),
        });
    }
    Ok(())
}

/// A version's numbers, for ordering.
fn version_key(v: &str) -> Vec<u64> {
    v.split(['.', '-', '+'])
        .map(|n| n.parse().unwrap_or(0))
        .collect()
}

/// What this host makes of the interface `name`.
fn describe(name: String, import: bool) -> Interface {
    let (about, provided) = if let Some((iface, _)) = split(&name) {
        match INTERFACES.iter().find(|(n, ..)| *n == iface) {
            Some((_, _, about)) => (about.to_string(), true),
            None => (format!("not part of {PACKAGE}"), false),
        }
    } else if let Some(rest) = name.strip_prefix("wasi:") {
        let (package, version) = rest
            .split_once('/')
            .map(|(p, i)| (p, i.split_once('@').map_or("", |(_, v)| v)))
            .unwrap_or((rest, ""));
        let known = version.starts_with("0.2.");
        match package {
            "http" if known => ("outbound HTTP through the binding's allowlist".into(), true),
            p if known && WASI.contains(&p) => (
                "WASI, empty context (no files, environment or network)".into(),
                true,
            ),
            _ => ("a WASI interface this host does not link".into(), false),
        }
    } else {
        ("not an interface this host provides".into(), false)
    };
    Interface {
        name,
        about,
        provided: provided || !import,
    }
}

/// Every world this host supports, for error messages.
pub fn supported_worlds() -> String {
    Slot::ALL.map(Slot::world).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bytes_that_are_not_a_component() {
        assert_eq!(read(b"definitely not wasm"), Err(ContractError::NotWasm));
        assert_eq!(read(b"\0asm\x01\0\0\0"), Err(ContractError::CoreModule));
        assert!(matches!(
            read(b"\0asm\x0d\0\x01\0\x0b\xff"),
            Err(ContractError::Malformed(_))
        ));
    }

    #[test]
    fn an_empty_component_is_another_world() {
        let err = read(b"\0asm\x0d\0\x01\0").unwrap_err();
        assert_eq!(err, ContractError::OtherWorld { exports: vec![] });
        assert!(err.to_string().contains("it exports nothing"), "{err}");
    }

    #[test]
    fn versions_are_checked_against_the_shipped_list() {
        let names = |v: &str| {
            vec![
                format!("scrm:plugin/log@{v}"),
                format!("scrm:plugin/classify@{v}"),
            ]
        };
        assert_eq!(package_versions(names("0.1.0").iter()).unwrap(), ["0.1.0"]);
        let mixed: Vec<String> = names("0.1.0").into_iter().chain(names("0.2.0")).collect();
        assert_eq!(package_versions(mixed.iter()).unwrap(), ["0.1.0", "0.2.0"]);
        assert!(check_in_version("scrm:plugin/automate@0.1.0").is_err());
        assert!(check_in_version("scrm:plugin/automate@0.1.1").is_ok());
        assert!(check_in_version("scrm:plugin/classify@0.1.0").is_ok());
    }

    #[test]
    fn imports_the_host_does_not_link_are_marked() {
        assert!(describe("scrm:plugin/kv@0.1.0".into(), true).provided);
        assert!(describe("wasi:http/outgoing-handler@0.2.12".into(), true).provided);
        assert!(describe("wasi:cli/environment@0.2.6".into(), true).provided);
        assert!(!describe("wasi:keyvalue/store@0.2.0-draft".into(), true).provided);
        assert!(!describe("wasi:cli/environment@0.3.0".into(), true).provided);
        assert!(!describe("acme:thing/api@1.0.0".into(), true).provided);
    }

    #[test]
    fn every_slot_has_an_interface_with_a_version() {
        for slot in Slot::ALL {
            assert!(SHIPPED.contains(&since(slot)), "{slot:?}");
            assert_eq!(
                slot.export(),
                format!("{PACKAGE}/{}@{WIT_VERSION}", slot_interface(slot))
            );
        }
        assert_eq!(since(Slot::Flow), "0.1.1");
        assert_eq!(since(Slot::Classifier), "0.1.0");
    }
}
