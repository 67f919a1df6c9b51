//! The lineage graph of a version page, drawn on the server as SVG: ancestors in rows above, the
//! version itself, descendants in rows below, one box (a link) per version and one arrow per
//! parent → child edge. Pure: nodes and edges in, markup out. No inline styles (the page's CSP
//! forbids them): everything is styled by class from the stylesheet.
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Where a node stands relative to the page's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// An ancestor (a parent, a parent's parent, ...).
    Ancestor,
    /// The page's version.
    Focus,
    /// A descendant.
    Descendant,
}

/// One version in the graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// `NS/NAME@VERSION`: its label, and its id in `data-node`.
    pub key: String,
    /// Its page.
    pub href: String,
    /// Ancestor, focus or descendant.
    pub side: Side,
    /// Drawn with a dashed red border.
    pub quarantined: bool,
}

/// A parent → child edge, by node key.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The parent's key.
    pub parent: String,
    /// The child's key.
    pub child: String,
}

const BOX_W: i64 = 240;
const BOX_H: i64 = 34;
const GAP_X: i64 = 24;
const ROW_H: i64 = 74;
const PAD: i64 = 12;
const MAX_LABEL: usize = 31;

/// Rows: every edge goes from a higher row to a lower one. Ancestors sit one row above their
/// lowest child in the graph, descendants one row below their deepest parent (longest paths), so
/// a diamond never puts a parent beside its child.
fn rows(nodes: &[Node], edges: &[(usize, usize)]) -> Vec<i64> {
    let mut row: Vec<i64> = nodes
        .iter()
        .map(|n| match n.side {
            Side::Ancestor => -1,
            Side::Focus => 0,
            Side::Descendant => 1,
        })
        .collect();
    // Relax until stable; a DAG of n nodes settles within n rounds (the bound guards bad input).
    for _ in 0..=nodes.len() {
        let mut changed = false;
        for &(p, c) in edges {
            if nodes[p].side == Side::Ancestor && row[p] > row[c] - 1 {
                row[p] = row[c] - 1;
                changed = true;
            }
            if nodes[c].side == Side::Descendant && row[c] < row[p] + 1 {
                row[c] = row[p] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    row
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn label(key: &str) -> String {
    if key.chars().count() <= MAX_LABEL {
        return key.to_owned();
    }
    let tail: String = key.chars().rev().take(MAX_LABEL - 1).collect::<Vec<_>>().into_iter().rev().collect();
    format!("…{tail}")
}

/// The SVG of `nodes` and `edges` (edges naming an absent node are left out).
pub fn svg(nodes: &[Node], edges: &[Edge]) -> String {
    let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.key.as_str(), i)).collect();
    let pairs: Vec<(usize, usize)> = edges
        .iter()
        .filter_map(|e| Some((*index.get(e.parent.as_str())?, *index.get(e.child.as_str())?)))
        .collect();
    let row = rows(nodes, &pairs);
    let mut by_row: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, r) in row.iter().enumerate() {
        by_row.entry(*r).or_default().push(i);
    }
    for members in by_row.values_mut() {
        members.sort_by(|a, b| nodes[*a].key.cmp(&nodes[*b].key));
    }
    let widest = by_row.values().map(Vec::len).max().unwrap_or(1).max(1) as i64;
    let width = PAD * 2 + widest * BOX_W + (widest - 1) * GAP_X;
    let top = by_row.keys().next().copied().unwrap_or(0);
    let height = PAD * 2 + by_row.len().max(1) as i64 * ROW_H - (ROW_H - BOX_H);
    // Each row is centred.
    let mut pos = vec![(0i64, 0i64); nodes.len()];
    for (r, (_, members)) in by_row.iter().enumerate() {
        let n = members.len() as i64;
        let row_w = n * BOX_W + (n - 1) * GAP_X;
        let x0 = (width - row_w) / 2;
        for (k, &i) in members.iter().enumerate() {
            pos[i] = (x0 + k as i64 * (BOX_W + GAP_X), PAD + r as i64 * ROW_H);
        }
    }
    let _ = top;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"lineage\" data-testid=\"lineage-graph\" \
         viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"group\" \
         aria-label=\"Lineage graph\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\"/></marker></defs>"
    );
    for &(p, c) in &pairs {
        let (px, py) = pos[p];
        let (cx, cy) = pos[c];
        let (x1, y1) = (px + BOX_W / 2, py + BOX_H);
        let (x2, y2) = (cx + BOX_W / 2, cy - 2);
        let mid = (y1 + y2) / 2;
        let _ = write!(
            out,
            "<path class=\"edge\" data-testid=\"graph-edge\" data-from=\"{}\" data-to=\"{}\" \
             d=\"M{x1},{y1} C{x1},{mid} {x2},{mid} {x2},{y2}\"/>",
            esc(&nodes[p].key),
            esc(&nodes[c].key)
        );
    }
    for (i, n) in nodes.iter().enumerate() {
        let (x, y) = pos[i];
        let mut class = String::from("node");
        if n.side == Side::Focus {
            class.push_str(" focus");
        }
        if n.quarantined {
            class.push_str(" quarantined");
        }
        let what = match (n.side, n.quarantined) {
            (Side::Focus, _) => "this version",
            (Side::Ancestor, false) => "ancestor",
            (Side::Ancestor, true) => "ancestor, quarantined",
            (Side::Descendant, false) => "descendant",
            (Side::Descendant, true) => "descendant, quarantined",
        };
        let key = esc(&n.key);
        let focus = if n.side == Side::Focus { " data-focus=\"true\" aria-current=\"page\"" } else { "" };
        let _ = write!(
            out,
            "<a class=\"{class}\" href=\"{}\" data-testid=\"graph-node\" data-node=\"{key}\"{focus} \
             aria-label=\"{key} ({what})\"><title>{key} ({what})</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></a>",
            esc(&n.href),
            x + BOX_W / 2,
            y + BOX_H / 2 + 4,
            esc(&label(&n.key)),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(key: &str, side: Side) -> Node {
        Node { key: key.into(), href: format!("/ui/{key}"), side, quarantined: false }
    }

    fn edge(p: &str, c: &str) -> Edge {
        Edge { parent: p.into(), child: c.into() }
    }

    #[test]
    fn a_diamond_puts_every_parent_above_its_child() {
        // a -> b -> f, a -> f (a is both grandparent and parent); f -> c.
        let nodes = [
            node("m/x@a", Side::Ancestor),
            node("m/x@b", Side::Ancestor),
            node("m/x@f", Side::Focus),
            node("m/x@c", Side::Descendant),
        ];
        let pairs = [(0, 1), (1, 2), (0, 2), (2, 3)];
        let r = rows(&nodes, &pairs);
        assert_eq!(r, vec![-2, -1, 0, 1]);
        for (p, c) in pairs {
            assert!(r[p] < r[c], "{p} -> {c}: {r:?}");
        }
    }

    #[test]
    fn markup_names_every_node_and_edge_and_escapes_text() {
        let nodes = [node("m/x@1", Side::Ancestor), node("m/x@2\"<", Side::Focus)];
        let s = svg(&nodes, &[edge("m/x@1", "m/x@2\"<"), edge("m/x@1", "gone/x@9")]);
        assert_eq!(s.matches("data-testid=\"graph-node\"").count(), 2);
        assert_eq!(s.matches("data-testid=\"graph-edge\"").count(), 1, "edges to absent nodes dropped");
        assert!(s.contains("data-from=\"m/x@1\" data-to=\"m/x@2&quot;&lt;\""));
        assert!(s.contains("data-focus=\"true\""));
        assert!(!s.contains("style="), "no inline style: the CSP forbids it");
        assert!(!s.contains("2\"<"));
    }

    #[test]
    fn long_names_are_cut_in_the_box_but_whole_in_the_title() {
        let key = format!("team/{}@1.0.0", "n".repeat(60));
        let s = svg(&[node(&key, Side::Focus)], &[]);
        assert!(s.contains(&format!("<title>{key} (this version)</title>")));
        assert!(s.contains(">…"));
    }
}
