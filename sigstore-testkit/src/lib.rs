//! A self-contained test Sigstore deployment, generated offline: a Fulcio-shaped CA (root and
//! intermediate), a CT log and a Rekor-shaped log, all with fresh ECDSA P-256 keys. It writes the
//! `trusted_root.json` that trusts them and signs real keyless bundles (v0.3) with them, so tests
//! can verify bundles end to end (with `sigstore-verify`, sigstore-python, ...) without the
//! public-good instance or a network.
//!
//! ```no_run
//! let deployment = sigstore_testkit::Deployment::new();
//! let signer = sigstore_testkit::github_workflow("acme/fraud", "train.yml", "refs/heads/main");
//! let bundle = deployment.sign_message(&signer, b"model bytes");
//! let root = deployment.trusted_root_json();
//! # let _ = (bundle, root);
//! ```
//!
//! What each bundle carries, and how the knobs on [`Identity`] break it on purpose:
//! - a leaf certificate chaining to the deployment's intermediate, with the Fulcio issuer (v1 and
//!   v2 extensions), the SAN (URI or email), CI claims, and an embedded SCT from the CT log
//!   ([`Identity::sct`]), valid over [`Identity::not_before`]..[`Identity::not_after`];
//! - one Rekor v1 entry (`hashedrekord` or `dsse` 0.0.1) integrated at a time inside that window,
//!   with an RFC 6962 inclusion proof and signed checkpoint and/or a signed entry timestamp
//!   ([`Identity::tlog`]).
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

mod rekor;
mod x509;

use x509::{Ca, Key, LeafSpec};

/// The OIDC issuer of GitHub Actions workload identities.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Fulcio's CI claims by their snake_case names, and each one's number under the OID arc
/// 1.3.6.1.4.1.57264.1 (Fulcio's `docs/oid-info.md`; the order and names of
/// `registry_core::keyless::CLAIM_NAMES`). Values are DER UTF8Strings.
pub const CLAIMS: &[(&str, u32)] = &[
    ("build_signer_uri", 9),
    ("build_signer_digest", 10),
    ("runner_environment", 11),
    ("source_repository_uri", 12),
    ("source_repository_digest", 13),
    ("source_repository_ref", 14),
    ("source_repository_identifier", 15),
    ("source_repository_owner_uri", 16),
    ("source_repository_owner_identifier", 17),
    ("build_config_uri", 18),
    ("build_config_digest", 19),
    ("build_trigger", 20),
    ("run_invocation_uri", 21),
    ("source_repository_visibility_at_signing", 22),
    ("deployment_environment", 23),
    ("token_subject", 24),
];

const FULCIO_URL: &str = "https://fulcio.sigstore-testkit.invalid";
const REKOR_URL: &str = "https://rekor.sigstore-testkit.invalid";
const CT_URL: &str = "https://ctfe.sigstore-testkit.invalid/test";
const OIDC_URL: &str = "https://oauth2.sigstore-testkit.invalid/auth";
const OPERATOR: &str = "sigstore-testkit";

/// Which transparency-log evidence a bundle's Rekor entry carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlogEvidence {
    /// An inclusion proof with a signed checkpoint, and a signed entry timestamp (SET): what
    /// Rekor v1 returns, and the only form that proves a signing time without a TSA.
    #[default]
    ProofAndPromise,
    /// An inclusion proof and checkpoint, no SET: the integrated time is then unauthenticated.
    ProofOnly,
    /// A SET, no inclusion proof (which a v0.3 bundle must have).
    PromiseOnly,
    /// No log entry at all.
    None,
}

/// Who signs, and how their certificate and log entry are shaped.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The OIDC issuer (Fulcio extensions 1.3.6.1.4.1.57264.1.1 and .8).
    pub issuer: String,
    /// The certificate's SAN: a URI if it contains `://`, else an email address. ASCII only.
    pub subject: String,
    /// CI claims by the snake_case names of [`CLAIMS`].
    pub claims: Vec<(String, String)>,
    /// Start of the certificate's validity (default: a minute before [`Identity::new`]).
    pub not_before: OffsetDateTime,
    /// End of the certificate's validity (default: ten minutes after [`Identity::new`]).
    pub not_after: OffsetDateTime,
    /// Whether the certificate embeds an SCT (default true).
    pub sct: bool,
    /// The log evidence in the bundle (default [`TlogEvidence::ProofAndPromise`]).
    pub tlog: TlogEvidence,
}

