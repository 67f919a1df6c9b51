//! Client side of the transparency log: pin the log's key and the newest checkpoint seen per registry
//! (in the config directory), refuse any checkpoint that is not signed by the pinned key or is not an
//! extension of the pinned one (a rewritten or forked log), and check versions against their log
//! entries through the audit bundle.
use crate::pins::{self, Pin, Pins};
use crate::{Client, ClientError};
use base64::Engine;
use registry_core::audit_bundle::{Finding, Policy, Request, verify_audit_bundle};
use registry_core::tlog::entry::{ALIAS_MOVED, LogEntry};
use registry_core::tlog::note::{Checkpoint, NoteVerifier};
use registry_core::tlog::{Frontier, leaf_hash, verify_consistency};

/// A checkpoint the client has verified and pinned.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The log's key.
    pub key: NoteVerifier,
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// True when the key was learned from the registry just now (trust on first use).
    pub first_use: bool,
}

fn key_of(client: &Client) -> String {
    client.base_url().as_str().trim_end_matches('/').to_owned()
}

/// Reads a verifier key given as text or as a file holding it.
pub fn read_log_key(s: &str) -> Result<NoteVerifier, ClientError> {
    let text = if std::path::Path::new(s).exists() {
        std::fs::read_to_string(s).map_err(ClientError::io(s))?
    } else {
        s.to_owned()
    };
    NoteVerifier::parse(text.trim()).map_err(|e| ClientError::Input(format!("log key: {e}")))
}

/// The key to trust for `client`'s log: `given`, else the pinned one, else the registry's (first use).
async fn log_key(
    client: &Client,
    pins: &Pins,
    given: Option<&NoteVerifier>,
) -> Result<(NoteVerifier, bool), ClientError> {
    let pinned = pins.logs.get(&key_of(client));
    if let Some(g) = given {
        if let Some(p) = pinned
            && p.key != g.to_vkey()
        {
            return Err(key_differs(client, &g.to_vkey(), &p.key)?);
        }
        return Ok((g.clone(), false));
    }
    if let Some(p) = pinned {
        return Ok((
            NoteVerifier::parse(&p.key).map_err(|e| bad_pin(client, &format!("its log key: {e}")))?,
            false,
        ));
    }
    let text = client.log_key().await?;
    Ok((
        NoteVerifier::parse(&text)
            .map_err(|e| ClientError::Verify(format!("the registry's log key: {e}")))?,
        true,
    ))
}

fn key_differs(client: &Client, given: &str, pinned: &str) -> Result<ClientError, ClientError> {
    Ok(ClientError::Verify(format!(
        "the log key {given} differs from the one pinned for {} ({pinned}); remove the pin in {} only if the registry rotated its key",
        key_of(client),
        pins::path()?.display()
    )))
}

/// A pin that no longer parses or verifies: the store was altered or damaged. Never read as "no pin".
fn bad_pin(client: &Client, what: &str) -> ClientError {
    let file = pins::path().map(|p| p.display().to_string()).unwrap_or_else(|_| "logs.json".into());
    ClientError::Verify(format!(
        "the pin for {} in {file} does not verify ({what}); the pin store was altered or damaged: check it, and remove that entry only if you trust the registry's current log",
        key_of(client)
    ))
}

/// The checkpoint pinned for `client`, verified with `key`; an error naming the file if it does not
/// verify.
fn pinned_checkpoint(
    client: &Client,
    pins: &Pins,
    key: &NoteVerifier,
) -> Result<Option<Checkpoint>, ClientError> {
    match pins.logs.get(&key_of(client)) {
        None => Ok(None),
        Some(p) if p.key != key.to_vkey() => Err(key_differs(client, &key.to_vkey(), &p.key)?),
        Some(p) => {
            Checkpoint::open(&p.checkpoint, key).map(Some).map_err(|e| bad_pin(client, &e.to_string()))
        }
    }
}

