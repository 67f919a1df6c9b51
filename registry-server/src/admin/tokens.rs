//! `token`: API tokens managed directly in the database beside the server.
use clap::Subcommand;
use registry_server::config::Config;

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a token and print it (shown once).
    Create {
        /// Unique name; recorded as `token:NAME` in everything it does.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, push, attest, promote, admin.
        #[arg(long)]
        scopes: String,
        /// Models covered: *, NAMESPACE/* or NAMESPACE/NAME.
        #[arg(long, value_parser = registry_core::auth::NamePattern::parse)]
        namespace: registry_core::auth::NamePattern,
        /// Expiry: RFC 3339 time, or a duration like 90d, 12h, 30m.
        #[arg(long)]
        expires: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id or name.
    Revoke {
        /// Id or name.
        id: String,
    },
}

/// `90d`, `12h`, `30m`, `45s` from now, or an RFC 3339 time, as RFC 3339.
fn expiry(s: &str) -> anyhow::Result<String> {
    let unit = |c: char| match c {
        'd' => Some(86_400),
        'h' => Some(3_600),
        'm' => Some(60),
        's' => Some(1),
        _ => None,
    };
    if let Some(last) = s.chars().last()
        && let Some(secs) = unit(last)
        && let Ok(n) = s[..s.len() - 1].parse::<i64>()
    {
        let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(n.saturating_mul(secs));
        return Ok(t.format(&time::format_description::well_known::Rfc3339)?);
    }
    Ok(s.to_owned())
}

pub async fn token_cmd(config: &Config, cmd: TokenCmd) -> anyhow::Result<()> {
    use registry_server::{auth::Actor, service::tokens};
    let db = registry_server::db::Db::open(&config.database_url, config.migrate).await?;
    let r = match cmd {
        TokenCmd::Create { name, scopes, namespace, expires, json } => {
            let expires_at = expires.as_deref().map(expiry).transpose()?;
            let scopes = registry_core::auth::parse_scopes(&scopes).map_err(anyhow::Error::msg)?;
            let req = registry_core::auth::CreateTokenRequest { name, scopes, namespace, expires_at };
            let t =
                tokens::create(&db, &Actor::local_admin(), req).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                eprintln!(
                    "created token {} ({}) for {}; it is shown only now:",
                    t.info.name, t.info.id, t.info.namespace
                );
                println!("{}", t.token);
            }
            Ok(())
        }
        TokenCmd::List { json } => {
            let list = tokens::list(&db).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for t in list {
                    let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
                    let state = match (&t.revoked_at, &t.expires_at) {
                        (Some(r), _) => format!("revoked {r}"),
                        (None, Some(e)) => format!("expires {e}"),
                        (None, None) => "no expiry".into(),
                    };
                    println!("{}\t{}\t{}\t{}\t{}", t.id, t.name, scopes.join(","), t.namespace, state);
                }
            }
            Ok(())
        }
        TokenCmd::Revoke { id } => {
            let t = tokens::revoke(&db, &id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("revoked {} ({})", t.name, t.id);
            Ok(())
        }
    };
    db.close().await;
    r
}
