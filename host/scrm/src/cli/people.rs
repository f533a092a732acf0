//! `scrm token …`, `scrm person …`, `scrm team …` and `scrm audit`: a tenant's API
//! tokens, people and teams on a running host, and the audit log of admin actions.

use super::client::Client;
use super::{ClientArgs, TenantArgs};
use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

/// `scrm token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make an API token for the tenant. It is printed once; the host keeps only its
    /// SHA-256.
    Create {
        #[command(flatten)]
        target: TenantArgs,
        /// admin, manager or agent [default: the person's role, with --person].
        #[arg(long)]
        role: Option<String>,
        /// The person the token acts for (their role applies; disabling them stops it).
        #[arg(long)]
        person: Option<i64>,
        /// A name to recognise it by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the tenant's tokens with their role and last use (never the tokens).
    List {
        #[command(flatten)]
        target: TenantArgs,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        #[command(flatten)]
        target: TenantArgs,
        /// The token's id (from `scrm token list`).
        id: i64,
    },
}

/// `scrm person` subcommands.
#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// Add a person (agent, manager or admin) to the tenant.
    Add {
        #[command(flatten)]
        target: TenantArgs,
        /// Their email: the login.
        #[arg(long)]
        email: String,
        /// Their name.
        #[arg(long)]
        name: String,
        /// admin, manager or agent.
        #[arg(long)]
        role: String,
        /// Read their password (at least 10 characters) from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        /// A team to put them in, by id (repeat for several).
        #[arg(long = "team")]
        teams: Vec<i64>,
    },
    /// List the tenant's people.
    List {
        #[command(flatten)]
        target: TenantArgs,
    },
    /// Disable a person: no more logins, and their tokens stop working.
    Disable {
        #[command(flatten)]
        target: TenantArgs,
        /// The person's id.
        id: i64,
    },
    /// Print a one-time link into the web inbox for a person (valid 15 minutes).
    LoginLink {
        #[command(flatten)]
        target: TenantArgs,
        /// The person's id.
        id: i64,
    },
    /// Mark a person away: round-robin gives them no new conversations until `back`.
    Away {
        #[command(flatten)]
        target: TenantArgs,
        /// The person's id.
        id: i64,
    },
    /// Mark a person available again.
    Back {
        #[command(flatten)]
        target: TenantArgs,
        /// The person's id.
        id: i64,
    },
    /// Set a person's password, read from the first line of stdin.
    Password {
        #[command(flatten)]
        target: TenantArgs,
        /// The person's id.
        id: i64,
    },
}

/// `scrm team` subcommands.
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Add a team.
    Add {
        #[command(flatten)]
        target: TenantArgs,
        /// Its name.
        #[arg(long)]
        name: String,
        /// A member, by person id (repeat for several).
        #[arg(long = "member")]
        members: Vec<i64>,
    },
    /// List the tenant's teams and their members.
    List {
        #[command(flatten)]
        target: TenantArgs,
    },
    /// Put a person in a team.
    Join {
        #[command(flatten)]
        target: TenantArgs,
        /// The team's id.
        team: i64,
        /// The person's id.
        person: i64,
    },
    /// Take a person out of a team.
    Leave {
        #[command(flatten)]
        target: TenantArgs,
        /// The team's id.
        team: i64,
        /// The person's id.
        person: i64,
    },
}

/// `scrm audit`: the audit log, newest first.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Only this tenant's actions [default: every tenant's, operator only].
    #[arg(long)]
    tenant: Option<String>,
    /// At most this many entries.
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

fn print(json_out: bool, v: &Value, text: impl FnOnce(&Value)) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        text(v);
    }
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Prints a table: each column padded to its width (the last one is not), then the
/// rows of `v["items"]` (or `v` itself when it has none) as `row` makes them.
fn table(v: &Value, columns: &[(&str, usize)], row: impl Fn(&Value) -> Vec<String>) {
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (cell, (_, width))) in cells.iter().zip(columns).enumerate() {
            if i + 1 == columns.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$} "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(columns.iter().map(|(h, _)| (*h).to_string()).collect());
    let items = v["items"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![v.clone()]);
    for item in &items {
        line(row(item));
    }
}

