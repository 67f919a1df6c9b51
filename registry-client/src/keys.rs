//! Trusted signer keys: `/v1/keys` (adding and revoking need `admin`).
use registry_core::Digest;
use registry_core::api::{AddKeyRequest, TrustedKeyInfo, TrustedKeyList};
use registry_core::auth::NamePattern;
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `GET /v1/keys`.
    pub async fn list_keys(&self) -> Result<TrustedKeyList, ClientError> {
        self.json(self.request(Method::GET, "/v1/keys")).await
    }

    /// `POST /v1/keys` (admin).
    pub async fn add_key(&self, req: &AddKeyRequest) -> Result<TrustedKeyInfo, ClientError> {
        self.json(self.request(Method::POST, "/v1/keys").json(req)).await
    }

    /// `DELETE /v1/keys/{key_id}[?namespace=]` (admin): revokes a trusted key for one pattern, or for
    /// every pattern it is trusted for.
    pub async fn revoke_key(
        &self,
        key_id: &Digest,
        namespace: Option<&NamePattern>,
    ) -> Result<(), ClientError> {
        let mut rb = self.request(Method::DELETE, &format!("/v1/keys/{key_id}"));
        if let Some(ns) = namespace {
            rb = rb.query(&[("namespace", ns.to_string())]);
        }
        self.send(rb).await?;
        Ok(())
    }
}
