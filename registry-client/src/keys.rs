//! Trusted signers: keys (`/v1/keys`), Sigstore trust roots (`/v1/trust-roots`) and keyless identities
//! (`/v1/identities`); changing any of them needs `admin`.
use registry_core::Digest;
use registry_core::api::{
    AddIdentityRequest, AddKeyRequest, TrustRootInfo, TrustRootList, TrustedIdentityInfo,
    TrustedIdentityList, TrustedKeyInfo, TrustedKeyList,
};
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

    /// `GET /v1/trust-roots`.
    pub async fn list_trust_roots(&self) -> Result<TrustRootList, ClientError> {
        self.json(self.request(Method::GET, "/v1/trust-roots")).await
    }

    /// `PUT /v1/trust-roots/{name}` (admin): installs a `trusted_root.json`, its exact bytes.
    pub async fn put_trust_root(&self, name: &str, body: Vec<u8>) -> Result<TrustRootInfo, ClientError> {
        let rb = self
            .request(Method::PUT, &format!("/v1/trust-roots/{name}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.json(rb).await
    }

    /// `DELETE /v1/trust-roots/{name}` (admin).
    pub async fn remove_trust_root(&self, name: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &format!("/v1/trust-roots/{name}"))).await?;
        Ok(())
    }

    /// `GET /v1/identities`.
    pub async fn list_identities(&self) -> Result<TrustedIdentityList, ClientError> {
        self.json(self.request(Method::GET, "/v1/identities")).await
    }

    /// `POST /v1/identities` (admin).
    pub async fn add_identity(&self, req: &AddIdentityRequest) -> Result<TrustedIdentityInfo, ClientError> {
        self.json(self.request(Method::POST, "/v1/identities").json(req)).await
    }

    /// `DELETE /v1/identities/{id}` (admin).
    pub async fn revoke_identity(&self, id: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &format!("/v1/identities/{id}"))).await?;
        Ok(())
    }
}
