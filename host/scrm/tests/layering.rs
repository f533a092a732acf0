//! The layering the crate split set up, checked so that the next feature cannot
//! quietly add an arrow the wrong way (docs/architecture.md):
//!
//! - the lower crates never depend on what sits above them or on the stacks they must
//!   not link (read from their manifests);
//! - inside `scrm`, the top-level modules import each other without a circle (read
//!   from the `crate::…` paths of the sources, comments left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn host() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The package names under `[dependencies]` of a manifest (not dev-dependencies).
fn dependencies(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).expect("read manifest");
    let doc: toml::Table = text.parse().expect("manifest is TOML");
    doc.get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn lower_crates_link_nothing_they_must_not() {
    let forbidden: [(&str, &[&str]); 4] = [
        (
            "analytics",
            &[
                "scrm-wire",
                "scrm-store",
                "scrm-engine",
                "scrm",
                "rusqlite",
                "postgres",
                "tokio",
                "hyper",
                "axum",
                "reqwest",
                "wasmtime",
            ],
        ),
        (
            "wire",
            &[
                "scrm-store",
                "scrm-engine",
                "scrm",
                "rusqlite",
                "tokio",
                "hyper",
                "axum",
                "reqwest",
                "wasmtime",
            ],
        ),
        (
            "store",
            &[
                "scrm-engine",
                "scrm",
                "wasmtime",
                "wasmtime-wasi",
                "hyper",
                "axum",
                "reqwest",
            ],
        ),
        (
            "engine",
            &[
                "scrm-wire",
                "scrm-store",
                "scrm",
                "rusqlite",
                "rusqlite_migration",
                "axum",
                "reqwest",
            ],
        ),
    ];
    for (dir, never) in forbidden {
        let deps = dependencies(&host().join(dir).join("Cargo.toml"));
        let found: Vec<_> = never.iter().filter(|n| deps.contains(**n)).collect();
        assert!(
            found.is_empty(),
            "host/{dir} depends on {found:?}, which docs/architecture.md forbids for it"
        );
    }
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules of `scrm` and which others each one names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = host().join("scrm/src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let top = |p: &Path| -> Option<String> {
        let first = p.strip_prefix(&src).ok()?.components().next()?;
        let name = first
            .as_os_str()
            .to_str()?
            .trim_end_matches(".rs")
            .to_string();
        (name != "lib" && name != "main").then_some(name)
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|p| top(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = top(file) else { continue };
        let text = std::fs::read_to_string(file).expect("read source");
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != from && modules.contains(&name) {
                    graph.entry(from.clone()).or_default().insert(name);
                }
            }
        }
    }
    graph
}

/// A circle through `start`, if there is one.
fn circle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut circle = path.clone();
                circle.push(start.to_string());
                return Some(circle);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

#[test]
fn scrm_modules_import_each_other_without_a_circle() {
    let graph = module_graph();
    assert!(
        graph.get("pipeline").is_some_and(|d| d.contains("outbox")),
        "the graph reader found no known arrow (pipeline → outbox); it is not reading the sources"
    );
    for module in graph.keys() {
        if let Some(circle) = circle_from(&graph, module) {
            panic!(
                "import circle between scrm's modules: {}",
                circle.join(" → ")
            );
        }
    }
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    assert_eq!(circle_from(&graph, "a"), None);
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        circle_from(&graph, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
