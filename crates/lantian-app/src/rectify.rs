//! Rectification orders (整改): opened from failed items, handled by the responsible unit, with
//! extension and deferral requests decided by supervisors. What an order may do next is the
//! domain's state machine (`OrderView::apply`); this module asks the policy table, applies the
//! command inside one write, and returns the order.

use chrono::Utc;
use lantian_domain::policy::Action;
use lantian_domain::rectification::{BoardTab, OrderCommand, OrderState, OrderStats, OrderView};
use lantian_protocol::review::{
    Handled, OpenOrder, OrderPage, OrderQuery, OrderRequest, RequestDecision, StatsQuery,
};
use lantian_store::rectify::{self as stored, OrderFilter, OrderRecord};
use lantian_store::sync::Group;
use uuid::Uuid;

use crate::page::{self, List};
use crate::review::parse_time;
use crate::{Actor, App, AppError};

impl App {
    /// The order if the caller's subtree holds its unit and the role may `action` there (else
    /// `not_found` or `forbidden`).
    async fn order_for(
        &self,
        actor: &Actor,
        id: Uuid,
        action: Action,
    ) -> Result<OrderRecord, AppError> {
        let o = self
            .store()
            .read(move |c| stored::get(c, id))
            .await?
            .ok_or_else(AppError::not_found)?;
        actor.may(Action::ReadSubject, Some(&o.unit_path))?;
        actor.may(action, Some(&o.unit_path))?;
        Ok(o)
    }

    /// Applies `cmd` to order `id` as `actor`, after the policy check for `action`.
    async fn order_step(
        &self,
        actor: &Actor,
        id: Uuid,
        action: Action,
        cmd: OrderCommand,
    ) -> Result<OrderView, AppError> {
        self.order_for(actor, id, action).await?;
        let who = actor.uuid.to_string();
        Ok(self
            .store()
            .write(move |c| stored::step(c, Group::new(), id, cmd, &who, Utc::now()))
            .await?)
    }

    /// A supervisor opens an order for a failed item of an inspection they oversee.
    pub async fn open_order(&self, actor: &Actor, o: OpenOrder) -> Result<OrderView, AppError> {
        let a = self.visible_inspection(actor, o.inspection_id).await?;
        actor.may(Action::Supervise, Some(&a.unit_path))?;
        let policy = self.config().rectify.clone();
        let who = actor.uuid.to_string();
        Ok(self
            .store()
            .write(move |c| {
                stored::open(
                    c,
                    Group::new(),
                    o.inspection_id,
                    &o.item,
                    o.severity.as_deref(),
                    &who,
                    &policy,
                )
            })
            .await?)
    }

    /// Orders of the caller's subtree, oldest first (`overdue`: the escalation list).
    pub async fn orders(&self, actor: &Actor, q: OrderQuery) -> Result<OrderPage, AppError> {
        let within = self.unit_scope(actor, q.unit, Action::ReadSubject).await?;
        let filter = OrderFilter {
            within,
            state: q
                .state
                .as_deref()
                .map(|s| OrderState::parse(s).ok_or_else(|| AppError::bad_request("state")))
                .transpose()?,
            overdue: q.overdue,
        };
        let after = page::decode(List::Rows, q.cursor.as_deref())?;
        let limit = page::limit(q.limit, 50, 200)?;
        let (items, next) = self
            .store()
            .read(move |c| stored::list(c, &filter, after, limit))
            .await?;
        Ok(OrderPage {
            items,
            next: next.map(|n| page::encode(List::Rows, n)),
        })
    }

    /// One order with its history.
    pub async fn order(&self, actor: &Actor, id: Uuid) -> Result<OrderView, AppError> {
        Ok(self.order_for(actor, id, Action::ReadSubject).await?.view)
    }

    /// The responsible unit reports the problem fixed.
    pub async fn report_handled(
        &self,
        actor: &Actor,
        id: Uuid,
        h: Handled,
    ) -> Result<OrderView, AppError> {
        let cmd = OrderCommand::ReportHandled { note: h.note };
        self.order_step(actor, id, Action::HandleRectification, cmd)
            .await
    }

