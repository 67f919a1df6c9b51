//! Aliases and promotion policies: typed calls for `registry promote`, `rollback`, `alias` and
//! `policy`.
use registry_core::ModelName;
use registry_core::api::paths;
use registry_core::promote::{
    AliasHistory, AliasList, AliasResponse, Decision, PolicyInfo, PolicyList, PolicyTestRequest,
    PromoteRequest, PromoteResponse, RollbackRequest, SetPolicyRequest,
};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `PUT .../aliases/{alias}`: promote (403 `policy_denied` with reasons in the error details).
    pub async fn promote(
        &self,
        model: &ModelName,
        alias: &str,
        req: &PromoteRequest,
    ) -> Result<PromoteResponse, ClientError> {
        self.json(self.request(Method::PUT, &paths::alias(model, alias)).json(req)).await
    }

    /// `POST .../aliases/{alias}:rollback`.
    pub async fn rollback(
        &self,
        model: &ModelName,
        alias: &str,
        reason: &str,
    ) -> Result<PromoteResponse, ClientError> {
        let req = RollbackRequest { reason: reason.to_owned() };
        self.json(self.request(Method::POST, &format!("{}:rollback", paths::alias(model, alias))).json(&req))
            .await
    }

    /// `GET .../aliases/{alias}[?at=]`.
    pub async fn get_alias(
        &self,
        model: &ModelName,
        alias: &str,
        at: Option<&str>,
    ) -> Result<AliasResponse, ClientError> {
        let mut rb = self.request(Method::GET, &paths::alias(model, alias));
        if let Some(at) = at {
            rb = rb.query(&[("at", at)]);
        }
        self.json(rb).await
    }

    /// `GET .../aliases`.
    pub async fn list_aliases(&self, model: &ModelName) -> Result<AliasList, ClientError> {
        self.json(self.request(Method::GET, &format!("{}/aliases", paths::model(model)))).await
    }

    /// `GET .../aliases/{alias}/history`.
    pub async fn alias_history(
        &self,
        model: &ModelName,
        alias: &str,
        limit: Option<u32>,
    ) -> Result<AliasHistory, ClientError> {
        let mut rb = self.request(Method::GET, &format!("{}/history", paths::alias(model, alias)));
        if let Some(n) = limit {
            rb = rb.query(&[("limit", n)]);
        }
        self.json(rb).await
    }

    /// `POST /v1/policies` (admin).
    pub async fn set_policy(&self, req: &SetPolicyRequest) -> Result<PolicyInfo, ClientError> {
        self.json(self.request(Method::POST, "/v1/policies").json(req)).await
    }

    /// `GET /v1/policies`.
    pub async fn list_policies(&self) -> Result<PolicyList, ClientError> {
        self.json(self.request(Method::GET, "/v1/policies")).await
    }

    /// `GET /v1/policies/{id}`.
    pub async fn get_policy(&self, id: i64) -> Result<PolicyInfo, ClientError> {
        self.json(self.request(Method::GET, &format!("/v1/policies/{id}"))).await
    }

    /// `POST /v1/policies:test`: what promoting would decide now.
    pub async fn test_policy(&self, req: &PolicyTestRequest) -> Result<Decision, ClientError> {
        self.json(self.request(Method::POST, "/v1/policies:test").json(req)).await
    }

    /// `GET /v1/attestation-key`: the PEM key that signs the server's decisions.
    pub async fn attestation_key(&self) -> Result<String, ClientError> {
        Ok(self.send(self.request(Method::GET, "/v1/attestation-key")).await?.text().await?)
    }
}