impl Identity {
    /// A signer with no claims and Fulcio-like defaults (valid from a minute ago for ten
    /// minutes more, embedded SCT, inclusion proof and promise).
    pub fn new(issuer: &str, subject: &str) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            claims: Vec::new(),
            not_before: now - time::Duration::minutes(1),
            not_after: now + time::Duration::minutes(10),
            sct: true,
            tlog: TlogEvidence::default(),
        }
    }

    /// Adds (or replaces) the claim `name` (one of [`CLAIMS`]).
    #[must_use]
    pub fn with_claim(mut self, name: &str, value: &str) -> Self {
        self.claims.retain(|(n, _)| n != name);
        self.claims.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the certificate's validity window.
    #[must_use]
    pub fn valid_between(mut self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// Leaves the SCT out of the certificate.
    #[must_use]
    pub fn without_sct(mut self) -> Self {
        self.sct = false;
        self
    }

    /// Sets the log evidence.
    #[must_use]
    pub fn with_tlog(mut self, tlog: TlogEvidence) -> Self {
        self.tlog = tlog;
        self
    }

    /// The claims as (OID arc number, value).
    ///
    /// # Panics
    /// On a claim name not in [`CLAIMS`].
    fn claim_arcs(&self) -> Vec<(u32, &str)> {
        self.claims
            .iter()
            .map(|(name, value)| {
                let arc = CLAIMS.iter().find(|(n, _)| n == name).map(|(_, arc)| *arc);
                let arc = arc.unwrap_or_else(|| panic!("unknown Fulcio claim {name:?}; known: {CLAIMS:?}"));
                (arc, value.as_str())
            })
            .collect()
    }
}

/// A GitHub Actions workflow identity as Fulcio certifies it: issuer
/// [`GITHUB_ACTIONS_ISSUER`], subject `https://github.com/{repo}/.github/workflows/{workflow}@{git_ref}`,
/// and the claims a real certificate carries (a github-hosted runner, a `push` trigger, a public
/// repository). Commit digests and numeric IDs are derived from the arguments, so they are stable.
pub fn github_workflow(repo: &str, workflow: &str, git_ref: &str) -> Identity {
    let repo_uri = format!("https://github.com/{repo}");
    let workflow_uri = format!("{repo_uri}/.github/workflows/{workflow}@{git_ref}");
    let owner = repo.split('/').next().unwrap_or(repo);
    let sha = rekor::sha256_hex(format!("{repo}@{git_ref}").as_bytes())[..40].to_owned();
    let id = |what: &str| {
        let h = x509::sha256(format!("{what}:{repo}").as_bytes());
        (u32::from_be_bytes([h[0], h[1], h[2], h[3]]) % 900_000_000 + 100_000_000).to_string()
    };
    Identity::new(GITHUB_ACTIONS_ISSUER, &workflow_uri)
        .with_claim("build_signer_uri", &workflow_uri)
        .with_claim("build_signer_digest", &sha)
        .with_claim("runner_environment", "github-hosted")
        .with_claim("source_repository_uri", &repo_uri)
        .with_claim("source_repository_digest", &sha)
        .with_claim("source_repository_ref", git_ref)
        .with_claim("source_repository_identifier", &id("repo"))
        .with_claim("source_repository_owner_uri", &format!("https://github.com/{owner}"))
        .with_claim("source_repository_owner_identifier", &id("owner"))
        .with_claim("build_config_uri", &workflow_uri)
        .with_claim("build_config_digest", &sha)
        .with_claim("build_trigger", "push")
        .with_claim("run_invocation_uri", &format!("{repo_uri}/actions/runs/{}/attempts/1", id("run")))
        .with_claim("source_repository_visibility_at_signing", "public")
        .with_claim("token_subject", &format!("repo:{repo}:ref:{git_ref}"))
}

/// A test Sigstore deployment: a Fulcio-shaped CA (root and intermediate), a CT log and a Rekor
/// log, each with a random ECDSA P-256 key, all valid from a day before [`Deployment::new`].
pub struct Deployment {
    root: Ca,
    intermediate: Ca,
    ct_log: Key,
    rekor: Key,
    start: OffsetDateTime,
    next_index: AtomicU64,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("rekor_log_id", &B64.encode(self.rekor.key_id()))
            .field("ct_log_id", &B64.encode(self.ct_log.key_id()))
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl Default for Deployment {
    fn default() -> Self {
        Self::new()
    }
}

impl Deployment {
    /// A fresh deployment with new keys.
    pub fn new() -> Self {
        let now = OffsetDateTime::now_utc();
        let start = (now - time::Duration::days(1)).replace_nanosecond(0).unwrap_or(now);
        let root = Ca::root("sigstore-testkit root", start);
        let intermediate = root.intermediate("sigstore-testkit intermediate", start);
        Self {
            root,
            intermediate,
            ct_log: Key::random(),
            rekor: Key::random(),
            start,
            // Four earlier entries, so the first proof already has hashes on both sides.
            next_index: AtomicU64::new(4),
        }
    }

    /// The Sigstore `trusted_root.json` (media type
    /// `application/vnd.dev.sigstore.trustedroot+json;version=0.1`) trusting this deployment.
    pub fn trusted_root_json(&self) -> String {
        pretty(&self.trusted_root())
    }

    /// sigstore-python's `--trust-config` file (`ClientTrustConfig` v0.1): the trusted root and a
    /// signing config (v0.2) naming this deployment's (unreachable) service URLs.
    pub fn client_trust_config_json(&self) -> String {
        let service = |url: &str| json!({ "url": url, "majorApiVersion": 1, "validFor": { "start": self.start_rfc3339() }, "operator": OPERATOR });
        pretty(&json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": self.trusted_root(),
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [service(FULCIO_URL)],
                "oidcUrls": [service(OIDC_URL)],
                "rekorTlogUrls": [service(REKOR_URL)],
                "tsaUrls": [],
                "rekorTlogConfig": { "selector": "ANY" },
                "tsaConfig": { "selector": "ANY" },
            },
        }))
    }

    /// A v0.3 bundle (JSON) with a DSSE envelope of `payload` signed by `who`, logged as a
    /// `dsse` 0.0.1 entry. sigstore-verify binds only in-toto payloads
    /// (`application/vnd.in-toto+json`) to an artifact.
    ///
    /// # Panics
    /// On a claim name not in [`CLAIMS`] or a non-ASCII subject.
    pub fn sign_dsse(&self, who: &Identity, payload_type: &str, payload: &[u8]) -> String {
        let key = Key::random();
        let cert = self.leaf(who, &key);
        let signature = key.sign(&pae(payload_type, payload));
        let envelope = json!({
            "payload": B64.encode(payload),
            "payloadType": payload_type,
            "signatures": [{ "sig": B64.encode(&signature) }],
        });
        let body = json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": { "algorithm": "sha256", "value": rekor::sha256_hex(&rekor::canonical(&envelope)) },
                "payloadHash": { "algorithm": "sha256", "value": rekor::sha256_hex(payload) },
                "signatures": [{ "signature": B64.encode(&signature), "verifier": B64.encode(x509::pem(&cert)) }],
            },
        });
        self.bundle(who, &cert, "dsse", &body, "dsseEnvelope", envelope)
    }

    /// A v0.3 bundle (JSON) with a message signature over `artifact` (ECDSA P-256, SHA-256) by
    /// `who`, its `messageDigest`, logged as a `hashedrekord` 0.0.1 entry.
    ///
    /// # Panics
    /// On a claim name not in [`CLAIMS`] or a non-ASCII subject.
    pub fn sign_message(&self, who: &Identity, artifact: &[u8]) -> String {
        let key = Key::random();
        let cert = self.leaf(who, &key);
        let signature = key.sign(artifact);
        let digest = x509::sha256(artifact);
        let body = json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": { "hash": { "algorithm": "sha256", "value": rekor::sha256_hex(artifact) } },
                "signature": {
                    "content": B64.encode(&signature),
                    "publicKey": { "content": B64.encode(x509::pem(&cert)) },
                },
            },
        });
        let content = json!({
            "messageDigest": { "algorithm": "SHA2_256", "digest": B64.encode(digest) },
            "signature": B64.encode(&signature),
        });
        self.bundle(who, &cert, "hashedrekord", &body, "messageSignature", content)
    }

    fn leaf(&self, who: &Identity, key: &Key) -> Vec<u8> {
        x509::leaf(
            &self.intermediate,
            key,
            &LeafSpec {
                issuer: &who.issuer,
                subject: &who.subject,
                claims: who.claim_arcs(),
                not_before: who.not_before,
                not_after: who.not_after,
                ct_log: who.sct.then_some(&self.ct_log),
            },
        )
    }

    fn bundle(
        &self,
        who: &Identity,
        cert: &[u8],
        kind: &str,
        body: &Value,
        content_field: &str,
        content: Value,
    ) -> String {
        // Logged now, or at the end of the certificate's validity if that has passed: Rekor only
        // logs while the certificate is valid, and a verifier rejects a time in the future.
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let integrated_time = now.min(who.not_after.unix_timestamp());
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let entry =
            rekor::entry(&self.rekor, kind, &rekor::canonical(body), index, integrated_time, who.tlog);
        let mut bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": { "rawBytes": B64.encode(cert) },
                "tlogEntries": entry.into_iter().collect::<Vec<_>>(),
            },
        });
        bundle[content_field] = content;
        pretty(&bundle)
    }

    fn trusted_root(&self) -> Value {
        let start = self.start_rfc3339();
        let log = |url: &str, key: &Key| {
            json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": B64.encode(key.spki()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": start },
                },
                "logId": { "keyId": B64.encode(key.key_id()) },
            })
        };
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(REKOR_URL, &self.rekor)],
            "certificateAuthorities": [{
                "subject": { "organization": "sigstore-testkit", "commonName": "sigstore-testkit intermediate" },
                "uri": FULCIO_URL,
                "certChain": { "certificates": [
                    { "rawBytes": B64.encode(&self.intermediate.der) },
                    { "rawBytes": B64.encode(&self.root.der) },
                ] },
                "validFor": { "start": start },
            }],
            "ctlogs": [log(CT_URL, &self.ct_log)],
            "timestampAuthorities": [],
        })
    }

    fn start_rfc3339(&self) -> String {
        self.start.format(&Rfc3339).expect("an RFC 3339 time")
    }
}

/// DSSE pre-authentication encoding: `DSSEv1 <len> <type> <len> <payload>`.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON values serialize")
}