    /// The responsible unit asks for an extension (延期) or a deferral (缓办).
    pub async fn request_order_change(
        &self,
        actor: &Actor,
        id: Uuid,
        r: OrderRequest,
    ) -> Result<OrderView, AppError> {
        let cmd = OrderCommand::Request {
            kind: r.kind,
            until: r.until,
            reason: r.reason,
            by: actor.uuid,
        };
        self.order_step(actor, id, Action::HandleRectification, cmd)
            .await
    }

    /// A supervisor approves or denies the order's pending request.
    pub async fn decide_order_request(
        &self,
        actor: &Actor,
        id: Uuid,
        d: RequestDecision,
    ) -> Result<OrderView, AppError> {
        let cmd = OrderCommand::DecideRequest {
            approve: d.approve,
            comment: d.comment,
        };
        self.order_step(actor, id, Action::Supervise, cmd).await
    }

    /// Counts of the orders due in [from, to) for the assessment, in the caller's subtree.
    pub async fn order_stats(&self, actor: &Actor, q: StatsQuery) -> Result<OrderStats, AppError> {
        let within = self
            .unit_scope(actor, q.unit, Action::ReadInspection)
            .await?;
        let from =
            parse_time("from", Some(&q.from))?.ok_or_else(|| AppError::bad_request("from"))?;
        let to = parse_time("to", Some(&q.to))?.ok_or_else(|| AppError::bad_request("to"))?;
        Ok(self
            .store()
            .read(move |c| stored::stats(c, &within, from, to))
            .await?)
    }

    /// Marks orders past their deadline overdue and resumes deferred orders whose date has come
    /// (the overdue sweep), recording the run; returns the orders marked overdue.
    pub async fn sweep_orders(&self, now: chrono::DateTime<Utc>) -> Result<Vec<Uuid>, AppError> {
        Ok(self
            .store()
            .write(move |c| {
                let marked = stored::sweep(c, now)?;
                lantian_store::assessment::job_ran(
                    c,
                    "rectification.overdue",
                    &lantian_store::now_text(),
                    &format!("{} marked overdue", marked.len()),
                )?;
                Ok(marked)
            })
            .await?)
    }

    /// Records the audit chain's head at the end of each month that ended by `now`; returns the
    /// months recorded.
    pub async fn record_month_heads(
        &self,
        now: chrono::DateTime<Utc>,
    ) -> Result<Vec<String>, AppError> {
        Ok(self
            .store()
            .write(move |c| lantian_store::audit::record_month_heads(c, now))
            .await?)
    }
}

/// The rectification board (整改) of a subtree: counts per unit and tab, and one tab's orders.
#[derive(Debug, Clone)]
pub struct OrderBoard {
    pub tab: BoardTab,
    /// Counts per unit with orders, each in [`BoardTab::ALL`] order.
    pub units: Vec<stored::UnitBoardCounts>,
    /// The subtree's totals per tab, in [`BoardTab::ALL`] order.
    pub totals: Vec<i64>,
    pub items: Vec<stored::BoardRow>,
    pub next: Option<String>,
    /// Orders due before this are "due soon".
    pub due_by: chrono::DateTime<Utc>,
}

