//! `scrm plugin new`: writes a plugin project from the templates in `sdk/templates/`
//! (embedded in the binary, with the WIT package), so that it builds with `scrm
//! plugin build --dir` and tests with the language's own runner unchanged.

use anyhow::{Context, bail};
use include_dir::{Dir, include_dir};
use scrm_engine::build::{js, python};
use std::path::{Path, PathBuf};

static TEMPLATES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../sdk/templates");
static WIT: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../wit");

/// The SDK of the source tree this binary was built from.
const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk");

/// A project's language.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with scrm's SDK.
    Rust,
    /// JavaScript, built with esbuild and componentize-js.
    Js,
    /// Python, built with componentize-py.
    Python,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Js => "js",
            Lang::Python => "python",
        }
    }
}

/// A world a project can be scaffolded for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum World {
    /// Tags, intent and priority for each inbound message.
    Classifier,
    /// CRM records for the host's contacts, messages and signals, and contact
    /// changes for CRM records.
    Mapper,
    /// Talks to the tenant's CRM over HTTP (the template speaks HubSpot's CRM v3 API).
    Connector,
    /// Actions (replies, templates, tags, assignments) for each inbound message.
    Responder,
}

impl World {
    fn name(self) -> &'static str {
        match self {
            World::Classifier => "classifier",
            World::Mapper => "mapper",
            World::Connector => "connector",
            World::Responder => "responder",
        }
    }
}

/// What `scrm plugin new` was asked for.
pub struct NewProject {
    /// The project's name: lowercase letters, digits and `-`, starting with a letter.
    pub name: String,
    pub world: World,
    pub lang: Lang,
    /// Where to write it [default: `./NAME`]; must not exist or be empty.
    pub dir: Option<PathBuf>,
    /// Rust: the SDK to depend on, by path [default: the SDK of the source tree the
    /// binary was built from, when it is there; else the published version].
    pub sdk: Option<PathBuf>,
}

/// Writes the project; its directory and the files written, in order.
///
/// # Errors
/// A bad name, a directory that is not empty, or a file that cannot be written.
pub fn write(p: &NewProject) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    check_name(&p.name)?;
    let dir = p.dir.clone().unwrap_or_else(|| PathBuf::from(&p.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} exists and is not empty: name another directory with --dir",
            dir.display()
        );
    }
    let template = format!("{}/{}", p.lang.dir(), p.world.name());
    let Some(files) = TEMPLATES.get_dir(&template) else {
        bail!("no {template} template in this build");
    };
    let vars = variables(p)?;
    let mut written = Vec::new();
    write_dir(files, Path::new(&template), &dir, &vars, &mut written)?;
    if !matches!(p.lang, Lang::Rust) {
        write_wit(&WIT, &dir.join("wit"), &mut written)?;
    }
    Ok((dir, written))
}

/// Names cargo, npm and Python all accept, and that are safe in a path.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !ok {
        bail!(
            "invalid plugin name {name:?}: use lowercase letters, digits and '-', starting with a letter (e.g. my-classifier)"
        );
    }
    Ok(())
}

fn variables(p: &NewProject) -> anyhow::Result<Vec<(&'static str, String)>> {
    let sdk = match (&p.sdk, Path::new(SDK_DIR).join("Cargo.toml").is_file()) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => Some(PathBuf::from(SDK_DIR)),
        (None, false) => None,
    };
    let sdk = match sdk {
        Some(path) => {
            let path = path
                .canonicalize()
                .with_context(|| format!("the SDK at {}", path.display()))?;
            format!("{{ path = {:?} }}", path.display().to_string())
        }
        None => format!("\"{}\"", env!("CARGO_PKG_VERSION")),
    };
    Ok(vec![
        ("name", p.name.clone()),
        ("crate", p.name.replace('-', "_")),
        ("world", p.world.name().to_owned()),
        ("wit_version", scrm_engine::WIT_VERSION.to_owned()),
        ("sdk", sdk),
        ("componentize_js", js::COMPONENTIZE_JS.to_owned()),
        ("preview2_shim", js::PREVIEW2_SHIM.to_owned()),
        ("esbuild", js::ESBUILD.to_owned()),
        ("componentize_py", python::COMPONENTIZE_PY.to_owned()),
    ])
}

/// Writes the template directory `from` (at `prefix` in the templates) into `to`.
fn write_dir(
    from: &Dir<'_>,
    prefix: &Path,
    to: &Path,
    vars: &[(&str, String)],
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    for file in from.files() {
        let rel = file.path().strip_prefix(prefix).unwrap_or(file.path());
        let mut path = to.join(rel);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let renamed = match name.strip_suffix(".tmpl") {
            Some(base) => Some(base.to_owned()),
            None => name.strip_prefix('_').map(|rest| format!(".{rest}")),
        };
        if let Some(renamed) = renamed {
            path.set_file_name(renamed);
        }
        let text = file
            .contents_utf8()
            .with_context(|| format!("template {} is not UTF-8", file.path().display()))?;
        let mut out = text.to_owned();
        for (key, value) in vars {
            out = out.replace(&format!("{{{{{key}}}}}"), value);
        }
        create(&path, out.as_bytes())?;
        written.push(path);
    }
    for sub in from.dirs() {
        write_dir(sub, prefix, to, vars, written)?;
    }
    Ok(())
}

/// Writes the WIT package (`wit/` with its `deps/`) into `to`.
fn write_wit(from: &Dir<'_>, to: &Path, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for file in from.files() {
        let path = to.join(file.path());
        create(&path, file.contents())?;
        written.push(path);
    }
    for sub in from.dirs() {
        write_wit(sub, to, written)?;
    }
    Ok(())
}

fn create(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("write {}", path.display()))
}
