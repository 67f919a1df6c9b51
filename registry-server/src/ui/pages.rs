//! The read pages: each handler authorises exactly as its `/v1` twin (the same `check_read`, the
//! same whole-log and admin rules), calls the same service functions, and fills a [`view`] struct.
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use registry_core::attest::predicates::slsa::{SLSA_PROVENANCE_V1, SLSA_VSA_V1};
use registry_core::{Digest, ModelName, Reference};
use serde::Deserialize;

use super::graph::{self, Side};
use super::session::Viewer;
use super::view::{self, Chrome, Link, Pair};
use super::{UiError, UiPath, UiQuery, render};
use crate::db::incident::LineageNode;
use crate::db::versions::VersionRow;
use crate::error::ApiError;
use crate::service::{self, incident::Seed};
use crate::state::AppState;

/// Rows per page of every list.
const PAGE: u32 = 50;
/// Files per page of a version's file list.
const FILES_PAGE: usize = 200;

/// A path segment, percent-encoded (names are plain ASCII, but a label may hold `+`).
pub(super) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?k=v&...`, form-encoded.
pub(super) fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    format!("?{}", s.finish())
}

pub(super) fn model_href(ns: &str, name: &str) -> String {
    format!("/ui/models/{}/{}", seg(ns), seg(name))
}

pub(super) fn version_href(ns: &str, name: &str, v: &str) -> String {
    format!("{}/versions/{}", model_href(ns, name), seg(v))
}

pub(super) fn alias_href(ns: &str, name: &str, a: &str) -> String {
    format!("{}/aliases/{}", model_href(ns, name), seg(a))
}

fn log_href(i: u64) -> String {
    format!("/ui/log/{i}")
}

fn affected_href(kind: &str, value: &str) -> String {
    format!("/ui/affected{}", query(&[("kind", kind), ("value", value)]))
}

/// `1.2 MiB` (exact bytes beside it where it matters).
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// `sha256:` and the first 12 hex digits, for tables (the whole digest is in the cell's title).
fn short(digest: &str) -> String {
    match digest.get(..19) {
        Some(head) if digest.len() > 19 => format!("{head}…"),
        _ => digest.to_owned(),
    }
}

/// A `{namespace}/{name}` pair as a model name (a bad one is a 400 page, as `/v1` answers 400).
pub(super) fn model_of(ns: &str, name: &str) -> Result<ModelName, UiError> {
    ModelName::new(ns, name).map_err(|e| UiError::bad_request(e.to_string()))
}

pub(super) fn reference_of(v: &str) -> Result<Reference, UiError> {
    Ok(crate::routes::models::reference(v)?)
}

/// Text for one side of a shell command: single-quoted unless plainly safe.
fn shell(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:@=+%,".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The model list's query.
#[derive(Debug, Deserialize)]
pub struct ModelsQuery {
    q: Option<String>,
    namespace: Option<String>,
    after: Option<String>,
}

/// `GET /ui/`: the model list, or (nobody reading) the sign-in page with status 200.
pub async fn models(
    State(state): State<AppState>,
    viewer: Viewer,
    UiQuery(q): UiQuery<ModelsQuery>,
) -> Result<Response, UiError> {
    if viewer.actor.is_none() {
        return render(&view::Login::new(&viewer, None));
    }
    let actor = viewer.reader()?;
    let nonempty =
        |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let (text, ns) = (nonempty(&q.q), nonempty(&q.namespace));
    let namespace = ns
        .as_deref()
        .map(registry_core::name::parse_namespace)
        .transpose()
        .map_err(|e| UiError::bad_request(format!("namespace: {e}")))?;
    if text.as_ref().is_some_and(|p| p.chars().count() > registry_core::name::MAX_NAME_LEN) {
        return Err(UiError::bad_request("the name filter is longer than 128 characters"));
    }
    let after = match nonempty(&q.after) {
        Some(c) => {
            let m = ModelName::parse(&c).map_err(|_| UiError::bad_request("malformed page cursor"))?;
            Some((m.namespace().to_owned(), m.name().to_owned()))
        }
        None => None,
    };
    let list = service::read::list_models_for(&state, actor, namespace, text.clone(), after, PAGE).await?;
    let models = list
        .models
        .into_iter()
        .map(|m| view::ModelItem {
            model: format!("{}/{}", m.namespace, m.name),
            href: model_href(&m.namespace, &m.name),
            versions: m.version_count,
            latest: m.latest_version.map(|v| Link { href: version_href(&m.namespace, &m.name, &v), text: v }),
            created_at: m.created_at,
        })
        .collect();
    let (q_text, ns_text) = (text.unwrap_or_default(), ns.unwrap_or_default());
    let next = list
        .next_cursor
        .map(|c| format!("/ui/{}", query(&[("q", &q_text), ("namespace", &ns_text), ("after", &c)])));
    render(&view::Models { chrome: Chrome::of(&viewer), q: q_text, namespace: ns_text, models, next })
}

/// `?before=` of a model's versions.
#[derive(Debug, Deserialize)]
pub struct BeforeQuery {
    before: Option<i64>,
}

/// `GET /ui/models/{ns}/{name}`.
pub async fn model(
    State(state): State<AppState>,
    viewer: Viewer,
    UiPath((ns, name)): UiPath<(String, String)>,
    UiQuery(q): UiQuery<BeforeQuery>,
) -> Result<Response, UiError> {
    let actor = viewer.reader()?;
    let m = model_of(&ns, &name)?;
    actor.check_read(&m, format_args!("model {m}"))?;
    let info = service::read::get_model(&state, &m).await?;
    if q.before.is_some_and(|b| b <= 0) {
        return Err(UiError::bad_request("malformed page cursor"));
    }
    let (rows, next_cursor) = service::read::version_rows(&state, &m, q.before, PAGE).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let counts = state.db.attestation_counts(&ids, SLSA_VSA_V1).await.map_err(ApiError::from)?;
    let listed = rows.into_iter().map(service::read::version_response).collect::<Result<Vec<_>, _>>()?;
    let versions = listed
        .iter()
        .zip(&ids)
        .map(|(v, id)| view::VersionItem {
            version: v.version.clone(),
            href: version_href(&v.namespace, &v.name, &v.version),
            digest: v.manifest_digest.to_string(),
            created_by: v.created_by.clone(),
            created_at: v.created_at.clone(),
            files: v.file_count,
            size: bytes(v.total_size),
            attestations: counts.get(id).copied().unwrap_or(0),
            quarantined: v.quarantined,
            corrupted: v.corrupted,
        })
        .collect();
    let aliases = service::promote::list(&state, &m)
        .await?
        .aliases
        .into_iter()
        .map(|a| view::AliasItem {
            href: alias_href(&ns, &name, &a.alias),
            target_href: version_href(&ns, &name, &a.version),
            alias: a.alias,
            target: a.version,
            updated_by: a.updated_by,
            updated_at: a.updated_at,
        })
        .collect();
    let next = next_cursor.map(|c| format!("{}{}", model_href(&ns, &name), query(&[("before", &c)])));
    render(&view::Model {
        chrome: Chrome::of(&viewer),
        model: m.to_string(),
        version_count: info.version_count,
        versions,
        aliases,
        next,
    })
}

/// `?files=OFFSET` of a version page.
#[derive(Debug, Deserialize)]
pub struct FilesQuery {
    files: Option<usize>,
}

/// `GET /ui/models/{ns}/{name}/versions/{v}`.
pub async fn version(
    State(state): State<AppState>,
    viewer: Viewer,
    UiPath((ns, name, v)): UiPath<(String, String, String)>,
    UiQuery(q): UiQuery<FilesQuery>,
) -> Result<Response, UiError> {
    let actor = viewer.reader()?;
    let m = model_of(&ns, &name)?;
    let r = reference_of(&v)?;
    actor.check_read(&m, format_args!("version {m}@{r}"))?;
    let row = service::read::resolve(&state, &m, &r).await?;
    let rec = service::read::version_response(row.clone())?;
    service::read::checked_manifest(&row)?;
    let manifest: registry_core::manifest::Manifest = serde_json::from_str(&row.manifest)
        .map_err(|e| ApiError::internal(format!("stored manifest: {e}")))?;
    let offset = q.files.unwrap_or(0).min(manifest.files().len());
    let files = manifest.files()[offset..]
        .iter()
        .take(FILES_PAGE)
        .map(|f| view::FileItem { path: f.path.clone(), size: bytes(f.size), digest: f.digest.to_string() })
        .collect();
    let here = version_href(&ns, &name, &rec.version);
    let files_more = (offset + FILES_PAGE < manifest.files().len())
        .then(|| format!("{here}{}", query(&[("files", &(offset + FILES_PAGE).to_string())])));
    let files_prev = (offset > 0)
        .then(|| format!("{here}{}", query(&[("files", &offset.saturating_sub(FILES_PAGE).to_string())])));

    let attestations = service::attest::list(&state, &m, row.id).await?;
    let evidence: Vec<_> = attestations.iter().filter(|a| a.predicate_type != SLSA_VSA_V1).collect();
    let evidence_state = if evidence.is_empty() {
        "unsigned"
    } else if evidence.iter().any(|a| a.status == "verified") {
        "verified"
    } else {
        "unverified"
    };
    let pinned = format!("{m}@{}", rec.manifest_digest);
    let (verify_command, bundle_command) = commands(&pinned, &evidence);
    let own_key = state.attestation_key.public().key_id().hex();
    let attestation_items = attestations
        .iter()
        .map(|a| view::AttestationItem {
            predicate_type: a.predicate_type.clone(),
            format: a.format.clone(),
            signer: match &a.signer_identity {
                Some(id) => format!("{} ({})", id.subject, id.issuer),
                None if a.predicate_type == SLSA_VSA_V1 && a.signer_key_id.hex() == own_key => {
                    format!("this registry's decision key {}", short(&a.signer_key_id.to_string()))
                }
                None => format!("key {}", short(&a.signer_key_id.to_string())),
            },
            status: a.status.clone(),
            digest: a.digest.to_string(),
            digest_short: short(&a.digest.to_string()),
            created_by: a.created_by.clone(),
            created_at: a.created_at.clone(),
            log_index: a.log_index,
            log_href: a.log_index.map(log_href),
        })
        .collect();

    let lineage = &rec.lineage;
    let datasets = lineage
        .datasets
        .iter()
        .map(|d| view::DatasetItem {
            uri: d.uri.clone(),
            digest: d.digest.to_string(),
            role: d.role.clone(),
            affected_href: affected_href("dataset", &d.digest.to_string()),
        })
        .collect();
    let code = lineage.code.as_ref().map(|c| Pair { key: c.repo.clone(), value: c.commit.clone() });
    let code_href = lineage.code.as_ref().and_then(|c| commit_link(&c.repo, &c.commit));
    let commit_affected_href = lineage.code.as_ref().map(|c| affected_href("commit", &c.commit));
    let parents = lineage
        .parents
        .iter()
        .filter(|p| actor.covers(&p.model))
        .map(|p| Link {
            text: p.to_string(),
            href: version_href(p.model.namespace(), p.model.name(), &p.reference.to_string()),
        })
        .collect();
    let scalars = |m: &std::collections::BTreeMap<String, registry_core::lineage::Scalar>| {
        m.iter()
            .map(|(k, v)| Pair {
                key: k.clone(),
                value: match v {
                    registry_core::lineage::Scalar::Number(n) => n.to_string(),
                    registry_core::lineage::Scalar::Text(t) => t.clone(),
                },
            })
            .collect::<Vec<_>>()
    };
    let mut run = Vec::new();
    if let Some(r) = &lineage.run {
        run.push(Pair { key: "run".into(), value: r.id.clone() });
        if let Some(u) = &r.uri {
            run.push(Pair { key: "uri".into(), value: u.clone() });
        }
        if let Some(b) = &r.builder {
            run.push(Pair { key: "builder".into(), value: b.clone() });
        }
    }

    let hood = service::lineage::neighbourhood(&state, actor, &row).await?;
    let graph = graph_of(&row, &hood);

    let inclusion = match rec.log_index {
        Some(i) => Some(inclusion_of(&state, i).await?),
        None => None,
    };
    let aliases_here = service::promote::list(&state, &m)
        .await?
        .aliases
        .into_iter()
        .filter(|a| a.version == rec.version)
        .map(|a| Link { href: alias_href(&ns, &name, &a.alias), text: format!("@{}", a.alias) })
        .collect();
    render(&view::Version {
        chrome: Chrome::of(&viewer),
        model: m.to_string(),
        model_href: model_href(&ns, &name),
        bundle_href: format!("{here}/bundle"),
        affected_href: affected_href("version", &format!("{m}@{}", rec.version)),
        version: rec.version.clone(),
        manifest_digest: rec.manifest_digest.to_string(),
        oms_root_digest: rec.oms_root_digest.to_string(),
        created_by: rec.created_by.clone(),
        created_at: rec.created_at.clone(),
        size: format!("{} ({} bytes)", bytes(rec.total_size), rec.total_size),
        file_count: rec.file_count,
        quarantined: rec.quarantined,
        corrupted: rec.corrupted,
        evidence: evidence_state,
        files,
        files_more,
        files_prev,
        datasets,
        code,
        code_href,
        commit_affected_href,
        parents,
        params: scalars(&lineage.params),
        metrics: scalars(&lineage.metrics),
        run,
        graph,
        graph_more: hood.more,
        graph_limit: service::lineage::MAX_EACH_WAY,
        graph_depth: service::lineage::DEPTH,
        attestations: attestation_items,
        inclusion,
        verify_command,
        bundle_command,
        aliases_here,
    })
}

/// A link to a commit on a web forge, for `https://` repositories only (anything else is shown as
/// text: a link must not become a `javascript:` URL or point at a file).
fn commit_link(repo: &str, commit: &str) -> Option<String> {
    let u = url::Url::parse(repo).ok()?;
    (u.scheme() == "https")
        .then(|| format!("{}/commit/{commit}", repo.trim_end_matches('/').trim_end_matches(".git")))
}

