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

    /// What query `q` narrows the queue to, within what `actor` supervises.
    async fn queue_filter(&self, actor: &Actor, q: &QueueQuery) -> Result<QueueFilter, AppError> {
        let within = self
            .unit_scope(actor, q.unit.clone(), Action::Supervise)
            .await?;
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
        let officer = q
            .officer
            .as_deref()
            .map(|o| Uuid::parse_str(o).map_err(|_| AppError::bad_request("officer")))
            .transpose()?;
        Ok(QueueFilter {
            within,
            kind: crate::parse_kind(q.kind.as_deref())?,
            state,
            from: parse_time("from", q.from.as_deref())?,
            to: parse_time("to", q.to.as_deref())?,
            verdict,
            flags,
            officer,
        })
    }

    /// The review queue of the caller's subtree (or of a unit within it), oldest first.
    pub async fn review_queue(&self, actor: &Actor, q: QueueQuery) -> Result<QueuePage, AppError> {
        let filter = self.queue_filter(actor, &q).await?;
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

/// A person named on a page: who did or decided something.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
}

impl From<lantian_store::identity::UserRecord> for Person {
    fn from(u: lantian_store::identity::UserRecord) -> Person {
        Person {
            id: u.uuid,
            username: u.username,
            display_name: u.display_name,
        }
    }
}

/// A photo of the inspection with where else its bytes were used (inspections the reader may see).
#[derive(Debug, Clone)]
pub struct SheetPhoto {
    pub view: lantian_domain::media::PhotoView,
    pub reused_in: Vec<Uuid>,
}

/// An order a reviewer could open from a failed item, as it would be opened now: the severity and
/// the deadline come from the same rule that opens it.
#[derive(Debug, Clone)]
pub struct OrderPreview {
    pub item: String,
    pub severity: String,
    pub deadline: DateTime<Utc>,
    /// The deadline has passed already (the order would be overdue from its first moment).
    pub late: bool,
    /// Every severity the reviewer may choose instead, with the deadline and lateness it gives.
    pub options: Vec<(String, DateTime<Utc>, bool)>,
}

/// Everything a reviewer needs to decide on one inspection, read in a bounded number of queries.
#[derive(Debug, Clone)]
pub struct ReviewSheet {
    pub inspection: InspectionView,
    pub subject: lantian_domain::subject::Subject,
    /// The inspection's unit (Chinese and English names), if it is still on the books.
    pub unit: Option<lantian_domain::unit::Unit>,
    pub template: Option<lantian_domain::checklist::ChecklistTemplate>,
    pub officer: Person,
    /// The people who decided the inspection's reviews.
    pub reviewers: Vec<Person>,
    pub photos: Vec<SheetPhoto>,
    /// The subject's other inspections, newest first (at most [`HISTORY`]).
    pub history: Vec<InspectionView>,
    pub orders: Vec<lantian_domain::rectification::QueueOrder>,
    /// Failed items with no order yet, as they would be opened.
    pub can_open: Vec<OrderPreview>,
    /// Whether the reader may decide (supervises the unit and is not the author).
    pub may_decide: bool,
    /// The neighbours in the queue the sheet was reached from.
    pub previous: Option<Uuid>,
    pub next: Option<Uuid>,
}

/// How many of a subject's other inspections a sheet shows.
pub const HISTORY: usize = 5;

