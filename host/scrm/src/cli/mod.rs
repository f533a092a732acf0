//! The `scrm` command. `serve` runs the host; `classifier`, `migrate-store`,
//! `plugin new`, `plugin build`, `plugin run`, `plugin test` and `plugin inspect`
//! work locally; every other command is a client of a running host's admin API
//! (`--server` / `SCRM_SERVER`, token from `SCRM_ADMIN_TOKEN`).
//!
//! Exit codes: 0 success, 1 failure, 2 usage error, 3 the server refused the
//! request (the message says why), 4 the server could not be reached.

mod campaign;
mod classifier;
mod client;
mod commands;
mod crm;
mod flow;
mod local_plugin;
mod migrate;
mod people;
mod plugin_test;
mod report;
mod scaffold;
mod send;
mod serve;
mod templates;

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// scrm: a self-hosted, multi-tenant WhatsApp Social-CRM host.
#[derive(Debug, Parser)]
#[command(name = "scrm", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the host (webhooks, admin API, read API, plugin runtime).
    Serve(ServeArgs),
    /// Manage Meta apps (app secret, verify token).
    #[command(subcommand)]
    App(AppCommand),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Install and list tenants' plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Sign webhook payload files with an app's secret and post them to a running host.
    Replay(ReplayArgs),
    /// Manage tenant secrets (CRM tokens) that the host adds to plugins' HTTP requests.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Send a message through the tenant's outbox (text, template, image, mark-as-read, or a Cloud API message object).
    Send(send::SendArgs),
    /// List the outbox (and dead letters), re-queue or cancel sends.
    #[command(subcommand)]
    Outbox(send::OutboxCommand),
    /// Two-way CRM sync: settings, the queue of CRM writes, history backfill, pulling
    /// now, the review queue (also `scrm sync …`).
    #[command(subcommand, alias = "sync")]
    Crm(crm::CrmCommand),
    /// Automation: add flows, enable them per tenant with parameters, see what they did.
    #[command(subcommand)]
    Flow(flow::FlowCommand),
    /// Campaigns: one approved template to an audience (tag:vip AND NOT
    /// tag:complained), planned against the number's limits, started, paused, followed.
    #[command(subcommand)]
    Campaign(campaign::CampaignCommand),
    /// A tenant's message templates: sync from its WhatsApp Business Account, list,
    /// add from a file, check, remove.
    #[command(subcommand)]
    Template(templates::TemplateCommand),
    /// A tenant's API tokens (scoped to the tenant and a role or person; shown once).
    #[command(subcommand)]
    Token(people::TokenCommand),
    /// A tenant's people: agents, managers and admins.
    #[command(subcommand)]
    Person(people::PersonCommand),
    /// A tenant's teams of agents.
    #[command(subcommand)]
    Team(people::TeamCommand),
    /// The audit log of admin actions: who, what, when, from where.
    Audit(people::AuditArgs),
    /// Reports for managers: the weekly service-efficiency report.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Train, evaluate and cross-validate the intent classifier's model (local).
    #[command(subcommand)]
    Classifier(classifier::ClassifierCommand),
    /// Copy an SQLite data directory's database into PostgreSQL (local; stop the host
    /// first). Safe to run again: rows already copied are kept, never duplicated.
    MigrateStore(migrate::MigrateStoreArgs),
}

/// `scrm serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML configuration file; environment variables and flags override it.
    #[arg(long, env = "SCRM_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SCRM_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory for the SQLite file and plugin components [default: ./scrm-data].
    #[arg(long, env = "SCRM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The WhatsApp Cloud API base URL [default: https://graph.facebook.com].
    #[arg(long, env = "SCRM_GRAPH_URL")]
    graph_url: Option<String>,
    /// A PostgreSQL database (postgres://user:password@host/db) instead of the SQLite
    /// file in the data directory.
    #[arg(long, env = "SCRM_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The host's public address behind its TLS proxy (https://crm.example.com):
    /// links in outbound messages are tracked through {public-url}/l/{token}.
    #[arg(long, env = "SCRM_PUBLIC_URL")]
    public_url: Option<String>,
}

