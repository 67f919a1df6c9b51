//! Log entries: one canonical-JSON record per state change, hashed into the tree.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A model appeared.
pub const MODEL_CREATED: &str = "model.created";
/// A version was published.
pub const VERSION_CREATED: &str = "version.created";
/// An attestation was added to a version.
pub const ATTESTATION_ADDED: &str = "attestation.added";
/// A signer key became trusted.
pub const KEY_TRUSTED: &str = "key.trusted";
/// A signer key was revoked.
pub const KEY_REVOKED: &str = "key.revoked";
/// A Sigstore trust root was installed (or replaced).
pub const TRUST_ROOT_ADDED: &str = "trust_root.added";
/// A Sigstore trust root was removed.
pub const TRUST_ROOT_REMOVED: &str = "trust_root.removed";
/// A keyless identity became trusted.
pub const IDENTITY_TRUSTED: &str = "identity.trusted";
/// A keyless identity was revoked.
pub const IDENTITY_REVOKED: &str = "identity.revoked";
/// A namespace's settings changed.
pub const NAMESPACE_SET: &str = "namespace.set";
/// An alias moved (a promotion passed policy).
pub const ALIAS_MOVED: &str = "alias.moved";
/// A promotion was refused by policy.
pub const ALIAS_DENIED: &str = "alias.denied";
/// A promotion policy was set.
pub const POLICY_CHANGED: &str = "policy.changed";
/// A quarantine was declared (subject: its seed).
pub const QUARANTINE_SET: &str = "quarantine.set";
/// A version was quarantined by one.
pub const VERSION_QUARANTINED: &str = "version.quarantined";
/// A quarantine was lifted (subject: its seed).
pub const QUARANTINE_LIFTED: &str = "quarantine.lifted";
/// The scrubber found a version's stored bytes, an attestation or a log entry altered.
pub const VERSION_CORRUPTED: &str = "version.corrupted";
/// A version left quarantine (no active quarantine covers it any more).
pub const VERSION_RELEASED: &str = "version.released";
/// A version the scrubber had marked corrupted re-checked clean in a full pass (e.g. its bytes were
/// restored or uploaded again): the mark is lifted, and that is recorded, never silent.
pub const VERSION_CLEARED: &str = "version.cleared";
/// A mutable annotation (an MLflow tag or description of a model or version) was set; never part
/// of a version's identity. Details: `target` (`model`/`version`), `key`, `value_digest`.
pub const ANNOTATION_SET: &str = "annotation.set";
/// A mutable annotation was removed. Details: `target`, `key`.
pub const ANNOTATION_REMOVED: &str = "annotation.removed";

/// A webhook subscription was added (subject `webhook-N`; details: `url_hash`, `namespace`,
/// `events`, `format`; never the URL).
pub const WEBHOOK_ADDED: &str = "webhook.added";
/// A webhook subscription was paused.
pub const WEBHOOK_PAUSED: &str = "webhook.paused";
/// A webhook subscription was resumed.
pub const WEBHOOK_RESUMED: &str = "webhook.resumed";
/// A webhook subscription was removed.
pub const WEBHOOK_REMOVED: &str = "webhook.removed";
/// A webhook subscription's signing secret was replaced.
pub const WEBHOOK_SECRET_ROTATED: &str = "webhook.secret_rotated";
/// A webhook subscription's dead-lettered events were queued for delivery again.
pub const WEBHOOK_REDELIVERED: &str = "webhook.redelivered";

/// Every entry type, for validating subscriptions to them.
pub const ALL_TYPES: &[&str] = &[
    MODEL_CREATED,
    VERSION_CREATED,
    ATTESTATION_ADDED,
    KEY_TRUSTED,
    KEY_REVOKED,
    TRUST_ROOT_ADDED,
    TRUST_ROOT_REMOVED,
    IDENTITY_TRUSTED,
    IDENTITY_REVOKED,
    NAMESPACE_SET,
    ALIAS_MOVED,
    ALIAS_DENIED,
    POLICY_CHANGED,
    QUARANTINE_SET,
    VERSION_QUARANTINED,
    QUARANTINE_LIFTED,
    VERSION_CORRUPTED,
    VERSION_RELEASED,
    VERSION_CLEARED,
    ANNOTATION_SET,
    ANNOTATION_REMOVED,
    WEBHOOK_ADDED,
    WEBHOOK_PAUSED,
    WEBHOOK_RESUMED,
    WEBHOOK_REMOVED,
    WEBHOOK_SECRET_ROTATED,
    WEBHOOK_REDELIVERED,
];

/// The entry types whose subject is a model (`NS/NAME`) or one of its versions (`NS/NAME@VERSION`):
/// what a reader of that model may see (a version's audit bundle carries the same entries). Every
/// other type (keys, identities, trust roots, namespace settings, policies, quarantine declarations,
/// which list versions of many models) is for readers covering every namespace only
/// (`GET /v1/events`, docs/events.md).
pub const MODEL_TYPES: &[&str] = &[
    MODEL_CREATED,
    VERSION_CREATED,
    ATTESTATION_ADDED,
    ALIAS_MOVED,
    ALIAS_DENIED,
    VERSION_QUARANTINED,
    VERSION_CORRUPTED,
    VERSION_RELEASED,
    VERSION_CLEARED,
    ANNOTATION_SET,
    ANNOTATION_REMOVED,
];

/// One record. `details` holds the type's own fields (digests, predicate type, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// What happened (`version.created`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// What it happened to (`NS/NAME@VERSION`, a key id, ...).
    pub subject: String,
    /// Who did it.
    pub actor: String,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// The type's own fields.
    #[serde(flatten)]
    pub details: BTreeMap<String, serde_json::Value>,
}

impl LogEntry {
    /// The RFC 8785 bytes that become the leaf.
    pub fn canonical(&self) -> Vec<u8> {
        crate::canonical::to_vec(self).expect("an entry is plain JSON")
    }

    /// Parses an entry's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// A detail as a string.
    pub fn detail(&self, key: &str) -> Option<&str> {
        self.details.get(key).and_then(|v| v.as_str())
    }
}
