//! The `scrm` binary end to end: `serve` on its defaults in a fresh directory, the
//! management commands as clients of its API, `replay` of a real fixture, and
//! `migrate-store` of a served data directory into the tests' PostgreSQL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const SCRM: &str = env!("CARGO_BIN_EXE_scrm");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Server {
    child: Child,
    url: String,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `scrm serve --listen 127.0.0.1:0` in `dir` and reads the address and the
/// generated operator token from its output.
fn serve(dir: &Path) -> Server {
    let mut child = Command::new(SCRM)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("SCRM_ADMIN_TOKEN")
        .env_remove("SCRM_DATA_DIR")
        .env_remove("SCRM_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn scrm serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token) = (None, None);
    while let Some(Ok(line)) = lines.next() {
        if let Some(rest) = line.split("listening on ").nth(1) {
            url = Some(rest.trim().to_string());
        }
        if line.starts_with("  scrm_") {
            token = Some(line.trim().to_string());
        }
        if url.is_some() && token.is_some() {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        url: url.expect("listening line"),
        token: token.expect("token line"),
    }
}

fn scrm(server: &Server, args: &[&str]) -> Output {
    Command::new(SCRM)
        .args(args)
        .env("SCRM_SERVER", &server.url)
        .env("SCRM_ADMIN_TOKEN", &server.token)
        .output()
        .expect("run scrm")
}

fn ok(server: &Server, args: &[&str]) -> String {
    let out = scrm(server, args);
    assert!(
        out.status.success(),
        "scrm {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn walkthrough_serve_configure_install_replay_and_read() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(tmp.path());
    assert!(
        tmp.path().join("scrm-data/scrm.db").exists(),
        "embedded default data dir"
    );

    ok(
        &server,
        &[
            "app",
            "add",
            "--id",
            "app1",
            "--app-secret",
            "0123456789abcdef0123456789abcdef",
            "--verify-token",
            "vt",
        ],
    );
    ok(
        &server,
        &[
            "tenant",
            "add",
            "--id",
            "acme",
            "--app",
            "app1",
            "--phone-number-id",
            "106540352242922",
            "--region",
            "US",
        ],
    );
    let tenants: serde_json::Value =
        serde_json::from_str(&ok(&server, &["tenant", "list", "--json"])).unwrap();
    assert_eq!(tenants["items"][0]["id"], "acme");

    let wasm = scrm_engine::build::build_rust_plugin(
        &repo(),
        "keyword-classifier",
        "guest",
        &repo().join("target/guests"),
    )
    .unwrap();
    let config = tmp.path().join("rules.toml");
    std::fs::write(
        &config,
        "[[rules]]\ntag = \"colour-question\"\nkeywords = [\"another color\"]\n",
    )
    .unwrap();
    let out = ok(
        &server,
        &[
            "plugin",
            "install",
            "--tenant",
            "acme",
            "--slot",
            "classifier",
            "--config",
            config.to_str().unwrap(),
            wasm.to_str().unwrap(),
        ],
    );
    assert!(
        out.contains("installed keyword-classifier as classifier of tenant acme (version 1"),
        "{out}"
    );
    let plugins: serde_json::Value = serde_json::from_str(&ok(
        &server,
        &["plugin", "list", "--tenant", "acme", "--json"],
    ))
    .unwrap();
    assert_eq!(plugins["items"][0]["active"], true);

    let fixture = repo().join("../shared/fixtures/webhooks/text_message.json");
    let out = ok(
        &server,
        &["replay", "--app", "app1", fixture.to_str().unwrap()],
    );
    assert!(out.contains("accepted"), "{out}");

    // Read the tagged message back through the API.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tags = rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..500 {
            let v: serde_json::Value = http
                .get(format!("{}/v1/tenants/acme/messages", server.url))
                .bearer_auth(&server.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v["items"][0]["classifier"].is_string() {
                return v["items"][0]["tags"].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        serde_json::Value::Null
    });
    assert_eq!(tags, serde_json::json!(["colour-question"]));
}

#[test]
fn errors_have_specific_messages_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(tmp.path());
    // Refused by the server: exit 3 with the server's code and message.
    let out = scrm(
        &server,
        &[
            "tenant",
            "add",
            "--id",
            "acme",
            "--app",
            "missing",
            "--phone-number-id",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("app \"missing\" not found (not_found, HTTP 404)"),
        "{err}"
    );
    // No server there: exit 4.
    let out = Command::new(SCRM)
        .args([
            "tenant",
            "list",
            "--server",
            "http://127.0.0.1:9",
            "--token",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach http://127.0.0.1:9"));
    // Usage errors: exit 2.
    let out = Command::new(SCRM).args(["tenant", "add"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A bad config file: exit 1 naming the file and the key.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "listne = 1\n").unwrap();
    let out = Command::new(SCRM)
        .args(["serve", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("unknown field `listne`"),
        "{err}"
    );
}

#[test]
fn send_queues_through_the_outbox_and_refusals_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(tmp.path());
    ok(
        &server,
        &[
            "app",
            "add",
            "--id",
            "app1",
            "--app-secret",
            "s3cret-s3cret",
            "--verify-token",
            "v",
        ],
    );
    ok(
        &server,
        &[
            "tenant",
            "add",
            "--id",
            "acme",
            "--app",
            "app1",
            "--phone-number-id",
            "100",
            "--region",
            "IT",
        ],
    );
    // Free-form text to a contact who never wrote: outside the customer-service window.
    let out = scrm(
        &server,
        &[
            "send",
            "--tenant",
            "acme",
            "--to",
            "347 123 4567",
            "--text",
            "hello",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside_service_window"));
    // A template is accepted; without an access token it waits in the outbox, not dropped.
    let queued = ok(
        &server,
        &[
            "send",
            "--tenant",
            "acme",
            "--to",
            "347 123 4567",
            "--template",
            "welcome",
            "--language",
            "it",
            "--category",
            "utility",
        ],
    );
    assert!(queued.contains("queued as outbox item 1"), "{queued}");
    let list = ok(&server, &["outbox", "list", "--tenant", "acme", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v["items"][0]["to"], "393471234567");
    assert_eq!(v["items"][0]["category"], "utility");
    // Cancelling it works once; a second time is refused.
    ok(
        &server,
        &["outbox", "cancel", "--tenant", "acme", "--id", "1"],
    );
    let out = scrm(
        &server,
        &["outbox", "cancel", "--tenant", "acme", "--id", "1"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_state"));
}

#[test]
fn crm_commands_show_settings_queue_backfill_and_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(tmp.path());
    ok(
        &server,
        &[
            "app",
            "add",
            "--id",
            "app1",
            "--app-secret",
            "0123456789abcdef0123456789abcdef",
            "--verify-token",
            "v",
        ],
    );
    ok(
        &server,
        &[
            "tenant",
            "add",
            "--id",
            "acme",
            "--app",
            "app1",
            "--phone-number-id",
            "100",
        ],
    );
    // Settings: defaults, then one value changed, the rest kept.
    let status: serde_json::Value = serde_json::from_str(&ok(
        &server,
        &["crm", "status", "--tenant", "acme", "--json"],
    ))
    .unwrap();
    assert_eq!(status["settings"]["mode"], "realtime");
    assert_eq!(status["settings"]["rate_requests"], 100);
    let set: serde_json::Value = serde_json::from_str(&ok(
        &server,
        &[
            "crm", "set", "--tenant", "acme", "--mode", "batch", "--json",
        ],
    ))
    .unwrap();
    assert_eq!(set["mode"], "batch");
    assert_eq!(set["retention_days"], 180);
    // A retention under 180 days is refused: exit 3 with the server's code.
    let out = scrm(
        &server,
        &["crm", "set", "--tenant", "acme", "--retention-days", "30"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid_crm_settings"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `scrm sync backfill` is `scrm crm backfill`: nothing stored yet, nothing queued.
    let queued = ok(
        &server,
        &[
            "sync",
            "backfill",
            "--tenant",
            "acme",
            "--days",
            "180",
            "--no-wait",
        ],
    );
    assert!(queued.contains("queued 0 of 0 messages"), "{queued}");
    // Empty review queue and dead-letter list print nothing; a pull without a
    // connector says why (409 → exit 3).
    assert_eq!(ok(&server, &["crm", "reviews", "--tenant", "acme"]), "");
    assert_eq!(
        ok(
            &server,
            &["crm", "jobs", "--tenant", "acme", "--state", "dead"]
        ),
        ""
    );
    let out = scrm(&server, &["crm", "pull", "--tenant", "acme"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("crm_not_configured"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ok(&server, &["crm", "phone-problems", "--tenant", "acme"]),
        ""
    );
}

#[test]
fn tenant_health_warns_of_a_secret_due_for_rotation_with_exit_5() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(tmp.path());
    ok(
        &server,
        &[
            "app",
            "add",
            "--id",
            "app1",
            "--app-secret",
            "0123456789abcdef0123456789abcdef",
            "--verify-token",
            "v",
        ],
    );
    ok(
        &server,
        &[
            "tenant",
            "add",
            "--id",
            "acme",
            "--app",
            "app1",
            "--phone-number-id",
            "100",
        ],
    );
    ok(
        &server,
        &[
            "secret",
            "set",
            "--tenant",
            "acme",
            "--name",
            "crm-token",
            "--value",
            "t0k",
        ],
    );
    assert_eq!(
        ok(&server, &["tenant", "health", "--tenant", "acme"]),
        "ok\n"
    );
    let listed = ok(&server, &["secret", "list", "--tenant", "acme"]);
    assert!(
        listed
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("crm-token") && l.ends_with("ok")),
        "{listed}"
    );
    // Set 40 days ago (written straight into the file the host serves).
    scrm_store::Db::open(&tmp.path().join("scrm-data/scrm.db"))
        .unwrap()
        .with_conn(|c| {
            c.execute(
                "UPDATE tenant_secrets SET updated_at = ?1",
                scrm_store::params![scrm_store::now_ms() - 40 * 86_400_000],
            )
        })
        .unwrap();
    let out = scrm(&server, &["tenant", "health", "--tenant", "acme"]);
    assert_eq!(out.status.code(), Some(5));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("secret_due_for_rotation") && text.contains("crm-token"),
        "{text}"
    );
    let listed = ok(&server, &["secret", "list", "--tenant", "acme"]);
    assert!(listed.contains("40") && listed.contains("due"), "{listed}");
    ok(
        &server,
        &[
            "tenant",
            "set",
            "--tenant",
            "acme",
            "--secret-rotation-days",
            "60",
        ],
    );
    assert_eq!(
        ok(&server, &["tenant", "health", "--tenant", "acme"]),
        "ok\n"
    );
    let out = scrm(
        &server,
        &[
            "tenant",
            "set",
            "--tenant",
            "acme",
            "--secret-rotation-days",
            "5000",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    // An OAuth 2 credential is tried at once: a token endpoint that does not answer
    // is refused (exit 3, the server's code), a plain http:// one is a bad request,
    // and nothing is stored either way.
    let oauth = |url: &str| {
        scrm(
            &server,
            &[
                "secret",
                "set-oauth2",
                "--tenant",
                "acme",
                "--name",
                "zoho",
                "--token-url",
                url,
                "--client-id",
                "1000.ID",
                "--client-secret",
                "cs",
                "--refresh-token",
                "1000.rt",
            ],
        )
    };
    let out = oauth("http://127.0.0.1:9/oauth/v2/token");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("oauth2_refused") && err.contains("no answer"),
        "{err}"
    );
    let out = oauth("http://accounts.zoho.com/oauth/v2/token");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("invalid_secret") && err.contains("https://"),
        "{err}"
    );
    let listed = ok(&server, &["secret", "list", "--tenant", "acme"]);
    assert!(!listed.contains("zoho"), "{listed}");
}

#[test]
fn serve_refuses_a_database_written_by_a_newer_scrm() {
    let dir = tempfile::tempdir().unwrap();
    drop(serve(dir.path()));
    let db_path = dir.path().join("scrm-data/scrm.db");
    let newer = scrm_store::Db::open(&db_path)
        .unwrap()
        .with_conn(|c| {
            let v: i64 = c.query_one("PRAGMA user_version", scrm_store::params![], |r| r.get(0))?;
            c.batch(&format!("PRAGMA user_version = {}", v + 1))?;
            Ok(v + 1)
        })
        .unwrap();
    let out = Command::new(SCRM)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("SCRM_ADMIN_TOKEN")
        .env_remove("SCRM_DATA_DIR")
        .env_remove("SCRM_LISTEN")
        .output()
        .expect("run scrm serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "has schema version {newer}, newer than this scrm knows"
        )),
        "{stderr}"
    );
}

/// Runs `scrm migrate-store` with `args`, without the environment's data directory
/// or database.
fn migrate_store(args: &[&str]) -> Output {
    Command::new(SCRM)
        .arg("migrate-store")
        .args(args)
        .env_remove("SCRM_DATA_DIR")
        .env_remove("SCRM_DATABASE_URL")
        .output()
        .expect("run scrm migrate-store")
}

#[test]
fn migrate_store_copies_a_served_data_directory_into_postgres_and_again_without_duplicates() {
    let Some(url) = scrm_store::testing::postgres_database() else {
        eprintln!("SKIPPED: no PostgreSQL here");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("scrm-data");
    let server = serve(tmp.path());
    ok(
        &server,
        &[
            "app",
            "add",
            "--id",
            "app1",
            "--app-secret",
            "0123456789abcdef0123456789abcdef",
            "--verify-token",
            "vt",
        ],
    );
    ok(
        &server,
        &[
            "tenant",
            "add",
            "--id",
            "acme",
            "--app",
            "app1",
            "--phone-number-id",
            "100",
            "--phone-number-id",
            "200",
        ],
    );
    // A running host holds the data directory: the copy refuses and writes nothing.
    let out = migrate_store(&["--from", data.to_str().unwrap(), "--to", &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is in use by a running scrm"), "{stderr}");
    drop(server);

    let out = migrate_store(&["--from", data.to_str().unwrap(), "--to", &url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |table: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("no line for {table}: {stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("phone_numbers"), "phone_numbers 2 rows 2 copied");
    assert_eq!(line("tenants"), "tenants 1 rows 1 copied");
    assert!(stdout.contains("0 already in PostgreSQL"), "{stdout}");

    // The same command again: every row is there already, nothing is duplicated.
    let out = migrate_store(&["--from", data.to_str().unwrap(), "--to", &url]);
    let again = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{again}");
    assert!(again.contains("0 copied now"), "{again}");
    let tenants: i64 = scrm_store::Db::connect(&url, 1)
        .unwrap()
        .with_conn(|c| {
            c.query_one(
                "SELECT count(*) FROM phone_numbers",
                scrm_store::params![],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(tenants, 2);
}

#[test]
fn migrate_store_refuses_bad_input_with_clear_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    // Not a data directory.
    let out = migrate_store(&["--from", dir, "--to", "postgres://scrm@127.0.0.1:9/scrm"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("holds no scrm.db"), "{stderr}");

    drop(scrm_store::Db::open(&tmp.path().join("scrm.db")).unwrap());
    // Nothing listens there: the URL is shown with its password masked.
    let out = migrate_store(&[
        "--from",
        dir,
        "--to",
        "postgres://scrm:s3cret@127.0.0.1:9/scrm",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot connect to database postgres://scrm:***@127.0.0.1:9/scrm"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    // Not PostgreSQL.
    let out = migrate_store(&["--from", dir, "--to", "mysql://scrm:s3cret@db/scrm"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--to must be a PostgreSQL URL"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    // No target at all: a usage error.
    assert_eq!(migrate_store(&["--from", dir]).status.code(), Some(2));
}

#[test]
fn serve_on_an_unreachable_database_exits_1_with_the_masked_url_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there.
    let out = Command::new(SCRM)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--database-url", "postgres://scrm:s3cret@127.0.0.1:1/scrm"])
        .current_dir(dir.path())
        .env_remove("SCRM_ADMIN_TOKEN")
        .env_remove("SCRM_DATA_DIR")
        .env_remove("SCRM_LISTEN")
        .output()
        .expect("run scrm serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot connect to database postgres://scrm:***@127.0.0.1:1/scrm"),
        "{stderr}"
    );
    assert!(
        stderr.to_lowercase().contains("connection refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    // A URL that is not PostgreSQL's is refused before any connection is tried.
    let out = Command::new(SCRM)
        .args(["serve", "--database-url", "mysql://root:pw@localhost/scrm"])
        .current_dir(dir.path())
        .env_remove("SCRM_ADMIN_TOKEN")
        .output()
        .expect("run scrm serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("database_url must be a PostgreSQL URL"),
        "{stderr}"
    );
    assert!(!stderr.contains(":pw@"), "{stderr}");
}

#[test]
fn a_second_host_on_the_same_sqlite_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = serve(dir.path());
    let out = Command::new(SCRM)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("SCRM_ADMIN_TOKEN")
        .env_remove("SCRM_DATA_DIR")
        .env_remove("SCRM_LISTEN")
        .env_remove("SCRM_DATABASE_URL")
        .output()
        .expect("run a second scrm serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is in use by another scrm process"),
        "{stderr}"
    );
    assert!(stderr.contains("PostgreSQL database_url"), "{stderr}");
}

/// `scrm ARGS` with ARGS split at spaces (none of them holds one).
fn words(server: &Server, args: &str) -> Output {
    scrm(server, &args.split(' ').collect::<Vec<_>>())
}

#[test]
fn template_commands_check_a_file_here_and_refusals_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(tmp.path());
    let run = |args: &str| {
        let out = words(&server, args);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        (
            out.status.code(),
            text + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let secret = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        run(&format!(
            "app add --id app1 --app-secret {secret} --verify-token v"
        ))
        .0,
        Some(0)
    );
    assert_eq!(
        run("tenant add --id acme --app app1 --phone-number-id 100").0,
        Some(0)
    );
    // A file that is not JSON is refused before anything is sent: exit 1, where and why.
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "{\"name\": \"welcome\",\n \"language\": en}").unwrap();
    let (code, out) = run(&format!(
        "template add --tenant acme --file {}",
        bad.display()
    ));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("bad.json: line 2, column 14: expected value"),
        "{out}"
    );
    let good = tmp.path().join("welcome.json");
    let file = r#"{"name": "welcome", "language": "en", "category": "MARKETING", "status": "PAUSED",
        "components": [{"type": "BODY", "text": "Welcome {{1}}"}]}"#;
    std::fs::write(&good, file).unwrap();
    let (code, out) = run(&format!(
        "template add --tenant acme --file {}",
        good.display()
    ));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("template welcome (en) stored: PAUSED, MARKETING, body 1"),
        "{out}"
    );
    let (_, list) = run("template list --tenant acme");
    assert!(list.contains("last synced never"), "{list}");
    let row = list
        .lines()
        .find(|l| l.starts_with("welcome"))
        .unwrap_or_default();
    assert!(row.contains("PAUSED") && row.contains("operator"), "{list}");
    let (_, approved) = run("template list --tenant acme --status approved --json");
    assert!(approved.contains("\"items\": []"), "{approved}");
    // The check automations rely on, and syncs with nothing to sync from: exit 3.
    for (args, code) in [
        (
            "check --name welcome --language en",
            "template_not_approved",
        ),
        ("check --name welcom --language en", "unknown_template"),
        ("sync", "no_waba_id"),
        ("sync --waba-id 102290129340398", "no_access_token"),
        ("sync --waba-id waba-1", "invalid_waba_id"),
    ] {
        let (status, out) = run(&format!("template {args} --tenant acme"));
        assert_eq!(status, Some(3), "{args}: {out}");
        assert!(out.contains(code), "{args}: {out}");
    }
    assert_eq!(
        run("template remove --tenant acme --name welcome --language en").0,
        Some(0)
    );
}

#[test]
fn campaign_commands_create_plan_start_and_refusals_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(tmp.path());
    let run = |args: &[&str]| {
        let out = scrm(&server, args);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        (
            out.status.code(),
            text + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let secret = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        words(
            &server,
            &format!("app add --id app1 --app-secret {secret} --verify-token v")
        )
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        words(
            &server,
            "tenant add --id acme --app app1 --phone-number-id 100"
        )
        .status
        .code(),
        Some(0)
    );
    let file = tmp.path().join("promo.json");
    std::fs::write(
        &file,
        r#"{"name": "promo", "language": "en", "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Hi {{1}}"}]}"#,
    )
    .unwrap();
    let add = format!("template add --tenant acme --file {}", file.display());
    assert_eq!(words(&server, &add).status.code(), Some(0));
    let create = |audience: &str, param: &str| {
        run(&[
            "campaign",
            "create",
            "--tenant",
            "acme",
            "--name",
            "spring",
            "--template",
            "promo",
            "--audience",
            audience,
            "--param",
            param,
        ])
    };
    let hi = "{{ contact.first_name | default(\"there\") }}";
    // Refusals: exit 3 with the server's code and reason.
    let (code, out) = create("tag:vip AND", hi);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("line 1, column 12: expected tag:, field:, crm:, opted_in, NOT or '('"),
        "{out}"
    );
    assert!(out.contains("invalid_audience"), "{out}");
    let (code, out) = create("tag:vip", "{{ contact.first_name }}");
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("invalid_parameter") && out.contains("default"),
        "{out}"
    );
    let (code, out) = create("tag:vip AND NOT tag:complained", hi);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("campaign 1 \"spring\": draft  template promo (en) from 100"),
        "{out}"
    );
    let (code, out) = run(&["campaign", "plan", "--tenant", "acme", "1"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("audience: 0 contacts match"), "{out}");
    assert!(out.contains("one window"), "{out}");
    let (code, out) = run(&["campaign", "pause", "--tenant", "acme", "1"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("campaign_state"), "{out}");
    let (code, out) = run(&["campaign", "start", "--tenant", "acme", "1", "--at", "1h"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("scheduled") && out.contains("starts at"),
        "{out}"
    );
    let (code, out) = run(&["campaign", "status", "--tenant", "acme"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("campaign 1 \"spring\": scheduled"), "{out}");
    let (code, out) = run(&["campaign", "status", "--tenant", "acme", "1", "--json"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\"state\": \"scheduled\""), "{out}");
}

/// `scrm` with `token` instead of the server's operator token, and `stdin` as input.
fn as_token(server: &Server, token: &str, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(SCRM)
        .args(args)
        .env("SCRM_SERVER", &server.url)
        .env("SCRM_ADMIN_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scrm");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn people_tokens_and_the_audit_log_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(tmp.path());
    let op = server.token.clone();
    ok(
        &server,
        &[
            "app",
            "add",
            "--id",
            "app1",
            "--app-secret",
            "0123456789abcdef0123456789abcdef",
            "--verify-token",
            "vt",
        ],
    );
    for (id, number) in [("acme", "106540352242922"), ("globex", "106540352242923")] {
        ok(
            &server,
            &[
                "tenant",
                "add",
                "--id",
                id,
                "--app",
                "app1",
                "--phone-number-id",
                number,
                "--region",
                "IT",
            ],
        );
    }
    // A person with a password read from stdin (never from the command line).
    let out = as_token(
        &server,
        &op,
        &[
            "person",
            "add",
            "--tenant",
            "acme",
            "--email",
            "Giulia@Acme.example",
            "--name",
            "Giulia",
            "--role",
            "agent",
            "--password-stdin",
            "--json",
        ],
        "correct horse battery\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let person: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(person["email"], "giulia@acme.example");
    assert_eq!(person["has_password"], true);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("horse"));
    let pid = person["id"].to_string();
    let short = as_token(
        &server,
        &op,
        &[
            "person",
            "add",
            "--tenant",
            "acme",
            "--email",
            "b@acme.example",
            "--name",
            "B",
            "--role",
            "agent",
            "--password-stdin",
        ],
        "short\n",
    );
    assert_eq!(short.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10 characters"));

    // A one-time login link into the web inbox.
    let link = ok(&server, &["person", "login-link", "--tenant", "acme", &pid]);
    assert!(
        link.trim()
            .starts_with(&format!("{}/login/link/scrm_t_", server.url)),
        "{link}"
    );

    // An admin token and the person's token, each printed once with --json.
    let created: serde_json::Value = serde_json::from_str(&ok(
        &server,
        &[
            "token", "create", "--tenant", "acme", "--role", "admin", "--name", "ci", "--json",
        ],
    ))
    .unwrap();
    let admin = created["token"].as_str().unwrap().to_string();
    assert!(admin.starts_with("scrm_t_"), "{created}");
    assert_eq!(created["role"], "admin");
    let agent = ok(
        &server,
        &["token", "create", "--tenant", "acme", "--person", &pid],
    );
    let agent = agent.trim().to_string();

    // The admin token manages its tenant, and no other.
    let listed = as_token(&server, &admin, &["person", "list", "--tenant", "acme"], "");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(String::from_utf8_lossy(&listed.stdout).contains("giulia@acme.example"));
    let other = as_token(
        &server,
        &admin,
        &["person", "list", "--tenant", "globex"],
        "",
    );
    assert_eq!(other.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&other.stderr).contains("other_tenant"));
    let tenants = as_token(&server, &admin, &["tenant", "list"], "");
    assert_eq!(tenants.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&tenants.stderr).contains("operator_only"));

    // The agent's token reads templates, not secrets.
    let t = as_token(
        &server,
        &agent,
        &["template", "list", "--tenant", "acme"],
        "",
    );
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let s = as_token(&server, &agent, &["secret", "list", "--tenant", "acme"], "");
    assert_eq!(s.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&s.stderr).contains("insufficient_role"));

    // The list shows the last use, never a token; a revoked token stops at once.
    let tokens: serde_json::Value = serde_json::from_str(&ok(
        &server,
        &["token", "list", "--tenant", "acme", "--json"],
    ))
    .unwrap();
    let items = tokens["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(!tokens.to_string().contains(&admin) && !tokens.to_string().contains(&agent));
    assert!(items[0]["last_used_at"].is_i64(), "{tokens}");
    let id = items[1]["id"].to_string();
    ok(&server, &["token", "revoke", "--tenant", "acme", &id]);
    let revoked = as_token(
        &server,
        &agent,
        &["template", "list", "--tenant", "acme"],
        "",
    );
    assert_eq!(revoked.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&revoked.stderr).contains("invalid_token"));

    // The audit log names who did what from where; the tenant's admin reads its own.
    let audit = as_token(
        &server,
        &admin,
        &["audit", "--tenant", "acme", "--json"],
        "",
    );
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "token.revoke",
            "token.create",
            "token.create",
            "person.login_link",
            "person.add",
            "person.add"
        ],
        "{audit}"
    );
    assert_eq!(audit["items"][0]["actor"], "operator");
    assert_eq!(audit["items"][0]["remote_addr"], "127.0.0.1");
    assert_eq!(
        audit["items"][4]["status"], 422,
        "the refused short password is audited too"
    );
    let all = as_token(&server, &admin, &["audit"], "");
    assert_eq!(all.status.code(), Some(3));
}

#[test]
fn report_weekly_prints_html_json_csv_and_pdf_and_refuses_a_week_that_does_not_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(tmp.path());
    let run = |args: &str| {
        let out = words(&server, args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let secret = "0123456789abcdef0123456789abcdef";
    run(&format!(
        "app add --id app1 --app-secret {secret} --verify-token v"
    ));
    assert_eq!(
        run("tenant add --id acme --app app1 --phone-number-id 100").0,
        Some(0)
    );
    let (code, html, err) = run("report weekly --tenant acme --week 2026-W48");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        html.starts_with("<!doctype html>") && html.contains("Service efficiency — 2026-W48"),
        "{html}"
    );
    assert!(
        html.contains("2026-W47"),
        "the week before beside it: {html}"
    );
    let (code, json, _) = run("report weekly --tenant acme --week 2026-W48 --format json");
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["from"].as_str()),
        (Some("weekly"), Some("2026-11-23")),
        "{v}"
    );
    let (_, csv, _) = run("report weekly --tenant acme --week 2026-W48 --format csv");
    assert!(csv.starts_with("section,week,measure,value\n"), "{csv}");
    assert!(
        csv.contains("\nsales,2026-W48,first_contact,0\n")
            && csv.contains("\ncost,2026-W47,acquisition_cost,0.0\n"),
        "the three reports: {csv}"
    );
    assert!(
        html.contains("Sales funnel — 2026-W48") && html.contains("Cost effectiveness — 2026-W48"),
        "{html}"
    );
    let pdf = words(
        &server,
        "report weekly --tenant acme --week 2026-W48 --format pdf",
    );
    assert_eq!(pdf.status.code(), Some(0));
    assert!(pdf.stdout.starts_with(b"%PDF-1."), "PDF bytes on stdout");
    assert!(
        pdf.stdout.windows(8).any(|w| w == b"2026-W47"),
        "the week before in it"
    );
    let (code, _, err) = run("report weekly --tenant acme --week 2025-W53");
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("invalid_week") && err.contains("2025-W53"),
        "{err}"
    );
}
