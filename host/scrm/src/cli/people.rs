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

fn print_tokens(v: &Value) {
    println!(
        "{:<5} {:<8} {:<8} {:<14} {:<20} {:<15} {:<15} REVOKED",
        "ID", "ROLE", "PERSON", "PREFIX", "NAME", "CREATED", "LAST USED"
    );
    for t in v["items"].as_array().into_iter().flatten() {
        println!(
            "{:<5} {:<8} {:<8} {:<14} {:<20} {:<15} {:<15} {}",
            s(t, "id"),
            s(t, "role"),
            s(t, "person_id"),
            s(t, "prefix"),
            s(t, "name"),
            s(t, "created_at"),
            s(t, "last_used_at"),
            s(t, "revoked_at")
        );
    }
}

fn print_people(v: &Value) {
    println!(
        "{:<5} {:<30} {:<24} {:<8} {:<10} {:<9} DISABLED",
        "ID", "EMAIL", "NAME", "ROLE", "TEAMS", "PASSWORD"
    );
    for p in v["items"].as_array().into_iter().flatten() {
        let teams: Vec<String> = p["teams"]
            .as_array()
            .into_iter()
            .flatten()
            .map(ToString::to_string)
            .collect();
        println!(
            "{:<5} {:<30} {:<24} {:<8} {:<10} {:<9} {}",
            s(p, "id"),
            s(p, "email"),
            s(p, "name"),
            s(p, "role"),
            teams.join(","),
            if p["has_password"] == true {
                "yes"
            } else {
                "no"
            },
            s(p, "disabled_at")
        );
    }
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
        let teams = v["items"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![v.clone()]);
        println!("{:<5} {:<24} MEMBERS", "ID", "NAME");
        for t in &teams {
            let members: Vec<String> = t["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(ToString::to_string)
                .collect();
            println!(
                "{:<5} {:<24} {}",
                s(t, "id"),
                s(t, "name"),
                members.join(",")
            );
        }
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
        println!(
            "{:<6} {:<14} {:<10} {:<12} {:<20} {:<6} {:<16} TARGET",
            "ID", "AT", "TENANT", "ACTOR", "ACTION", "STATUS", "FROM"
        );
        for e in v["items"].as_array().into_iter().flatten() {
            println!(
                "{:<6} {:<14} {:<10} {:<12} {:<20} {:<6} {:<16} {}",
                s(e, "id"),
                s(e, "at"),
                s(e, "tenant_id"),
                s(e, "actor"),
                s(e, "action"),
                s(e, "status"),
                s(e, "remote_addr"),
                s(e, "target")
            );
        }
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
