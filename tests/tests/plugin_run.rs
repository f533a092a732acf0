//! `scrm plugin run` and `scrm plugin inspect` through the real `scrm` binary, on
//! reference plugins built from `plugins/` and the real Cloud API payloads in
//! `../shared/fixtures/webhooks`: results with their fuel, memory and time against
//! the limits, limits hit as in production, and every bad input refused with one
//! line and exit code 1.
//!
//! Run alone with `cargo build -p scrm --bin scrm && cargo test -p scrm-e2e --test
//! plugin_run` (`cargo test --workspace` builds the binary itself).

use scrm_e2e::fleet::scrm_binary;
use scrm_e2e::{fixtures_dir, guest, repo_root};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a run of `scrm` left: exit code, standard output, standard error.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The JSON lines of `--json`.
    fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The calls made (not the skipped steps).
    fn calls(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["call"] != "skip")
            .collect()
    }
}

/// Runs `scrm ARGS` with `stdin` on its standard input.
fn scrm_with(args: &[&str], stdin: &[u8]) -> Ran {
    let mut child = Command::new(scrm_binary().expect("the scrm binary"))
        .args(args)
        // The compile cache every test host uses (compiled once per component).
        .env(
            "SCRM_COMPILE_CACHE_DIR",
            repo_root().join("target/compile-cache"),
        )
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scrm");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().expect("wait for scrm");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn scrm(args: &[&str]) -> Ran {
    scrm_with(args, b"")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Writes `text` to `name` in `dir`; its path.
fn file(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Asserts the run failed with exit code 1 and one line on standard error that
/// contains every one of `needles`.
fn assert_one_line_error(r: &Ran, needles: &[&str]) {
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", r.stderr);
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} in {}", lines[0]);
    }
}

/// Every message event in the shared fixtures, by scrm-wire's own parser.
fn fixture_messages() -> usize {
    std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let body = std::fs::read(&p).unwrap();
            scrm_wire::payload::parse(&body)
                .unwrap()
                .events()
                .iter()
                .filter(|e| matches!(e, scrm_wire::payload::Event::Message(_)))
                .count()
        })
        .sum()
}

