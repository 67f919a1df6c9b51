//! A version's lineage neighbourhood: its ancestors and descendants through parent edges, a few
//! generations each way, limited to what the caller may read (the web UI's graph).
use std::collections::{BTreeMap, BTreeSet};

use crate::auth::Actor;
use crate::db::versions::VersionRow;
use crate::error::ApiError;
use crate::state::AppState;

/// Generations followed each way.
pub const DEPTH: usize = 3;
/// Versions followed each way at most (the rest is left out, and counted).
pub const MAX_EACH_WAY: usize = 24;

/// The versions around one, and the parent edges among them.
#[derive(Debug, Default)]
pub struct Neighbourhood {
    /// Ancestors the caller may read.
    pub ancestors: Vec<VersionRow>,
    /// Descendants the caller may read.
    pub descendants: Vec<VersionRow>,
    /// (child id, parent id) among the focus and those versions.
    pub edges: Vec<(i64, i64)>,
    /// Versions reached but not shown: outside the caller's namespaces, or beyond the bounds.
    pub hidden: usize,
}

/// Follows parent edges from `focus` up (ancestors) and down (descendants), [`DEPTH`] generations
/// and [`MAX_EACH_WAY`] versions each way, one query per generation. Versions outside `actor`'s
/// namespaces are counted in `hidden`, never named, and the walk does not continue through them.
pub async fn neighbourhood(
    state: &AppState,
    actor: &Actor,
    focus: &VersionRow,
) -> Result<Neighbourhood, ApiError> {
    let mut out = Neighbourhood::default();
    let mut edges = BTreeSet::new();
    let mut hidden = BTreeSet::new();
    for up in [true, false] {
        let mut seen: BTreeMap<i64, VersionRow> = BTreeMap::new();
        let mut frontier = vec![focus.id];
        for _ in 0..DEPTH {
            if frontier.is_empty() || seen.len() >= MAX_EACH_WAY {
                break;
            }
            let pairs = if up {
                state.db.parents_of(&frontier).await?
            } else {
                state.db.children_of(&frontier).await?
            };
            let next: Vec<i64> = pairs
                .iter()
                .map(|&(child, parent)| if up { parent } else { child })
                .filter(|id| *id != focus.id && !seen.contains_key(id) && !hidden.contains(id))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let rows = state.db.versions_by_ids(&next).await?;
            let mut readable = BTreeSet::new();
            for row in rows {
                let covered =
                    registry_core::ModelName::new(&row.namespace, &row.name).is_ok_and(|m| actor.covers(&m));
                if !covered || seen.len() >= MAX_EACH_WAY {
                    hidden.insert(row.id);
                } else {
                    readable.insert(row.id);
                    seen.insert(row.id, row);
                }
            }
            for (child, parent) in pairs {
                let (near, far) = if up { (child, parent) } else { (parent, child) };
                if readable.contains(&far) && (near == focus.id || seen.contains_key(&near)) {
                    edges.insert((child, parent));
                }
            }
            frontier = readable.into_iter().collect();
        }
        let rows = seen.into_values().collect();
        if up {
            out.ancestors = rows;
        } else {
            out.descendants = rows;
        }
    }
    out.edges = edges.into_iter().collect();
    out.hidden = hidden.len();
    Ok(out)
}
