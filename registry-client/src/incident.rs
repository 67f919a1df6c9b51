//! Blast radius and quarantines: typed calls for `registry affected` and `registry quarantine`.
use registry_core::incident::{
    AffectedResponse, LiftRequest, QuarantineInfo, QuarantineList, QuarantineRequest,
};
use reqwest::Method;

use crate::{Client, ClientError};

/// What an `affected` query starts from.
#[derive(Debug, Clone)]
pub enum SeedArg {
    /// `dataset=sha256:...`.
    Dataset(String),
    /// `commit=...`.
    Commit(String),
    /// `key=sha256:...`.
    Key(String),
    /// `version=NS/NAME@V`.
    Version(String),
}

impl Client {
    /// `GET /v1/lineage/affected`.
    pub async fn affected(&self, seed: &SeedArg) -> Result<AffectedResponse, ClientError> {
        let (k, v) = match seed {
            SeedArg::Dataset(d) => ("dataset", d),
            SeedArg::Commit(c) => ("commit", c),
            SeedArg::Key(k) => ("key", k),
            SeedArg::Version(v) => ("version", v),
        };
        self.json(self.request(Method::GET, "/v1/lineage/affected").query(&[(k, v)])).await
    }

    /// `POST /v1/quarantines` (admin).
    pub async fn quarantine(&self, req: &QuarantineRequest) -> Result<QuarantineInfo, ClientError> {
        self.json(self.request(Method::POST, "/v1/quarantines").json(req)).await
    }

    /// `GET /v1/quarantines`.
    pub async fn quarantines(&self) -> Result<QuarantineList, ClientError> {
        self.json(self.request(Method::GET, "/v1/quarantines")).await
    }

    /// `GET /v1/reports/compliance`.
    pub async fn compliance(&self) -> Result<registry_core::incident::ComplianceReport, ClientError> {
        self.json(self.request(Method::GET, "/v1/reports/compliance")).await
    }

    /// `POST /v1/quarantines/{id}/lift` (admin).
    pub async fn lift_quarantine(&self, id: i64, reason: &str) -> Result<QuarantineInfo, ClientError> {
        let req = LiftRequest { reason: reason.to_owned() };
        self.json(self.request(Method::POST, &format!("/v1/quarantines/{id}/lift")).json(&req)).await
    }
}