/// Proves with the registry's consistency proof that `old` is a prefix of `new` (`old.size <= new.size`).
async fn extends(client: &Client, old: &Checkpoint, new: &Checkpoint) -> Result<bool, ClientError> {
    if old.size == new.size {
        return Ok(old.root == new.root);
    }
    let hashes = decode_hashes(&client.log_consistency(old.size, new.size).await?.hashes)?;
    Ok(verify_consistency(old.size, new.size, &hashes, &old.root, &new.root))
}

fn fork(new: &Checkpoint, old: &Checkpoint) -> ClientError {
    ClientError::Verify(format!(
        "LOG FORK: the registry's log at size {} is not an extension of the log pinned at size {}; its history was rewritten or forked",
        new.size, old.size
    ))
}

/// Checks `note` (a checkpoint from `client`) against the pinned state and pins it: signed by the log
/// key, no smaller than the checkpoint pinned before the registry was asked (`start`, read by the
/// caller before its request), and an extension of it (proved with a consistency proof). Any failure
/// is a [`ClientError::Verify`]: the log was rewritten or forked, or is not the one pinned. The pin
/// moves under the store's lock, on a fresh read: if another run pinned a newer checkpoint meanwhile
/// (even while this run's request was answered), this one must be a prefix of it, and the pin never
/// moves back.
pub(crate) async fn accept(
    client: &Client,
    note: &str,
    given: Option<&NoteVerifier>,
    start: Pins,
) -> Result<Verified, ClientError> {
    let (key, first_use) = log_key(client, &start, given).await?;
    let cp = Checkpoint::open(note, &key).map_err(|e| {
        ClientError::Verify(format!(
            "the log checkpoint does not verify with the log key {}: {e}",
            key.to_vkey()
        ))
    })?;
    let mut checked = pinned_checkpoint(client, &start, &key)?;
    if let Some(old) = &checked {
        if cp.size < old.size {
            return Err(ClientError::Verify(format!(
                "LOG ROLLBACK: the registry's log has {} entries, but {} were already seen (pinned); its history was rewritten",
                cp.size, old.size
            )));
        }
        if !extends(client, old, &cp).await? {
            return Err(fork(&cp, old));
        }
    }
    let verified = Verified { key: key.clone(), checkpoint: cp.clone(), first_use };
    // Compare and swap under the lock; a pin moved by another run meanwhile is checked against (over
    // the network, outside the lock) and the swap retried.
    for _ in 0..8 {
        let seen = checked.clone();
        let moved = pins::update(|pins| {
            let now = pinned_checkpoint(client, pins, &key)?;
            if now != seen {
                return Ok((now, false));
            }
            if now.as_ref().is_some_and(|n| n.size >= cp.size) {
                return Ok((None, false)); // already pinned (same checkpoint)
            }
            pins.logs.insert(key_of(client), Pin { key: key.to_vkey(), checkpoint: note.to_owned() });
            Ok((None, true))
        })?;
        let Some(newer) = moved else { return Ok(verified) };
        if newer.size > cp.size {
            // Another run pinned a bigger tree: ours must be a prefix of it; the pin stays.
            return if extends(client, &cp, &newer).await? { Ok(verified) } else { Err(fork(&newer, &cp)) };
        }
        if !extends(client, &newer, &cp).await? {
            return Err(fork(&cp, &newer));
        }
        checked = Some(newer);
    }
    Err(ClientError::Verify("the pin store kept changing while this checkpoint was pinned; retry".into()))
}

/// Records that `model`'s `alias` was verified at its logged move `index`; fails ("ALIAS ROLLBACK") when
/// a newer move of it was verified before, i.e. the registry now hides a move this client has seen.
pub fn pin_alias(
    client: &Client,
    model: &registry_core::ModelName,
    alias: &str,
    index: u64,
) -> Result<(), ClientError> {
    let k = format!("{}|{model}@{alias}", key_of(client));
    pins::update(|pins| match pins.aliases.get(&k) {
        Some(&seen) if seen > index => Err(ClientError::Verify(format!(
            "ALIAS ROLLBACK: {model}@{alias} was verified at its move in log entry {seen}, but the registry now answers with the older move in entry {index}"
        ))),
        Some(&seen) if seen == index => Ok(((), false)),
        _ => {
            pins.aliases.insert(k.clone(), index);
            Ok(((), true))
        }
    })
}

