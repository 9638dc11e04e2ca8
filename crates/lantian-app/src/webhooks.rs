//! Webhooks (issue 17): administrators of the root unit register the endpoints other systems
//! hear of the deployment's events by; the store writes each event's deliveries in the same
//! transaction as the event (`lantian_store::webhooks::emit`), and a sender job (in the binary,
//! which holds the HTTP client) claims and records them through [`App::claim_deliveries`] and
//! [`App::record_delivery`]. What a delivery carries and how it is signed is the domain's
//! (`lantian_domain::webhook`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lantian_domain::policy::Action;
use lantian_domain::webhook::{MAX_ENDPOINTS, check_endpoint};
use lantian_protocol::webhook::{DeliveryView, RegisterWebhook, RegisteredWebhook, WebhookView};
use lantian_store::webhooks::{self, Attempt, DeliveryRecord, NewWebhook, Outgoing, WebhookRecord};
use lantian_store::{StoreError, audit};
use uuid::Uuid;

use crate::{Actor, App, AppError};

fn view(w: WebhookRecord) -> WebhookView {
    WebhookView {
        id: w.id,
        url: w.url,
        events: w.events,
        description: w.description,
        created_by: w.created_by,
        created_at: w.created_at,
        ended_at: w.ended_at,
        pending: w.pending,
        failed: w.failed,
        delivered: w.delivered,
    }
}

fn delivery_view(d: DeliveryRecord) -> DeliveryView {
    DeliveryView {
        id: d.id,
        event: d.event,
        kind: d.kind,
        object_kind: d.object_kind,
        object_id: d.object_id,
        occurred_at: d.occurred_at,
        state: d.state,
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at,
        last_status: d.last_status,
        last_answer: d.last_answer,
        last_error: d.last_error,
        last_attempt_at: d.last_attempt_at,
        delivered_at: d.delivered_at,
    }
}

/// Deliveries one page shows.
pub const DELIVERIES_PAGE: usize = 50;

impl App {
    fn may_manage_webhooks(&self, actor: &Actor) -> Result<(), AppError> {
        actor.may(Action::ManageWebhooks, None)
    }

    /// Every endpoint, newest first, with its delivery counts.
    pub async fn webhooks(&self, actor: &Actor) -> Result<Vec<WebhookView>, AppError> {
        self.may_manage_webhooks(actor)?;
        Ok(self
            .store()
            .read(webhooks::list)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// Registers an endpoint; its signing secret is answered once. At most
    /// [`MAX_ENDPOINTS`] live endpoints (`conflict`, `webhooks_full`).
    pub async fn register_webhook(
        &self,
        actor: &Actor,
        req: RegisterWebhook,
    ) -> Result<RegisteredWebhook, AppError> {
        self.may_manage_webhooks(actor)?;
        let url = req.url.trim().to_owned();
        check_endpoint(&url, &req.events)?;
        let description = lantian_domain::limits::optional(
            req.description,
            lantian_domain::limits::NAME_CHARS,
            "description_too_long",
            "description",
        )?;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| {
            tracing::error!(error = %e, "no randomness for a webhook secret");
            AppError::internal()
        })?;
        let secret = format!("whsec_{}", URL_SAFE_NO_PAD.encode(key));
        let new = NewWebhook {
            id: Uuid::now_v7(),
            url,
            secret: secret.clone(),
            events: req.events,
            description,
            created_by: actor.uuid.to_string(),
        };
        let w = self
            .store()
            .write(move |c| {
                if webhooks::live_count(c)? >= MAX_ENDPOINTS as u64 {
                    return Err(StoreError::Conflict("webhooks_full"));
                }
                let w = webhooks::create(c, &new)?;
                audit::record(
                    c,
                    &new.created_by,
                    "webhook.register",
                    "webhook",
                    &w.id.to_string(),
                    None,
                    Some(audit::object_hash(&w)?),
                )?;
                Ok(w)
            })
            .await?;
        Ok(RegisteredWebhook {
            webhook: view(w),
            secret,
        })
    }

    /// Ends an endpoint: nothing more is sent to it. Idempotent.
    pub async fn end_webhook(&self, actor: &Actor, id: Uuid) -> Result<WebhookView, AppError> {
        self.may_manage_webhooks(actor)?;
        let by = actor.uuid.to_string();
        let w = self
            .store()
            .write(move |c| {
                if webhooks::end(c, id)? {
                    audit::record(
                        c,
                        &by,
                        "webhook.end",
                        "webhook",
                        &id.to_string(),
                        None,
                        None,
                    )?;
                }
                webhooks::get(c, id)
            })
            .await?
            .ok_or_else(|| AppError::not_found().field("webhook_id"))?;
        Ok(view(w))
    }

    /// The endpoint and its newest deliveries (before delivery `before`, for the next page).
    pub async fn webhook_deliveries(
        &self,
        actor: &Actor,
        id: Uuid,
        before: Option<i64>,
    ) -> Result<(WebhookView, Vec<DeliveryView>), AppError> {
        self.may_manage_webhooks(actor)?;
        let (w, d) = self
            .store()
            .read(move |c| {
                let Some(w) = webhooks::get(c, id)? else {
                    return Ok(None);
                };
                Ok(Some((
                    w,
                    webhooks::deliveries(c, id, before, DELIVERIES_PAGE)?,
                )))
            })
            .await?
            .ok_or_else(|| AppError::not_found().field("webhook_id"))?;
        Ok((view(w), d.into_iter().map(delivery_view).collect()))
    }

    /// Puts a delivery that was given up back in line (tried at once, the retry schedule from its
    /// start); `not_found` on `delivery_id` unless it is that endpoint's and given up.
    pub async fn retry_delivery(
        &self,
        actor: &Actor,
        id: Uuid,
        delivery: i64,
    ) -> Result<(), AppError> {
        self.may_manage_webhooks(actor)?;
        let by = actor.uuid.to_string();
        let done = self
            .store()
            .write(move |c| {
                let done = webhooks::retry(c, id, delivery)?;
                if done {
                    audit::record(
                        c,
                        &by,
                        "webhook.retry",
                        "webhook_delivery",
                        &delivery.to_string(),
                        None,
                        None,
                    )?;
                }
                Ok(done)
            })
            .await?;
        if done {
            Ok(())
        } else {
            Err(AppError::not_found().field("delivery_id"))
        }
    }

    /// For the sender job: up to `limit` deliveries due now, held for `lease` (a sender that dies
    /// lets another take them up after it).
    pub async fn claim_deliveries(
        &self,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<Outgoing>, AppError> {
        let now = chrono::Utc::now();
        Ok(self
            .store()
            .write(move |c| webhooks::claim_due(c, now, lease, limit))
            .await?)
    }

    /// For the sender job: what an attempt of delivery `id` got; a failure is retried on the
    /// domain's schedule from `first_retry`. Returns the delivery's state (`delivered`, `pending`
    /// for a retry, `failed` when given up).
    pub async fn record_delivery(
        &self,
        id: i64,
        a: Attempt,
        first_retry: chrono::Duration,
    ) -> Result<&'static str, AppError> {
        let now = chrono::Utc::now();
        Ok(self
            .store()
            .write(move |c| webhooks::record_attempt(c, id, &a, now, first_retry))
            .await?)
    }
}
