//! `scrm plugin test` through the real `scrm` binary: every reference classifier,
//! responder and mapper, and every reference connector (HubSpot, Zoho, Salesforce,
//! Tryton) against the suite's local CRM speaking its API (`--crm`), passes its
//! world's conformance checks (the Rust ones built from
//! `plugins/` and `tests/compat/`, the JavaScript and Python keyword classifiers
//! built from source); a classifier with one deliberate defect
//! (`tests/guests/broken-classifier`) fails exactly the check its defect breaks,
//! with exit code 1; and what is not a component of a world with checks, or a
//! configuration the plugin rejects, stops the command with one line. The project
//! scaffolds of `scrm plugin new` are checked where they are built
//! (`plugin_new.rs`).
//!
//! Run alone with `cargo build -p scrm --bin scrm && cargo test -p scrm-e2e --test
//! plugin_test`.

use scrm_e2e::fleet::scrm_binary;
use scrm_e2e::{fixture, guest, polyglot, repo_root};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a run of `scrm plugin test` printed.
#[derive(Debug)]
struct Tested {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Tested {
    /// The check lines: (passed, name, detail).
    fn checks(&self) -> Vec<(bool, String, String)> {
        self.stdout
            .lines()
            .filter_map(|l| {
                let (mark, rest) = l.split_once(' ')?;
                let passed = match mark {
                    "PASS" => true,
                    "FAIL" => false,
                    _ => return None,
                };
                let (name, detail) = rest.split_once(": ")?;
                Some((passed, name.to_string(), detail.to_string()))
            })
            .collect()
    }

    fn failed(&self) -> Vec<String> {
        self.checks()
            .into_iter()
            .filter(|c| !c.0)
            .map(|c| c.1)
            .collect()
    }

    fn detail(&self, name: &str) -> String {
        self.checks()
            .into_iter()
            .find(|c| c.1 == name)
            .unwrap_or_else(|| panic!("no check {name}: {}", self.stdout))
            .2
    }