impl App {
    /// The board of the caller's subtree (or of a unit within it) on `tab`.
    pub async fn order_board(
        &self,
        actor: &Actor,
        unit: Option<String>,
        tab: BoardTab,
        cursor: Option<&str>,
    ) -> Result<OrderBoard, AppError> {
        let within = self.unit_scope(actor, unit, Action::ReadSubject).await?;
        let policy = self.config().rectify.clone();
        let now = Utc::now();
        let due_by = lantian_domain::rectification::deadline(
            now,
            lantian_domain::rectification::TimeLimit::WorkingDays(
                lantian_domain::rectification::DUE_SOON_WORKING_DAYS,
            ),
            &policy.holidays,
            &policy.workdays,
        );
        let after = page::decode(List::Rows, cursor)?;
        let limit = 50;
        let (units, (items, next)) = self
            .store()
            .read(move |c| {
                Ok((
                    stored::board_counts(c, &within, due_by)?,
                    stored::board(c, &within, tab, due_by, after, limit)?,
                ))
            })
            .await?;
        let mut totals = vec![0; BoardTab::ALL.len()];
        for u in &units {
            for (t, n) in totals.iter_mut().zip(&u.counts) {
                *t += n;
            }
        }
        Ok(OrderBoard {
            tab,
            units,
            totals,
            items,
            next: next.map(|n| page::encode(List::Rows, n)),
            due_by,
        })
    }
}

/// One inspection step of an order (the finding, or the latest re-inspection) with the photos
/// of the order's item the reader may see.
#[derive(Debug, Clone)]
pub struct OrderStep {
    pub inspection: lantian_domain::inspection::InspectionView,
    pub photos: Vec<lantian_domain::media::PhotoView>,
}

/// An order as its page shows it: the order with its history, its subject, the people named in
/// it, and the photos of the finding and of the latest re-inspection.
#[derive(Debug, Clone)]
pub struct OrderSheet {
    pub order: OrderView,
    pub subject: lantian_domain::subject::Subject,
    pub finding: Option<OrderStep>,
    pub reinspection: Option<OrderStep>,
    /// Display names of the people named by id in the order's history.
    pub people: Vec<crate::review::Person>,
    /// Whether the reader may decide a pending request (supervises the unit).
    pub may_decide: bool,
}

impl App {
    /// Order `id` as its page shows it (`not_found` outside the reader's subtree).
    pub async fn order_sheet(&self, actor: &Actor, id: Uuid) -> Result<OrderSheet, AppError> {
        let o = self.order_for(actor, id, Action::ReadSubject).await?;
        let may_decide = actor.may(Action::Supervise, Some(&o.unit_path)).is_ok();
        let order = o.view;
        let item = order.item.clone();
        let (finding_id, re_id, subject_id) =
            (order.inspection_id, order.verified_by, order.subject_id);
        let mut named: Vec<Uuid> = order
            .events
            .iter()
            .filter_map(|e| Uuid::parse_str(&e.actor).ok())
            .collect();
        named.extend(Uuid::parse_str(&order.opened_by).ok());
        named.push(order.finder);
        named.sort();
        named.dedup();
        let (subject, steps, people) = self
            .store()
            .read(move |c| {
                let subject = lantian_store::subjects::get(c, subject_id)?
                    .ok_or(lantian_store::StoreError::NotFound)?
                    .subject;
                let mut steps = Vec::new();
                for i in [Some(finding_id), re_id].into_iter().flatten() {
                    let view = lantian_store::push::load_view(c, i)?;
                    let photos = lantian_store::media::photos_of_inspection(c, i)?;
                    steps.push((view, photos));
                }
                let mut people = Vec::new();
                for u in named {
                    if let Some(r) = lantian_store::identity::user_by_uuid(c, u)? {
                        people.push(crate::review::Person::from(r));
                    }
                }
                Ok((subject, steps, people))
            })
            .await?;
        let mut steps = steps.into_iter().map(|(inspection, photos)| {
            let of_item: Vec<Uuid> = inspection
                .results
                .iter()
                .filter(|r| r.item == item)
                .flat_map(|r| r.photos.iter().copied())
                .collect();
            OrderStep {
                photos: photos
                    .into_iter()
                    .filter(|p| crate::evidence::may_see(actor, p))
                    .map(|p| p.view)
                    .filter(|p| of_item.contains(&p.id))
                    .collect(),
                inspection,
            }
        });
        let finding = steps.next();
        let reinspection = steps.next();
        Ok(OrderSheet {
            order,
            subject,
            finding,
            reinspection,
            people,
            may_decide,
        })
    }
}
