//! Applying a push: an ordered batch of mutations from one client, in one savepoint of the
//! writer's transaction (so concurrent pushes of one client are serialised and never apply twice).
//!
//! Per client the server keeps `last_mutation_id`, updated with each mutation's effect:
//! - `mid <= last`: a replay. Same name and arguments: answered from the record, nothing applied.
//!   Different arguments under a used id: reported as `mismatch`, never applied.
//! - `mid == last + 1`: applied in a nested savepoint. A permanent failure (validation,
//!   authorization, unknown mutation) rolls back its effect, is recorded as `rejected` with a code,
//!   synced down to the officer, and still advances `last`: one bad record never blocks the queue.
//! - `mid > last + 1`: a gap. The batch stops; the client resends from `last + 1`.
//!
//! A transient failure (busy, disk full) or a server fault fails the whole push: nothing of it is
//! committed, the client retries the same batch.
//!
//! The work is split in two. Outside the writer, the application layer prepares each mutation
//! ([`Prepared`]): the hash of its arguments, parsed and checked by the domain's rules that need
//! nothing else, and a submission scored against the template (published versions never change)
//! and the subject and alert state read then ([`bases`]). Inside the writer, [`push`] only decides
//! what needs the current rows (sequence, replay, existence, rights re-checked on the rows it
//! reads, the score's basis still current) and writes.

use chrono::{DateTime, Utc};
use lantian_domain::ValidationError;
use lantian_domain::inspection::{
    self, AmendmentView, InspectionScore, InspectionView, MediaState,
};
use lantian_domain::mutation::{self, Checked};
use lantian_domain::policy::{Action, Decision, decide};
use lantian_domain::unit::relation;
use std::collections::HashMap;

use crate::Tx;
use crate::db::{OptionalExtension, params};
use lantian_domain::checklist::ChecklistTemplate;
use serde::Serialize;
use uuid::Uuid;

use crate::identity::UserRecord;
use crate::sync::{self, Group};
use crate::{StoreError, audit, cols, org, sha256_hex, subjects, templates, time_text};

/// A mutation prepared outside the writer.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub mid: i64,
    pub name: String,
    /// [`mutation::args_hash`] of its name and arguments.
    pub args_hash: String,
    pub device_time: DateTime<Utc>,
    /// What to apply, or the permanent rejection the checks without data found.
    pub work: Result<Work, ValidationError>,
}

/// A checked mutation; submissions carry what was decided for them outside the writer.
#[derive(Debug, Clone)]
pub enum Work {
    Submit(Box<Submission>),
    /// Any other command (never [`Checked::SubmitInspection`]).
    Other(Checked),
}

/// A submission prepared outside the writer.
#[derive(Debug, Clone)]
pub struct Submission {
    pub command: mutation::InspectionSubmit,
    /// When it took place (device time corrected by the push's clock offset, or the fix's time).
    pub occurred_at: DateTime<Utc>,
    /// The photos the inspection names, each with its item (`None`: the signature).
    pub expected_photos: Result<Vec<(Uuid, Option<String>)>, ValidationError>,
    /// The template version it was made on; `None` if there is none such.
    pub template: Option<std::sync::Arc<ChecklistTemplate>>,
    /// The score, if the subject was found, with what it rests on.
    pub scored: Option<Scored>,
    /// The subject as read then: the writer takes it rather than reading and decoding it again
    /// if the subject is still at its version (every change of a subject raises it).
    pub subject: Option<std::sync::Arc<subjects::SubjectRecord>>,
    /// Its results and location as JSON, made before the writer ([`Texts::of`]); the error's
    /// text if they could not be serialised.
    pub texts: Result<Texts, String>,
}

/// A submission's results and location serialised once, before the writer: the same text goes
/// into the inspection's row and into its synced view, which were each serialising them again
/// on the writer's thread (the results are most of a view's text).
#[derive(Debug, Clone)]
pub struct Texts {
    results: Box<serde_json::value::RawValue>,
    location: Box<serde_json::value::RawValue>,
}

impl Texts {
    pub fn of(s: &mutation::InspectionSubmit) -> Result<Texts, serde_json::Error> {
        Ok(Texts {
            results: serde_json::value::to_raw_value(&s.results)?,
            location: serde_json::value::to_raw_value(&s.location)?,
        })
    }
}

/// A score and its basis: the writer uses it only if the subject is still at this version and
/// whether an alert applied is unchanged; otherwise it scores again.
#[derive(Debug, Clone)]
pub struct Scored {
    pub subject_version: i64,
    pub alert: bool,
    pub score: Result<InspectionScore, ValidationError>,
}

/// What one submission's score rests on, as read outside the writer.
#[derive(Debug, Clone)]
pub struct Basis {
    pub template: Option<std::sync::Arc<ChecklistTemplate>>,
    /// The subject, and whether an alert covered its place then.
    pub subject: Option<(std::sync::Arc<subjects::SubjectRecord>, bool)>,
}

/// Published template versions by (code, version). A published version never changes, so a
/// version once read may be kept for as long as the process runs.
pub type KnownTemplates = HashMap<(String, u32), std::sync::Arc<ChecklistTemplate>>;

/// Reads the bases of a batch's submissions, each named by (template, subject, time of
/// occurrence), in one read transaction; templates and subjects named twice are read once, and
/// templates in `known` not at all.
pub fn bases(
    conn: &Tx,
    wanted: &[(inspection::TemplateRef, Uuid, DateTime<Utc>)],
    known: &KnownTemplates,
) -> Result<Vec<Basis>, StoreError> {
    let mut templates: HashMap<(String, u32), Option<std::sync::Arc<ChecklistTemplate>>> =
        HashMap::new();
    let mut cache = Cache::default();
    let mut out = Vec::with_capacity(wanted.len());
    for (t, subject, at) in wanted {
        let key = (t.code.clone(), t.version);
        let template = match templates.get(&key) {
            Some(t) => t.clone(),
            None if known.contains_key(&key) => {
                let found = known.get(&key).cloned();
                templates.insert(key, found.clone());
                found
            }
            None => {
                let found = templates::get(conn, &t.code, t.version)?.map(std::sync::Arc::new);
                templates.insert(key, found.clone());
                found
            }
        };
        let subject = match cache.subject(conn, *subject)? {
            Some(rec) => {
                let alert = crate::assessment::alert_active(conn, &rec.unit_path, *at)?;
                Some((rec, alert))
            }
            None => None,
        };
        out.push(Basis { template, subject });
    }
    Ok(out)
}

