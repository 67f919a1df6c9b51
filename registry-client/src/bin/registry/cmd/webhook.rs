//! `registry webhook add|list|pause|resume|remove|rotate-secret|redeliver` (admin; docs/events.md).
use std::io::Read;

use registry_core::api::{CreateWebhookRequest, WebhookInfo};

use crate::{Ctx, Failure};

#[derive(clap::Subcommand)]
pub enum WebhookCmd {
    /// Subscribe a URL to events; prints the signing secret once.
    Add {
        /// Where to POST events (http or https). `-` reads it from standard input, so a URL with
        /// credentials stays out of shell history.
        #[arg(long)]
        url: String,
        /// The models whose events are sent: `*`, `NS/*` or `NS/NAME`.
        #[arg(long, default_value = "*")]
        namespace: String,
        /// Log entry types (version.created, alias.moved, ...), `access`, or `*`; comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        /// `cloudevents` or `openlineage`.
        #[arg(long, default_value = "cloudevents")]
        format: String,
    },
    /// Every subscription and its delivery state.
    List,
    /// Stop deliveries (the cursor stays).
    Pause { id: String },
    /// Resume deliveries from the cursor.
    Resume { id: String },
    /// Remove a subscription and its dead letters.
    Remove { id: String },
    /// Replace the signing secret; prints the new one once.
    RotateSecret { id: String },
    /// Send the subscription's dead-lettered events again.
    Redeliver { id: String },
}

pub async fn run(ctx: &Ctx, cmd: WebhookCmd) -> Result<(), Failure> {
    let client = ctx.client()?;
    match cmd {
        WebhookCmd::Add { url, namespace, events, format } => {
            let url = if url == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s.trim().to_owned()
            } else {
                url
            };
            let req = CreateWebhookRequest { url, namespace, events, format: Some(format) };
            let created = client.add_webhook(&req).await?;
            if ctx.json {
                return Ok(super::print_json(&created)?);
            }
            println!("{}", line(&created.webhook));
            println!("secret (shown once; verify deliveries with it): {}", created.secret);
        }
        WebhookCmd::List => {
            let list = client.list_webhooks().await?;
            if ctx.json {
                return Ok(super::print_json(&list)?);
            }
            if list.webhooks.is_empty() {
                println!("no webhooks");
            }
            for w in &list.webhooks {
                println!("{}", line(w));
                if let Some(e) = &w.last_error {
                    println!(
                        "  failing: {e} ({} attempts, next {})",
                        w.attempts,
                        w.next_attempt_at.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        WebhookCmd::RotateSecret { id } => {
            let r = client.rotate_webhook_secret(&id).await?;
            if ctx.json {
                return Ok(super::print_json(&r)?);
            }
            println!("new secret for {id} (shown once): {}", r.secret);
        }
        WebhookCmd::Pause { id } => act(ctx, &client, &id, "pause", "paused").await?,
        WebhookCmd::Resume { id } => act(ctx, &client, &id, "resume", "resumed").await?,
        WebhookCmd::Redeliver { id } => act(ctx, &client, &id, "redeliver", "dead letters queued").await?,
        WebhookCmd::Remove { id } => {
            client.remove_webhook(&id).await?;
            done(ctx, &id, "removed")?;
        }
    }
    Ok(())
}

async fn act(
    ctx: &Ctx,
    client: &registry_client::Client,
    id: &str,
    action: &str,
    said: &str,
) -> Result<(), Failure> {
    client.webhook_action(id, action).await?;
    done(ctx, id, said)
}

fn done(ctx: &Ctx, id: &str, said: &str) -> Result<(), Failure> {
    if ctx.json {
        super::print_json(&serde_json::json!({"id": id, "done": said}))?;
    } else {
        println!("{id} {said}");
    }
    Ok(())
}

/// `webhook-1  active  * [version.created]  cloudevents  url sha256:…  delivered 12, dead 0`.
fn line(w: &WebhookInfo) -> String {
    format!(
        "{}  {}  {} [{}]  {}  url {}  delivered {}, dead letters {}, at log index {}",
        w.id,
        w.state,
        w.namespace,
        w.events.join(","),
        w.format,
        w.url_hash,
        w.delivered,
        w.dead_letters,
        w.log_cursor
    )
}
