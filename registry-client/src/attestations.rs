//! A version's attestations: `.../attestations`, their exact bytes checked against the listed digest.
//! Making and verifying them is [`crate::attest`].
use registry_core::api::{AttestationInfo, AttestationList, paths};
use registry_core::{Digest, ModelName};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `GET .../attestations` of a version.
    pub async fn list_attestations(
        &self,
        model: &ModelName,
        version: &str,
    ) -> Result<AttestationList, ClientError> {
        self.json(self.request(Method::GET, &format!("{}/attestations", paths::version(model, version))))
            .await
    }

    /// The exact bytes of one attestation, checked against the digest the listing gave.
    pub async fn attestation_bytes(
        &self,
        model: &ModelName,
        version: &str,
        info: &AttestationInfo,
    ) -> Result<Vec<u8>, ClientError> {
        let path = format!("{}/attestations/{}", paths::version(model, version), info.id);
        let bytes = self.send(self.request(Method::GET, &path)).await?.bytes().await?.to_vec();
        if Digest::of(&bytes) != info.digest {
            return Err(ClientError::Verify(format!(
                "attestation {} bytes do not hash to the digest the registry lists ({})",
                info.id, info.digest
            )));
        }
        Ok(bytes)
    }

    /// `POST .../attestations`: adds the exact bytes of a DSSE envelope or Sigstore bundle.
    pub async fn add_attestation(
        &self,
        model: &ModelName,
        version: &str,
        raw: Vec<u8>,
    ) -> Result<AttestationInfo, ClientError> {
        let rb = self
            .request(Method::POST, &format!("{}/attestations", paths::version(model, version)))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(raw);
        self.json(rb).await
    }
}