/// Who pushes, from which install, when.
#[derive(Debug, Clone)]
pub struct Context {
    pub user: UserRecord,
    pub client_row: i64,
    pub client_id: Uuid,
    pub received_at: DateTime<Utc>,
    /// Device clock minus server clock, from the push's `sent_at`.
    pub clock_offset_ms: i64,
    /// Thresholds of the location verdicts given to submitted inspections.
    pub verdicts: lantian_domain::geo::VerdictThresholds,
    /// How rectification orders are opened and timed (failed critical items may open them).
    pub rectify: std::sync::Arc<lantian_domain::rectification::RectifyPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Applied,
    Rejected,
    /// A used mutation id came with other arguments: not applied.
    Mismatch,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub mid: i64,
    pub status: Status,
    /// Answered from the record of an earlier push.
    pub duplicate: bool,
    pub code: Option<String>,
    pub field: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub last_mutation_id: i64,
    pub results: Vec<Report>,
    /// Set when the batch stopped at a gap: the id the server expects next.
    pub gap_expected: Option<i64>,
}

/// Why a mutation did not apply.
enum Failure {
    /// Permanent: recorded as rejected.
    Reject(ValidationError),
    /// Transient or a server fault: the whole push fails.
    Abort(StoreError),
}

impl From<ValidationError> for Failure {
    fn from(e: ValidationError) -> Self {
        Failure::Reject(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(v) => Failure::Reject(v),
            StoreError::Conflict(code) => Failure::Reject(ValidationError::new(code, "args", code)),
            StoreError::NotFound => {
                Failure::Reject(ValidationError::new("not_found", "args", "not found"))
            }
            other => Failure::Abort(other),
        }
    }
}

fn reject(code: &'static str, field: &str, message: impl Into<String>) -> Failure {
    Failure::Reject(ValidationError::new(code, field, message))
}

/// An incident report as it syncs to its author: what was reported, and whether its photos are in.
pub fn incident_view(conn: &Tx, id: Uuid) -> Result<Option<serde_json::Value>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT n.category, n.description, n.location, n.photos, n.occurred_at, u.code, n.media_state
             FROM incidents n JOIN units u ON u.id = n.unit_id WHERE n.uuid = ?1",
        )?
        .query_row([id.to_string()], |r| {
            let location: serde_json::Value = cols::json(r, 2)?;
            let photos: serde_json::Value = cols::json(r, 3)?;
            Ok(serde_json::json!({
                "id": id, "category": r.get::<_, String>(0)?, "description": r.get::<_, String>(1)?,
                "location": location, "photos": photos, "occurred_at": r.get::<_, String>(4)?,
                "unit": r.get::<_, String>(5)?, "media_state": r.get::<_, String>(6)?,
            }))
        })
        .optional()?)
}

/// A registered install as push and pull need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Install {
    pub row: i64,
    pub last_mutation_id: i64,
    pub revoked: bool,
}

/// The install `client_id` of `user_id`, if that user registered it.
pub fn client(conn: &Tx, client_id: Uuid, user_id: i64) -> Result<Option<Install>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, last_mutation_id, revoked_at IS NOT NULL FROM clients WHERE client_id = ?1 AND user_id = ?2",
        )?
        .query_row(params![client_id.to_string(), user_id], |r| {
            Ok(Install {
                row: r.get(0)?,
                last_mutation_id: r.get(1)?,
                revoked: r.get(2)?,
            })
        })
        .optional()?)
}

/// What a push reads once: a batch of 50 inspections usually names few subjects and units, and
/// few alerts cover its times. Nothing else writes while the push runs (it runs in the writer).
#[derive(Default)]
struct Cache {
    subjects: HashMap<Uuid, Option<std::sync::Arc<subjects::SubjectRecord>>>,
    units: HashMap<String, Option<org::UnitRow>>,
    /// The pushing user's moves to other units, read once per push.
    moves: Option<Vec<lantian_domain::user::Move>>,
    /// The earliest and latest time a submission of the push took place.
    during: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The alerts that may apply at some moment of `during`.
    alerts: Option<Vec<lantian_domain::assessment::Alert>>,
    /// Inspections already in whose speed check a submission of the push changed (each the one
    /// that follows a late submission in time), as first found.
    following: Vec<crate::geo::Next>,
}

impl Cache {
    fn new(mutations: &[Prepared]) -> Cache {
        let during = mutations
            .iter()
            .filter_map(|m| match &m.work {
                Ok(Work::Submit(s)) => Some(s.occurred_at),
                _ => None,
            })
            .fold(None, |range: Option<(DateTime<Utc>, DateTime<Utc>)>, at| {
                Some(range.map_or((at, at), |(a, b)| (a.min(at), b.max(at))))
            });
        Cache {
            during,
            ..Cache::default()
        }
    }

    /// Whether an alert covered a place in `unit_path` at `at`, a time a submission of the push
    /// took place.
    fn alert_active(
        &mut self,
        conn: &Tx,
        unit_path: &[String],
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self.during {
            Some((from, to)) if from <= at && at <= to => {
                if self.alerts.is_none() {
                    self.alerts = Some(crate::assessment::alerts_during(conn, from, to)?);
                }
                let alerts = self.alerts.as_deref().unwrap_or_default();
                Ok(crate::assessment::alert_active_in(alerts, unit_path, at))
            }
            _ => crate::assessment::alert_active(conn, unit_path, at),
        }
    }

    /// Judges `next` again once the push's submissions are all in ([`refresh_following`]), not
    /// at once: a phone's late batch usually all comes before the same later inspection, which
    /// would otherwise be judged again, and its view synced again, for each of the batch. What
    /// it is compared with is the same either way, the last inspection before it.
    fn follow(&mut self, next: crate::geo::Next) {
        if !self.following.iter().any(|n| n.row() == next.row()) {
            self.following.push(next);
        }
    }

    fn unit(&mut self, conn: &Tx, code: &str) -> Result<Option<org::UnitRow>, StoreError> {
        if let Some(u) = self.units.get(code) {
            return Ok(u.clone());
        }
        let u = org::unit_by_code(conn, code)?;
        self.units.insert(code.to_owned(), u.clone());
        Ok(u)
    }

    fn moves(
        &mut self,
        conn: &Tx,
        user_id: i64,
    ) -> Result<&[lantian_domain::user::Move], StoreError> {
        if self.moves.is_none() {
            self.moves = Some(crate::identity::moves_of(conn, user_id)?);
        }
        Ok(self.moves.as_deref().unwrap_or_default())
    }

    fn subject(
        &mut self,
        conn: &Tx,
        id: Uuid,
    ) -> Result<Option<std::sync::Arc<subjects::SubjectRecord>>, StoreError> {
        if let Some(s) = self.subjects.get(&id) {
            return Ok(s.clone());
        }
        let s = subjects::get(conn, id)?.map(std::sync::Arc::new);
        self.subjects.insert(id, s.clone());
        Ok(s)
    }