/// The `registry verify` and `registry bundle` commands that check this version's evidence on the
/// reader's machine, naming the version by its manifest digest and the signers it was verified
/// against (keys by id, keyless by issuer and subject).
fn commands(pinned: &str, evidence: &[&registry_core::api::AttestationInfo]) -> (String, String) {
    let mut trust = Vec::new();
    let mut notes = Vec::new();
    let mut keys = std::collections::BTreeSet::new();
    let mut idents = std::collections::BTreeSet::new();
    for a in evidence.iter().filter(|a| a.status == "verified") {
        match &a.signer_identity {
            Some(id) => {
                idents.insert((id.issuer.clone(), id.subject.clone()));
            }
            None => {
                keys.insert(a.signer_key_id.to_string());
            }
        }
    }
    for (n, k) in keys.iter().enumerate() {
        let file = format!("signer{}.pub", n + 1);
        notes.push(format!("# {file}: your copy of the public key with id {k}"));
        trust.push(format!("--trusted-key {file}"));
    }
    if !idents.is_empty() {
        notes.push("# trusted_root.json: your copy of the Sigstore trust root".to_owned());
        trust.push("--trust-root trusted_root.json".to_owned());
    }
    for (issuer, subject) in &idents {
        trust
            .push(format!("--trusted-identity {}", shell(&format!("{issuer}=^{}$", regex::escape(subject)))));
    }
    // Only the exact SLSA provenance type, and only when a verified attestation has it (a look-alike
    // type must not become what the printed command requires).
    if evidence.iter().any(|a| a.status == "verified" && a.predicate_type == SLSA_PROVENANCE_V1) {
        trust.push(format!("--require-predicate {SLSA_PROVENANCE_V1}"));
    }
    let notes = if notes.is_empty() { String::new() } else { format!("{}\n", notes.join("\n")) };
    if trust.is_empty() {
        let verify = format!(
            "# nothing trusted signed this version: what can be checked is that its bytes match the manifest\nregistry pull {pinned} -o ./model\nregistry verify {pinned} --dir ./model"
        );
        let bundle = format!(
            "registry bundle {pinned} -o bundle.json\n# LOG_KEY: your pinned copy of the log key\nregistry verify --offline --bundle bundle.json --log-key \"$LOG_KEY\""
        );
        return (verify, bundle);
    }
    let flags = trust.join(" ");
    (
        format!("{notes}registry verify {pinned} {flags}"),
        format!(
            "registry bundle {pinned} -o bundle.json\n# then anywhere, offline; LOG_KEY: your pinned copy of the log key\nregistry verify --offline --bundle bundle.json {flags} --log-key \"$LOG_KEY\""
        ),
    )
}

