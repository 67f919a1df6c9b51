//! What each page shows, as template structs over plain strings: the handlers ([`super::pages`],
//! [`super::actions`]) fill them from the services; the templates (`templates/ui/`) lay them out and
//! escape everything they print.
use askama::Template;

use super::session::Viewer;

/// The frame every page shares: who is signed in, the CSRF token its forms carry, the stylesheet.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The actor's id, when someone reads.
    pub whoami: Option<String>,
    /// A session exists (so sign-out and actions are offered).
    pub signed_in: bool,
    /// The session's CSRF token.
    pub csrf: String,
    /// The reader holds admin (the audit page and admin actions are offered).
    pub admin: bool,
    /// The stylesheet's URL.
    pub style: &'static str,
    /// The icon's URL.
    pub icon: &'static str,
}

impl Chrome {
    /// The frame for `viewer`.
    pub fn of(viewer: &Viewer) -> Self {
        Self {
            whoami: viewer.actor.as_ref().map(|a| a.id.clone()),
            signed_in: viewer.session.is_some(),
            csrf: viewer.csrf().to_owned(),
            admin: viewer.actor.as_ref().is_some_and(|a| a.has(registry_core::auth::Scope::Admin)),
            style: super::style_href(),
            icon: super::icon_href(),
        }
    }
}

/// An error page (no chrome: it may be rendered before anyone is known).
#[derive(Template)]
#[template(path = "ui/error.html")]
pub struct ErrorPage<'a> {
    pub status: u16,
    pub message: &'a str,
    pub style: &'static str,
    pub icon: &'static str,
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "ui/login.html")]
pub struct Login<'a> {
    pub chrome: Chrome,
    pub error: Option<&'a str>,
}

impl<'a> Login<'a> {
    /// The sign-in page for `viewer`, with an error to show.
    pub fn new(viewer: &Viewer, error: Option<&'a str>) -> Self {
        Self { chrome: Chrome::of(viewer), error }
    }
}

/// A link.
#[derive(Debug, Clone)]
pub struct Link {
    pub text: String,
    pub href: String,
}

/// One row of the model list.
#[derive(Debug, Clone)]
pub struct ModelItem {
    pub model: String,
    pub href: String,
    pub versions: u64,
    pub latest: Option<Link>,
    pub created_at: String,
}

/// `/ui/`.
#[derive(Template)]
#[template(path = "ui/models.html")]
pub struct Models {
    pub chrome: Chrome,
    pub q: String,
    pub namespace: String,
    pub models: Vec<ModelItem>,
    pub next: Option<String>,
}

/// One row of a model's versions.
#[derive(Debug, Clone)]
pub struct VersionItem {
    pub version: String,
    pub href: String,
    pub digest: String,
    pub created_by: String,
    pub created_at: String,
    pub files: u64,
    pub size: String,
    pub attestations: i64,
    pub quarantined: bool,
    pub corrupted: bool,
}

/// One alias and its target.
#[derive(Debug, Clone)]
pub struct AliasItem {
    pub alias: String,
    pub href: String,
    pub target: String,
    pub target_href: String,
    pub updated_by: String,
    pub updated_at: String,
}

/// `/ui/models/{ns}/{name}`.
#[derive(Template)]
#[template(path = "ui/model.html")]
pub struct Model {
    pub chrome: Chrome,
    pub model: String,
    pub version_count: u64,
    pub versions: Vec<VersionItem>,
    pub aliases: Vec<AliasItem>,
    pub next: Option<String>,
}

/// A key/value row.
#[derive(Debug, Clone)]
pub struct Pair {
    pub key: String,
    pub value: String,
}

/// One dataset.
#[derive(Debug, Clone)]
pub struct DatasetItem {
    pub uri: String,
    pub digest: String,
    pub role: String,
    pub affected_href: String,
}

/// One attestation.
#[derive(Debug, Clone)]
pub struct AttestationItem {
    pub predicate_type: String,
    pub format: String,
    pub signer: String,
    pub status: String,
    pub digest: String,
    pub digest_short: String,
    pub created_by: String,
    pub created_at: String,
    pub log_index: Option<u64>,
    pub log_href: Option<String>,
}

/// One file of a manifest.
#[derive(Debug, Clone)]
pub struct FileItem {
    pub path: String,
    pub size: String,
    pub digest: String,
}

/// A version's place in the log, checked against the current checkpoint.
#[derive(Debug, Clone)]
pub struct Inclusion {
    pub index: u64,
    pub href: String,
    pub tree_size: u64,
    pub proof_len: usize,
    pub verified: bool,
}

/// `/ui/models/{ns}/{name}/versions/{v}`.
#[derive(Template)]
#[template(path = "ui/version.html")]
pub struct Version {
    pub chrome: Chrome,
    pub model: String,
    pub model_href: String,
    pub version: String,
    pub manifest_digest: String,
    pub oms_root_digest: String,
    pub created_by: String,
    pub created_at: String,
    pub size: String,
    pub file_count: u64,
    pub quarantined: bool,
    pub corrupted: bool,
    /// `verified`, `unverified` or `unsigned`.
    pub evidence: &'static str,
    pub files: Vec<FileItem>,
    pub files_more: Option<String>,
    pub files_prev: Option<String>,
    pub datasets: Vec<DatasetItem>,
    pub code: Option<Pair>,
    pub code_href: Option<String>,
    pub commit_affected_href: Option<String>,
    pub parents: Vec<Link>,
    pub params: Vec<Pair>,
    pub metrics: Vec<Pair>,
    pub run: Vec<Pair>,
    pub graph: String,
    pub graph_more: bool,
    pub graph_limit: usize,
    pub graph_depth: usize,
    pub attestations: Vec<AttestationItem>,
    pub inclusion: Option<Inclusion>,
    pub verify_command: String,
    pub bundle_command: String,
    pub bundle_href: String,
    pub affected_href: String,
    pub aliases_here: Vec<Link>,
}