    /// [`Cache::subject`], taking `read` (the subject as read outside the writer) if the subject
    /// is still at its version: one look-up of an integer instead of a row and its JSON.
    fn subject_as_read(
        &mut self,
        conn: &Tx,
        id: Uuid,
        read: Option<&std::sync::Arc<subjects::SubjectRecord>>,
    ) -> Result<Option<std::sync::Arc<subjects::SubjectRecord>>, StoreError> {
        if let Some(rec) = read
            && !self.subjects.contains_key(&id)
        {
            let version: Option<i64> = conn
                .prepare_cached("SELECT version FROM subjects WHERE uuid = ?1")?
                .query_row([id.to_string()], |r| r.get(0))
                .optional()?;
            if version == Some(rec.subject.version) {
                self.subjects.insert(id, Some(rec.clone()));
            }
        }
        self.subject(conn, id)
    }
}

/// Applies a prepared push. Must run inside the writer.
///
/// Most pushes apply every mutation they carry, so the push first runs in one savepoint rather
/// than one per mutation (on PostgreSQL a round trip per mutation less; on SQLite a little less
/// bookkeeping). A mutation rejected once its work began takes the push back to that savepoint
/// and the push runs again, each mutation in a savepoint of its own, so that the rejected one's
/// effect goes and the others' stay: the outcome is the same either way.
pub fn push(conn: &Tx, ctx: &Context, mutations: &[Prepared]) -> Result<Outcome, StoreError> {
    // Read in the writer: an install revoked after the request was checked takes nothing more.
    let (last, revoked): (i64, bool) = conn.query_row(
        "SELECT last_mutation_id, revoked_at IS NOT NULL FROM clients WHERE id = ?1",
        [ctx.client_row],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if revoked {
        return Err(StoreError::Conflict("client_revoked"));
    }
    conn.execute_batch("SAVEPOINT push")?;
    let outcome = match apply_all(conn, ctx, mutations, last, Savepoints::OneForAll) {
        Ok(Some(outcome)) => Ok(outcome),
        Ok(None) => conn
            .execute_batch("ROLLBACK TO push")
            .map_err(StoreError::from)
            .and_then(|()| apply_all(conn, ctx, mutations, last, Savepoints::OneEach))
            .and_then(|outcome| {
                outcome.ok_or_else(|| {
                    StoreError::Corrupt("a push in a savepoint per mutation gave up".into())
                })
            }),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(outcome) => {
            conn.execute_batch("RELEASE push")?;
            Ok(outcome)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO push; RELEASE push")?;
            Err(e)
        }
    }
}

/// How [`apply_all`] keeps a rejected mutation's effect out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Savepoints {
    /// None of its own: the first rejection after a mutation's work began gives up the whole
    /// run (`None`), to be run again [`Savepoints::OneEach`].
    OneForAll,
    /// Each mutation in a savepoint of its own, rolled back if it is rejected.
    OneEach,
}

/// The mutations of a push applied in order after the install's `last` one; `None` when a
/// rejection needs [`Savepoints::OneEach`].
fn apply_all(
    conn: &Tx,
    ctx: &Context,
    mutations: &[Prepared],
    mut last: i64,
    savepoints: Savepoints,
) -> Result<Option<Outcome>, StoreError> {
    let mut cache = Cache::new(mutations);
    let mut results = Vec::with_capacity(mutations.len());
    let mut gap_expected = None;
    let first_last = last;
    // With `Savepoints::OneEach`, each mutation runs in a savepoint of its own, kept open after
    // it and released as the next one begins (one round trip for both), or after the last.
    let mut open = false;
    let mut records: Vec<Record> = Vec::new();
    for m in mutations {
        let hash = m.args_hash.as_str();
        if m.mid <= last {
            let recorded = match records.iter().find(|r| r.mid == m.mid) {
                Some(r) => Some(r.report()),
                None => recorded(conn, ctx.client_row, m.mid)?,
            };
            results.push(replay(recorded, m.mid, hash));
            continue;
        }
        if m.mid != last + 1 {
            gap_expected = Some(last + 1);
            break;
        }
        if savepoints == Savepoints::OneEach {
            conn.execute_batch(if open {
                "RELEASE mutation; SAVEPOINT mutation"
            } else {
                "SAVEPOINT mutation"
            })?;
            open = true;
        }
        let g = Group::new();
        let applied = match &m.work {
            Ok(work) => match apply(conn, ctx, &mut cache, g, m, work) {
                Err(Failure::Reject(_)) if savepoints == Savepoints::OneForAll => return Ok(None),
                applied => applied,
            },
            // Refused before the writer: it wrote nothing.
            Err(e) => Err(Failure::Reject(e.clone())),
        };
        let report = match applied {
            Ok(()) => {
                records.push(Record::new(m, None));
                Report {
                    mid: m.mid,
                    status: Status::Applied,
                    duplicate: false,
                    code: None,
                    field: None,
                    message: None,
                }
            }
            Err(Failure::Reject(e)) => {
                // Its effect goes; the record of the rejection stays (the savepoint is still open,
                // and is released as the next mutation begins).
                if open {
                    conn.execute_batch("ROLLBACK TO mutation")?;
                }
                records.push(Record::new(m, Some(&e)));
                // The officer's device learns of the rejection through pull.
                sync::put(
                    conn,
                    Group::new(),
                    &lantian_domain::sync::user_scope(ctx.user.uuid),
                    "mutation_result",
                    // Install ids are per user (two users may register the same id), so the
                    // entity id names the user too.
                    &format!("{}:{}:{}", ctx.user.uuid, ctx.client_id, m.mid),
                    &serde_json::json!({
                        "client_id": ctx.client_id, "mid": m.mid, "name": m.name, "status": "rejected",
                        "code": e.code, "field": e.field, "message": e.message,
                    }),
                )?;
                Report {
                    mid: m.mid,
                    status: Status::Rejected,
                    duplicate: false,
                    code: Some(e.code.to_owned()),
                    field: Some(e.field),
                    message: Some(e.message),
                }
            }
            // The whole push goes back ([`push`]).
            Err(Failure::Abort(e)) => return Err(e),
        };
        last = m.mid;
        results.push(report);
    }
    if open {
        conn.execute_batch("RELEASE mutation")?;
    }
    refresh_following(conn, ctx, &mut cache)?;
    write_records(conn, ctx, &records)?;
    // Once per push: the replies and the checks above kept `last` in hand.
    if last != first_last {
        conn.prepare_cached("UPDATE clients SET last_mutation_id = ?2 WHERE id = ?1")?
            .execute(params![ctx.client_row, last])?;
    }
    Ok(Some(Outcome {
        last_mutation_id: last,
        results,
        gap_expected,
    }))
}

/// Each inspection a submission of the push came before ([`Cache::follow`]) judged again, now
/// that they are all in, and its view synced if its verdict changed. One whose submission was
/// rolled back is judged on what is there, which leaves it as it was.
fn refresh_following(conn: &Tx, ctx: &Context, cache: &mut Cache) -> Result<(), StoreError> {
    for next in std::mem::take(&mut cache.following) {
        if let Some(id) = crate::geo::refresh_next(conn, next, &ctx.verdicts)? {
            let view = load_view(conn, id)?;
            publish_own(
                conn,
                ctx,
                Group::new(),
                ("inspection.verdict", "inspection"),
                Id::Known(id),
                &view,
            )?;
        }
    }
    Ok(())
}

