//! `tickdb token create|list|revoke` and `tickdb user hash-password`.
//!
//! The token commands work on the data directory's token store (`<data_dir>/auth/tokens.json`)
//! with the keys of the configuration's `auth.jwt`; a running server picks up their changes
//! within seconds (it re-reads the store when the file changes).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::auth::{Authenticator, Role, TokenInfo, basic};
use crate::config::Config;
use crate::duration::PromDuration;

/// Flags every token command takes.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Data directory holding auth/tokens.json (overrides the config's data_dir). [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// YAML configuration file (its `auth.jwt` keys and `data_dir` are used).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue a token; prints the token on stdout (shown once) and its id on stderr.
    #[command(
        after_help = "Example:\n  tickdb token create --role writer --ttl 90d --subject agent-eu1 --scope tenant=acme\n\n\
Send it as `Authorization: Bearer TOKEN`. Roles: reader (read), writer (write only),\n\
operator (read, operate), admin (everything). With --scope, every series the token\n\
writes must carry the label, and its queries only see series that do."
    )]
    Create(TokenCreateArgs),
    /// List issued tokens (never the tokens themselves).
    #[command(after_help = "Example:\n  tickdb token list --data-dir /var/lib/tickdb")]
    List(TokenListArgs),
    /// Revoke a token by id; a running server refuses it within seconds.
    #[command(
        after_help = "Example:\n  tickdb token revoke 5d41402abc4b2a76b9719d911017c592 --data-dir /var/lib/tickdb"
    )]
    Revoke(TokenRevokeArgs),
}

#[derive(Args, Debug)]
pub struct TokenCreateArgs {
    /// reader, writer, operator or admin.
    #[arg(long)]
    pub role: Role,
    /// Lifetime (Prometheus duration, e.g. 12h, 90d, 1y).
    #[arg(long)]
    pub ttl: PromDuration,
    /// Who or what the token is for (the `sub` claim).
    #[arg(long, default_value = "cli")]
    pub subject: String,
    /// Restrict the token to series with this label (`name=value`); may be repeated.
    #[arg(long, value_parser = parse_scope)]
    pub scope: Vec<(String, String)>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct TokenListArgs {
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct TokenRevokeArgs {
    /// The token id (`jti`), as printed by `token create` and `token list`.
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Read a password from stdin and print its argon2 hash for the Basic-auth users file.
    #[command(after_help = "Example:\n  tickdb user hash-password < password.txt\n\n\
Interactively, without echo:\n  read -rs PW && printf '%s\\n' \"$PW\" | tickdb user hash-password\n\n\
Then add the user to the file named by auth.basic_auth_users_file:\n  \
users:\n    - name: grafana\n      role: reader\n      password_hash: '$argon2id$v=19$...'")]
    HashPassword,
}

fn parse_scope(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not name=value")),
    }
}

fn open(store: &StoreArgs) -> anyhow::Result<Authenticator> {
    let cfg = match &store.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let data_dir = store.data_dir.clone().unwrap_or_else(|| cfg.data_dir.clone());
    Ok(Authenticator::new(&cfg.auth, &data_dir, true)?)
}

