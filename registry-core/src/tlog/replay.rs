//! Replaying the log's state changes: where every alias points and which versions are quarantined,
//! as the log alone says. A log verifier and the server's scrubber compare this with what the registry
//! serves and stores, so an alias or a quarantine flag edited behind the log's back is reported.
use std::collections::BTreeMap;

use super::entry::{ALIAS_MOVED, LogEntry, VERSION_QUARANTINED, VERSION_RELEASED};

/// Where a logged move left an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTarget {
    /// The version label (`NS/NAME@VERSION` minus the model).
    pub version: String,
    /// The index of the `alias.moved` entry.
    pub index: u64,
}

/// State folded from entries in index order.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// `(NS/NAME, alias)` -> its newest logged target.
    pub aliases: BTreeMap<(String, String), AliasTarget>,
    /// `NS/NAME@VERSION` -> the index of the quarantine in force (none after a release).
    pub quarantined: BTreeMap<String, Option<u64>>,
}

impl Replay {
    /// Folds one entry (entries must come in index order).
    pub fn apply(&mut self, index: u64, e: &LogEntry) {
        match e.kind.as_str() {
            ALIAS_MOVED => {
                let (Some((model, version)), Some(alias)) = (e.subject.split_once('@'), e.detail("alias"))
                else {
                    return;
                };
                self.aliases.insert(
                    (model.to_owned(), alias.to_owned()),
                    AliasTarget { version: version.to_owned(), index },
                );
            }
            VERSION_QUARANTINED => {
                self.quarantined.insert(e.subject.clone(), Some(index));
            }
            VERSION_RELEASED => {
                self.quarantined.insert(e.subject.clone(), None);
            }
            _ => {}
        }
    }

    /// The logged target of `model`'s `alias`, if the log ever moved it.
    pub fn alias(&self, model: &str, alias: &str) -> Option<&AliasTarget> {
        self.aliases.get(&(model.to_owned(), alias.to_owned()))
    }

    /// Differences between the logged aliases and `stored` (`(NS/NAME, alias, version)` as the registry
    /// has them): every alias whose target differs, that the log never moved, or that the registry lost.
    pub fn alias_differences(&self, stored: &[(String, String, String)]) -> Vec<AliasDifference> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (model, alias, version) in stored {
            seen.insert((model.clone(), alias.clone()));
            let logged = self.alias(model, alias);
            if logged.is_none_or(|t| t.version != *version) {
                out.push(AliasDifference {
                    model: model.clone(),
                    alias: alias.clone(),
                    stored: Some(version.clone()),
                    logged: logged.cloned(),
                });
            }
        }
        for ((model, alias), t) in &self.aliases {
            if !seen.contains(&(model.clone(), alias.clone())) {
                out.push(AliasDifference {
                    model: model.clone(),
                    alias: alias.clone(),
                    stored: None,
                    logged: Some(t.clone()),
                });
            }
        }
        out
    }
}

/// An alias whose stored target is not the one the log leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasDifference {
    /// `NS/NAME`.
    pub model: String,
    /// The alias.
    pub alias: String,
    /// The version label the registry has it at (none: the registry has no such alias).
    pub stored: Option<String>,
    /// Its newest logged move (none: the log never moved it).
    pub logged: Option<AliasTarget>,
}

impl std::fmt::Display for AliasDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (m, a) = (&self.model, &self.alias);
        match (&self.stored, &self.logged) {
            (Some(v), Some(t)) => write!(
                f,
                "alias {m}@{a} points at {v}, but its newest logged move (entry {}) names {}",
                t.index, t.version
            ),
            (Some(v), None) => write!(f, "alias {m}@{a} points at {v}, but the log never moved it"),
            (None, Some(t)) => write!(
                f,
                "alias {m}@{a} is gone, but its newest logged move (entry {}) names {}",
                t.index, t.version
            ),
            (None, None) => write!(f, "alias {m}@{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: &str, subject: &str, alias: Option<&str>) -> LogEntry {
        let mut details = BTreeMap::new();
        if let Some(a) = alias {
            details.insert("alias".to_owned(), serde_json::json!(a));
        }
        LogEntry { kind: kind.into(), subject: subject.into(), actor: "t".into(), time: "t".into(), details }
    }

    #[test]
    fn the_newest_move_wins_and_differences_are_named() {
        let mut r = Replay::default();
        r.apply(3, &e(ALIAS_MOVED, "a/m@1", Some("prod")));
        r.apply(5, &e(ALIAS_MOVED, "a/m@2", Some("prod")));
        r.apply(6, &e(ALIAS_MOVED, "a/m@1", Some("staging")));
        assert_eq!(r.alias("a/m", "prod"), Some(&AliasTarget { version: "2".into(), index: 5 }));
        let stored = |v: &str| vec![("a/m".to_owned(), "prod".to_owned(), v.to_owned())];
        let text = |d: Vec<AliasDifference>| d.iter().map(ToString::to_string).collect::<Vec<_>>();
        let both = [stored("2"), vec![("a/m".into(), "staging".into(), "1".into())]].concat();
        assert!(r.alias_differences(&both).is_empty());
        let d = text(r.alias_differences(&stored("1")));
        assert!(d[0].contains("a/m@prod points at 1") && d[0].contains("entry 5"), "{d:?}");
        assert!(d[1].contains("a/m@staging is gone"), "{d:?}");
        let d =
            text(r.alias_differences(&[stored("2"), vec![("a/m".into(), "x".into(), "1".into())]].concat()));
        assert!(d.iter().any(|l| l.contains("never moved")), "{d:?}");
    }

    #[test]
    fn a_release_ends_a_quarantine_and_a_later_one_starts_another() {
        let mut r = Replay::default();
        r.apply(1, &e(VERSION_QUARANTINED, "a/m@1", None));
        r.apply(2, &e(VERSION_RELEASED, "a/m@1", None));
        assert_eq!(r.quarantined["a/m@1"], None);
        r.apply(3, &e(VERSION_QUARANTINED, "a/m@1", None));
        assert_eq!(r.quarantined["a/m@1"], Some(3));
    }
}