/// What was recorded of mutation `mid` of an install: its arguments' hash, status, and the
/// rejection's code, field and message.
type Recorded = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn recorded(conn: &Tx, client_row: i64, mid: i64) -> Result<Option<Recorded>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT args_hash, status, code, field, message FROM mutations WHERE client_row = ?1 AND mid = ?2",
            params![client_row, mid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?)
}

/// The answer to a mutation sent again, from its record.
fn replay(row: Option<Recorded>, mid: i64, hash: &str) -> Report {
    match row {
        Some((stored, status, code, field, message)) if stored == hash => Report {
            mid,
            status: if status == "applied" {
                Status::Applied
            } else {
                Status::Rejected
            },
            duplicate: true,
            code,
            field,
            message,
        },
        _ => Report {
            mid,
            status: Status::Mismatch,
            duplicate: true,
            code: Some("mutation_id_reused".into()),
            field: Some("mid".into()),
            message: Some(
                "this mutation id was already used for a different mutation; nothing was applied"
                    .into(),
            ),
        },
    }
}

/// The record of one mutation's effect, kept in hand until the push has run: a push writes its
/// records in one statement (per 50), not one each.
struct Record {
    mid: i64,
    name: String,
    hash: String,
    rejection: Option<ValidationError>,
    device_time: String,
}

impl Record {
    fn new(m: &Prepared, rejection: Option<&ValidationError>) -> Record {
        Record {
            mid: m.mid,
            name: m.name.clone(),
            hash: m.args_hash.clone(),
            rejection: rejection.cloned(),
            device_time: time_text(m.device_time),
        }
    }

    /// What a replay of it answers.
    fn report(&self) -> Recorded {
        let r = self.rejection.as_ref();
        (
            self.hash.clone(),
            if r.is_some() { "rejected" } else { "applied" }.to_owned(),
            r.map(|e| e.code.to_owned()),
            r.map(|e| e.field.clone()),
            r.map(|e| e.message.clone()),
        )
    }
}

/// Writes the records of a push's mutations.
fn write_records(conn: &Tx, ctx: &Context, records: &[Record]) -> Result<(), StoreError> {
    const COLUMNS: usize = 10;
    let received_at = time_text(ctx.received_at);
    for chunk in records.chunks(50) {
        let mut sql = String::from(
            "INSERT INTO mutations (client_row, mid, name, args_hash, status, code, field, message, device_time, applied_at) VALUES ",
        );
        for i in 0..chunk.len() {
            let n = i * COLUMNS;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 1..=COLUMNS {
                if c > 1 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("?{}", n + c));
            }
            sql.push(')');
        }
        let mut args: Vec<&dyn crate::db::ToArg> = Vec::with_capacity(chunk.len() * COLUMNS);
        for r in chunk {
            let e = r.rejection.as_ref();
            args.push(&ctx.client_row);
            args.push(&r.mid);
            args.push(&r.name);
            args.push(&r.hash);
            args.push(if e.is_some() { &"rejected" } else { &"applied" });
            args.push(match e {
                Some(e) => &e.code,
                None => &None::<&str>,
            });
            args.push(match e {
                Some(e) => &e.field,
                None => &None::<&str>,
            });
            args.push(match e {
                Some(e) => &e.message,
                None => &None::<&str>,
            });
            args.push(&r.device_time);
            args.push(&received_at);
        }
        conn.prepare_cached(&sql)?.execute(args)?;
    }
    Ok(())
}

/// The id of an entity a mutation publishes, and whether the mutation created it.
#[derive(Clone, Copy)]
enum Id {
    /// An entity that may have been synced before.
    Known(Uuid),
    /// An entity the mutation created under a new id: inserted without a look-up.
    New(Uuid),
}

/// Puts an entity the mutation changed into the officer's scope and audits it, from one
/// serialisation: the same text is synced, checksummed and hashed for the audit log.
fn publish_own<T: Serialize>(
    conn: &Tx,
    ctx: &Context,
    g: Group,
    (action, entity): (&str, &str),
    id: Id,
    view: &T,
) -> Result<(), StoreError> {
    let data = serde_json::to_string(view)?;
    let (Id::Known(uuid) | Id::New(uuid)) = id;
    let uuid = uuid.to_string();
    audit::record(
        conn,
        &ctx.user.uuid.to_string(),
        action,
        entity,
        &uuid,
        None,
        Some(sha256_hex(data.as_bytes())),
    )?;
    let scope = lantian_domain::sync::user_scope(ctx.user.uuid);
    match id {
        Id::New(_) => sync::put_new_text(conn, g, &scope, entity, &uuid, data),
        Id::Known(_) => sync::put_text(conn, g, &scope, entity, &uuid, data),
    }
}

/// Whether a row with this UUID exists in one of the tables mutations create rows in.
fn exists(conn: &Tx, table: Table, id: Uuid) -> Result<bool, StoreError> {
    let sql = match table {
        Table::Proposals => "SELECT 1 FROM subject_proposals WHERE uuid = ?1",
        Table::Incidents => "SELECT 1 FROM incidents WHERE uuid = ?1",
    };
    Ok(conn
        .prepare_cached(sql)?
        .query_row([id.to_string()], |_| Ok(()))
        .optional()?
        .is_some())
}

#[derive(Clone, Copy)]
enum Table {
    Proposals,
    Incidents,
}

fn may(ctx: &Context, action: Action, unit_path: &[String]) -> Result<(), Failure> {
    may_from(ctx, &ctx.user.unit_path, action, unit_path)
}

/// [`may`] for the user as if they belonged to `user_path` (the unit of before a move).
fn may_from(
    ctx: &Context,
    user_path: &[String],
    action: Action,
    unit_path: &[String],
) -> Result<(), Failure> {
    match decide(ctx.user.role, action, relation(user_path, unit_path)) {
        Decision::Allow => Ok(()),
        Decision::Forbidden => Err(reject("forbidden", "name", "your role may not do this")),
        Decision::NotFound => Err(reject("not_found", "args", "no such object")),
    }
}

