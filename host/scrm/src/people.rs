//! People, teams and tenant API tokens: checking what an admin asks for, hashing
//! passwords (argon2id) and making tokens (shown once, kept as SHA-256).
//!
//! The HTTP routes are in `api::people`; who may call what is `api::access`.

use scrm_store::people::{ApiToken, NewPerson, NewToken, Person, Role};
use scrm_store::{Db, StoreError};
use serde::{Deserialize, Serialize};

/// The prefix of every tenant API token.
pub const TOKEN_PREFIX: &str = "scrm_t_";

/// SHA-256 of a token, hex: what the store keeps.
pub fn token_sha256(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new token: [`TOKEN_PREFIX`] and 256 random bits, URL-safe base64.
pub fn new_token() -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

/// Why a people or token request was refused.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    /// A field is missing or malformed; the code names which.
    #[error("{message}")]
    Invalid {
        /// Machine-readable code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The store failed (or a row is missing or taken).
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(code: &'static str, message: impl Into<String>) -> PeopleError {
    PeopleError::Invalid {
        code,
        message: message.into(),
    }
}

/// A role named in a request.
///
/// # Errors
/// `invalid_role` naming the roles there are.
pub fn parse_role(s: &str) -> Result<Role, PeopleError> {
    Role::parse(s.trim()).ok_or_else(|| {
        invalid(
            "invalid_role",
            format!("role {s:?} is not one of admin, manager, agent"),
        )
    })
}

/// Hashes `password` with argon2id (the crate's default parameters) into a PHC
/// string. Slow on purpose: call it off the async threads.
///
/// # Errors
/// `weak_password` when it is shorter than [`MIN_PASSWORD`] characters.
pub fn hash_password(password: &str) -> Result<String, PeopleError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    if password.chars().count() < MIN_PASSWORD {
        return Err(invalid(
            "weak_password",
            format!("a password needs at least {MIN_PASSWORD} characters"),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| invalid("weak_password", format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
/// Slow on purpose: call it off the async threads.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A person to add, as an admin asks for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddPerson {
    /// Their email (the login).
    pub email: String,
    /// Their name.
    pub name: String,
    /// `admin`, `manager` or `agent`.
    pub role: String,
    /// Their password, if they log in with one.
    #[serde(default)]
    pub password: Option<String>,
    /// Teams to put them in, by id.
    #[serde(default)]
    pub teams: Vec<i64>,
}

fn check_email(email: &str) -> Result<(), PeopleError> {
    let e = email.trim();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !e.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "invalid_email",
            format!("email {email:?} is not an address like name@example.com"),
        ))
    }
}

/// Adds a person (and puts them in `teams`).
///
/// # Errors
/// [`PeopleError::Invalid`] for a bad email, name, role, password or team;
/// `Conflict` when the email is taken in the tenant.
pub async fn add_person(db: &Db, tenant: &str, req: AddPerson) -> Result<Person, PeopleError> {
    check_email(&req.email)?;
    if req.name.trim().is_empty() {
        return Err(invalid("invalid_name", "name must not be empty"));
    }
    let role = parse_role(&req.role)?;
    let password_hash = match req.password {
        Some(p) => Some(
            tokio::task::spawn_blocking(move || hash_password(&p))
                .await
                .map_err(|e| StoreError::Task(e.to_string()))??,
        ),
        None => None,
    };
    let new = NewPerson {
        email: req.email,
        name: req.name,
        role,
        password_hash,
    };
    let (t, teams) = (tenant.to_string(), req.teams);
    let added = db
        .write(move |c| {
            scrm_store::transaction(c, |tx| {
                let p = tx.add_person(&t, &new)?;
                for team in &teams {
                    if !tx.set_member(&t, *team, p.id, true)? {
                        return Err(StoreError::NotFound {
                            what: "team",
                            id: team.to_string(),
                        });
                    }
                }
                Ok(p)
            })
        })
        .await?;
    let (t, id) = (tenant.to_string(), added.id);
    Ok(db.read(move |c| c.person(&t, id)).await?.unwrap_or(added))
}

/// Sets a person's password.
///
/// # Errors
/// `weak_password`; `NotFound` for a person not of `tenant`.
pub async fn set_password(
    db: &Db,
    tenant: &str,
    person: i64,
    password: String,
) -> Result<(), PeopleError> {
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
    let t = tenant.to_string();
    if db.write(move |c| c.set_password(&t, person, &hash)).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound {
            what: "person",
            id: person.to_string(),
        }
        .into())
    }
}

/// A token to make, as an admin asks for it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// `admin`, `manager` or `agent`; for a person's token, optional (their role).
    #[serde(default)]
    pub role: Option<String>,
    /// The person it acts for.
    #[serde(default)]
    pub person: Option<i64>,
    /// A name to recognise it by.
    #[serde(default)]
    pub name: Option<String>,
}

/// A token just made: the only time the token itself is shown.
#[derive(Debug, Serialize)]
pub struct CreatedToken {
    /// The token: send it as `Authorization: Bearer …`.
    pub token: String,
    /// What is kept of it.
    #[serde(flatten)]
    pub info: ApiToken,
}

/// Makes a token for `tenant`.
///
/// # Errors
/// `invalid_role`, `role_mismatch` (a role other than the person's), `missing_role`;
/// `NotFound` for a person not of `tenant`, or a disabled one.
pub async fn create_token(
    db: &Db,
    tenant: &str,
    req: CreateToken,
) -> Result<CreatedToken, PeopleError> {
    let asked = req.role.as_deref().map(parse_role).transpose()?;
    let role = match req.person {
        Some(p) => {
            let t = tenant.to_string();
            let person = db.read(move |c| c.person(&t, p)).await?;
            let person =
                person
                    .filter(|p| p.disabled_at.is_none())
                    .ok_or_else(|| StoreError::NotFound {
                        what: "person",
                        id: p.to_string(),
                    })?;
            if let Some(r) = asked.filter(|r| *r != person.role) {
                return Err(invalid(
                    "role_mismatch",
                    format!(
                        "person {p} is {}; a person's token has their role, not {}",
                        person.role.as_str(),
                        r.as_str()
                    ),
                ));
            }
            person.role
        }
        None => asked.ok_or_else(|| {
            invalid(
                "missing_role",
                "a token needs a role (admin, manager, agent) or a person",
            )
        })?,
    };
    let token = new_token();
    let new = NewToken {
        role,
        person_id: req.person,
        name: req.name.unwrap_or_default().trim().to_string(),
        sha256: token_sha256(&token),
        prefix: token.chars().take(12).collect(),
    };
    let t = tenant.to_string();
    let info = db.write(move |c| c.add_token(&t, &new)).await?;
    Ok(CreatedToken { token, info })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_short_ones_are_refused() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("anything", "not a hash"));
        assert!(matches!(
            hash_password("short"),
            Err(PeopleError::Invalid {
                code: "weak_password",
                ..
            })
        ));
    }

    #[test]
    fn emails_are_checked() {
        for ok in ["giulia@acme.example", "a.b+c@x.it"] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in ["", "giulia", "@acme.it", "g@localhost", "g iulia@acme.it"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