    /// Asserts every check passed, with the closing count and exit code 0.
    fn assert_all_pass(&self, what: &str) {
        let checks = self.checks();
        assert_eq!(self.code, 0, "{what}:\n{}\n{}", self.stdout, self.stderr);
        assert!(self.failed().is_empty(), "{what}: {}", self.stdout);
        assert!(checks.len() >= 20, "{what}: {}", self.stdout);
        let summary = format!("{} passed, 0 failed", checks.len());
        assert_eq!(self.stdout.lines().last(), Some(summary.as_str()), "{what}");
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Runs `scrm plugin test WASM ARGS`, with `config` (if any) in a file.
fn plugin_test(wasm: &Path, config: Option<&[u8]>, args: &[&str]) -> Tested {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(scrm_binary().expect("the scrm binary"));
    cmd.args(["plugin", "test", path(wasm)]).args(args);
    if let Some(config) = config {
        let file = dir.path().join("config");
        std::fs::write(&file, config).unwrap();
        cmd.arg("--config").arg(file);
    }
    let out = cmd
        // The compile cache every test host uses (compiled once per component).
        .env(
            "SCRM_COMPILE_CACHE_DIR",
            repo_root().join("target/compile-cache"),
        )
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run scrm");
    Tested {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const KEYWORD_RULES: &[u8] =
    b"defaults = true\n[[rules]]\ntag = \"color-question\"\nkeywords = [\"another color\"]\n";

#[test]
fn every_reference_rust_classifier_responder_and_mapper_passes() {
    let responder_rules = br#"
[[rules]]
when_keywords = ["color", "order"]
reply = "Red and blue"
tag = "faq"
once_per_conversation = true
[[rules]]
when_keywords = ["parcel"]
template = { name = "order_update", language = "en_US", parameters = ["soon"] }
assign = "sales"
"#;
    let mapper_config = br#"
contact_object = "party"
required = ["phone", "name"]
satisfaction_field = "satisfaction"
[defaults]
customer_level = "New customer"
[products]
"iPhone15 Pro Max" = "APL-IP15PM"
[facts]
intent = "last_intent"
tags = "whatsapp_tags"
"#;
    let cases: [(&str, Option<&[u8]>); 8] = [
        ("keyword-classifier", None),
        ("keyword-classifier", Some(KEYWORD_RULES)),
        ("rule-responder", Some(responder_rules)),
        (
            "compat-classifier-0-1-0",
            Some(b"price: pricing\nrefund: complaint\n"),
        ),
        ("compat-responder-0-1-0", Some(b"hours: 9 to 5")),
        ("intent-classifier", Some(&intent_model())),
        ("crm-mapper", None),
        ("crm-mapper", Some(mapper_config)),
    ];
    for (package, config) in cases {
        let r = plugin_test(&guest(package), config, &[]);
        r.assert_all_pass(package);
        let types = r.detail("message text");
        assert!(
            types.ends_with("calls answered (text_message.json, text_message_from_click_to_whatsapp_ad.json, text_message_with_context_product_inquiry.json)"),
            "{package}: {types}"
        );
        for check in [
            "message audio",
            "input emoji-only",
            "input huge",
            "deterministic",
        ] {
            r.detail(check);
        }
        let limits = r.detail("limits");
        assert!(
            limits.contains("of 200 ms (")
                && limits.contains("of 2,000,000,000 (")
                && limits.contains("of 64.0 MiB ("),
            "{package}: {limits}"
        );
    }
    // The responder's answers were checked as the outbox would send them.
    let r = plugin_test(&guest("rule-responder"), Some(responder_rules), &[]);
    let actions = r.detail("output actions");
    assert!(!actions.contains(" 0 actions"), "{actions}");
    // A mapper also gets every CRM record shape, and its records are checked.
    let r = plugin_test(&guest("crm-mapper"), Some(mapper_config), &[]);
    for check in [
        "record contact",
        "record value-types",
        "record no-id",
        "record hostile-values",
        "output records",
        "output changes",
    ] {
        r.detail(check);
    }
    // WIT 0.1.0 components are told apart from current ones.
    let r = plugin_test(&guest("compat-classifier-0-1-0"), Some(b"x: y"), &[]);
    assert!(r.detail("world").contains("@0.1.0"), "{}", r.stdout);
}

/// The intent classifier's model (its configuration), trained by `scrm classifier
/// train` on the Bitext fixture.
fn intent_model() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.bin");
    let data = repo_root().join("../shared/fixtures/intents/bitext-train.csv");
    let status = Command::new(scrm_binary().unwrap())
        .args([
            "classifier",
            "train",
            "--data",
            path(&data),
            "--out",
            path(&out),
        ])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    std::fs::read(out).unwrap()
}

/// The check lines of a connector's run, in order.
const CONNECTOR_CHECKS: [&str; 12] = [
    "loads",
    "world",
    "connector create",
    "connector update",
    "connector read",
    "connector pull",
    "connector lookup",
    "connector webhook",
    "connector retry",
    "connector credentials",
    "connector errors",
    "limits",
];

/// Asserts a connector's run passed every connector check against `crm`.
fn assert_connector_passes(r: &Tested, crm: &str) {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let names: Vec<String> = r.checks().into_iter().map(|c| c.1).collect();
    assert_eq!(names, CONNECTOR_CHECKS, "{}", r.stdout);
    assert!(r.failed().is_empty(), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("local CRM: {crm} ")),
        "{}",
        r.stdout
    );
}

#[test]
fn the_hubspot_connector_passes_against_the_local_crm_and_with_its_own_config() {
    let wasm = guest("hubspot-connector");
    let own = br#"base_url = "https://api.hubapi.com"
pull_properties = ["hs_lead_status"]
owner_id = "123456"
"#;
    for config in [None, Some(&own[..])] {
        assert_connector_passes(&plugin_test(&wasm, config, &[]), "hubspot");
    }
    let explicit = plugin_test(&wasm, None, &["--crm", "hubspot"]);
    assert_connector_passes(&explicit, "hubspot");
    // A configuration the connector cannot use stops the checks in one line.
    let r = plugin_test(&wasm, Some(b"page_size = 0"), &[]);
    assert_one_line_error(&r, &["the plugin rejects its configuration", "page_size"]);
}

/// Every other reference connector, its flavour of local CRM, and a configuration
/// of its own (the checks point its address and webhook keys at the local CRM).
const CONNECTORS: [(&str, &str, &[u8]); 3] = [
    (
        "zoho-connector",
        "zoho",
        // Pages of 3: the pull check reads its contacts over several pages. (With 2,
        // a page holding a contact of the current, unsettled second ends the pull
        // until Zoho's clock passes it, and the change behind it waits for the next
        // pull: the connector's cursor design, see plugins/zoho-connector/src/cursor.rs.)
        b"api_domain = \"https://www.zohoapis.eu\"\npull_fields = [\"Email\"]\npage_size = 3\n",
    ),
    (
        "salesforce-connector",
        "salesforce",
        b"instance_url = \"https://acme.my.salesforce.com\"\norganization_id = \"00D5g000004ScrmEAA\"\ncontact_fields = [\"Email\"]\n",
    ),
    (
        "tryton-connector",
        "tryton",
        b"url = \"https://erp.example.com\"\ndb = \"sales\"\npage_size = 2\n",
    ),
];

#[test]
fn the_zoho_salesforce_and_tryton_connectors_pass_against_a_local_crm_speaking_their_api() {
    for (plugin, crm, own) in CONNECTORS {
        let wasm = guest(plugin);
        for config in [None, Some(own)] {
            let r = plugin_test(&wasm, config, &["--crm", crm]);
            assert_connector_passes(&r, crm);
        }
        // The component's name makes the flavour obvious.
        assert_connector_passes(&plugin_test(&wasm, None, &[]), crm);
    }
    let tryton = plugin_test(&guest("tryton-connector"), None, &["--crm", "tryton"]);
    assert!(
        tryton
            .detail("connector webhook")
            .contains("not offered by this CRM"),
        "{}",
        tryton.stdout
    );
}

#[test]
fn a_connector_checked_against_another_crms_api_stops_and_an_unknown_crm_is_refused() {
    let zoho = guest("zoho-connector");
    // Its configuration has no keys of HubSpot's connector: it says so, and names --crm.
    assert_one_line_error(
        &plugin_test(&zoho, None, &["--crm", "hubspot"]),
        &[
            "the plugin rejects its configuration",
            "base_url",
            "local hubspot CRM",
            "--crm",
        ],
    );
    assert_one_line_error(
        &plugin_test(&zoho, None, &["--crm", "pipedrive"]),
        &["--crm", "pipedrive", "hubspot, zoho, salesforce, tryton"],
    );
}

#[test]
fn the_javascript_and_python_keyword_classifiers_pass() {
    for (lang, wasm) in [
        ("js", polyglot::js_guest()),
        ("python", polyglot::py_guest()),
    ] {
        plugin_test(&wasm, Some(KEYWORD_RULES), &[]).assert_all_pass(lang);
    }
}

#[test]
fn a_broken_classifier_fails_exactly_the_check_its_defect_breaks() {
    let wasm = guest("broken-classifier");
    plugin_test(&wasm, Some(b"defect = \"none\""), &[]).assert_all_pass("no defect");
    for (defect, check, says) in [
        ("empty-tag", "output tags", "tag 2 \"\" is empty"),
        ("emoji-trap", "input emoji-only", "plugin_trap"),
        ("random", "deterministic", "tags[1] was"),
        (
            "confidence",
            "output intent",
            "confidence 1.5 is outside [0, 1]",
        ),
    ] {
        let config = format!("defect = \"{defect}\"");
        let r = plugin_test(&wasm, Some(config.as_bytes()), &[]);
        assert_eq!(r.code, 1, "{defect}: {}", r.stdout);
        assert_eq!(r.failed(), [check], "{defect}: {}", r.stdout);
        assert!(
            r.detail(check).contains(says),
            "{defect}: {}",
            r.detail(check)
        );
        let total = r.checks().len();
        assert_eq!(
            r.stdout.lines().last(),
            Some(format!("{} passed, 1 failed", total - 1).as_str())
        );
        assert_eq!(
            r.stderr.trim(),
            format!("error: 1 of {total} checks failed: {check}")
        );
    }
}

#[test]
fn own_webhook_payloads_join_the_message_checks_and_json_reports_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mine = String::from_utf8(fixture("text_message")).unwrap().replace(
        "Does it come in another color?",
        "Voglio acquistare il prodotto A",
    );
    std::fs::write(dir.path().join("mine.json"), mine).unwrap();
    let wasm = guest("keyword-classifier");
    let r = plugin_test(&wasm, None, &["--fixtures", path(dir.path())]);
    r.assert_all_pass("with --fixtures");
    let text = r.detail("message text");
    assert!(
        text.starts_with("4 calls answered") && text.contains("mine.json"),
        "{text}"
    );

    let r = plugin_test(&wasm, None, &["--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["world"], "scrm:plugin/classifier@0.1.2");
    assert_eq!(v["failed"], 0);
    assert_eq!(v["passed"], v["checks"].as_array().unwrap().len());
    assert!(v["most_used"]["fuel"].as_u64().unwrap() > 0, "{v}");
}

/// Asserts the command stopped with exit code 1 and one line naming every needle.
fn assert_one_line_error(r: &Tested, needles: &[&str]) {
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", r.stderr);
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} in {}", lines[0]);
    }
    assert!(r.stdout.is_empty(), "no checks ran: {}", r.stdout);
}

fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn what_cannot_be_tested_stops_with_one_line_saying_which_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let classifier = guest("keyword-classifier");
    let notes = file(dir.path(), "notes.wasm", b"just some notes");
    assert_one_line_error(
        &plugin_test(&notes, None, &[]),
        &["notes.wasm", "not WebAssembly", "wasm32-wasip2"],
    );
    let core = file(dir.path(), "core.wasm", b"\0asm\x01\0\0\0");
    assert_one_line_error(
        &plugin_test(&core, None, &[]),
        &[
            "core.wasm",
            "core module, not a component",
            "wasm-tools component new",
        ],
    );
    let empty = file(dir.path(), "empty.wasm", b"\0asm\x0d\0\x01\0");
    assert_one_line_error(
        &plugin_test(&empty, None, &[]),
        &[
            "empty.wasm",
            "another world",
            "build it against one of the worlds",
        ],
    );
    let bytes = std::fs::read(&classifier).unwrap();
    let future = file(
        dir.path(),
        "future.wasm",
        &replace(&bytes, b"@0.1.2", b"@0.9.1"),
    );
    assert_one_line_error(
        &plugin_test(&future, None, &[]),
        &[
            "future.wasm",
            "scrm:plugin@0.9.1",
            "does not know",
            "rebuild it",
        ],
    );
    assert_one_line_error(
        &plugin_test(&classifier, None, &["--world", "responder"]),
        &[
            "implements the classifier world",
            "not responder",
            "--world classifier",
        ],
    );
    assert_one_line_error(
        &plugin_test(&guest("quick-replies"), None, &[]),
        &[
            "no conformance checks for the flow world",
            "scrm plugin run",
        ],
    );
    let r = plugin_test(&classifier, Some(b"[[rules]\ntag = "), &[]);
    assert_one_line_error(
        &r,
        &[
            "config",
            "the plugin rejects its configuration",
            "fix the configuration",
        ],
    );
    let broken = plugin_test(&guest("broken-classifier"), None, &[]);
    assert_one_line_error(&broken, &["broken_classifier.wasm", "defect is required"]);
    let record = file(
        dir.path(),
        "record.json",
        br#"{"object": "contact", "fields": {}}"#,
    );
    assert_one_line_error(
        &plugin_test(&classifier, None, &["--fixtures", path(dir.path())]),
        &["record.json is not a Cloud API webhook payload"],
    );
    std::fs::remove_file(record).unwrap();
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
