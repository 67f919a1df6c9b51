//! Models and versions: `/v1/models/...`, a version's manifest (checked against its digest before it is
//! parsed) and its audit bundle.
use registry_core::api::{ModelList, ModelResponse, PutVersionRequest, VersionList, VersionResponse, paths};
use registry_core::audit_bundle::AuditBundle;
use registry_core::{Digest, Manifest, ModelName};
use reqwest::{Method, StatusCode};

use crate::{Client, ClientError, query};

impl Client {
    /// `GET /v1/models/{ns}/{name}`.
    pub async fn get_model(&self, model: &ModelName) -> Result<ModelResponse, ClientError> {
        self.json(self.request(Method::GET, &paths::model(model))).await
    }

    /// `GET /v1/models`, one page.
    pub async fn list_models(
        &self,
        namespace: Option<&str>,
        prefix: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ModelList, ClientError> {
        let q = query(&[
            ("namespace", namespace.map(str::to_owned)),
            ("prefix", prefix.map(str::to_owned)),
            ("cursor", cursor.map(str::to_owned)),
            ("limit", limit.map(|n| n.to_string())),
        ]);
        self.json(self.request(Method::GET, "/v1/models").query(&q)).await
    }

    /// `GET .../versions`, one page, newest first.
    pub async fn list_versions(
        &self,
        model: &ModelName,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<VersionList, ClientError> {
        let q = query(&[("cursor", cursor.map(str::to_owned)), ("limit", limit.map(|n| n.to_string()))]);
        self.json(self.request(Method::GET, &format!("{}/versions", paths::model(model))).query(&q)).await
    }

    /// `PUT /v1/models/{ns}/{name}/versions/{version}`; the bool is true when newly created.
    pub async fn put_version(
        &self,
        model: &ModelName,
        version: &str,
        req: &PutVersionRequest,
    ) -> Result<(VersionResponse, bool), ClientError> {
        let resp = self.send(self.request(Method::PUT, &paths::version(model, version)).json(req)).await?;
        let created = resp.status() == StatusCode::CREATED;
        let bytes = resp.bytes().await?;
        let v = serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((v, created))
    }

    /// `GET .../versions/{reference}` (a label or `sha256:` manifest digest).
    pub async fn get_version(
        &self,
        model: &ModelName,
        reference: &str,
    ) -> Result<VersionResponse, ClientError> {
        self.json(self.request(Method::GET, &paths::version(model, reference))).await
    }

    /// The manifest of `version`, checked against `expected` byte for byte before it is parsed.
    pub async fn get_manifest(&self, v: &VersionResponse) -> Result<Manifest, ClientError> {
        let model =
            ModelName::new(&v.namespace, &v.name).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let path = format!("{}/manifest", paths::version(&model, &v.version));
        let bytes = self.send(self.request(Method::GET, &path)).await?.bytes().await?;
        let actual = Digest::of(&bytes);
        if actual != v.manifest_digest {
            return Err(ClientError::Verify(format!(
                "manifest of {model}@{} hashes to {actual}, not to its recorded digest {}",
                v.version, v.manifest_digest
            )));
        }
        let m: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Verify(format!("manifest: {e}")))?;
        if m.canonical_bytes() != bytes.as_ref() {
            return Err(ClientError::Verify("manifest is not in canonical form".into()));
        }
        if m.oms_root_digest() != v.oms_root_digest {
            return Err(ClientError::Verify("manifest does not match the recorded OMS root digest".into()));
        }
        Ok(m)
    }

    /// `GET .../versions/{v}/bundle`: the version's audit bundle (its record, log entries, proofs and a
    /// checkpoint), unverified; [`crate::tlog::check_version`] verifies it.
    pub async fn audit_bundle(&self, model: &ModelName, reference: &str) -> Result<AuditBundle, ClientError> {
        self.json(self.request(Method::GET, &format!("{}/bundle", paths::version(model, reference)))).await
    }
}