fn time(s: i64) -> String {
    chrono::DateTime::from_timestamp(s, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

fn scope_text(t: &TokenInfo) -> String {
    if t.scope.is_empty() {
        return "-".into();
    }
    t.scope.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Runs a token command.
pub fn token(cmd: &TokenCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create(a) => {
            let auth = open(&a.store)?;
            let (jwt, info) = auth.tokens().create(a.role, a.ttl.0, &a.subject, a.scope.clone())?;
            writeln!(out, "{jwt}")?;
            writeln!(err, "token id {} ({}, {}), expires {}", info.id, info.subject, info.role, time(info.expires_at))?;
        }
        TokenCommand::List(a) => {
            let auth = open(&a.store)?;
            let tokens = auth.tokens().list();
            if a.json {
                for t in &tokens {
                    writeln!(out, "{}", serde_json::to_string(t)?)?;
                }
            } else {
                writeln!(
                    out,
                    "{:<32}  {:<16}  {:<8}  {:<20}  {:<20}  {:<7}  SCOPE",
                    "ID", "SUBJECT", "ROLE", "ISSUED", "EXPIRES", "STATUS"
                )?;
                let now = chrono::Utc::now().timestamp();
                for t in &tokens {
                    let status = if t.revoked_at.is_some() {
                        "revoked"
                    } else if t.expires_at <= now {
                        "expired"
                    } else {
                        "active"
                    };
                    writeln!(
                        out,
                        "{:<32}  {:<16}  {:<8}  {:<20}  {:<20}  {:<7}  {}",
                        t.id,
                        t.subject,
                        t.role.as_str(),
                        time(t.issued_at),
                        time(t.expires_at),
                        status,
                        scope_text(t)
                    )?;
                }
            }
        }
        TokenCommand::Revoke(a) => {
            let auth = open(&a.store)?;
            let info = auth.tokens().revoke(&a.id)?;
            writeln!(err, "revoked token {} ({}, {})", info.id, info.subject, info.role)?;
        }
    }
    Ok(())
}

/// Runs a user command; the password comes from `input` (first line, newline removed).
pub fn user(cmd: &UserCommand, input: &mut dyn BufRead, out: &mut dyn Write) -> anyhow::Result<()> {
    match cmd {
        UserCommand::HashPassword => {
            let mut line = String::new();
            input.read_line(&mut line)?;
            let password = line.strip_suffix('\n').unwrap_or(&line);
            let password = password.strip_suffix('\r').unwrap_or(password);
            anyhow::ensure!(!password.is_empty(), "no password on stdin");
            writeln!(out, "{}", basic::hash_password(password)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn run(args: &[&str]) -> (String, String) {
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Token(cmd) = cli.command else { panic!("not a token command") };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        token(&cmd, &mut out, &mut err).unwrap();
        (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    #[test]
    fn create_list_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let (jwt, err) = run(&[
            "tickdb",
            "token",
            "create",
            "--role",
            "writer",
            "--ttl",
            "90d",
            "--subject",
            "agent",
            "--scope",
            "tenant=acme",
            "--data-dir",
            d,
        ]);
        assert_eq!(jwt.trim().split('.').count(), 3);
        let id = err.split_whitespace().nth(2).unwrap().to_string();
        assert_eq!(id.len(), 32, "{err}");
        let (table, _) = run(&["tickdb", "token", "list", "--data-dir", d]);
        let row = table.lines().nth(1).unwrap();
        assert!(row.starts_with(&id) && row.contains("agent") && row.contains("writer"), "{table}");
        assert!(row.contains("active") && row.ends_with("tenant=acme"), "{table}");
        assert!(!table.contains(jwt.trim()));
        run(&["tickdb", "token", "revoke", &id, "--data-dir", d]);
        let (json, _) = run(&["tickdb", "token", "list", "--json", "--data-dir", d]);
        let t: TokenInfo = serde_json::from_str(json.trim()).unwrap();
        assert!(t.revoked_at.is_some());
        // The server side (same data dir) refuses it.
        let auth = Authenticator::new(&Default::default(), dir.path(), false).unwrap();
        let mut h = axum::http::HeaderMap::new();
        h.insert("authorization", format!("Bearer {}", jwt.trim()).parse().unwrap());
        let e = auth.check(&h, "192.0.2.1".parse().unwrap(), crate::auth::Permission::Write).unwrap_err();
        assert!(matches!(e, crate::auth::AuthError::Revoked), "{e}");
    }

    #[test]
    fn bad_arguments() {
        for args in [
            &["tickdb", "token", "create", "--role", "root", "--ttl", "1d"][..],
            &["tickdb", "token", "create", "--role", "admin"],
            &["tickdb", "token", "create", "--role", "admin", "--ttl", "1d", "--scope", "tenant"],
            &["tickdb", "token", "create", "--role", "admin", "--ttl", "1d", "--scope", "=x"],
            &["tickdb", "token", "revoke"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn hash_password_reads_one_line() {
        let mut out = Vec::new();
        user(&UserCommand::HashPassword, &mut &b"s3cret\n"[..], &mut out).unwrap();
        let hash = String::from_utf8(out).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        let parsed = argon2::password_hash::PasswordHash::new(hash.trim()).unwrap();
        use argon2::password_hash::PasswordVerifier;
        assert!(argon2::Argon2::default().verify_password(b"s3cret", &parsed).is_ok());
        assert!(user(&UserCommand::HashPassword, &mut &b"\n"[..], &mut Vec::new()).is_err());
    }
}
