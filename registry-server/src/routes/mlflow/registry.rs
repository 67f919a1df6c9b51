//! Registered models, versions and aliases (`/api/2.0/mlflow/registered-models/...`,
//! `/api/2.0/mlflow/model-versions/...`).
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::MethodRouter;
use serde::Deserialize;
use serde_json::json;

use super::{
    KeyValue, MlAuth, MlDelete, MlError, MlJson, MlQuery, MlResult, PROMOTE, PUSH, READ, add, de_i64, empty,
    no_field_codes, pairs, route, wire,
};
use crate::auth::need;
use crate::mounted::MountedRoute;
use crate::service::mlflow::registry::{self as svc, Annotation, NewVersion, Registered};
use crate::state::AppState;

const API: &str = "/api/2.0/mlflow";

pub(super) fn routes(out: &mut Vec<(MountedRoute, MethodRouter<AppState>)>) {
    let (get, post, patch, delete) = (Method::GET, Method::POST, Method::PATCH, Method::DELETE);
    let mut r = |m: Method, p: &str, a, h| add(out, m, &format!("{API}/{p}"), a, h);
    r(post.clone(), "registered-models/create", PUSH, route(&post, create_model));
    r(get.clone(), "registered-models/get", READ, route(&get, get_model));
    r(get.clone(), "registered-models/search", READ, route(&get, search_models));
    r(get.clone(), "registered-models/get-latest-versions", READ, route(&get, latest_versions_get));
    r(post.clone(), "registered-models/get-latest-versions", READ, route(&post, latest_versions_post));
    r(get.clone(), "registered-models/alias", READ, route(&get, get_alias));
    r(post.clone(), "registered-models/alias", PROMOTE, route(&post, set_alias));
    r(delete.clone(), "registered-models/alias", PROMOTE, route(&delete, delete_alias));
    r(patch.clone(), "registered-models/update", PUSH, route(&patch, update_model));
    r(post.clone(), "registered-models/set-tag", PUSH, route(&post, set_model_tag));
    r(delete.clone(), "registered-models/delete-tag", PUSH, route(&delete, delete_model_tag));
    r(post.clone(), "registered-models/rename", PUSH, route(&post, rename_model));
    r(delete.clone(), "registered-models/delete", PUSH, route(&delete, delete_model));
    r(post.clone(), "model-versions/create", PUSH, route(&post, create_version));
    r(get.clone(), "model-versions/get", READ, route(&get, get_version));
    r(get.clone(), "model-versions/search", READ, route(&get, search_versions));
    r(get.clone(), "model-versions/get-download-uri", READ, route(&get, download_uri));
    r(patch.clone(), "model-versions/update", PUSH, route(&patch, update_version));
    r(post.clone(), "model-versions/set-tag", PUSH, route(&post, set_version_tag));
    r(delete.clone(), "model-versions/delete-tag", PUSH, route(&delete, delete_version_tag));
    r(delete.clone(), "model-versions/delete", PUSH, route(&delete, delete_version));
    r(post.clone(), "model-versions/transition-stage", PUSH, route(&post, transition_stage));
}

