//! The scrubber's alias check: replay every `alias.moved` entry and compare where each alias's newest
//! logged move leaves it with where the stored alias points. An alias row edited behind the log (an
//! `UPDATE aliases` in the database) is a finding; so is an alias the log never moved, or one that
//! vanished. Moves logged while the check runs are left to the next pass.
use registry_core::tlog::entry::LogEntry;
use registry_core::tlog::replay::Replay;

use crate::error::ApiError;
use crate::service::scrub::{Pace, ROW_PAGE};
use crate::state::AppState;

/// `(target, detail)` for every alias whose stored target is not the one the log leaves; the rows it
/// reads count against the pass's row rate.
pub async fn differences(state: &AppState, pace: &mut Pace) -> Result<Vec<(String, String)>, ApiError> {
    // The log size before the aliases are read: a move committed after it may or may not be in the
    // aliases read (a move and its entry commit together), so its alias is not judged in this pass.
    let settled = state.db.log_size().await?;
    let stored = state.db.aliases_all().await?;
    let mut replay = Replay::default();
    let mut after = -1i64;
    loop {
        let page = state.db.alias_moves_after(after, ROW_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.idx;
        pace.spend(page.len() as u64).await;
        for row in &page {
            // An unparsable body is the log-entry check's finding, not this one's.
            if let Ok(e) = LogEntry::parse(row.body.as_bytes()) {
                replay.apply(row.idx.max(0) as u64, &e);
            }
        }
    }
    Ok(replay
        .alias_differences(&stored)
        .into_iter()
        .filter(|d| d.logged.as_ref().is_none_or(|t| t.index < settled))
        .map(|d| (format!("alias {}@{}", d.model, d.alias), d.to_string()))
        .collect())
}
