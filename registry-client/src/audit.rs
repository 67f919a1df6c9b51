//! The access audit, `GET /v1/audit` (admin).
use registry_core::api::AuditList;
use reqwest::Method;

use crate::{Client, ClientError, query};

impl Client {
    /// `GET /v1/audit` (admin), one page.
    pub async fn audit(
        &self,
        actor: Option<&str>,
        target: Option<&str>,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<AuditList, ClientError> {
        let q = query(&[
            ("actor", actor.map(str::to_owned)),
            ("target", target.map(str::to_owned)),
            ("since", since.map(str::to_owned)),
            ("cursor", cursor.map(str::to_owned)),
            ("limit", Some("500".into())),
        ]);
        self.json(self.request(Method::GET, "/v1/audit").query(&q)).await
    }
}