impl App {
    /// One inspection as a reviewer sees it, with its neighbours in queue `q` (the queue the
    /// reviewer came from). `not_found` when the reader may not see it.
    pub async fn review_sheet(
        &self,
        actor: &Actor,
        id: Uuid,
        q: &QueueQuery,
    ) -> Result<ReviewSheet, AppError> {
        let a = self.visible_inspection(actor, id).await?;
        let may_decide =
            actor.may(Action::Supervise, Some(&a.unit_path)).is_ok() && a.author_id != actor.id;
        let filter = if may_decide {
            Some(self.queue_filter(actor, q).await?)
        } else {
            None
        };
        let row = a.row;
        let (
            inspection,
            subject,
            unit,
            template,
            officer,
            reviewers,
            photos,
            history,
            orders,
            around,
        ) = self
            .store()
            .read(move |c| {
                let inspection = lantian_store::push::load_view(c, id)?;
                let subject = lantian_store::subjects::get(c, inspection.subject_id)?
                    .ok_or(lantian_store::StoreError::NotFound)?
                    .subject;
                let template = lantian_store::templates::get(
                    c,
                    &inspection.template.code,
                    inspection.template.version,
                )?;
                let unit = lantian_store::org::unit_by_code(c, &inspection.unit)?.map(|u| u.unit);
                let person = |u: Uuid| {
                    lantian_store::identity::user_by_uuid(c, u).map(|r| {
                        r.map(|r| Person {
                            id: r.uuid,
                            username: r.username,
                            display_name: r.display_name,
                        })
                    })
                };
                let officer =
                    person(inspection.author)?.ok_or(lantian_store::StoreError::NotFound)?;
                let mut reviewers = Vec::new();
                for r in &inspection.reviews {
                    if !reviewers.iter().any(|p: &Person| p.id == r.reviewer)
                        && let Some(p) = person(r.reviewer)?
                    {
                        reviewers.push(p);
                    }
                }
                let photos = lantian_store::media::photos_of_inspection(c, id)?;
                let mut sheet_photos = Vec::with_capacity(photos.len());
                for p in photos {
                    let others = if p.view.flags.iter().any(|f| f == "reused_evidence") {
                        lantian_store::media::photos_by_hash(c, &p.view.sha256)?
                    } else {
                        Vec::new()
                    };
                    sheet_photos.push((p, others));
                }
                let history = stored::subject_history(c, inspection.subject_id, id, HISTORY)?;
                let orders = stored::orders_of(c, row)?;
                let around = match &filter {
                    Some(f) => stored::neighbours(c, f, row)?,
                    None => (None, None),
                };
                Ok((
                    inspection,
                    subject,
                    unit,
                    template,
                    officer,
                    reviewers,
                    sheet_photos,
                    history,
                    orders,
                    around,
                ))
            })
            .await?;
        // Where else a reused file was evidence: only the inspections this reader may see.
        let photos = photos
            .into_iter()
            .map(|(p, others)| SheetPhoto {
                reused_in: others
                    .iter()
                    .filter(|o| o.view.id != p.view.id && crate::evidence::may_see(actor, o))
                    .filter_map(|o| o.view.inspection_id)
                    .filter(|i| *i != id)
                    .collect(),
                view: p.view,
            })
            .collect();
        let history = history
            .into_iter()
            .filter(|h| {
                // The subject's history as this reader may see it.
                h.author == actor.uuid
                    || lantian_domain::policy::may_read_inspection(
                        actor.role,
                        false,
                        relation(&actor.unit_path, &a.unit_path),
                    )
            })
            .collect();
        let now = Utc::now();
        let policy = self.config().rectify.clone();
        let score = inspection
            .amendments
            .last()
            .map(|am| &am.score)
            .unwrap_or(&inspection.score);
        let can_open = if may_decide {
            score
                .failed
                .iter()
                .filter(|item| !orders.iter().any(|o| &o.item == *item))
                .filter_map(|item| {
                    lantian_domain::rectification::opening(
                        score,
                        item,
                        None,
                        &policy,
                        inspection.occurred_at,
                        now,
                    )
                    .ok()
                    .map(|o| OrderPreview {
                        item: item.clone(),
                        severity: o.severity,
                        deadline: o.deadline,
                        late: o.synced_late,
                        options: policy
                            .limits
                            .keys()
                            .filter_map(|sev| {
                                lantian_domain::rectification::opening(
                                    score,
                                    item,
                                    Some(sev.as_str()),
                                    &policy,
                                    inspection.occurred_at,
                                    now,
                                )
                                .ok()
                                .map(|o| (o.severity, o.deadline, o.synced_late))
                            })
                            .collect(),
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(ReviewSheet {
            inspection,
            subject,
            unit,
            template,
            officer,
            reviewers,
            photos,
            history,
            orders,
            can_open,
            may_decide,
            previous: around.0,
            next: around.1,
        })
    }
}

impl App {
    /// The inspection after `id` in queue `q` (where a decision moves on to), if the caller
    /// reviews that queue: one indexed read, not a whole sheet.
    pub async fn queue_next(
        &self,
        actor: &Actor,
        id: Uuid,
        q: &QueueQuery,
    ) -> Result<Option<Uuid>, AppError> {
        let row = self.visible_inspection(actor, id).await?.row;
        let filter = self.queue_filter(actor, q).await?;
        Ok(self
            .store()
            .read(move |c| stored::neighbours(c, &filter, row))
            .await?
            .1)
    }

    /// The officers whose inspections `actor` reviews (the queue's officer filter).
    pub async fn officers(&self, actor: &Actor) -> Result<Vec<Person>, AppError> {
        let within = self.unit_scope(actor, None, Action::Supervise).await?;
        Ok(self
            .store()
            .read(move |c| {
                lantian_store::identity::users_in_subtree(
                    c,
                    &within,
                    lantian_domain::user::Role::Inspector,
                )
            })
            .await?
            .into_iter()
            .map(Person::from)
            .collect())
    }
}
