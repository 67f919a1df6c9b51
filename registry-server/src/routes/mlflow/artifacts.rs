//! Files (`/api/2.0/mlflow-artifacts/artifacts...`) and `GET /api/3.0/mlflow/server-info`.
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use axum::routing::MethodRouter;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{MlAuth, MlError, MlPath, MlQuery, MlResult, PUSH, READ, add, empty, route};
use crate::auth::need;
use crate::mounted::MountedRoute;
use crate::service::mlflow::artifacts as svc;
use crate::state::AppState;

const FILES: &str = "/api/2.0/mlflow-artifacts/artifacts";

pub(super) fn routes(out: &mut Vec<(MountedRoute, MethodRouter<AppState>)>) {
    let (get, put, delete) = (Method::GET, Method::PUT, Method::DELETE);
    add(out, get.clone(), FILES, READ, route(&get, list));
    add(out, get.clone(), &format!("{FILES}/{{*path}}"), READ, route(&get, download));
    add(out, put.clone(), &format!("{FILES}/{{*path}}"), PUSH, route(&put, upload));
    add(out, delete.clone(), &format!("{FILES}/{{*path}}"), PUSH, route(&delete, remove));
    add(out, get.clone(), "/api/3.0/mlflow/server-info", READ, route(&get, server_info));
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    path: String,
}

async fn list(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlQuery(q): MlQuery<ListQuery>,
) -> MlResult {
    let entries = svc::list(&state, &actor, &q.path).await?;
    if entries.is_empty() {
        return Ok(empty());
    }
    let files: Vec<Value> = entries
        .iter()
        .map(|e| match e.size {
            Some(n) => json!({"path": e.path, "is_dir": e.is_dir, "file_size": n}),
            None => json!({"path": e.path, "is_dir": e.is_dir}),
        })
        .collect();
    Ok(Json(json!({"files": files})))
}

#[derive(Deserialize)]
struct FilePath {
    path: String,
}

async fn download(
    State(state): State<AppState>,
    actor: MlAuth<need::Read>,
    MlPath(p): MlPath<FilePath>,
    headers: HeaderMap,
) -> Result<Response, MlError> {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (_, d) = svc::get(&state, &actor, &p.path, range).await?;
    Ok(crate::routes::blobs::respond(d)?)
}

async fn upload(
    State(state): State<AppState>,
    actor: MlAuth<need::Push>,
    MlPath(p): MlPath<FilePath>,
    headers: HeaderMap,
    body: Body,
) -> MlResult {
    let len = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    svc::put(&state, &actor, &p.path, len, body.into_data_stream()).await?;
    Ok(empty())
}

async fn remove(State(_): State<AppState>, _: MlAuth<need::Push>, MlPath(_): MlPath<FilePath>) -> MlResult {
    Err(MlError(crate::error::ApiError::forbidden(
        "artifact files are write-once: they name content-addressed blobs that versions may reference",
    )))
}

/// Multipart uploads and presigned downloads are off: files go up as one streamed `PUT` (hashed as
/// it streams) and come down through the server (audited).
async fn server_info(_: MlAuth<need::Read>) -> MlResult {
    Ok(Json(json!({"multipart_uploads_enabled": false, "multipart_downloads_enabled": false})))
}
