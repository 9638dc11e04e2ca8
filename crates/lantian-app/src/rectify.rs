//! Rectification orders (整改): opened from failed items, handled by the responsible unit, with
//! extension and deferral requests decided by supervisors. What an order may do next is the
//! domain's state machine (`OrderView::apply`); this module asks the policy table, applies the
//! command inside one write, and returns the order.

use chrono::Utc;
use lantian_domain::policy::Action;
use lantian_domain::rectification::{OrderCommand, OrderState, OrderStats, OrderView};
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
