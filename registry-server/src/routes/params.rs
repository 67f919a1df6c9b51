//! Path parameters with the patterns the OpenAPI document advertises, so "schema-valid" and
//! "accepted" mean the same thing. The handlers still parse every value into its domain type.
use serde::Deserialize;
use utoipa::IntoParams;

/// `{namespace}/{name}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ModelPath {
    /// Namespace.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$", example = "fraud")]
    pub namespace: String,
    /// Model name.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$", example = "detector")]
    pub name: String,
}

/// `{namespace}/{name}/versions/{version}` where `{version}` is a label or a manifest digest.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionPath {
    /// Namespace.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$", example = "fraud")]
    pub namespace: String,
    /// Model name.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$", example = "detector")]
    pub name: String,
    /// A version label, or `sha256:<manifest digest>`.
    #[param(pattern = r"^([A-Za-z0-9][A-Za-z0-9._+-]{0,127}|sha256:[0-9a-f]{64})$", example = "1.4.0")]
    pub version: String,
}

/// `{namespace}/{name}/versions/{version}` where `{version}` is a label to create.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct LabelPath {
    /// Namespace.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$", example = "fraud")]
    pub namespace: String,
    /// Model name.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,127}$", example = "detector")]
    pub name: String,
    /// The version label.
    #[param(pattern = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$", example = "1.4.1")]
    pub version: String,
}

/// `{digest}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DigestPath {
    /// `sha256:` and 64 lowercase hex characters.
    #[param(
        pattern = r"^sha256:[0-9a-f]{64}$",
        example = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )]
    pub digest: String,
}

/// `{id}` of an upload session.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UploadPath {
    /// Upload session id (a uuid).
    #[param(pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub id: String,
}

/// `{id}/parts/{part}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UploadPartPath {
    /// Upload session id (a uuid).
    #[param(pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub id: String,
    /// Part index, from 0.
    #[param(minimum = 0, maximum = 9999)]
    pub part: u64,
}