#[test]
fn run_classifies_every_message_of_the_shared_webhook_fixtures_within_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let config = file(
        dir.path(),
        "rules.toml",
        b"defaults = true\n[[rules]]\ntag = \"color-question\"\nkeywords = [\"another color\"]\n",
    );
    let wasm = guest("keyword-classifier");
    let r = scrm(&[
        "plugin",
        "run",
        path(&wasm),
        "--config",
        path(&config),
        "--fixtures",
        path(&fixtures_dir()),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let calls = r.calls();
    assert_eq!(calls.len(), fixture_messages(), "{}", r.stdout);
    for c in &calls {
        assert_eq!(c["call"], "classify", "{c}");
        assert_eq!(c["ok"], true, "{c}");
        let u = &c["usage"];
        let fuel = u["fuel"].as_u64().unwrap();
        assert!(
            fuel > 1_000 && fuel < u["fuel_limit"].as_u64().unwrap(),
            "{u}"
        );
        let peak = u["peak_memory"].as_u64().unwrap();
        assert!(
            peak >= 64 << 10 && peak <= u["memory_limit"].as_u64().unwrap(),
            "{u}"
        );
        assert!(u["wall_ms"].as_f64().unwrap() > 0.0, "{u}");
        assert_eq!(u["deadline_ms"], 200);
    }
    // The configured rule, on the fixture that asks for another colour.
    let text = calls
        .iter()
        .find(|c| c["input"].as_str().unwrap().ends_with("/text_message.json"))
        .unwrap();
    assert_eq!(
        text["result"]["tags"],
        serde_json::json!(["color-question"])
    );
    assert!(
        text["subject"]
            .as_str()
            .unwrap()
            .contains("from +16505551234")
    );
    // Group notifications reach no plugin, and say so.
    let skipped: Vec<Value> = r
        .lines()
        .into_iter()
        .filter(|l| l["call"] == "skip")
        .collect();
    assert!(
        skipped
            .iter()
            .any(|s| s["input"].as_str().unwrap().contains("group_create"))
    );
}

#[test]
fn run_hands_messages_to_responders_and_messages_and_records_to_mappers() {
    let dir = tempfile::tempdir().unwrap();
    let text = fixtures_dir().join("text_message.json");
    let rules = file(
        dir.path(),
        "rules.json",
        br#"{"rules": [{"when_keywords": ["color"], "reply": "Red and blue", "tag": "faq"}]}"#,
    );
    let r = scrm(&[
        "plugin",
        "run",
        path(&guest("rule-responder")),
        "--config",
        path(&rules),
        "--input",
        path(&text),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let actions = &r.calls()[0]["result"];
    assert!(
        actions
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"type": "reply", "text": "Red and blue"})),
        "{actions}"
    );

    // A message reaches a mapper as the CRM sync hands it over: the sender's
    // record (its number in E.164, by the pipeline's rules), then the message's.
    let mapper = guest("crm-mapper");
    let r = scrm(&[
        "plugin",
        "run",
        path(&mapper),
        "--input",
        path(&text),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let calls = r.calls();
    assert_eq!(calls[0]["call"], "contact-to-crm");
    let fields = calls[0]["result"]["record"]["fields"].to_string();
    assert!(fields.contains(r#"["phone","+16505551234"]"#), "{fields}");
    assert_eq!(calls[1]["call"], "message-to-crm");
    assert!(
        calls[1]["result"]
            .to_string()
            .contains("Does it come in another color?")
    );

    // A CRM record, from standard input.
    let record = br#"{"object": "contact", "id": "C-9", "fields": {"name": "Sheena N.", "phone": "+1 650 555 1234"}}"#;
    let r = scrm_with(
        &["plugin", "run", path(&mapper), "--input", "-", "--json"],
        record,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let c = &r.calls()[0];
    assert_eq!(c["call"], "crm-to-contact");
    assert_eq!(c["subject"], "contact C-9");
    assert_eq!(c["result"]["name"], "Sheena N.");
}

#[test]
fn run_enforces_and_reports_the_production_limits() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest("hostile-classifier");
    let text = fixtures_dir().join("text_message.json");
    let run = |behaviour: &str, extra: &[&str]| {
        let config = file(
            dir.path(),
            "h.toml",
            format!("behaviour = \"{behaviour}\"").as_bytes(),
        );
        let mut args = vec!["plugin", "run", path(&wasm), "--config", path(&config)];
        args.extend(["--input", path(&text), "--json"]);
        args.extend(extra);
        scrm(&args)
    };
    let ok = run("ok", &[]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let used = ok.calls()[0]["usage"]["fuel"].as_u64().unwrap();

    // Fuel is what the call really used: half of it is not enough, twice is.
    let half = (used / 2).to_string();
    let starved = run("ok", &["--fuel", &half]);
    assert_eq!(starved.code, 1);
    assert_eq!(starved.calls()[0]["error"]["code"], "plugin_fuel_exhausted");
    assert_eq!(starved.stderr.trim(), "error: 1 of 1 calls failed");
    let twice = (used * 2).to_string();
    assert_eq!(run("ok", &["--fuel", &twice]).code, 0);

    let bomb = run("memory-bomb", &["--memory-mib", "16"]);
    assert_eq!(bomb.code, 1);
    let c = &bomb.calls()[0];
    assert_eq!(c["error"]["code"], "plugin_memory_cap", "{c}");
    assert_eq!(c["usage"]["memory_limit"], 16 << 20);
    assert!(c["usage"]["peak_memory"].as_u64().unwrap() > 8 << 20, "{c}");

    let spin = run("loop", &["--deadline-ms", "20", "--fuel", "1000000000000"]);
    let c = &spin.calls()[0];
    assert_eq!(c["error"]["code"], "plugin_timeout", "{c}");
    assert!(c["usage"]["wall_ms"].as_f64().unwrap() >= 20.0, "{c}");
}

#[test]
fn inspect_shows_world_version_imports_and_size() {
    let wasm = guest("keyword-classifier");
    let bytes = std::fs::read(&wasm).unwrap();
    let r = scrm(&["plugin", "inspect", path(&wasm), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["world"], "scrm:plugin/classifier@0.1.2");
    assert_eq!(v["wit_version"], "0.1.2");
    assert_eq!(v["size"], bytes.len());
    assert_eq!(v["exports"][0]["name"], "scrm:plugin/classify@0.1.2");
    let imports: Vec<&str> = v["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(imports.contains(&"scrm:plugin/config@0.1.2"), "{imports:?}");
    assert!(
        v["imports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["provided"] == true)
    );
    let text = scrm(&["plugin", "inspect", path(&wasm)]);
    assert!(
        text.stdout
            .contains("world    scrm:plugin/classifier@0.1.2 (slot classifier)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains(&format!("size     {}", thousands(bytes.len()))),
        "{}",
        text.stdout
    );
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn bad_inputs_fail_in_one_line_that_says_which_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let text = fixtures_dir().join("text_message.json");
    let classifier = guest("keyword-classifier");
    let notes = file(dir.path(), "notes.wasm", b"just some notes");
    let core = file(dir.path(), "core.wasm", b"\0asm\x01\0\0\0");
    // The empty component: valid, of a world that exports nothing.
    let empty = file(dir.path(), "empty.wasm", b"\0asm\x0d\0\x01\0");
    // The same classifier as if built against a WIT version this host never shipped.
    let future = String::from_utf8_lossy(&std::fs::read(&classifier).unwrap()).contains("@0.1.2");
    assert!(future, "the component names its WIT version");
    let patched = replace(&std::fs::read(&classifier).unwrap(), b"@0.1.2", b"@0.9.1");
    let future = file(dir.path(), "future.wasm", &patched);
    for cmd in ["run", "inspect"] {
        let with = |wasm: &Path| {
            let mut args = vec!["plugin", cmd, path(wasm)];
            if cmd == "run" {
                args.extend(["--input", path(&text)]);
            }
            scrm(&args)
        };
        assert_one_line_error(&with(&notes), &["notes.wasm", "not WebAssembly"]);
        assert_one_line_error(&with(&core), &["core.wasm", "core module, not a component"]);
        assert_one_line_error(
            &with(&empty),
            &["empty.wasm", "another world", "exports nothing"],
        );
        assert_one_line_error(
            &with(&future),
            &[
                "future.wasm",
                "scrm:plugin@0.9.1",
                "does not know",
                "loads 0.1.0, 0.1.1, 0.1.2",
            ],
        );
    }

    // A configuration the plugin rejects: named, with the plugin's reason.
    let broken = file(dir.path(), "broken.toml", b"[[rules]\ntag = ");
    let r = scrm(&[
        "plugin",
        "run",
        path(&classifier),
        "--config",
        path(&broken),
        "--input",
        path(&text),
    ]);
    assert_one_line_error(&r, &["broken.toml", "the plugin rejects its configuration"]);

    // An input the slot does not take.
    let record = file(
        dir.path(),
        "record.json",
        br#"{"object": "contact", "fields": {}}"#,
    );
    let r = scrm(&["plugin", "run", path(&classifier), "--input", path(&record)]);
    assert_one_line_error(
        &r,
        &[
            "record.json",
            "a classifier runs on webhook payloads, not a CRM record",
        ],
    );
    let r = scrm(&["plugin", "run", path(&classifier)]);
    assert_one_line_error(&r, &["needs an input"]);
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "same length, so no offset moves");
    let mut out = haystack.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    out
}

/// A local stand-in for a CRM: answers 200 and remembers the Authorization headers.
async fn crm_server() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let s = s.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                s.lock().unwrap().push(auth.unwrap_or("").to_string());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn run_sends_http_through_the_binding_policy_with_secrets_from_a_file() {
    let (port, seen) = crm_server().await;
    let dir = tempfile::tempdir().unwrap();
    let local = format!("http://127.0.0.1:{port}/");
    let config = file(
        dir.path(),
        "http.toml",
        format!("behaviour = \"http\"\nurls = [\"{local}\", \"{local}\"]\n").as_bytes(),
    );
    let policy = serde_json::json!({
        "allow": ["127.0.0.1"],
        "allow_private": [format!("127.0.0.1:{port}")],
        "max_requests": 1,
        "credentials": [{"host": "127.0.0.1", "header": "authorization", "secret": "crm-token", "prefix": "Bearer "}]
    });
    let policy = file(dir.path(), "policy.json", policy.to_string().as_bytes());
    let secrets = file(
        dir.path(),
        "secrets.toml",
        b"crm-token = \"s3cr3t-token\"\n",
    );
    let wasm = guest("hostile-classifier");
    let text = fixtures_dir().join("text_message.json");
    let args = |extra: &[&Path]| -> Vec<String> {
        let mut args = vec!["plugin", "run", path(&wasm), "--config", path(&config)];
        args.extend(["--input", path(&text), "--json"]);
        if let [policy, secrets] = extra {
            args.extend(["--http", path(policy), "--secrets", path(secrets)]);
        }
        args.into_iter().map(String::from).collect()
    };
    // The command blocks; the stand-in CRM runs on this test's runtime.
    let first_call = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            scrm(&args).calls().remove(0)
        })
    };
    let with_policy = first_call(args(&[&policy, &secrets])).await.unwrap();
    // One request within the budget, with the credential added by the host; the
    // second refused by the policy and reported.
    assert_eq!(
        with_policy["result"]["tags"],
        serde_json::json!(["status-200", "http-request-denied"]),
        "{with_policy}"
    );
    let u = &with_policy["usage"];
    assert_eq!(u["http_sent"], 1, "{u}");
    assert!(
        u["http_denied"][0]
            .as_str()
            .unwrap()
            .contains("max_requests"),
        "{u}"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["Bearer s3cr3t-token".to_string()]
    );

    // Without a policy nothing leaves.
    let without = first_call(args(&[])).await.unwrap();
    assert_eq!(without["usage"]["http_sent"], 0, "{without}");
    assert_eq!(
        without["usage"]["http_denied"].as_array().unwrap().len(),
        2,
        "{without}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn run_describes_a_flow_and_hands_it_each_new_message_with_its_parameters_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest("quick-replies");
    let r = scrm(&["plugin", "run", path(&wasm), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let described = &r.calls()[0];
    assert_eq!(described["call"], "describe");
    assert_eq!(described["result"]["name"], "quick-replies");

    let body = String::from_utf8(std::fs::read(fixtures_dir().join("text_message.json")).unwrap())
        .unwrap()
        .replace(
            "Does it come in another color?",
            "How long does delivery take?",
        );
    let input = file(dir.path(), "shipping.json", body.as_bytes());
    let params = file(dir.path(), "params.json", br#"{"shipping_days": "2-4"}"#);
    let r = scrm(&[
        "plugin",
        "run",
        path(&wasm),
        "--config",
        path(&params),
        "--input",
        path(&input),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let handled = &r.calls()[0];
    assert_eq!(handled["call"], "handle");
    assert_eq!(
        handled["result"]["actions"][0]["type"], "reply",
        "{handled}"
    );

    // A parameter the flow does not have is its configuration refused.
    let bad = file(dir.path(), "bad.json", br#"{"shiping_days": "2-4"}"#);
    let r = scrm(&[
        "plugin",
        "run",
        path(&wasm),
        "--config",
        path(&bad),
        "--input",
        path(&input),
    ]);
    assert_one_line_error(
        &r,
        &["bad.json", "rejects its configuration", "shiping_days"],
    );
}