#[derive(Deserialize)]
struct Name {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct CreateModel {
    #[serde(default)]
    name: String,
    #[serde(default)]
    tags: Vec<KeyValue>,
    #[serde(default)]
    description: Option<String>,
}

async fn create_model(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<CreateModel>,
) -> MlResult {
    let m = svc::create_model(&state, &actor, &b.name, &pairs(b.tags), b.description.as_deref()).await?;
    Ok(Json(json!({"registered_model": wire::model(&m)})))
}

async fn get_model(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlQuery(q): MlQuery<Name>,
) -> MlResult {
    let m = svc::model(&state, &actor, &q.name).await?;
    Ok(Json(json!({"registered_model": wire::model(&m)})))
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    max_results: Option<u32>,
    #[serde(default)]
    page_token: Option<String>,
}

async fn search_models(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlQuery(q): MlQuery<Search>,
) -> MlResult {
    let (models, next) = svc::search_models(
        &state,
        &actor,
        q.filter.as_deref().unwrap_or(""),
        q.max_results.unwrap_or(100),
        q.page_token.as_deref(),
    )
    .await?;
    let mut out = json!({"registered_models": models.iter().map(wire::model).collect::<Vec<_>>()});
    if let Some(n) = next {
        out["next_page_token"] = json!(n);
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct LatestQuery {
    #[serde(default)]
    name: String,
    #[serde(default)]
    stages: Option<String>,
}

async fn latest_versions_get(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlQuery(q): MlQuery<LatestQuery>,
) -> MlResult {
    let stages: Vec<String> = q.stages.into_iter().collect();
    let v = svc::latest_versions(&state, &actor, &q.name, &stages).await?;
    Ok(Json(json!({"model_versions": v.iter().map(wire::version).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
struct LatestBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    stages: Vec<String>,
}

async fn latest_versions_post(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlJson(b): MlJson<LatestBody>,
) -> MlResult {
    let v = svc::latest_versions(&state, &actor, &b.name, &b.stages).await?;
    Ok(Json(json!({"model_versions": v.iter().map(wire::version).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
struct AliasQuery {
    #[serde(default)]
    name: String,
    #[serde(default)]
    alias: String,
}

async fn get_alias(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlQuery(q): MlQuery<AliasQuery>,
) -> MlResult {
    let v = svc::alias(&state, &actor, &q.name, &q.alias).await?;
    Ok(Json(json!({"model_version": wire::version(&v)})))
}

#[derive(Deserialize)]
struct SetAlias {
    #[serde(default)]
    name: String,
    #[serde(default)]
    alias: String,
    #[serde(default)]
    version: String,
}

async fn set_alias(
    State(state): State<AppState>,
    actor: MlAuth<need::Promote>,
    MlJson(b): MlJson<SetAlias>,
) -> MlResult {
    svc::set_alias(&state, &actor, &b.name, &b.alias, &b.version).await?;
    Ok(empty())
}

async fn refused(state: &AppState, actor: &crate::auth::Actor, name: &str, what: &str) -> MlResult {
    Err(MlError(svc::refuse_change(state, actor, name, what).await))
}

async fn delete_alias(
    State(state): State<AppState>,
    actor: MlAuth<need::Promote>,
    MlDelete(q): MlDelete<AliasQuery>,
) -> MlResult {
    refused(&state, &actor, &q.name, "deleting an alias").await
}

async fn rename_model(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<Name>,
) -> MlResult {
    refused(&state, &actor, &b.name, "renaming a model").await
}

async fn delete_model(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlDelete(q): MlDelete<Name>,
) -> MlResult {
    refused(&state, &actor, &q.name, "deleting a model").await
}

#[derive(Deserialize)]
struct NameVersion {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
}

async fn delete_version(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlDelete(q): MlDelete<NameVersion>,
) -> MlResult {
    refused(&state, &actor, &q.name, "deleting a model version").await
}

async fn transition_stage(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<NameVersion>,
) -> MlResult {
    refused(&state, &actor, &b.name, "stage transitions (use aliases)").await
}

#[derive(Deserialize)]
struct Update {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

async fn update_model(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<Update>,
) -> MlResult {
    let d = b.description.unwrap_or_default();
    let m = svc::annotate_model(&state, &actor, &b.name, Annotation::Description(&d)).await?;
    Ok(Json(json!({"registered_model": wire::model(&m)})))
}

async fn update_version(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<Update>,
) -> MlResult {
    let d = b.description.unwrap_or_default();
    let version = b.version.unwrap_or_default();
    let v = svc::annotate_version(&state, &actor, &b.name, &version, Annotation::Description(&d)).await?;
    Ok(Json(json!({"model_version": wire::version(&v)})))
}

#[derive(Deserialize)]
struct Tag {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
}

async fn set_model_tag(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<Tag>,
) -> MlResult {
    svc::annotate_model(&state, &actor, &b.name, Annotation::SetTag(&b.key, &b.value)).await?;
    Ok(empty())
}

async fn delete_model_tag(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlDelete(q): MlDelete<Tag>,
) -> MlResult {
    svc::annotate_model(&state, &actor, &q.name, Annotation::DeleteTag(&q.key)).await?;
    Ok(empty())
}

async fn set_version_tag(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<Tag>,
) -> MlResult {
    let version = b.version.unwrap_or_default();
    svc::annotate_version(&state, &actor, &b.name, &version, Annotation::SetTag(&b.key, &b.value)).await?;
    Ok(empty())
}

async fn delete_version_tag(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlDelete(q): MlDelete<Tag>,
) -> MlResult {
    let version = q.version.unwrap_or_default();
    svc::annotate_version(&state, &actor, &q.name, &version, Annotation::DeleteTag(&q.key)).await?;
    Ok(empty())
}

#[derive(Deserialize)]
struct CreateVersion {
    #[serde(default)]
    name: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    model_id: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
    #[serde(default)]
    description: Option<String>,
}

async fn create_version(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlJson(b): MlJson<CreateVersion>,
) -> MlResult {
    let new = NewVersion {
        name: &b.name,
        source: &b.source,
        run_id: b.run_id.as_deref(),
        model_id: b.model_id.as_deref(),
        tags: pairs(b.tags),
        description: b.description.as_deref(),
    };
    match svc::create_version(&state, &actor, new).await? {
        Registered::Ready(v) => Ok(Json(json!({"model_version": wire::version(&v)}))),
        // Nothing was written: version "0" names no version. The client raises with the message.
        Registered::Failed(message) => Ok(Json(json!({"model_version": {
            "name": b.name, "version": "0", "source": b.source, "status": "FAILED_REGISTRATION",
            "status_message": message, "current_stage": "None",
        }}))),
    }
}

async fn get_version(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlQuery(q): MlQuery<NameVersion>,
) -> MlResult {
    let v = svc::version(&state, &actor, &q.name, &q.version).await?;
    Ok(Json(json!({"model_version": wire::version(&v)})))
}

#[derive(Deserialize)]
struct SearchVersions {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default, deserialize_with = "de_i64")]
    max_results: Option<i64>,
    #[serde(default)]
    page_token: Option<String>,
}

async fn search_versions(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlQuery(q): MlQuery<SearchVersions>,
) -> MlResult {
    let max = u32::try_from(q.max_results.unwrap_or(10_000).clamp(1, 10_000)).unwrap_or(10_000);
    let (versions, next) =
        svc::search_versions(&state, &actor, q.filter.as_deref().unwrap_or(""), max, q.page_token.as_deref())
            .await?;
    let mut out = json!({"model_versions": versions.iter().map(wire::version).collect::<Vec<_>>()});
    if let Some(n) = next {
        out["next_page_token"] = json!(n);
    }
    Ok(Json(out))
}

async fn download_uri(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlQuery(q): MlQuery<NameVersion>,
) -> MlResult {
    let uri = svc::download_uri(&state, &actor, &q.name, &q.version).await?;
    Ok(Json(json!({"artifact_uri": uri})))
}

no_field_codes!(CreateModel, LatestBody, SetAlias, Name, NameVersion, Update, Tag, CreateVersion, AliasQuery);
