//! Review (审核): the supervisors' queue, one inspection as its viewers see it, and decisions.

use chrono::{DateTime, Utc};
use lantian_domain::geo::VerdictLevel;
use lantian_domain::inspection::InspectionView;
use lantian_domain::policy::{Action, may_read_inspection};
use lantian_domain::review::{self, QueueFlag, ReviewRefusal, ReviewState};
use lantian_domain::unit::relation;
use lantian_protocol::review::{QueueEntry, QueuePage, QueuePhoto, QueueQuery, ReviewRequest};
use lantian_store::review::{self as stored, InspectionAccess, QueueFilter};
use uuid::Uuid;

use crate::page::{self, List};
use crate::{Actor, App, AppError};

/// An RFC 3339 time of a query, or `bad_request` on `field`.
pub(crate) fn parse_time(
    field: &'static str,
    t: Option<&str>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    t.map(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| AppError::bad_request(field).note("an RFC 3339 time"))
    })
    .transpose()
}

/// Whether `actor` may see inspection `a`: its author, or oversight of its subtree.
fn visible(actor: &Actor, a: &InspectionAccess) -> bool {
    may_read_inspection(
        actor.role,
        a.author_id == actor.id,
        relation(&actor.unit_path, &a.unit_path),
    )
}

/// Where the thumbnail of photo `id` is read.
pub fn thumbnail_url(id: Uuid) -> String {
    format!("/v1/photos/{id}/thumbnail")
}

impl App {
    /// The inspection's access record if `actor` may see it, else `not_found` (foreign and missing
    /// answer alike).
    pub async fn visible_inspection(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<InspectionAccess, AppError> {
        let a = self
            .store()
            .read(move |c| stored::access(c, id))
            .await?
            .ok_or_else(AppError::not_found)?;
        if !visible(actor, &a) {
            return Err(AppError::not_found());
        }
        Ok(a)
    }

    /// The review queue of the caller's subtree (or of a unit within it), oldest first.
    pub async fn review_queue(&self, actor: &Actor, q: QueueQuery) -> Result<QueuePage, AppError> {
        let within = self.unit_scope(actor, q.unit, Action::Supervise).await?;
        let mut flags = Vec::new();
        for f in q.flags.as_deref().unwrap_or("").split(',').map(str::trim) {
            if f.is_empty() {
                continue;
            }
            flags.push(
                QueueFlag::parse(f).ok_or_else(|| {
                    AppError::bad_request("flags").note(format!("unknown flag {f}"))
                })?,
            );
        }
        let state = q
            .state
            .as_deref()
            .map(|s| ReviewState::parse(s).ok_or_else(|| AppError::bad_request("state")))
            .transpose()?;
        let verdict = q
            .verdict
            .as_deref()
            .map(|v| VerdictLevel::parse(v).ok_or_else(|| AppError::bad_request("verdict")))
            .transpose()?;
        let kind = crate::parse_kind(q.kind.as_deref())?;
        let filter = QueueFilter {
            within,
            kind,
            state,
            from: parse_time("from", q.from.as_deref())?,
            to: parse_time("to", q.to.as_deref())?,
            verdict,
            flags,
        };
        let after = page::decode(List::Rows, q.cursor.as_deref())?;
        let limit = page::limit(q.limit, 20, 200)?;
        let (rows, next) = self
            .store()
            .read(move |c| stored::queue(c, &filter, after, limit))
            .await?;
        Ok(QueuePage {
            items: rows
                .into_iter()
                .map(|e| QueueEntry {
                    inspection: e.inspection,
                    subject: e.subject,
                    photos: e
                        .photos
                        .into_iter()
                        .map(|p| QueuePhoto {
                            id: p.id,
                            renditions: p.renditions,
                            flags: p.flags,
                            thumbnail: thumbnail_url(p.id),
                        })
                        .collect(),
                    orders: e.orders,
                })
                .collect(),
            next: next.map(|n| page::encode(List::Rows, n)),
        })
    }

    /// One inspection with its amendments, verdict and reviews, if the caller may see it.
    pub async fn inspection(&self, actor: &Actor, id: Uuid) -> Result<InspectionView, AppError> {
        self.visible_inspection(actor, id).await?;
        Ok(self
            .store()
            .read(move |c| lantian_store::push::load_view(c, id))
            .await?)
    }

    /// A supervisor's decision on an inspection, compare-and-set on the state the supervisor saw.
    /// Nobody reviews their own inspection; approved and rejected are final; of two supervisors
    /// deciding at once, one wins and the other gets `conflict` (`review_conflict`).
    pub async fn review(
        &self,
        actor: &Actor,
        id: Uuid,
        r: ReviewRequest,
    ) -> Result<InspectionView, AppError> {
        let a = self.visible_inspection(actor, id).await?;
        actor.may(Action::Supervise, Some(&a.unit_path))?;
        // Prepared outside the writer; decided inside it, on the state as the transaction reads it.
        let expected = ReviewState::parse(&r.expected_state);
        let reviewer = actor.0.clone();
        let is_author = a.author_id == actor.id;
        let decided = self
            .store()
            .write(move |c| {
                let a = stored::access(c, id)?.ok_or(lantian_store::StoreError::NotFound)?;
                let step = match expected {
                    Some(e) => review::decide(a.review_state, e, r.decision, r.comment, is_author),
                    // A state the server never uses is never the current one: after the checks of
                    // the input itself, a conflict.
                    None => match review::decide(
                        a.review_state,
                        a.review_state,
                        r.decision,
                        r.comment,
                        is_author,
                    ) {
                        Err(ReviewRefusal::Invalid(v)) => Err(ReviewRefusal::Invalid(v)),
                        Err(ReviewRefusal::OwnInspection) => Err(ReviewRefusal::OwnInspection),
                        _ => Err(ReviewRefusal::Conflict),
                    },
                };
                match step {
                    Ok(step) => stored::record_decision(c, id, &a, &reviewer, &step).map(Ok),
                    Err(refusal) => Ok(Err(refusal)),
                }
            })
            .await?;
        decided.map_err(refused)
    }
}

/// A refusal of the domain's review rules, as the caller hears it.
fn refused(r: ReviewRefusal) -> AppError {
    match r {
        ReviewRefusal::Invalid(v) => v.into(),
        ReviewRefusal::OwnInspection => {
            AppError::forbidden().note("nobody reviews their own inspection")
        }
        ReviewRefusal::Conflict => AppError::new("conflict").detail("review_conflict"),
        ReviewRefusal::Final => AppError::new("conflict").detail("review_final"),
    }
}