fn graph_of(focus: &VersionRow, hood: &service::lineage::Neighbourhood) -> String {
    let key = |r: &LineageNode| format!("{}/{}@{}", r.namespace, r.name, r.version);
    let node = |r: &LineageNode, side| graph::Node {
        key: key(r),
        href: version_href(&r.namespace, &r.name, &r.version),
        side,
        quarantined: r.quarantined != 0,
    };
    let focus = &LineageNode {
        id: focus.id,
        namespace: focus.namespace.clone(),
        name: focus.name.clone(),
        version: focus.version.clone(),
        quarantined: focus.quarantined,
    };
    let mut nodes = vec![node(focus, Side::Focus)];
    nodes.extend(hood.ancestors.iter().map(|r| node(r, Side::Ancestor)));
    nodes.extend(hood.descendants.iter().map(|r| node(r, Side::Descendant)));
    let by_id: std::collections::HashMap<i64, String> = std::iter::once(focus)
        .chain(&hood.ancestors)
        .chain(&hood.descendants)
        .map(|r| (r.id, key(r)))
        .collect();
    let edges: Vec<graph::Edge> = hood
        .edges
        .iter()
        .filter_map(|(c, p)| {
            Some(graph::Edge { parent: by_id.get(p)?.clone(), child: by_id.get(c)?.clone() })
        })
        .collect();
    graph::svg(&nodes, &edges)
}