/// Fetches, verifies and pins the registry's current checkpoint.
pub async fn sync(client: &Client, given: Option<&NoteVerifier>) -> Result<Verified, ClientError> {
    // Read before asking: a pin another run makes while the answer is on its way is newer than it,
    // not a rollback (the compare-and-swap below checks the answer against it).
    let start = pins::load()?;
    let note = client.log_checkpoint().await?;
    accept(client, &note, given, start).await
}

/// What checking a version against the log found.
#[derive(Debug)]
pub struct VersionCheck {
    /// The audit bundle the registry served.
    pub audit_bundle: registry_core::audit_bundle::AuditBundle,
    /// The offline verification of it against the pinned log, bound to the request.
    pub report: registry_core::audit_bundle::OfflineReport,
    /// The pinned checkpoint state.
    pub log: Verified,
}

impl VersionCheck {
    /// The version record as far as the log vouches for it: quarantine and corruption as the log (or
    /// the registry's flag, if stricter) has them. `created_at` is still the registry's word.
    pub fn record(&self) -> registry_core::api::VersionResponse {
        let mut v = self.audit_bundle.version.clone();
        v.quarantined = self.report.facts.quarantined;
        v.corrupted = self.report.facts.corrupted;
        v
    }
}

/// What a version check must hold to besides the request: keys trusted for attestations, required
/// predicate types, and whether files no verified attestation covers are tolerated.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect<'a> {
    /// Keys trusted for attestations.
    pub keys: &'a [registry_core::attest::keys::PublicKey],
    /// Sigstore trust roots for keyless attestations.
    pub roots: &'a [std::sync::Arc<registry_core::keyless::TrustRoot>],
    /// Keyless signers trusted for attestations.
    pub identities: &'a [registry_core::keyless::TrustedIdentity],
    /// Predicate types that must verify.
    pub required: &'a [String],
    /// Do not fail on files no verified attestation covers.
    pub allow_unsigned_files: bool,
}

