//! The transparency log's raw endpoints, `/v1/log/...`: nothing here is verified; [`crate::tlog`] pins
//! and checks what these return.
use registry_core::api::{ConsistencyProof, EventsPage, InclusionProof, LogEntries};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `GET /v1/log/key`: the log's verifier key text.
    pub async fn log_key(&self) -> Result<String, ClientError> {
        Ok(self.send(self.request(Method::GET, "/v1/log/key")).await?.text().await?.trim().to_owned())
    }

    /// `GET /v1/log/checkpoint`: the signed note (unverified).
    pub async fn log_checkpoint(&self) -> Result<String, ClientError> {
        Ok(self.send(self.request(Method::GET, "/v1/log/checkpoint")).await?.text().await?)
    }

    /// `GET /v1/log/proofs/consistency`.
    pub async fn log_consistency(&self, from: u64, to: u64) -> Result<ConsistencyProof, ClientError> {
        let q = [("from", from.to_string()), ("to", to.to_string())];
        self.json(self.request(Method::GET, "/v1/log/proofs/consistency").query(&q)).await
    }

    /// `GET /v1/log/proofs/inclusion`: the proof (unverified) of entry `index` in the tree of
    /// `tree_size` entries.
    pub async fn log_inclusion(&self, index: u64, tree_size: u64) -> Result<InclusionProof, ClientError> {
        let q = [("index", index.to_string()), ("tree_size", tree_size.to_string())];
        self.json(self.request(Method::GET, "/v1/log/proofs/inclusion").query(&q)).await
    }

    /// `GET /v1/events`: the entries after `after` (`-1`: from the start) the credential may see.
    pub async fn events(&self, after: i64, limit: u64) -> Result<EventsPage, ClientError> {
        let q = [("after", after.to_string()), ("limit", limit.to_string())];
        self.json(self.request(Method::GET, "/v1/events").query(&q)).await
    }

    /// `GET /v1/log/entries`, one page.
    pub async fn log_entries(&self, start: u64, end: u64) -> Result<LogEntries, ClientError> {
        let q = [("start", start.to_string()), ("end", end.to_string())];
        self.json(self.request(Method::GET, "/v1/log/entries").query(&q)).await
    }
}