/// Log entry `index` proven against the current checkpoint.
struct Proven {
    body: String,
    leaf: registry_core::tlog::Hash,
    checkpoint: registry_core::tlog::note::Checkpoint,
    proof: Vec<registry_core::tlog::Hash>,
    /// The proof recomputes the checkpoint's root.
    verified: bool,
}

/// Entry `index`, its inclusion proof in the current checkpoint, and whether the proof recomputes
/// the root (404 past the end of the log).
async fn proven_entry(state: &AppState, index: u64) -> Result<Proven, UiError> {
    let (checkpoint, _) = service::log::checkpoint(&state.db, &state.log).await?;
    let size = checkpoint.size;
    let missing = || UiError::not_found(format!("log entry {index} not found (the log has {size} entries)"));
    if index >= size {
        return Err(missing());
    }
    let entries = service::log::entries(&state.db, index, index + 1).await?;
    let body = entries.into_iter().next().ok_or_else(missing)?.body;
    let proof = service::log::inclusion(&state.db, index, size).await?;
    let leaf = registry_core::tlog::leaf_hash(body.as_bytes());
    let verified = registry_core::tlog::verify_inclusion(&leaf, index, size, &proof, &checkpoint.root);
    Ok(Proven { body, leaf, checkpoint, proof, verified })
}