/// `scrm plugin install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub(crate) target: TenantArgs,
    /// The slot (classifier).
    #[arg(long)]
    pub(crate) slot: String,
    /// A configuration file for the binding (JSON or TOML, per the plugin's docs).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// A name for the component [default: the file name without extension].
    #[arg(long)]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
    /// `fresh` (a new instance per message, the default) or `warm` (instances kept
    /// and reused: for JavaScript and Python plugins; see docs/plugins.md).
    #[arg(long, value_parser = ["fresh", "warm"])]
    pub(crate) isolation: Option<String>,
    /// The binding's outbound HTTP policy, a JSON file:
    /// {"allow": [hosts], "allow_private": ["ip:port"], "max_requests": n,
    /// "credentials": [{"host", "header", "secret", "prefix"}]}.
    #[arg(long)]
    pub(crate) http: Option<PathBuf>,
    /// The component file (.wasm).
    pub(crate) file: PathBuf,
}

/// A plugin's limits per call, as `plugin install`, `plugin run` and `plugin test`
/// take them; each defaults to the host's.
#[derive(Debug, Args, Clone, Default)]
pub struct LimitArgs {
    /// CPU deadline per call, in ms [default: the host's, 200].
    #[arg(long)]
    pub(crate) deadline_ms: Option<u64>,
    /// Instruction budget per call [default: the host's, 2,000,000,000].
    #[arg(long)]
    pub(crate) fuel: Option<u64>,
    /// Memory cap per instance, in MiB [default: the host's, 64].
    #[arg(long)]
    pub(crate) memory_mib: Option<u32>,
    /// Output cap per call, in KiB [default: the host's, 64].
    #[arg(long)]
    pub(crate) output_kib: Option<u32>,
}

impl LimitArgs {
    /// The limits given, over the host's.
    pub(crate) fn overrides(&self) -> scrm_engine::LimitOverrides {
        scrm_engine::LimitOverrides {
            deadline_ms: self.deadline_ms,
            fuel: self.fuel,
            memory_mib: self.memory_mib,
            output_kib: self.output_kib,
            ..scrm_engine::LimitOverrides::default()
        }
    }
}

/// The admin API and the tenant a command acts on.
#[derive(Debug, Args, Clone)]
pub struct TenantArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The tenant.
    #[arg(long)]
    tenant: String,
}