fn apply(
    conn: &Tx,
    ctx: &Context,
    cache: &mut Cache,
    g: Group,
    m: &Prepared,
    work: &Work,
) -> Result<(), Failure> {
    let cmd = match work {
        Work::Submit(s) => return submit(conn, ctx, cache, g, m, s),
        Work::Other(cmd) => cmd,
    };
    match cmd {
        Checked::SubmitInspection(_) => Err(Failure::Abort(StoreError::Corrupt(
            "a submission was prepared without its plan".into(),
        ))),
        Checked::AmendInspection(a) => amend(conn, ctx, g, m, a),
        Checked::SaveDraft {
            draft: d,
            text: data,
        } => {
            may(ctx, Action::SubmitInspection, &ctx.user.unit_path)?;
            let owner: Option<(i64, i64)> = conn
                .query_row(
                    "SELECT owner_client, user_id FROM drafts WHERE uuid = ?1",
                    [d.draft_id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(StoreError::from)?;
            match owner {
                Some((client, user)) if client != ctx.client_row || user != ctx.user.id => {
                    return Err(reject(
                        "draft_owned_by_other_client",
                        "draft_id",
                        "this draft belongs to another install",
                    ));
                }
                Some(_) => {
                    conn.execute(
                        "UPDATE drafts SET data = ?2, updated_at = ?3 WHERE uuid = ?1",
                        params![d.draft_id.to_string(), data, time_text(ctx.received_at)],
                    )
                    .map_err(StoreError::from)?;
                }
                None => {
                    conn.execute(
                        "INSERT INTO drafts (uuid, user_id, owner_client, data, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![d.draft_id.to_string(), ctx.user.id, ctx.client_row, data, time_text(ctx.received_at)],
                    )
                    .map_err(StoreError::from)?;
                }
            }
            let view = serde_json::json!({"id": d.draft_id, "client_id": ctx.client_id, "data": d.data, "saved_at": time_text(m.device_time)});
            publish_own(
                conn,
                ctx,
                g,
                ("draft.save", "draft"),
                Id::Known(d.draft_id),
                &view,
            )?;
            Ok(())
        }
        Checked::DiscardDraft(d) => {
            let owner: Option<i64> = conn
                .query_row(
                    "SELECT owner_client FROM drafts WHERE uuid = ?1 AND user_id = ?2",
                    params![d.draft_id.to_string(), ctx.user.id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(StoreError::from)?;
            match owner {
                None => Err(reject("draft_not_found", "draft_id", "no such draft")),
                Some(c) if c != ctx.client_row => Err(reject(
                    "draft_owned_by_other_client",
                    "draft_id",
                    "this draft belongs to another install",
                )),
                Some(_) => {
                    conn.execute(
                        "DELETE FROM drafts WHERE uuid = ?1",
                        [d.draft_id.to_string()],
                    )
                    .map_err(StoreError::from)?;
                    sync::remove(conn, g, "draft", &d.draft_id.to_string())?;
                    audit::record(
                        conn,
                        &ctx.user.uuid.to_string(),
                        "draft.discard",
                        "draft",
                        &d.draft_id.to_string(),
                        None,
                        None,
                    )?;
                    Ok(())
                }
            }
        }
        Checked::ProposeSubject {
            proposal_id,
            fields,
            draft,
        } => {
            let unit = org::unit_by_code(conn, &draft.unit)?
                .ok_or_else(|| reject("not_found", "subject.unit", "no such unit"))?;
            may(ctx, Action::ProposeSubject, &unit.unit.path)?;
            if exists(conn, Table::Proposals, *proposal_id)? {
                return Err(reject(
                    "proposal_exists",
                    "proposal_id",
                    "a proposal with this id exists",
                ));
            }
            conn.execute(
                "INSERT INTO subject_proposals (uuid, user_id, unit_id, fields, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    proposal_id.to_string(),
                    ctx.user.id,
                    unit.id,
                    serde_json::to_string(fields).map_err(StoreError::from)?,
                    time_text(ctx.received_at)
                ],
            )
            .map_err(StoreError::from)?;
            let view =
                serde_json::json!({"id": *proposal_id, "subject": fields, "status": "proposed"});
            publish_own(
                conn,
                ctx,
                g,
                ("subject.propose", "proposal"),
                Id::New(*proposal_id),
                &view,
            )?;
            Ok(())
        }
        Checked::ReportIncident(i) => {
            may(ctx, Action::ReportIncident, &ctx.user.unit_path)?;
            if exists(conn, Table::Incidents, i.incident_id)? {
                return Err(reject(
                    "incident_exists",
                    "incident_id",
                    "an incident with this id exists",
                ));
            }
            let unit = org::unit_by_code(conn, &ctx.user.unit)?.ok_or(StoreError::NotFound)?;
            let occurred =
                inspection::occurred_at(m.device_time, i.location.gps_time, ctx.clock_offset_ms);
            conn.execute(
                "INSERT INTO incidents (uuid, user_id, unit_id, category, description, location, photos, device_time, occurred_at, received_at, media_state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    i.incident_id.to_string(),
                    ctx.user.id,
                    unit.id,
                    serde_json::to_value(i.category).map_err(StoreError::from)?.as_str().unwrap_or("other"),
                    i.description,
                    serde_json::to_string(&i.location).map_err(StoreError::from)?,
                    serde_json::to_string(&i.photos).map_err(StoreError::from)?,
                    time_text(m.device_time),
                    time_text(occurred),
                    time_text(ctx.received_at),
                    if i.photos.is_empty() { "complete" } else { "awaiting_media" }
                ],
            )
            .map_err(StoreError::from)?;
            let view = incident_view(conn, i.incident_id)?.ok_or(StoreError::NotFound)?;
            publish_own(
                conn,
                ctx,
                g,
                ("incident.report", "incident"),
                Id::New(i.incident_id),
                &view,
            )?;
            Ok(())
        }
    }
}

fn submit(
    conn: &Tx,
    ctx: &Context,
    cache: &mut Cache,
    g: Group,
    m: &Prepared,
    plan: &Submission,
) -> Result<(), Failure> {
    let s = &plan.command;
    let subject = cache
        .subject_as_read(conn, s.subject_id, plan.subject.as_ref())?
        .ok_or_else(|| reject("subject_not_found", "subject_id", "no such subject"))?;
    let occurred = plan.occurred_at;
    // Done before the officer was moved: judged by the unit they belonged to then, and flagged.
    let (judged_by, after_move) = lantian_domain::user::unit_for_work(
        &ctx.user.unit_path,
        cache.moves(conn, ctx.user.id)?,
        occurred,
    );
    may_from(ctx, judged_by, Action::SubmitInspection, &subject.unit_path).map_err(
        |f| match f {
            Failure::Reject(e) if e.code == "not_found" => {
                reject("subject_not_found", "subject_id", "no such subject")
            }
            other => other,
        },
    )?;
    let template = plan
        .template
        .as_deref()
        .ok_or_else(|| reject("template_unknown", "template", "no such template version"))?;
    // Emergency items apply while a pollution alert covers the subject's place at the time. The
    // prepared score stands if neither that nor the subject changed since it was made.
    let alert = cache.alert_active(conn, &subject.unit_path, occurred)?;
    let score = match &plan.scored {
        Some(sc) if sc.subject_version == subject.subject.version && sc.alert == alert => {
            sc.score.clone()?
        }
        _ => inspection::evaluate_with(template, &subject.subject.attributes, &s.results, alert)?,
    };
    let photos = plan.expected_photos.clone()?;
    let mut flags = mutation::submission_flags(
        ctx.clock_offset_ms,
        s.location.mock,
        occurred,
        ctx.received_at,
    );
    if after_move {
        flags.push("after_move".to_owned());
    }
    let unit = cache
        .unit(conn, &subject.subject.unit)?
        .ok_or(StoreError::NotFound)?;
    let texts = plan.texts.as_ref().map_err(|e| {
        StoreError::Corrupt(format!(
            "an inspection's results could not be serialised: {e}"
        ))
    })?;
    let view = InspectionView {
        id: s.inspection_id,
        author: ctx.user.uuid,
        subject_id: s.subject_id,
        unit: subject.subject.unit.clone(),
        template: s.template.clone(),
        // In `texts`: published from there ([`FirstView`]).
        results: Vec::new(),
        notes: s.notes.clone(),
        location: s.location.clone(),
        signature_photo_id: s.signature_photo_id,
        expected_photos: photos.iter().map(|(p, _)| *p).collect(),
        device_time: m.device_time,
        received_at: ctx.received_at,
        clock_offset_ms: ctx.clock_offset_ms,
        occurred_at: occurred,
        score,
        flags,
        version: 1,
        amendments: Vec::new(),
        effective: Default::default(),
        media_state: MediaState::AwaitingMedia,
        review_state: lantian_domain::review::ReviewState::Received,
        verdict: None,
        reviews: Vec::new(),
    };
    // Judged before the insert and inserted with it (not written again just after).
    let (verdict, next) = crate::geo::verdict_of_new(
        conn,
        ctx.user.id,
        &view.location,
        occurred,
        &subject.subject,
        &ctx.verdicts,
    )?;
    let verdict_text = serde_json::to_string(&verdict).map_err(StoreError::from)?;
    // One row of VALUES (the subject's row id by a scalar look-up): an `INSERT … SELECT` may
    // write several rows, and SQLite gives such a statement a journal of its own
    // ([`Tx::insert_id`]).
    conn.insert_id(
        "INSERT INTO inspections (uuid, user_id, client_row, mid, subject_id, unit_id, template_code, template_version, results, notes,
             location, signature_photo, expected_photos, started_at, device_time, gps_time, received_at, clock_offset_ms, occurred_at,
             score_earned, score_possible, failed_items, critical_failed, compliant, flags, media_state, verdict, verdict_level)
         VALUES (?1, ?2, ?3, ?4, (SELECT s.id FROM subjects s WHERE s.uuid = ?26), ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
             ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?27, ?28)
         ON CONFLICT (uuid) DO NOTHING RETURNING id",
        params![
            view.id.to_string(),
            ctx.user.id,
            ctx.client_row,
            m.mid,
            unit.id,
            view.template.code,
            view.template.version,
            texts.results.get(),
            view.notes,
            texts.location.get(),
            view.signature_photo_id.to_string(),
            to_json(&view.expected_photos)?,
            s.started_at.map(time_text),
            time_text(m.device_time),
            view.location.gps_time.map(time_text),
            time_text(ctx.received_at),
            ctx.clock_offset_ms,
            time_text(occurred),
            view.score.earned,
            view.score.possible,
            to_json(&view.score.failed)?,
            to_json(&view.score.critical_failed)?,
            view.score.compliant,
            to_json(&view.flags)?,
            "awaiting_media",
            view.subject_id.to_string(),
            verdict_text,
            verdict.level.as_str(),
        ],
    )
    .map_err(StoreError::from)?
    // The subject was read above: no row means one with this id was there (the unique index
    // answers, in the same statement as the insert).
    .ok_or_else(|| {
        reject(
            "inspection_exists",
            "inspection_id",
            "an inspection with this id exists",
        )
    })?;
    crate::seal::seal(
        conn,
        &ctx.user.uuid.to_string(),
        "inspection",
        &view.id.to_string(),
    )?;
    let mut view = view.settle();
    view.verdict = Some(verdict);
    // Pushed late, it may be the one before an inspection the officer made after it: that one's
    // speed check is made again once the push's inspections are all in ([`Cache::follow`]).
    if let Some(next) = next {
        cache.follow(next);
    }
    if let Some(order) = s.rectification_id {
        crate::rectify::verify_with(conn, g, order, view.id, &ctx.user)?;
    }
    crate::rectify::auto_open(conn, g, view.id, &view.score.critical_failed, &ctx.rectify)?;
    let first = FirstView::of(&view, texts);
    #[cfg(debug_assertions)]
    {
        let mut whole = view.clone();
        whole.results = s.results.clone();
        debug_assert_eq!(
            serde_json::to_string(&first).ok(),
            serde_json::to_string(&whole).ok(),
            "FirstView must serialise as InspectionView does"
        );
    }
    publish_own(
        conn,
        ctx,
        g,
        ("inspection.submit", "inspection"),
        Id::New(view.id),
        &first,
    )?;
    Ok(())
}

/// A new inspection's [`InspectionView`] with its results and location as the text made before
/// the writer ([`Texts`]). It must serialise to exactly the text the view does: that text is
/// what syncs, what the scope's checksum and the audit hash are of. Same field names, order and
/// types; a field added to the view and not here makes the text differ, which the unit test below
/// and, in debug builds, every submission check.
#[derive(Serialize)]
struct FirstView<'a> {
    id: Uuid,
    author: Uuid,
    subject_id: Uuid,
    unit: &'a str,
    template: &'a inspection::TemplateRef,
    results: &'a serde_json::value::RawValue,
    notes: &'a Option<String>,
    location: &'a serde_json::value::RawValue,
    signature_photo_id: Uuid,
    expected_photos: &'a [Uuid],
    device_time: DateTime<Utc>,
    received_at: DateTime<Utc>,
    clock_offset_ms: i64,
    occurred_at: DateTime<Utc>,
    score: &'a InspectionScore,
    flags: &'a [String],
    version: u32,
    amendments: &'a [AmendmentView],
    effective: &'a inspection::EffectiveScore,
    media_state: &'a MediaState,
    review_state: &'a lantian_domain::review::ReviewState,
    verdict: &'a Option<lantian_domain::geo::Verdict>,
    reviews: &'a [lantian_domain::review::ReviewView],
}

