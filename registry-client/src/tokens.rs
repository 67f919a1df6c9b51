//! Who the caller is, and API tokens: `/v1/whoami`, `/v1/tokens` (admin).
use registry_core::auth::{CreateTokenRequest, CreatedToken, TokenInfo, TokenList, WhoAmI};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `GET /v1/whoami`.
    pub async fn whoami(&self) -> Result<WhoAmI, ClientError> {
        self.json(self.request(Method::GET, "/v1/whoami")).await
    }

    /// `POST /v1/tokens` (admin).
    pub async fn create_token(&self, req: &CreateTokenRequest) -> Result<CreatedToken, ClientError> {
        self.json(self.request(Method::POST, "/v1/tokens").json(req)).await
    }

    /// `GET /v1/tokens` (admin).
    pub async fn list_tokens(&self) -> Result<TokenList, ClientError> {
        self.json(self.request(Method::GET, "/v1/tokens")).await
    }

    /// `DELETE /v1/tokens/{id}` (admin).
    pub async fn revoke_token(&self, id_or_name: &str) -> Result<TokenInfo, ClientError> {
        self.json(self.request(Method::DELETE, &format!("/v1/tokens/{id_or_name}"))).await
    }
}