/// A list of ids, comma-separated.
fn ids(v: &Value) -> String {
    let ids: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(ToString::to_string)
        .collect();
    ids.join(",")
}

fn yes_no(b: bool) -> String {
    (if b { "yes" } else { "no" }).into()
}

fn print_tokens(v: &Value) {
    let cols = [
        ("ID", 5),
        ("ROLE", 8),
        ("PERSON", 8),
        ("PREFIX", 14),
        ("NAME", 20),
        ("CREATED", 15),
        ("LAST USED", 15),
        ("REVOKED", 0),
    ];
    table(v, &cols, |t| {
        [
            "id",
            "role",
            "person_id",
            "prefix",
            "name",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]
        .iter()
        .map(|k| s(t, k))
        .collect()
    });
}

fn print_people(v: &Value) {
    let cols = [
        ("ID", 5),
        ("EMAIL", 30),
        ("NAME", 24),
        ("ROLE", 8),
        ("TEAMS", 10),
        ("PASSWORD", 9),
        ("AVAILABLE", 10),
        ("DISABLED", 0),
    ];
    table(v, &cols, |p| {
        vec![
            s(p, "id"),
            s(p, "email"),
            s(p, "name"),
            s(p, "role"),
            ids(&p["teams"]),
            yes_no(p["has_password"] == true),
            yes_no(p["available"] != false),
            s(p, "disabled_at"),
        ]
    });
}

async fn run_token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            target,
            role,
            person,
            name,
        } => {
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/tokens", target.tenant);
            let body = json!({"role": role, "person": person, "name": name});
            let v = c.send(c.post(&path).json(&body)).await?;
            print(target.client.json, &v, |v| {
                println!("{}", s(v, "token"));
                eprintln!(
                    "token {} for tenant {} with role {}: shown only now, keep it safe",
                    s(v, "id"),
                    target.tenant,
                    s(v, "role")
                );
            });
        }
        TokenCommand::List { target } => {
            let c = Client::new(&target.client);
            let v = c
                .send(c.get(&format!("/v1/tenants/{}/tokens", target.tenant)))
                .await?;
            print(target.client.json, &v, print_tokens);
        }
        TokenCommand::Revoke { target, id } => {
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/tokens/{id}/revoke", target.tenant);
            let v = c.send(c.post(&path)).await?;
            print(target.client.json, &v, |v| {
                println!("revoked token {} ({})", s(v, "id"), s(v, "prefix"));
            });
        }
    }
    Ok(())
}

async fn run_person(cmd: PersonCommand) -> anyhow::Result<()> {
    match cmd {
        PersonCommand::Add {
            target,
            email,
            name,
            role,
            password_stdin,
            teams,
        } => {
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/people", target.tenant);
            let body = json!({"email": email, "name": name, "role": role,
                              "password": password, "teams": teams});
            let v = c.send(c.post(&path).json(&body)).await?;
            print(target.client.json, &v, |v| {
                println!(
                    "added person {} <{}> as {}",
                    s(v, "id"),
                    s(v, "email"),
                    s(v, "role")
                );
            });
        }
        PersonCommand::List { target } => {
            let c = Client::new(&target.client);
            let v = c
                .send(c.get(&format!("/v1/tenants/{}/people", target.tenant)))
                .await?;
            print(target.client.json, &v, print_people);
        }
        PersonCommand::Disable { target, id } => {
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/people/{id}/disable", target.tenant);
            let v = c.send(c.post(&path)).await?;
            print(target.client.json, &v, |v| {
                println!("disabled person {} <{}>", s(v, "id"), s(v, "email"));
            });
        }
        PersonCommand::Away { target, id } => set_available(&target, id, false).await?,
        PersonCommand::Back { target, id } => set_available(&target, id, true).await?,
        PersonCommand::LoginLink { target, id } => {
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/people/{id}/login-link", target.tenant);
            let v = c.send(c.post(&path)).await?;
            print(target.client.json, &v, |v| println!("{}", s(v, "url")));
        }
        PersonCommand::Password { target, id } => {
            let password = read_password()?;
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/people/{id}/password", target.tenant);
            c.send(c.put(&path).json(&json!({ "password": password })))
                .await?;
            println!("password set for person {id}");
        }
    }
    Ok(())
}