impl<'a> FirstView<'a> {
    fn of(v: &'a InspectionView, texts: &'a Texts) -> FirstView<'a> {
        // Destructured whole, so that a field added to the view does not compile here unnamed.
        let InspectionView {
            id,
            author,
            subject_id,
            unit,
            template,
            results: _,
            notes,
            location: _,
            signature_photo_id,
            expected_photos,
            device_time,
            received_at,
            clock_offset_ms,
            occurred_at,
            score,
            flags,
            version,
            amendments,
            effective,
            media_state,
            review_state,
            verdict,
            reviews,
        } = v;
        FirstView {
            id: *id,
            author: *author,
            subject_id: *subject_id,
            unit,
            template,
            results: &texts.results,
            notes,
            location: &texts.location,
            signature_photo_id: *signature_photo_id,
            expected_photos,
            device_time: *device_time,
            received_at: *received_at,
            clock_offset_ms: *clock_offset_ms,
            occurred_at: *occurred_at,
            score,
            flags,
            version: *version,
            amendments,
            effective,
            media_state,
            review_state,
            verdict,
            reviews,
        }
    }
}

fn amend(
    conn: &Tx,
    ctx: &Context,
    g: Group,
    m: &Prepared,
    a: &mutation::InspectionAmend,
) -> Result<(), Failure> {
    type Row = (i64, i64, String, u32, i64, String, String, DateTime<Utc>);
    let row: Option<Row> = conn
        .query_row(
            "SELECT i.id, i.user_id, i.template_code, i.template_version, i.current_version, i.review_state, s.uuid,
                    i.occurred_at
             FROM inspections i JOIN subjects s ON s.id = i.subject_id WHERE i.uuid = ?1",
            [a.inspection_id.to_string()],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    cols::time(r, 7)?,
                ))
            },
        )
        .optional()
        .map_err(StoreError::from)?;
    let Some((row_id, author, code, version, current, review_state, subject_uuid, occurred)) = row
    else {
        return Err(reject(
            "inspection_not_found",
            "inspection_id",
            "no such inspection",
        ));
    };
    if author != ctx.user.id {
        return Err(reject(
            "inspection_not_found",
            "inspection_id",
            "no such inspection",
        ));
    }
    let final_review = lantian_domain::review::ReviewState::parse(&review_state)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown review state {review_state:?}")))?
        .is_final();
    if final_review {
        return Err(reject(
            "inspection_final",
            "inspection_id",
            "the inspection has a final review decision; it can no longer be amended",
        ));
    }
    let base = i64::from(a.base_version);
    if base < 1 || base > current {
        return Err(reject(
            "base_version_invalid",
            "base_version",
            format!("base_version must be 1 to {current}"),
        ));
    }
    let template = templates::get(conn, &code, version)?.ok_or(StoreError::NotFound)?;
    let subject_id =
        Uuid::parse_str(&subject_uuid).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let subject = subjects::get(conn, subject_id)?.ok_or(StoreError::NotFound)?;
    // The emergency items depend on whether an alert covered the place when it took place.
    let alert = crate::assessment::alert_active(conn, &subject.unit_path, occurred)?;
    let score =
        inspection::evaluate_with(&template, &subject.subject.attributes, &a.results, alert)?;
    let new_version = current + 1;
    conn.execute(
        "INSERT INTO inspection_amendments (inspection_id, version, base_version, stale, results, notes, reason, score_earned, score_possible,
             failed_items, critical_failed, compliant, client_row, mid, device_time, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            row_id,
            new_version,
            base,
            base != current,
            to_json(&a.results)?,
            a.notes,
            a.reason,
            score.earned,
            score.possible,
            to_json(&score.failed)?,
            to_json(&score.critical_failed)?,
            score.compliant,
            ctx.client_row,
            m.mid,
            time_text(m.device_time),
            time_text(ctx.received_at)
        ],
    )
    .map_err(StoreError::from)?;
    crate::seal::seal_last(conn, &ctx.user.uuid.to_string(), "amendment")?;
    conn.execute(
        "UPDATE inspections SET current_version = ?2 WHERE id = ?1",
        params![row_id, new_version],
    )
    .map_err(StoreError::from)?;
    // Photos the amendment adds are awaited like the first version's.
    if crate::media::missing_photos(conn, row_id)? > 0 {
        conn.execute(
            "UPDATE inspections SET media_state = 'awaiting_media' WHERE id = ?1 AND media_state != 'awaiting_media'",
            [row_id],
        )
        .map_err(StoreError::from)?;
    }
    let view = load_view(conn, a.inspection_id)?;
    publish_own(
        conn,
        ctx,
        g,
        ("inspection.amend", "inspection"),
        Id::Known(a.inspection_id),
        &view,
    )?;
    Ok(())
}

