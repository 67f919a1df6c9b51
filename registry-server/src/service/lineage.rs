//! A version's lineage neighbourhood: its ancestors and descendants through parent edges, a few
//! generations each way, within what the caller may read (the web UI's graph). Bounded whatever the
//! history: one query per generation with a LIMIT, and only names and flags are loaded.
use std::collections::BTreeSet;

use crate::auth::Actor;
use crate::db::incident::LineageNode;
use crate::db::versions::VersionRow;
use crate::error::ApiError;
use crate::state::AppState;

/// Generations followed each way.
pub const DEPTH: usize = 3;
/// Versions shown each way at most.
pub const MAX_EACH_WAY: usize = 24;
/// Edges read per generation at most.
const MAX_EDGES: u32 = 200;

/// The versions around one, and the parent edges among them.
#[derive(Debug, Default)]
pub struct Neighbourhood {
    /// Ancestors the caller may read.
    pub ancestors: Vec<LineageNode>,
    /// Descendants the caller may read.
    pub descendants: Vec<LineageNode>,
    /// (child id, parent id) among the focus and those versions.
    pub edges: Vec<(i64, i64)>,
    /// More related versions the caller may read exist than are shown (beyond the bounds).
    pub more: bool,
}

/// Follows parent edges from `focus` up (ancestors) and down (descendants), [`DEPTH`] generations
/// and [`MAX_EACH_WAY`] versions each way. Only versions within `actor`'s namespace pattern are
/// followed (the filter is in the query): others are neither shown nor counted, so the graph says
/// nothing about other namespaces (as `/v1/lineage/affected` shows nothing of them).
pub async fn neighbourhood(
    state: &AppState,
    actor: &Actor,
    focus: &VersionRow,
) -> Result<Neighbourhood, ApiError> {
    let (ns, name) = (actor.pattern.namespace(), actor.pattern.name());
    let mut out = Neighbourhood::default();
    let mut edges = BTreeSet::new();
    for up in [true, false] {
        let mut seen: BTreeSet<i64> = BTreeSet::new();
        let mut frontier = vec![focus.id];
        for _ in 0..DEPTH {
            if frontier.is_empty() {
                break;
            }
            let pairs = state.db.lineage_step(&frontier, up, ns, name, MAX_EDGES).await?;
            out.more |= pairs.len() as u32 >= MAX_EDGES;
            let far = |&(child, parent): &(i64, i64)| if up { parent } else { child };
            let mut next: Vec<i64> = pairs
                .iter()
                .map(far)
                .filter(|id| *id != focus.id && !seen.contains(id))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let room = MAX_EACH_WAY - seen.len();
            if next.len() > room {
                out.more = true;
                next.truncate(room);
            }
            seen.extend(&next);
            edges.extend(pairs.iter().filter(|p| seen.contains(&far(p))).copied());
            frontier = if seen.len() >= MAX_EACH_WAY { Vec::new() } else { next };
        }
        // Past the last generation shown: is there more?
        if !frontier.is_empty() && !out.more {
            out.more = !state.db.lineage_step(&frontier, up, ns, name, 1).await?.is_empty();
        }
        let ids: Vec<i64> = seen.into_iter().collect();
        let nodes = state.db.lineage_nodes(&ids).await?;
        if up {
            out.ancestors = nodes;
        } else {
            out.descendants = nodes;
        }
    }
    // Edges between shown versions only (a far end may have been cut by the bound).
    let shown: BTreeSet<i64> =
        std::iter::once(focus.id).chain(out.ancestors.iter().chain(&out.descendants).map(|n| n.id)).collect();
    out.edges = edges.into_iter().filter(|(c, p)| shown.contains(c) && shown.contains(p)).collect();
    Ok(out)
}