/// Fetches the audit bundle of `model@reference`, pins its checkpoint (consistency with the last one
/// seen) and verifies it exactly as an offline auditor would, bound to the request: the audit bundle must be
/// about `model`, and about the label asked for, the manifest digest asked for, or — for an alias — the
/// version the alias's newest logged move names. For an alias, when the credential can read the whole
/// log, every entry after that move up to the checkpoint is read and proved against its root, and a
/// later move of the alias fails the check; otherwise the report says that was not checked.
pub async fn check_version(
    client: &Client,
    model: &registry_core::ModelName,
    reference: &str,
    expect: &Expect<'_>,
    given: Option<&NoteVerifier>,
) -> Result<VersionCheck, ClientError> {
    let reference_parsed = registry_core::ModelRef::parse(&format!("{model}@{reference}"))
        .map_err(|e| ClientError::Input(e.to_string()))?
        .reference;
    let request = Request { model: model.clone(), reference: reference_parsed };
    let start = pins::load()?;
    let audit_bundle = client.audit_bundle(model, reference).await?;
    let log = accept(client, &audit_bundle.log.checkpoint, given, start).await?;
    let trusted: Vec<registry_core::attest::TrustedKey> =
        expect.keys.iter().cloned().map(registry_core::attest::TrustedKey::any).collect();
    let trust =
        registry_core::attest::Trust { keys: &trusted, roots: expect.roots, identities: expect.identities };
    let policy = Policy {
        trust,
        required: expect.required,
        request: Some(&request),
        allow_unsigned_files: expect.allow_unsigned_files,
    };
    let mut report = verify_audit_bundle(&audit_bundle, &log.key, &policy);
    if let (Some((alias, idx)), Some(cp)) = (report.facts.alias_move.clone(), report.checkpoint.clone()) {
        let finding = newest_move(client, model, &alias, idx, &cp).await?;
        report.findings.push(finding);
        // The newest move this client verified for the alias never goes back.
        if report.ok() {
            match pin_alias(client, model, &alias, idx) {
                Ok(()) => {}
                Err(ClientError::Verify(what)) => report.findings.push(Finding { ok: false, what }),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(VersionCheck { audit_bundle, report, log })
}

/// Reads entries `(after, cp.size)`, proves them complete against the checkpoint's root, and checks
/// none moves `model`'s `alias` again. A credential that cannot read the whole log gets a finding that
/// says the check was not made (not a failure: the audit bundle's own moves were checked).
async fn newest_move(
    client: &Client,
    model: &registry_core::ModelName,
    alias: &str,
    after: u64,
    cp: &Checkpoint,
) -> Result<Finding, ClientError> {
    let unchecked = |why: String| Finding {
        ok: true,
        what: format!(
            "not verified: that no move of alias {alias} follows log entry {after} ({why}; `registry log verify` with read on * checks it)"
        ),
    };
    let prefix = format!("{model}@");
    let mut later: Option<(u64, String)> = None;
    let visit = |i: u64, body: &str| {
        if later.is_some() {
            return;
        }
        if let Ok(e) = LogEntry::parse(body.as_bytes())
            && e.kind == ALIAS_MOVED
            && e.subject.starts_with(&prefix)
            && e.detail("alias") == Some(alias)
        {
            later = Some((i, e.subject));
        }
    };
    match verified_range(client, after, cp, visit).await {
        Ok(()) => {}
        Err(ClientError::Api { status: 401 | 403, .. }) => {
            return Ok(unchecked("this credential cannot read the whole log".into()));
        }
        Err(e) => return Err(e),
    }
    Ok(match later {
        Some((i, subject)) => Finding {
            ok: false,
            what: format!(
                "alias {model}@{alias} moved again at log entry {i} (to {subject}): the registry answered with an older target"
            ),
        },
        None => Finding {
            ok: true,
            what: format!(
                "no move of alias {alias} follows log entry {after} up to the checkpoint (size {}): every entry read and proved",
                cp.size
            ),
        },
    })
}

/// Reads entries `(after, cp.size)` and shows each to `visit`, proving they are exactly the log's: the
/// frontier after entry `after` (from its inclusion proof in the tree that ends with it) extended by
/// every entry read must give the checkpoint's root. A verdict drawn from what `visit` saw stands only
/// when this returns `Ok`.
pub async fn verified_range(
    client: &Client,
    after: u64,
    cp: &Checkpoint,
    mut visit: impl FnMut(u64, &str),
) -> Result<(), ClientError> {
    let first = client.log_entries(after, after + 1).await?;
    let leaf = match first.entries.as_slice() {
        [e] if e.index == after => leaf_hash(e.body.as_bytes()),
        _ => return Err(ClientError::Verify(format!("the registry did not serve log entry {after}"))),
    };
    let proof = decode_hashes(&client.log_inclusion(after, after + 1).await?.hashes)?;
    let mut frontier = Frontier::from_last_leaf(after, &proof, leaf)
        .ok_or_else(|| ClientError::Protocol("malformed inclusion proof".into()))?;
    while frontier.size() < cp.size {
        let start = frontier.size();
        let page = client.log_entries(start, cp.size).await?;
        if page.entries.is_empty() {
            break;
        }
        for (k, e) in page.entries.iter().enumerate() {
            if e.index != start + k as u64 || frontier.size() >= cp.size {
                return Err(ClientError::Verify(format!("log entries out of order at {}", start + k as u64)));
            }
            frontier.push(leaf_hash(e.body.as_bytes()));
            visit(e.index, &e.body);
        }
    }
    if frontier.size() != cp.size || frontier.root() != cp.root {
        return Err(ClientError::Verify(format!(
            "the log entries served after {after} do not lead to the signed root of size {}",
            cp.size
        )));
    }
    Ok(())
}

fn decode_hashes(v: &[String]) -> Result<Vec<[u8; 32]>, ClientError> {
    v.iter()
        .map(|h| {
            base64::engine::general_purpose::STANDARD
                .decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ClientError::Protocol("malformed proof".into()))
}