/// JSON text for a column.
fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    Ok(serde_json::to_string(v)?)
}

/// The columns of an inspection's view, `i.uuid` last (index 26).
const VIEW_COLUMNS: &str = "i.id, us.uuid, s.uuid, u.code, i.template_code, i.template_version, i.results, i.notes, i.location,
                    i.signature_photo, i.expected_photos, i.device_time, i.received_at, i.clock_offset_ms, i.occurred_at,
                    i.score_earned, i.score_possible, i.failed_items, i.critical_failed, i.compliant, i.flags, i.current_version,
                    i.media_state, i.review_state, i.verdict, i.verdict_changed_after_review, i.uuid";
const VIEW_FROM: &str =
    "inspections i JOIN users us ON us.id = i.user_id JOIN subjects s ON s.id = i.subject_id
                  JOIN units u ON u.id = i.unit_id";

/// An inspection's row (its internal id) and its view without amendments and reviews.
fn view_row(r: &crate::db::Row<'_>) -> crate::db::Result<(i64, InspectionView)> {
    let media: String = r.get(22)?;
    let view = InspectionView {
        id: cols::uuid(r, 26)?,
        author: cols::uuid(r, 1)?,
        subject_id: cols::uuid(r, 2)?,
        unit: r.get(3)?,
        template: inspection::TemplateRef {
            code: r.get(4)?,
            version: r.get(5)?,
        },
        results: cols::json(r, 6)?,
        notes: r.get(7)?,
        location: cols::json(r, 8)?,
        signature_photo_id: cols::uuid(r, 9)?,
        expected_photos: cols::json(r, 10)?,
        device_time: cols::time(r, 11)?,
        received_at: cols::time(r, 12)?,
        clock_offset_ms: r.get(13)?,
        occurred_at: cols::time(r, 14)?,
        score: InspectionScore {
            earned: r.get(15)?,
            possible: r.get(16)?,
            failed: cols::json(r, 17)?,
            critical_failed: cols::json(r, 18)?,
            compliant: r.get(19)?,
        },
        flags: {
            let mut flags: Vec<String> = cols::json(r, 20)?;
            // Observed after the submission, not part of its sealed flags.
            if r.get::<_, bool>(25)? {
                flags.push("verdict_changed_after_review".to_owned());
            }
            flags
        },
        version: r.get(21)?,
        amendments: Vec::new(),
        effective: Default::default(),
        media_state: if media == "complete" {
            MediaState::Complete
        } else {
            MediaState::AwaitingMedia
        },
        review_state: cols::review_state(r, 23)?,
        verdict: r
            .get::<_, Option<String>>(24)?
            .map(|v| serde_json::from_str(&v).map_err(|e| crate::corrupt(24, e.to_string())))
            .transpose()?,
        reviews: Vec::new(),
    };
    Ok((r.get::<_, i64>(0)?, view))
}

const AMENDMENT_COLUMNS: &str = "version, base_version, stale, results, notes, reason, score_earned, score_possible, failed_items,
                critical_failed, compliant, received_at, inspection_id";