/// A version's log entry against the current checkpoint.
async fn inclusion_of(state: &AppState, index: u64) -> Result<view::Inclusion, UiError> {
    let p = proven_entry(state, index).await?;
    Ok(view::Inclusion {
        index,
        href: log_href(index),
        tree_size: p.checkpoint.size,
        proof_len: p.proof.len(),
        verified: p.verified,
    })
}

/// `GET .../versions/{v}/bundle`: the auditor bundle (the access audit records the download, as
/// for `/v1`).
pub async fn bundle(
    State(state): State<AppState>,
    viewer: Viewer,
    UiPath((ns, name, v)): UiPath<(String, String, String)>,
) -> Result<Response, UiError> {
    let actor = viewer.reader()?;
    let m = model_of(&ns, &name)?;
    let r = reference_of(&v)?;
    actor.check_read(&m, format_args!("version {m}@{r}"))?;
    let b = service::audit_bundle::download(&state, &actor.id, &m, &r).await?;
    // The same bytes as `GET /v1/.../bundle` (compact JSON).
    let body = serde_json::to_vec(&b).map_err(ApiError::internal)?;
    let file = format!("{}-{}-{}.bundle.json", m.namespace(), m.name(), b.version.version)
        .replace(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')), "_");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
        ],
        body,
    )
        .into_response())
}

