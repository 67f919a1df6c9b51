//! The UI's actions: form POSTs from a session carrying its CSRF token, each one call into the same
//! service `/v1` calls (the service checks scopes and namespaces, evaluates policies, signs and logs).
//! Success answers 303 to the page that shows the result (so a reload does not repeat it).
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use registry_core::auth::Scope;
use serde::Deserialize;

use super::pages::{alias_href, current_target, model_href, model_of, policy_ref, reference_of, seed_of};
use super::session::{Viewer, same_origin, see_other};
use super::view::{self, Chrome};
use super::{UiError, UiForm, UiPath, render};
use crate::service::incident::Seed;
use crate::service::{self, promote::Move};
use crate::state::AppState;

/// A form that carries the session's CSRF token.
pub trait Csrf {
    /// The token sent.
    fn csrf(&self) -> Option<&str>;
}

macro_rules! csrf {
    ($($t:ty),*) => { $(impl Csrf for $t { fn csrf(&self) -> Option<&str> { self.csrf.as_deref() } })* };
}
csrf!(PromoteForm, ReasonForm, QuarantineForm, super::session::CsrfForm);

/// The actor of a form POST and its form: 403 when another origin sent it ([`same_origin`]), 401
/// without a session, 403 without the session's CSRF token (a body that does not parse carries
/// none), in that order, before anything else is looked at. Every UI POST but sign-in starts here.
pub fn acting<'v, F: Csrf>(
    state: &AppState,
    headers: &HeaderMap,
    viewer: &'v Viewer,
    form: Result<UiForm<F>, UiError>,
) -> Result<(&'v crate::auth::Actor, F), UiError> {
    same_origin(headers, state.settings.public_origin.as_deref())?;
    match form {
        Ok(UiForm(f)) => Ok((viewer.acting(f.csrf())?, f)),
        Err(_) => {
            viewer.acting(None)?;
            unreachable_csrf()
        }
    }
}

/// `Viewer::acting(None)` always refuses (401 or 403); this is never reached.
fn unreachable_csrf<T>() -> Result<T, UiError> {
    Err(UiError::forbidden("missing or wrong CSRF token: reload the page and try again"))
}

/// The promote form: first without `confirm` (a dry run is shown), then with `confirm=yes` and the
/// alias's target at the time of the dry run (`expected_current`: the move is refused if it moved).
#[derive(Debug, Deserialize)]
pub struct PromoteForm {
    csrf: Option<String>,
    #[serde(default)]
    version: String,
    #[serde(default)]
    reason: String,
    expected_current: Option<String>,
    confirm: Option<String>,
}

/// `POST .../aliases/{a}/promote`.
pub async fn promote(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    UiPath((ns, name, a)): UiPath<(String, String, String)>,
    form: Result<UiForm<PromoteForm>, UiError>,
) -> Result<Response, UiError> {
    let (actor, form) = acting(&state, &headers, &viewer, form)?;
    let m = model_of(&ns, &name)?;
    actor.check_write(Scope::Promote, &m)?;
    crate::error::check_text("reason", &form.reason)?;
    let alias = service::promote::alias(&a)?;
    let version = reference_of(form.version.trim())?;
    if form.confirm.as_deref() == Some("yes") {
        let mv = Move {
            model: &m,
            alias: &alias,
            reason: &form.reason,
            expected_current: Some(form.expected_current.as_deref().unwrap_or("")),
            kind: "promote",
        };
        service::promote::promote(&state, actor, &mv, &version).await?;
        return Ok(see_other(&alias_href(&ns, &name, alias.as_str()), None));
    }
    let decision = service::promote::dry_run(&state, actor, &m, &version, &alias).await?;
    let current = current_target(&state, &m, &alias).await?;
    // Confirm names the version by its label, as resolved now.
    let label = service::read::resolve(&state, &m, &version).await?.version;
    render(&view::DryRun {
        chrome: Chrome::of(&viewer),
        model: m.to_string(),
        model_href: model_href(&ns, &name),
        alias_href: alias_href(&ns, &name, alias.as_str()),
        action: format!("{}/promote", alias_href(&ns, &name, alias.as_str())),
        alias: alias.to_string(),
        version: label,
        reason: form.reason,
        expected_current: current.clone().unwrap_or_default(),
        current,
        allowed: decision.allowed,
        reasons: decision.reasons,
        policies: decision.policies.iter().map(policy_ref).collect(),
    })
}

/// A form with a reason.
#[derive(Debug, Deserialize)]
pub struct ReasonForm {
    csrf: Option<String>,
    #[serde(default)]
    reason: String,
}

/// `POST .../aliases/{a}/rollback`.
pub async fn rollback(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    UiPath((ns, name, a)): UiPath<(String, String, String)>,
    form: Result<UiForm<ReasonForm>, UiError>,
) -> Result<Response, UiError> {
    let (actor, form) = acting(&state, &headers, &viewer, form)?;
    let m = model_of(&ns, &name)?;
    actor.check_write(Scope::Promote, &m)?;
    crate::error::check_text("reason", &form.reason)?;
    let alias = service::promote::alias(&a)?;
    service::promote::rollback(&state, actor, &m, &alias, &form.reason).await?;
    Ok(see_other(&alias_href(&ns, &name, alias.as_str()), None))
}

/// The quarantine form.
#[derive(Debug, Deserialize)]
pub struct QuarantineForm {
    csrf: Option<String>,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    reason: String,
    rollback: Option<String>,
}

/// `POST /ui/quarantines` (admin, as `POST /v1/quarantines`).
pub async fn quarantine(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    form: Result<UiForm<QuarantineForm>, UiError>,
) -> Result<Response, UiError> {
    let (actor, form) = acting(&state, &headers, &viewer, form)?;
    if !actor.has(Scope::Admin) {
        return Err(UiError::forbidden("quarantining needs the admin scope"));
    }
    crate::error::check_text("reason", &form.reason)?;
    let mut req = registry_core::incident::QuarantineRequest {
        dataset: None,
        commit: None,
        key: None,
        version: None,
        reason: form.reason.clone(),
        rollback: form.rollback.as_deref() == Some("yes"),
    };
    match seed_of(&form.kind, form.value.trim())? {
        Seed::Dataset(d) => req.dataset = Some(d),
        Seed::Commit(c) => req.commit = Some(c),
        Seed::Key(k) => req.key = Some(k),
        Seed::Version(m, r) => req.version = Some(format!("{m}@{r}")),
    }
    service::incident::quarantine(&state, actor, &req).await?;
    Ok(see_other("/ui/quarantines", None))
}

/// `POST /ui/quarantines/{id}/lift` (admin).
pub async fn lift(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    UiPath(id): UiPath<i64>,
    form: Result<UiForm<ReasonForm>, UiError>,
) -> Result<Response, UiError> {
    let (actor, form) = acting(&state, &headers, &viewer, form)?;
    if !actor.has(Scope::Admin) {
        return Err(UiError::forbidden("lifting a quarantine needs the admin scope"));
    }
    crate::error::check_text("reason", &form.reason)?;
    service::incident::lift(&state, actor, id, &form.reason).await?;
    Ok(see_other("/ui/quarantines", None))
}
