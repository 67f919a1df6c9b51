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
    /// has them): one line per alias whose target differs, that the log never moved, or that the
    /// registry lost.
    pub fn alias_differences(&self, stored: &[(String, String, String)]) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (model, alias, version) in stored {
            seen.insert((model.clone(), alias.clone()));
            match self.alias(model, alias) {
                Some(t) if t.version == *version => {}
                Some(t) => out.push(format!(
                    "alias {model}@{alias} points at {version}, but its newest logged move (entry {}) names {}",
                    t.index, t.version
                )),
                None => out.push(format!("alias {model}@{alias} points at {version}, but the log never moved it")),
            }
        }
        for ((model, alias), t) in &self.aliases {
            if !seen.contains(&(model.clone(), alias.clone())) {
                out.push(format!(
                    "alias {model}@{alias} is gone, but its newest logged move (entry {}) names {}",
                    t.index, t.version
                ));
            }
        }
        out
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
        assert_eq!(
            r.alias_differences(&[stored("2"), vec![("a/m".into(), "staging".into(), "1".into())]].concat()),
            Vec::<String>::new()
        );
        let d = r.alias_differences(&stored("1"));
        assert!(d[0].contains("a/m@prod points at 1") && d[0].contains("entry 5"), "{d:?}");
        assert!(d[1].contains("a/m@staging is gone"), "{d:?}");
        let d = r.alias_differences(&[stored("2"), vec![("a/m".into(), "x".into(), "1".into())]].concat());
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