/// `GET /ui/models/{ns}/{name}/aliases/{a}`.
pub async fn alias(
    State(state): State<AppState>,
    viewer: Viewer,
    UiPath((ns, name, a)): UiPath<(String, String, String)>,
) -> Result<Response, UiError> {
    let actor = viewer.reader()?;
    let m = model_of(&ns, &name)?;
    actor.check_read(&m, format_args!("model {m}"))?;
    service::read::get_model(&state, &m).await?;
    let alias = service::promote::alias(&a)?;
    let target = current_target(&state, &m, &alias)
        .await?
        .map(|v| Link { href: version_href(&ns, &name, &v), text: v });
    let events = service::promote::history(&state, &m, &alias, PAGE)
        .await?
        .events
        .into_iter()
        .map(|e| view::DecisionItem {
            version_href: version_href(&ns, &name, &e.version),
            kind: e.kind,
            version: e.version,
            previous: e.previous,
            decision: e.decision,
            reasons: e.reasons,
            policies: e.policies.iter().map(policy_ref).collect(),
            actor: e.actor,
            reason: e.reason,
            at: e.at,
            log_index: e.log_index,
            log_href: e.log_index.map(log_href),
        })
        .collect();
    let can_promote =
        viewer.session.is_some() && actor.has(registry_core::auth::Scope::Promote) && actor.covers(&m);
    render(&view::Alias {
        chrome: Chrome::of(&viewer),
        model: m.to_string(),
        model_href: model_href(&ns, &name),
        action: format!("{}/promote", alias_href(&ns, &name, alias.as_str())),
        rollback_action: format!("{}/rollback", alias_href(&ns, &name, alias.as_str())),
        alias: alias.to_string(),
        target,
        events,
        can_promote,
        vsa_note:
            "Every passed decision stored a SLSA verification summary (VSA) signed by this registry on \
                   its version: open the version to see it among its attestations."
                .into(),
    })
}

