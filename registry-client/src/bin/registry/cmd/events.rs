//! `registry events tail [--after N] [--follow]`: the registry's events (its log entries you may see)
//! as they happen, for people; `--json` prints one `{"index","body"}` object per line, as the API
//! serves them (the body is the entry's exact bytes, provable with an inclusion proof).
use std::io::Write;
use std::time::Duration;

use registry_client::ClientError;
use registry_core::tlog::entry::LogEntry;

use crate::{Ctx, Failure};

#[derive(clap::Subcommand)]
pub enum EventsCmd {
    /// Print the events you may see, oldest first: every log entry for a credential covering `*`,
    /// otherwise those about your models. `--follow` keeps waiting for new ones.
    Tail(TailArgs),
}

#[derive(clap::Args)]
pub struct TailArgs {
    /// Start after this log index (-1: from the first entry).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    after: i64,
    /// Keep polling for new events (Ctrl-C to stop).
    #[arg(long, short = 'f')]
    follow: bool,
    /// Seconds between polls when following.
    #[arg(long, default_value_t = 2.0)]
    interval: f64,
    /// Stop after this many events.
    #[arg(long)]
    max: Option<u64>,
}

pub async fn run(ctx: &Ctx, cmd: EventsCmd) -> Result<(), Failure> {
    let EventsCmd::Tail(a) = cmd;
    if !(a.interval.is_finite() && a.interval > 0.0) {
        return Err(anyhow::anyhow!("--interval must be a positive number of seconds").into());
    }
    let client = ctx.client()?;
    let interval = Duration::from_secs_f64(a.interval.min(3600.0));
    if a.max == Some(0) {
        return Ok(());
    }
    let (mut after, mut printed, mut backoff) = (a.after, 0u64, interval);
    let mut out = std::io::stdout().lock();
    loop {
        let page = match client.events(after, 1000).await {
            Ok(p) => p,
            // A following tail outlives a restart or a network blip; refusals end it.
            Err(e @ (ClientError::Transport(_) | ClientError::Api { status: 500.., .. })) if a.follow => {
                eprintln!("registry events: {e}; retrying in {} s", backoff.as_secs_f64());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        backoff = interval;
        for e in &page.events {
            if ctx.json {
                serde_json::to_writer(&mut out, e)?;
                writeln!(out)?;
            } else {
                writeln!(out, "{}", line(e.index, &e.body))?;
            }
            printed += 1;
            if a.max.is_some_and(|m| printed >= m) {
                return Ok(out.flush()?);
            }
        }
        out.flush()?;
        let moved = page.next_after != after;
        after = page.next_after;
        if !moved {
            if !a.follow {
                return Ok(());
            }
            tokio::time::sleep(interval).await;
        }
    }
}

/// `#INDEX  TIME  TYPE  SUBJECT  by ACTOR`, with control characters escaped: entries hold text others
/// wrote, and a terminal must not take any of it as commands.
fn line(index: u64, body: &str) -> String {
    let text = match LogEntry::parse(body.as_bytes()) {
        Ok(e) => format!("{}  {}  {}  by {}", e.time, e.kind, e.subject, e.actor),
        Err(_) => format!("(unreadable entry) {body}"),
    };
    let mut out = format!("#{index}  ");
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        let l = super::line(3, "not json \u{1b}[31m\n");
        assert!(!l.chars().any(char::is_control), "{l:?}");
        let l =
            super::line(4, "{\"type\":\"x\",\"subject\":\"a\\u001b[2Jb\",\"actor\":\"t\",\"time\":\"now\"}");
        assert!(!l.chars().any(char::is_control), "{l:?}");
    }
}
