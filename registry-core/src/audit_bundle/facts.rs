//! What a bundle's log entries prove about its version, and the binding of a bundle to the request:
//! every field of the version record is checked against its `version.created` entry (or named as not
//! logged), quarantine and corruption are read from the log (the record's flags are the registry's
//! unsigned word), and a bundle answers a request only when it is about the model asked for and the
//! label, the manifest digest, or — for an alias — the target of the alias's newest logged move.
use crate::api::VersionResponse;
use crate::manifest::Manifest;
use crate::name::{ModelName, Reference};
use crate::tlog::entry::{
    ALIAS_MOVED, LogEntry, VERSION_CORRUPTED, VERSION_CREATED, VERSION_QUARANTINED, VERSION_RELEASED,
};
use crate::{Digest, canonical};

use super::OfflineReport;

/// What the user asked for: `NS/NAME@REF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The model.
    pub model: ModelName,
    /// A version label or alias name, or a manifest digest.
    pub reference: Reference,
}

impl Request {
    /// Parses `NS/NAME@REF`.
    pub fn parse(s: &str) -> Result<Self, crate::NameError> {
        let r = crate::ModelRef::parse(s)?;
        Ok(Self { model: r.model, reference: r.reference })
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.model, self.reference)
    }
}

/// What the log (not the record) says about the version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFacts {
    /// Index of the version's `version.created` entry.
    pub created_index: Option<u64>,
    /// When the log recorded the version (the entry's time; the record's `created_at` is not logged).
    pub logged_at: Option<String>,
    /// The newest `version.quarantined` entry that no later `version.released` entry lifted.
    pub quarantined_by: Option<u64>,
    /// The first `version.corrupted` entry.
    pub corrupted_by: Option<u64>,
    /// Quarantined, by the log or by the registry's flag (either is enough to refuse).
    pub quarantined: bool,
    /// Corrupted, by the log or by the registry's flag.
    pub corrupted: bool,
    /// For a request by alias: the alias and the index of the newest `alias.moved` entry for it in the
    /// bundle, which names this version (the caller checks that no later move exists).
    pub alias_move: Option<(String, u64)>,
}

/// Checks the record against its `version.created` entry: manifest, OMS root, lineage and metadata
/// digests, the pusher, the log index, and the file count and size against the manifest.
pub(super) fn check_record(
    r: &mut OfflineReport,
    v: &VersionResponse,
    name: &str,
    entries: &[(u64, LogEntry)],
    manifest: Option<&Manifest>,
) {
    let Some((idx, e)) = entries.iter().find(|(_, e)| e.kind == VERSION_CREATED && e.subject == name) else {
        r.push(false, format!("the log records {name}: no version.created entry in the bundle"));
        return;
    };
    r.facts.created_index = Some(*idx);
    r.facts.logged_at = Some(e.time.clone());
    let digest_of = |d: Result<Digest, serde_json::Error>| d.ok().map(|d| d.to_string());
    let mut bad = Vec::new();
    let mut same = |field: &str, logged: Option<&str>, record: Option<String>| {
        if logged.is_none() || logged != record.as_deref() {
            bad.push(field.to_owned());
        }
    };
    same("manifest digest", e.detail("manifest_digest"), Some(v.manifest_digest.to_string()));
    same("OMS root digest", e.detail("oms_root_digest"), Some(v.oms_root_digest.to_string()));
    same("lineage", e.detail("lineage_digest"), digest_of(canonical::digest(&v.lineage)));
    same("metadata", e.detail("metadata_digest"), digest_of(canonical::digest(&v.metadata)));
    same("created_by", Some(e.actor.as_str()), Some(v.created_by.clone()));
    same("log_index", Some(&idx.to_string()), v.log_index.map(|i| i.to_string()));
    if let Some(m) = manifest {
        same("file_count", Some(&m.files().len().to_string()), Some(v.file_count.to_string()));
        same("total_size", Some(&m.total_size().to_string()), Some(v.total_size.to_string()));
        // The OCI digest is recomputed, never taken on the registry's word: it must be the one the
        // name, label and manifest give, and the one the entry logged (entries made before the OCI
        // view have none; the recomputation still binds the record's).
        if let Some(claimed) = v.oci_manifest_digest {
            let ours = crate::VersionLabel::parse(&v.version)
                .ok()
                .zip(crate::ModelName::new(&v.namespace, &v.name).ok())
                .and_then(|(l, n)| crate::oci::model_artifact(&n, &l, m).ok())
                .map(|a| a.digest.to_string());
            same("OCI manifest digest", Some(&claimed.to_string()), ours);
        }
        if let Some(logged) = e.detail("oci_manifest_digest") {
            same("OCI manifest digest (logged)", Some(logged), v.oci_manifest_digest.map(|d| d.to_string()));
        }
    }
    r.push(
        bad.is_empty(),
        if bad.is_empty() {
            format!(
                "the log records {name} (entry {idx}) with this manifest, OMS root, lineage, metadata and pusher ({})",
                e.actor
            )
        } else {
            format!("the record of {name} differs from its log entry {idx} in: {}", bad.join(", "))
        },
    );
    r.push(
        true,
        format!(
            "created_at {} is the registry's word (not logged); the log recorded the version at {}",
            v.created_at, e.time
        ),
    );
}