/// The version label an alias points at now, or `None` when it points nowhere yet.
pub(super) async fn current_target(
    state: &AppState,
    m: &ModelName,
    alias: &registry_core::promote::AliasName,
) -> Result<Option<String>, UiError> {
    match service::promote::get(state, m, alias, None).await {
        Ok(t) => Ok(Some(t.version)),
        Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn policy_ref(p: &registry_core::promote::PolicyRef) -> view::PolicyRefItem {
    view::PolicyRefItem {
        text: format!("{} {} r{}", p.namespace, p.alias, p.revision),
        href: format!("/ui/policies/{}", p.id),
        digest: p.digest.to_string(),
    }
}

fn policy_item(p: &registry_core::promote::PolicyInfo) -> view::PolicyItem {
    view::PolicyItem {
        href: format!("/ui/policies/{}", p.id),
        namespace: p.namespace.clone(),
        alias: p.alias.clone(),
        revision: p.revision,
        digest: p.digest.to_string(),
        created_by: p.created_by.clone(),
        created_at: p.created_at.clone(),
        log_href: p.log_index.map(log_href),
    }
}

/// `GET /ui/policies`.
pub async fn policies(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    viewer.reader()?;
    let policies = service::promote::list_policies(&state).await?.iter().map(policy_item).collect();
    render(&view::Policies { chrome: Chrome::of(&viewer), policies })
}

/// `GET /ui/policies/{id}`.
pub async fn policy(
    State(state): State<AppState>,
    viewer: Viewer,
    UiPath(id): UiPath<i64>,
) -> Result<Response, UiError> {
    viewer.reader()?;
    let p = service::promote::get_policy(&state, id).await?;
    let revisions = service::promote::policy_revisions(&state, &p).await?;
    let current = revisions.first().is_some_and(|r| r.id == p.id);
    render(&view::Policy {
        chrome: Chrome::of(&viewer),
        policy: policy_item(&p),
        rego: p.rego.clone(),
        current,
        revisions: revisions.iter().map(policy_item).collect(),
    })
}

/// `?before=INDEX` of the log.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    before: Option<u64>,
}

/// One field of a log entry's body, as text.
fn field(body: &serde_json::Value, k: &str) -> String {
    match body.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// `GET /ui/log`: the checkpoint, and entries newest first.
pub async fn log(
    State(state): State<AppState>,
    viewer: Viewer,
    UiQuery(q): UiQuery<LogQuery>,
) -> Result<Response, UiError> {
    let actor = viewer.reader()?;
    service::log::check_reads_whole_log(actor)?;
    let (cp, note) = service::log::checkpoint(&state.db, &state.log).await?;
    let end = q.before.unwrap_or(cp.size).min(cp.size);
    let start = end.saturating_sub(u64::from(PAGE));
    let mut entries: Vec<view::LogItem> = service::log::entries(&state.db, start, end)
        .await?
        .into_iter()
        .map(|e| {
            let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
            view::LogItem {
                index: e.index,
                href: log_href(e.index),
                kind: field(&body, "kind"),
                subject: field(&body, "subject"),
                actor: field(&body, "actor"),
                time: field(&body, "time"),
            }
        })
        .collect();
    entries.reverse();
    let older = (start > 0).then(|| format!("/ui/log{}", query(&[("before", &start.to_string())])));
    let newer = (end < cp.size).then(|| {
        let to = end.saturating_add(u64::from(PAGE)).min(cp.size);
        format!("/ui/log{}", query(&[("before", &to.to_string())]))
    });
    use base64::Engine as _;
    render(&view::Log {
        chrome: Chrome::of(&viewer),
        size: cp.size,
        root: base64::engine::general_purpose::STANDARD.encode(cp.root),
        checkpoint: note,
        entries,
        older,
        newer,
    })
}

/// `GET /ui/log/{index}`: the entry's exact body and its inclusion proof.
pub async fn log_entry(
    State(state): State<AppState>,
    viewer: Viewer,
    UiPath(index): UiPath<u64>,
) -> Result<Response, UiError> {
    let actor = viewer.reader()?;
    service::log::check_reads_whole_log(actor)?;
    let p = proven_entry(&state, index).await?;
    use base64::Engine as _;
    let b64 = |h: &[u8]| base64::engine::general_purpose::STANDARD.encode(h);
    let body = serde_json::from_str::<serde_json::Value>(&p.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .map_or(p.body.clone(), |pretty| format!("{}\n\n(exact bytes:)\n{}", pretty, p.body));
    render(&view::LogEntry {
        chrome: Chrome::of(&viewer),
        index,
        body,
        leaf_hash: b64(&p.leaf),
        tree_size: p.checkpoint.size,
        root: b64(&p.checkpoint.root),
        proof: p.proof.iter().map(|h| b64(h)).collect(),
        verified: p.verified,
    })
}

/// `GET /ui/report`: the compliance report of what the reader can see; every figure is the JSON
/// value `registry report --json` prints.
pub async fn report(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    let actor = viewer.reader()?;
    let r = service::report::compliance(&state, actor).await?;
    let mut fields = Vec::new();
    let mut rows = Vec::new();
    for ns in &r.namespaces {
        let value = serde_json::to_value(ns).map_err(ApiError::internal)?;
        let Some(obj) = value.as_object() else { continue };
        let figures: Vec<Pair> = obj
            .iter()
            .filter(|(k, _)| k.as_str() != "namespace")
            .map(|(k, v)| Pair { key: k.clone(), value: v.to_string() })
            .collect();
        if fields.is_empty() {
            fields = figures
                .iter()
                .map(|p| REPORT_FIELDS.iter().find(|f| **f == p.key).copied().unwrap_or("?"))
                .collect();
        }
        rows.push(view::ReportRow { namespace: ns.namespace.clone(), figures });
    }
    render(&view::Report { chrome: Chrome::of(&viewer), generated_at: r.generated_at, fields, rows })
}

/// The report's columns, as the JSON names them.
const REPORT_FIELDS: &[&str] = &[
    "versions",
    "signed_provenance",
    "with_datasets",
    "oms_signature",
    "promoted",
    "promoted_with_vsa",
    "quarantined",
    "corrupted",
    "signed_provenance_pct",
    "with_datasets_pct",
    "oms_signature_pct",
    "promoted_with_vsa_pct",
];

fn affected_items(
    actor: &crate::auth::Actor,
    versions: Vec<registry_core::incident::AffectedVersion>,
) -> Vec<view::AffectedItem> {
    versions
        .into_iter()
        .map(|v| {
            let href = ModelName::parse(&v.model)
                .ok()
                .filter(|m| actor.covers(m))
                .map(|m| version_href(m.namespace(), m.name(), &v.version));
            view::AffectedItem {
                version: format!("{}@{}", v.model, v.version),
                href,
                digest: v.manifest_digest.to_string(),
                quarantined: v.quarantined,
                path: v.path,
            }
        })
        .collect()
}

/// `GET /ui/quarantines`.
pub async fn quarantines(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    let actor = viewer.reader()?;
    let list = service::incident::list_for(&state, actor, PAGE).await?;
    let quarantines = list
        .into_iter()
        .map(|q| view::QuarantineItem {
            id: q.id,
            seed: q.seed,
            reason: q.reason,
            created_by: q.created_by,
            created_at: q.created_at,
            lifted_at: q.lifted_at,
            versions: affected_items(actor, q.versions),
            rollbacks: q
                .rollbacks
                .iter()
                .map(|r| match (&r.to, &r.error) {
                    (Some(to), _) => format!("{}@{}: {} → {}", r.model, r.alias, r.from, to),
                    (None, Some(e)) => format!("{}@{}: stayed at {} ({e})", r.model, r.alias, r.from),
                    (None, None) => format!("{}@{}: stayed at {}", r.model, r.alias, r.from),
                })
                .collect(),
            log_href: log_href(q.log_index),
            lift_action: format!("/ui/quarantines/{}/lift", q.id),
        })
        .collect();
    render(&view::Quarantines { chrome: Chrome::of(&viewer), quarantines })
}

/// The blast-radius form's query: `kind` (dataset, commit, key, version) and `value`.
#[derive(Debug, Deserialize)]
pub struct AffectedQuery {
    kind: Option<String>,
    value: Option<String>,
}

/// A seed from the UI's (kind, value) pair, parsed as `/v1/lineage/affected` parses it.
pub(super) fn seed_of(kind: &str, value: &str) -> Result<Seed, UiError> {
    let digest = |v: &str| Digest::parse(v).map_err(|e| UiError::bad_request(e.to_string()));
    Ok(match kind {
        "dataset" => Seed::one_of(Some(digest(value)?), None, None, None)?,
        "commit" => Seed::one_of(None, Some(value), None, None)?,
        "key" => Seed::one_of(None, None, Some(digest(value)?), None)?,
        "version" => Seed::one_of(None, None, None, Some(value))?,
        other => {
            return Err(UiError::bad_request(format!(
                "unknown seed kind {other:?}: dataset, commit, key or version"
            )));
        }
    })
}

/// `GET /ui/affected`: the form, and with a seed, what it reached.
pub async fn affected(
    State(state): State<AppState>,
    viewer: Viewer,
    UiQuery(q): UiQuery<AffectedQuery>,
) -> Result<Response, UiError> {
    let actor = viewer.reader()?;
    let kind = q.kind.unwrap_or_else(|| "dataset".into());
    let value = q.value.unwrap_or_default().trim().to_owned();
    let (seed, versions) = if value.is_empty() {
        (None, Vec::new())
    } else {
        let seed = seed_of(&kind, &value)?;
        if let Seed::Version(m, r) = &seed {
            actor.check_read(m, format_args!("version {m}@{r}"))?;
        }
        let reached = service::incident::affected(&state, &seed).await?;
        let versions =
            reached.iter().map(service::incident::affected_version).collect::<Result<Vec<_>, _>>()?;
        let versions = service::incident::visible_versions(actor, versions, true);
        (Some(seed.text()), affected_items(actor, versions))
    };
    render(&view::Affected { chrome: Chrome::of(&viewer), kind, value, seed, versions })
}

/// `?actor=&before=` of the audit page.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    before: Option<i64>,
}

/// `GET /ui/audit` (admin).
pub async fn audit(
    State(state): State<AppState>,
    viewer: Viewer,
    UiQuery(q): UiQuery<AuditQuery>,
) -> Result<Response, UiError> {
    let actor = viewer.reader()?;
    if !actor.has(registry_core::auth::Scope::Admin) {
        return Err(UiError::forbidden("the access audit needs the admin scope"));
    }
    let who = q.actor.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    if who.as_ref().is_some_and(|a| a.len() > 512) {
        return Err(UiError::bad_request("actor is longer than 512 bytes"));
    }
    let f = crate::db::audit::AuditFilter {
        actor: who.clone(),
        target: None,
        since: None,
        before: q.before.filter(|b| *b > 0),
    };
    let list = service::audit::list(&state, &f, PAGE).await?;
    let who = who.unwrap_or_default();
    let older = list.next_cursor.map(|c| format!("/ui/audit{}", query(&[("actor", &who), ("before", &c)])));
    let entries = list
        .entries
        .into_iter()
        .map(|e| view::AuditItem { at: e.at, actor: e.actor, action: e.action, target: e.target })
        .collect();
    render(&view::Audit { chrome: Chrome::of(&viewer), actor: who, entries, older })
}