/// One decision about an alias.
#[derive(Debug, Clone)]
pub struct DecisionItem {
    pub kind: String,
    pub version: String,
    pub version_href: String,
    pub previous: Option<String>,
    pub decision: String,
    pub reasons: Vec<String>,
    pub policies: Vec<PolicyRefItem>,
    pub actor: String,
    pub reason: String,
    pub at: String,
    pub log_index: Option<u64>,
    pub log_href: Option<String>,
}

/// A policy revision a decision evaluated.
#[derive(Debug, Clone)]
pub struct PolicyRefItem {
    pub text: String,
    pub href: String,
    pub digest: String,
}

/// `/ui/models/{ns}/{name}/aliases/{a}`.
#[derive(Template)]
#[template(path = "ui/alias.html")]
pub struct Alias {
    pub chrome: Chrome,
    pub model: String,
    pub model_href: String,
    pub alias: String,
    pub target: Option<Link>,
    pub events: Vec<DecisionItem>,
    pub action: String,
    pub rollback_action: String,
    pub can_promote: bool,
    pub vsa_note: String,
}

/// The dry run shown before a promotion is confirmed.
#[derive(Template)]
#[template(path = "ui/dry_run.html")]
pub struct DryRun {
    pub chrome: Chrome,
    pub model: String,
    pub model_href: String,
    pub alias: String,
    pub alias_href: String,
    pub version: String,
    pub reason: String,
    pub expected_current: String,
    pub current: Option<String>,
    pub allowed: bool,
    pub reasons: Vec<String>,
    pub policies: Vec<PolicyRefItem>,
    pub action: String,
}

/// One policy revision.
#[derive(Debug, Clone)]
pub struct PolicyItem {
    pub href: String,
    pub namespace: String,
    pub alias: String,
    pub revision: i64,
    pub digest: String,
    pub created_by: String,
    pub created_at: String,
    pub log_href: Option<String>,
}

/// `/ui/policies`.
#[derive(Template)]
#[template(path = "ui/policies.html")]
pub struct Policies {
    pub chrome: Chrome,
    pub policies: Vec<PolicyItem>,
}

/// `/ui/policies/{id}`.
#[derive(Template)]
#[template(path = "ui/policy.html")]
pub struct Policy {
    pub chrome: Chrome,
    pub policy: PolicyItem,
    pub rego: String,
    pub current: bool,
    pub revisions: Vec<PolicyItem>,
}

/// One log entry in a list.
#[derive(Debug, Clone)]
pub struct LogItem {
    pub index: u64,
    pub href: String,
    pub kind: String,
    pub subject: String,
    pub actor: String,
    pub time: String,
}

/// `/ui/log`.
#[derive(Template)]
#[template(path = "ui/log.html")]
pub struct Log {
    pub chrome: Chrome,
    pub size: u64,
    pub root: String,
    pub checkpoint: String,
    pub entries: Vec<LogItem>,
    pub older: Option<String>,
    pub newer: Option<String>,
}

/// `/ui/log/{index}`.
#[derive(Template)]
#[template(path = "ui/log_entry.html")]
pub struct LogEntry {
    pub chrome: Chrome,
    pub index: u64,
    pub body: String,
    pub leaf_hash: String,
    pub tree_size: u64,
    pub root: String,
    pub proof: Vec<String>,
    pub verified: bool,
}

/// One namespace's figures.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub namespace: String,
    pub figures: Vec<Pair>,
}

/// `/ui/report`.
#[derive(Template)]
#[template(path = "ui/report.html")]
pub struct Report {
    pub chrome: Chrome,
    pub generated_at: String,
    pub fields: Vec<&'static str>,
    pub rows: Vec<ReportRow>,
}

/// One version reached from a seed.
#[derive(Debug, Clone)]
pub struct AffectedItem {
    pub version: String,
    pub href: Option<String>,
    pub digest: String,
    pub quarantined: bool,
    pub path: Vec<String>,
}

/// One quarantine.
#[derive(Debug, Clone)]
pub struct QuarantineItem {
    pub id: i64,
    pub seed: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
    pub lifted_at: Option<String>,
    pub versions: Vec<AffectedItem>,
    pub rollbacks: Vec<String>,
    pub log_href: String,
    pub lift_action: String,
}

/// `/ui/quarantines`.
#[derive(Template)]
#[template(path = "ui/quarantines.html")]
pub struct Quarantines {
    pub chrome: Chrome,
    pub quarantines: Vec<QuarantineItem>,
}

/// `/ui/affected`.
#[derive(Template)]
#[template(path = "ui/affected.html")]
pub struct Affected {
    pub chrome: Chrome,
    pub kind: String,
    pub value: String,
    pub seed: Option<String>,
    pub versions: Vec<AffectedItem>,
}

/// One access-audit record.
#[derive(Debug, Clone)]
pub struct AuditItem {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
}

/// `/ui/audit`.
#[derive(Template)]
#[template(path = "ui/audit.html")]
pub struct Audit {
    pub chrome: Chrome,
    pub actor: String,
    pub entries: Vec<AuditItem>,
    pub older: Option<String>,
}