async fn set_available(target: &TenantArgs, id: i64, available: bool) -> anyhow::Result<()> {
    let c = Client::new(&target.client);
    let path = format!("/v1/tenants/{}/people/{id}/available", target.tenant);
    let v = c
        .send(c.put(&path).json(&json!({ "available": available })))
        .await?;
    print(target.client.json, &v, |v| {
        let now = if available { "available" } else { "away" };
        println!("person {} <{}> is {now}", s(v, "id"), s(v, "email"));
    });
    Ok(())
}

async fn run_team(cmd: TeamCommand) -> anyhow::Result<()> {
    let (target, v) = match cmd {
        TeamCommand::Add {
            target,
            name,
            members,
        } => {
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/teams", target.tenant);
            let v = c
                .send(
                    c.post(&path)
                        .json(&json!({"name": name, "members": members})),
                )
                .await?;
            (target, v)
        }
        TeamCommand::List { target } => {
            let c = Client::new(&target.client);
            let v = c
                .send(c.get(&format!("/v1/tenants/{}/teams", target.tenant)))
                .await?;
            (target, v)
        }
        TeamCommand::Join {
            target,
            team,
            person,
        } => {
            let c = Client::new(&target.client);
            let path = format!(
                "/v1/tenants/{}/teams/{team}/members/{person}",
                target.tenant
            );
            let v = c.send(c.put(&path)).await?;
            (target, v)
        }
        TeamCommand::Leave {
            target,
            team,
            person,
        } => {
            let c = Client::new(&target.client);
            let path = format!(
                "/v1/tenants/{}/teams/{team}/members/{person}",
                target.tenant
            );
            let v = c.send(c.http_delete(&path)).await?;
            (target, v)
        }
    };
    print(target.client.json, &v, |v| {
        table(v, &[("ID", 5), ("NAME", 24), ("MEMBERS", 0)], |t| {
            vec![s(t, "id"), s(t, "name"), ids(&t["members"])]
        });
    });
    Ok(())
}

async fn run_audit(args: AuditArgs) -> anyhow::Result<()> {
    let c = Client::new(&args.client);
    let path = match &args.tenant {
        Some(t) => format!("/v1/tenants/{t}/audit?limit={}", args.limit),
        None => format!("/v1/audit?limit={}", args.limit),
    };
    let v = c.send(c.get(&path)).await?;
    print(args.client.json, &v, |v| {
        let cols = [
            ("ID", 6),
            ("AT", 14),
            ("TENANT", 10),
            ("ACTOR", 12),
            ("ACTION", 20),
            ("STATUS", 6),
            ("FROM", 16),
            ("TARGET", 0),
        ];
        table(v, &cols, |e| {
            [
                "id",
                "at",
                "tenant_id",
                "actor",
                "action",
                "status",
                "remote_addr",
                "target",
            ]
            .iter()
            .map(|k| s(e, k))
            .collect()
        });
    });
    Ok(())
}

/// What `scrm token|person|team|audit` runs.
#[derive(Debug)]
pub enum PeopleCli {
    /// `scrm token …`
    Token(TokenCommand),
    /// `scrm person …`
    Person(PersonCommand),
    /// `scrm team …`
    Team(TeamCommand),
    /// `scrm audit`
    Audit(AuditArgs),
}

/// Runs one of the people commands.
pub async fn run(cmd: PeopleCli) -> anyhow::Result<()> {
    match cmd {
        PeopleCli::Token(c) => run_token(c).await,
        PeopleCli::Person(c) => run_person(c).await,
        PeopleCli::Team(c) => run_team(c).await,
        PeopleCli::Audit(a) => run_audit(a).await,
    }
}
