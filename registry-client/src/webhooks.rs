//! Webhook subscriptions (`/v1/webhooks`, admin; docs/events.md).
use registry_core::api::{CreateWebhookRequest, WebhookCreated, WebhookInfo, WebhookList};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/webhooks`: the subscription and its secret (shown once).
    pub async fn add_webhook(&self, req: &CreateWebhookRequest) -> Result<WebhookCreated, ClientError> {
        self.json(self.request(Method::POST, "/v1/webhooks").json(req)).await
    }

    /// `GET /v1/webhooks`.
    pub async fn list_webhooks(&self) -> Result<WebhookList, ClientError> {
        self.json(self.request(Method::GET, "/v1/webhooks")).await
    }

    /// `GET /v1/webhooks/{id}`.
    pub async fn get_webhook(&self, id: &str) -> Result<WebhookInfo, ClientError> {
        self.json(self.request(Method::GET, &format!("/v1/webhooks/{}", seg(id)))).await
    }

    /// `DELETE /v1/webhooks/{id}`.
    pub async fn remove_webhook(&self, id: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &format!("/v1/webhooks/{}", seg(id)))).await?;
        Ok(())
    }

    /// `POST /v1/webhooks/{id}/{action}`: `pause`, `resume` or `redeliver`.
    pub async fn webhook_action(&self, id: &str, action: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::POST, &format!("/v1/webhooks/{}/{action}", seg(id)))).await?;
        Ok(())
    }

    /// `POST /v1/webhooks/{id}/rotate-secret`: the new secret (shown once).
    pub async fn rotate_webhook_secret(&self, id: &str) -> Result<WebhookCreated, ClientError> {
        self.json(self.request(Method::POST, &format!("/v1/webhooks/{}/rotate-secret", seg(id)))).await
    }
}

/// An id as one path segment (a typo never becomes another path).
fn seg(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