/// Where the admin API is and how to authenticate.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// The host's base URL.
    #[arg(
        long,
        env = "SCRM_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// The operator token, or a tenant API token (`scrm_…`, from `scrm token create`).
    #[arg(long, env = "SCRM_ADMIN_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Add a Meta app.
    Add {
        #[command(flatten)]
        client: ClientArgs,
        /// Your id for the app (e.g. Meta's app id).
        #[arg(long)]
        id: String,
        /// The app secret (signs webhooks).
        #[arg(long, env = "SCRM_APP_SECRET", hide_env_values = true)]
        app_secret: String,
        /// The verify token you typed into Meta's webhook settings.
        #[arg(long)]
        verify_token: String,
    },
    /// List Meta apps (secrets are never shown).
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Set an app's Cloud API endpoints; an empty value ('') clears one, so the
    /// host's default applies (or, for the backup, failover is off).
    Set {
        #[command(flatten)]
        client: ClientArgs,
        /// The app.
        #[arg(long)]
        id: String,
        /// The primary Cloud API base URL (e.g. https://graph.facebook.com).
        #[arg(long)]
        graph_url: Option<String>,
        /// The Graph API version (e.g. v23.0).
        #[arg(long)]
        graph_version: Option<String>,
        /// Where sends go while the primary is unhealthy.
        #[arg(long)]
        backup_graph_url: Option<String>,
    },
    /// Show an app's Cloud API health: active base URL, newest probes, switches.
    Health {
        #[command(flatten)]
        client: ClientArgs,
        /// The app.
        #[arg(long)]
        id: String,
        /// Probe now first.
        #[arg(long)]
        probe: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Add a tenant.
    Add {
        #[command(flatten)]
        client: ClientArgs,
        /// The tenant's id.
        #[arg(long)]
        id: String,
        /// The Meta app that carries its webhooks.
        #[arg(long)]
        app: String,
        /// A WhatsApp phone number id it owns (repeat for several).
        #[arg(long = "phone-number-id", required = true)]
        phone_number_ids: Vec<String>,
        /// Region for numbers written without a country code (ISO 3166, e.g. IT).
        #[arg(long, default_value = "US")]
        region: String,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change a tenant's settings.
    Set {
        #[command(flatten)]
        target: TenantArgs,
        /// Days a secret may go unchanged before the health report warns (0: never).
        #[arg(long)]
        secret_rotation_days: Option<i64>,
        /// Track links in the tenant's messages (on, the default, or off); takes
        /// effect when the host has a public URL (SCRM_PUBLIC_URL).
        #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
        track_links: Option<bool>,
        /// The tenant's time zone (IANA name, e.g. Europe/Rome): flows' schedules
        /// run in it.
        #[arg(long)]
        time_zone: Option<String>,
    },
    /// What needs attention: secrets due for rotation, CRM numbers that cannot be
    /// read. Exits 0 when all is well, 5 when there are warnings.
    Health {
        #[command(flatten)]
        target: TenantArgs,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Create a plugin project that builds (`scrm plugin build`) and tests with the
    /// language's own runner as written: sources, a sample config, a test, a README.
    New {
        /// The project's name: lowercase letters, digits and '-'.
        name: String,
        /// The world the plugin implements.
        #[arg(long, value_enum)]
        world: scaffold::World,
        /// The language.
        #[arg(long, value_enum)]
        lang: scaffold::Lang,
        /// Where to create it [default: ./NAME]; must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Rust: the SDK to depend on, by path [default: the SDK of the source tree
        /// this binary was built from].
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build a plugin project into a component: Rust (cargo), JavaScript (npm,
    /// esbuild, componentize-js) or Python (componentize-py), told by its manifest;
    /// prints each step and what it installs on stderr, the component's path on stdout.
    Build {
        /// The project directory (Cargo.toml, package.json or pyproject.toml).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Rust: the cargo package [default: the Cargo.toml's package].
        #[arg(long, short = 'p')]
        package: Option<String>,
        /// Rust: the cargo profile.
        #[arg(long, default_value = "release")]
        profile: String,
        /// Where to write the component [default: cargo's target directory for Rust,
        /// DIR/dist/NAME.wasm for JavaScript and Python].
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
        /// JavaScript and Python: where the build keeps its tools (componentize-py's
        /// virtualenv) and intermediate files; share one between projects to install
        /// the tools once [default: DIR/target/scrm-build].
        #[arg(long, env = "SCRM_PLUGIN_WORK_DIR")]
        work_dir: Option<PathBuf>,
    },
    /// Upload a component and make it the tenant's plugin for a slot.
    Install(InstallArgs),
    /// Run a component locally on webhook payloads, CRM records or parcels, under
    /// production limits and capabilities (no server): each call's answer, time,
    /// fuel and peak memory.
    Run(local_plugin::RunArgs),
    /// Show what a component declares: its world, WIT version, imports and size.
    Inspect(local_plugin::InspectArgs),
    /// Check a component against its world's contract under production limits (no
    /// server): real webhook messages of every type, hostile input, well-formed
    /// answers, determinism, headroom. One line per check; exit code 0 only when
    /// every check passes.
    Test(plugin_test::TestArgs),
    /// Make the previous installed version (or --to VERSION) active again, at once.
    Rollback {
        #[command(flatten)]
        target: TenantArgs,
        /// The slot.
        #[arg(long)]
        slot: String,
        /// The version to return to [default: the one before the active one].
        #[arg(long)]
        to: Option<i64>,
    },
    /// Lift the quarantine of a tenant's plugin.
    Enable {
        #[command(flatten)]
        target: TenantArgs,
        /// The slot.
        #[arg(long)]
        slot: String,
    },
    /// List a tenant's plugin bindings, newest first.
    List {
        #[command(flatten)]
        target: TenantArgs,
    },
}

#[derive(Debug, Subcommand)]
enum SecretCommand {
    /// Set (or replace) a secret; the value is read from --value, SCRM_SECRET_VALUE or stdin.
    Set {
        #[command(flatten)]
        target: TenantArgs,
        /// The secret's name (referenced by HTTP policies' credentials).
        #[arg(long)]
        name: String,
        /// The value (prefer SCRM_SECRET_VALUE or stdin: flags show up in process lists).
        #[arg(long, env = "SCRM_SECRET_VALUE", hide_env_values = true)]
        value: Option<String>,
        /// When it stops working (2027-01-31, or RFC 3339), when its issuer says:
        /// the host warns and alerts 14 days before.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Set an OAuth 2 credential that renews itself (Zoho, Salesforce): the host
    /// trades the refresh token for access tokens before they expire and after a 401.
    #[command(name = "set-oauth2")]
    SetOauth2 {
        #[command(flatten)]
        target: TenantArgs,
        /// The secret's name (referenced by HTTP policies' credentials).
        #[arg(long)]
        name: String,
        /// The token endpoint, e.g. https://accounts.zoho.com/oauth/v2/token.
        #[arg(long)]
        token_url: String,
        /// The OAuth client's id.
        #[arg(long)]
        client_id: String,
        /// The OAuth client's secret.
        #[arg(long, env = "SCRM_OAUTH_CLIENT_SECRET", hide_env_values = true)]
        client_secret: String,
        /// The refresh token.
        #[arg(long, env = "SCRM_OAUTH_REFRESH_TOKEN", hide_env_values = true)]
        refresh_token: String,
    },
    /// List a tenant's secret names (values are never shown).
    List {
        #[command(flatten)]
        target: TenantArgs,
    },
    /// Delete a secret.
    Delete {
        #[command(flatten)]
        target: TenantArgs,
        /// The secret's name.
        #[arg(long)]
        name: String,
    },
}

/// `scrm replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The Meta app whose secret signs the payloads.
    #[arg(long)]
    app: String,
    /// Sign locally with this secret instead of asking the host to sign.
    #[arg(long, env = "SCRM_APP_SECRET", hide_env_values = true)]
    app_secret: Option<String>,
    /// Webhook payload files (JSON), posted in order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Then wait until the host has processed every body in its inbox (stored,
    /// classified, answered): at most 30 s, or `--wait=SECONDS`; exit code 1 when it
    /// has not.
    #[arg(
        long,
        value_name = "SECONDS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "30"
    )]
    wait: Option<u64>,
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::App(cmd) => commands::app(cmd).await,
            Command::Tenant(cmd) => commands::tenant(cmd).await,
            Command::Plugin(cmd) => commands::plugin(cmd).await,
            Command::Replay(args) => commands::replay(args).await,
            Command::Secret(cmd) => commands::secret(cmd).await,
            Command::Send(args) => send::send(args).await,
            Command::Outbox(cmd) => send::outbox(cmd).await,
            Command::Classifier(cmd) => classifier::run(cmd).await,
            Command::Crm(cmd) => crm::run(cmd).await,
            Command::Flow(cmd) => flow::run(cmd).await,
            Command::Campaign(cmd) => campaign::run(cmd).await,
            Command::Template(cmd) => templates::run(cmd).await,
            Command::Token(cmd) => people::run(people::PeopleCli::Token(cmd)).await,
            Command::Person(cmd) => people::run(people::PeopleCli::Person(cmd)).await,
            Command::Team(cmd) => people::run(people::PeopleCli::Team(cmd)).await,
            Command::Audit(args) => people::run(people::PeopleCli::Audit(args)).await,
            Command::MigrateStore(args) => migrate::run(args).await,
            Command::Report(cmd) => report::run(cmd).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(client::exit_code(&e))
        }
    }
}