fn amendment_row(r: &crate::db::Row<'_>) -> crate::db::Result<(i64, AmendmentView)> {
    Ok((
        r.get(12)?,
        AmendmentView {
            version: r.get(0)?,
            base_version: r.get(1)?,
            stale: r.get(2)?,
            results: cols::json(r, 3)?,
            notes: r.get(4)?,
            reason: r.get(5)?,
            score: InspectionScore {
                earned: r.get(6)?,
                possible: r.get(7)?,
                failed: cols::json(r, 8)?,
                critical_failed: cols::json(r, 9)?,
                compliant: r.get(10)?,
            },
            received_at: cols::time(r, 11)?,
        },
    ))
}

/// The synced view of an inspection, with its amendments.
pub fn load_view(conn: &Tx, id: Uuid) -> Result<InspectionView, StoreError> {
    let (row, mut view) = conn
        .prepare_cached(&format!(
            "SELECT {VIEW_COLUMNS} FROM {VIEW_FROM} WHERE i.uuid = ?1"
        ))?
        .query_row([id.to_string()], view_row)?;
    view.amendments = conn
        .prepare_cached(&format!(
            "SELECT {AMENDMENT_COLUMNS} FROM inspection_amendments WHERE inspection_id = ?1 ORDER BY version"
        ))?
        .query_map([row], amendment_row)?
        .map(|r| r.map(|(_, a)| a))
        .collect::<Result<_, _>>()?;
    view.reviews = crate::review::reviews_of(conn, row)?;
    Ok(view.settle())
}

/// The views of inspections `ids`, in that order (missing ones left out), in three statements
/// whatever their number: what a list page needs without a query per row.
pub fn load_views(conn: &Tx, ids: &[Uuid]) -> Result<Vec<InspectionView>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())?;
    let rows: Vec<(i64, InspectionView)> = conn
        .prepare_cached(&format!(
            "SELECT {VIEW_COLUMNS} FROM {VIEW_FROM} WHERE i.uuid IN (SELECT value FROM json_each(?1))"
        ))?
        .query_map([wanted], view_row)?
        .collect::<Result<_, _>>()?;
    let row_ids = serde_json::to_string(&rows.iter().map(|(r, _)| *r).collect::<Vec<_>>())?;
    let mut amendments: std::collections::HashMap<i64, Vec<AmendmentView>> = Default::default();
    for a in conn
        .prepare_cached(&format!(
            "SELECT {AMENDMENT_COLUMNS} FROM inspection_amendments
             WHERE inspection_id IN (SELECT CAST(value AS BIGINT) FROM json_each(?1)) ORDER BY inspection_id, version"
        ))?
        .query_map([&row_ids], amendment_row)?
    {
        let (row, a) = a?;
        amendments.entry(row).or_default().push(a);
    }
    let mut reviews = crate::review::reviews_of_many(conn, &row_ids)?;
    let mut by_id: std::collections::HashMap<Uuid, InspectionView> = rows
        .into_iter()
        .map(|(row, mut v)| {
            v.amendments = amendments.remove(&row).unwrap_or_default();
            v.reviews = reviews.remove(&row).unwrap_or_default();
            (v.id, v.settle())
        })
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lantian_domain::geo::Datum;
    use lantian_domain::geo::{VerdictInput, VerdictThresholds, verdict};
    use lantian_domain::inspection::{Answer, ItemResult, LocationFix, TemplateRef};

    #[test]
    fn a_first_view_with_its_texts_made_before_the_writer_serialises_as_the_view_does() {
        let at: DateTime<Utc> = "2026-11-05T02:03:04.567Z".parse().expect("time");
        let location = LocationFix {
            lat: 36.456_789_1,
            lon: 115.985_432_1,
            accuracy_m: 12.5,
            datum: Datum::Gcj02,
            mock: true,
            gps_time: Some(at),
        };
        let results = vec![
            ItemResult {
                item: "dust_net".into(),
                answer: Answer::Fail,
                note: Some("围挡破损 \"北侧\"\n<script>".into()),
                photos: vec![Uuid::from_u128(7)],
            },
            ItemResult {
                item: "pm10".into(),
                answer: Answer::Number { value: 0.1 + 0.2 },
                note: None,
                photos: Vec::new(),
            },
            ItemResult {
                item: "remark".into(),
                answer: Answer::Text {
                    value: "😀 \u{2028}".into(),
                },
                note: None,
                photos: Vec::new(),
            },
        ];
        let verdict = verdict(
            &VerdictInput {
                original: (location.lat, location.lon),
                datum: location.datum,
                accuracy_m: location.accuracy_m,
                mock: location.mock,
                at,
                subject_point: Some((36.45, 115.98)),
                subject_shape: None,
                previous: None,
                exif_positions: &[],
            },
            &VerdictThresholds::default(),
        );
        let score = InspectionScore {
            earned: 7,
            possible: 9,
            failed: vec!["dust_net".into()],
            critical_failed: vec!["dust_net".into()],
            compliant: false,
        };
        let view = InspectionView {
            id: Uuid::from_u128(1),
            author: Uuid::from_u128(2),
            subject_id: Uuid::from_u128(3),
            unit: "dongchangfu".into(),
            template: TemplateRef {
                code: "construction".into(),
                version: 2,
            },
            results: results.clone(),
            notes: Some("夜间施工".into()),
            location: location.clone(),
            signature_photo_id: Uuid::from_u128(4),
            expected_photos: vec![Uuid::from_u128(4), Uuid::from_u128(7)],
            device_time: at,
            received_at: at + chrono::Duration::milliseconds(1_234),
            clock_offset_ms: -1_234,
            occurred_at: at,
            score,
            flags: vec!["mock_location".into(), "after_move".into()],
            version: 1,
            amendments: Vec::new(),
            effective: Default::default(),
            media_state: MediaState::AwaitingMedia,
            review_state: lantian_domain::review::ReviewState::Received,
            verdict: Some(verdict),
            reviews: Vec::new(),
        }
        .settle();
        let texts = Texts {
            results: serde_json::value::to_raw_value(&results).expect("results"),
            location: serde_json::value::to_raw_value(&location).expect("location"),
        };
        let mut published = view.clone();
        published.results = Vec::new();
        assert_eq!(
            serde_json::to_string(&FirstView::of(&published, &texts)).expect("first"),
            serde_json::to_string(&view).expect("view"),
        );
        // And without the optional parts.
        let mut bare = view.clone();
        (bare.notes, bare.verdict, bare.flags) = (None, None, Vec::new());
        bare.location.gps_time = None;
        let texts = Texts {
            results: serde_json::value::to_raw_value(&bare.results).expect("results"),
            location: serde_json::value::to_raw_value(&bare.location).expect("location"),
        };
        assert_eq!(
            serde_json::to_string(&FirstView::of(&bare, &texts)).expect("first"),
            serde_json::to_string(&bare).expect("view"),
        );
    }
}