/// Checks that the bundle answers `req`.
pub(super) fn check_request(
    r: &mut OfflineReport,
    v: &VersionResponse,
    name: &str,
    entries: &[(u64, LogEntry)],
    req: &Request,
) {
    if v.namespace != req.model.namespace() || v.name != req.model.name() {
        r.push(false, format!("asked for {req}, but the bundle is about {name}"));
        return;
    }
    match &req.reference {
        Reference::Digest(d) => {
            r.push(
                *d == v.manifest_digest,
                if *d == v.manifest_digest {
                    format!("{req} is {name}")
                } else {
                    format!(
                        "asked for {req}, but the bundle is about {name} (manifest {})",
                        v.manifest_digest
                    )
                },
            );
        }
        Reference::Label(l) if l.as_str() == v.version => {
            r.push(true, format!("the bundle is about {name}, as asked"));
        }
        Reference::Label(alias) => {
            // Not the label asked for: only an alias of that name, moved here by its newest logged
            // move, makes this the answer.
            let prefix = format!("{}@", req.model);
            let newest = entries
                .iter()
                .filter(|(_, e)| {
                    e.kind == ALIAS_MOVED
                        && e.subject.starts_with(&prefix)
                        && e.detail("alias") == Some(alias.as_str())
                })
                .max_by_key(|(i, _)| *i);
            match newest {
                Some((i, e)) if e.subject == name => {
                    r.facts.alias_move = Some((alias.to_string(), *i));
                    r.push(
                        true,
                        format!(
                            "alias {req} points at {name}: log entry {i} is its newest move in the bundle"
                        ),
                    );
                }
                Some((i, e)) => {
                    r.push(
                        false,
                        format!(
                            "asked for {req}: its newest logged move (entry {i}) names {}, not {name}",
                            e.subject
                        ),
                    );
                }
                None => {
                    r.push(
                        false,
                        format!("asked for {req}, but the bundle is about {name} and holds no logged move of an alias {alias} to it"),
                    );
                }
            }
        }
    }
}

/// Reads quarantine and corruption from the log entries about the version; the record's flags can
/// add to them but never clear them.
pub(super) fn state(r: &mut OfflineReport, v: &VersionResponse, name: &str, entries: &[(u64, LogEntry)]) {
    let mut about: Vec<&(u64, LogEntry)> = entries.iter().filter(|(_, e)| e.subject == name).collect();
    about.sort_by_key(|(i, _)| *i);
    let mut quarantined_by = None;
    for (i, e) in &about {
        match e.kind.as_str() {
            VERSION_QUARANTINED => quarantined_by = Some(*i),
            VERSION_RELEASED => quarantined_by = None,
            VERSION_CORRUPTED if r.facts.corrupted_by.is_none() => r.facts.corrupted_by = Some(*i),
            _ => {}
        }
    }
    r.facts.quarantined_by = quarantined_by;
    r.facts.quarantined = v.quarantined || quarantined_by.is_some();
    r.facts.corrupted = v.corrupted || r.facts.corrupted_by.is_some();
    if let Some(i) = quarantined_by
        && !v.quarantined
    {
        r.push(
            true,
            format!("the log quarantined {name} (entry {i}) and no later release lifted it; the registry's record says it is not: the log decides"),
        );
    }
    if let Some(i) = r.facts.corrupted_by
        && !v.corrupted
    {
        r.push(
            true,
            format!("the log marks {name} corrupted (entry {i}); the registry's record says it is not: the log decides"),
        );
    }
}
