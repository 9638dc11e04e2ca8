//! The sync protocol v1 (`docs/sync-protocol.md`): push, pull and status of an app install.

use base64::Engine;
use lantian_domain::inspection;
use lantian_domain::mutation::{self, Checked, Command};
use lantian_domain::policy::Action;
use lantian_protocol::sync::{
    Change, Checkpoint, Gap, MAX_PUSH_MUTATIONS, MutationResult, MutationStatus, Op,
    PROTOCOL_VERSION, PullRequest, PullResponse, PushRequest, PushResponse, Reset, ScopeChecksum,
    StatusResponse,
};
use lantian_store::{pull, push};
use uuid::Uuid;

use crate::{Actor, App, AppError, Seen, Token};

fn encode_cursor(c: &pull::Cursor) -> Result<String, AppError> {
    let json = serde_json::to_vec(c).map_err(|_| AppError::internal())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(s: &str) -> Result<pull::Cursor, AppError> {
    let bad = || AppError::bad_request("cursor").detail("cursor_invalid");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

fn sums(s: Vec<pull::ScopeSum>) -> Vec<ScopeChecksum> {
    s.into_iter()
        .map(|s| ScopeChecksum {
            scope: s.scope,
            count: s.count,
            checksum: lantian_domain::sync::checksum_text(s.checksum),
        })
        .collect()
}

fn not_registered() -> AppError {
    AppError::not_found()
        .field("client_id")
        .detail("client_not_registered")
}

fn revoked() -> AppError {
    AppError::new("client_revoked").field("client_id")
}

/// Template versions kept in memory for pushes; beyond this the memory is emptied and refilled.
const KNOWN_TEMPLATES_MAX: usize = 256;

impl App {
    /// The published template versions `wanted` names that are already in memory.
    fn known_templates(&self, wanted: &Wanted) -> push::KnownTemplates {
        let known = self
            .inner
            .templates
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        wanted
            .iter()
            .filter_map(|(t, ..)| {
                let key = (t.code.clone(), t.version);
                known.get(&key).map(|found| (key, found.clone()))
            })
            .collect()
    }

    /// Keeps the template versions a push read (only those found: a version missing now may be
    /// published later).
    fn remember_templates(&self, bases: &[push::Basis]) {
        let mut known = self
            .inner
            .templates
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for t in bases.iter().filter_map(|b| b.template.as_ref()) {
            let key = (t.code.clone(), t.version);
            if !known.contains_key(&key) {
                if known.len() >= KNOWN_TEMPLATES_MAX {
                    known.clear();
                }
                known.insert(key, t.clone());
            }
        }
    }

    /// Applies an install's batch of mutations: each in order, once (`docs/sync-protocol.md`).
    pub async fn push(&self, token: Token, req: PushRequest) -> Result<PushResponse, AppError> {
        // Checked before anything is read, answered after the caller is: an unknown or disabled
        // caller hears that first, whatever the request.
        let well_formed = well_formed(&req);
        let received_at = chrono::Utc::now();
        let offset = lantian_domain::inspection::clock_offset_ms(req.sent_at, received_at);
        // A request refused as a whole is not parsed (nor its mutations hashed).
        let mut prepared = match well_formed {
            Ok(()) => parse(req.mutations, offset),
            Err(_) => Vec::new(),
        };
        let wanted = wanted(&prepared);
        // The caller, the install and the submissions' bases in one read; published templates
        // from memory.
        let known = self.known_templates(&wanted);
        let client_id = req.client_id;
        let (seen, install, bases) = self
            .store()
            .read(move |c| {
                let seen = Seen::read(c, token)?;
                let Some(user_id) = seen.admitted().map(|u| u.id) else {
                    return Ok((seen, None, Vec::new()));
                };
                let install = push::client(c, client_id, user_id)?;
                let bases = match install {
                    Some(_) if !wanted.is_empty() => push::bases(c, &wanted, &known)?,
                    _ => Vec::new(),
                };
                Ok((seen, install, bases))
            })
            .await?;
        let actor = seen.actor()?;
        actor.may(Action::Sync, None)?;
        well_formed?;
        let install = install.ok_or_else(not_registered)?;
        if install.revoked {
            return Err(revoked());
        }
        self.remember_templates(&bases);
        score(&mut prepared, bases);
        let ctx = push::Context {
            user: actor.0,
            client_row: install.row,
            client_id: req.client_id,
            received_at,
            clock_offset_ms: offset,
            verdicts: self.config().verdicts,
            rectify: self.config().rectify.clone(),
        };
        let outcome = self
            .store()
            .write(move |c| push::push(c, &ctx, &prepared))
            .await
            .map_err(|e| match e {
                lantian_store::StoreError::Conflict("client_revoked") => revoked(),
                e => e.into(),
            })?;
        let results = outcome
            .results
            .into_iter()
            .map(|r| MutationResult {
                mid: r.mid,
                status: match r.status {
                    push::Status::Applied => MutationStatus::Applied,
                    push::Status::Rejected => MutationStatus::Rejected,
                    push::Status::Mismatch => MutationStatus::Mismatch,
                },
                duplicate: r.duplicate,
                code: r.code,
                field: r.field,
                message: r.message,
            })
            .collect();
        Ok(PushResponse {
            last_mutation_id: outcome.last_mutation_id,
            results,
            gap: outcome.gap_expected.map(|expected| Gap { expected }),
            clock_offset_ms: offset,
        })
    }

    /// A page of changes of the caller's scopes after the cursor (a snapshot after a reset), for
    /// the caller `token` names: read with the install and the page, one hop to a reader.
    pub async fn pull(&self, token: Token, req: PullRequest) -> Result<PullResponse, AppError> {
        // Checked before anything is read, answered after the caller and the install are.
        let args = (|| {
            let cursor = req.cursor.as_deref().map(decode_cursor).transpose()?;
            if req.resync_scopes.len() > 1000 {
                return Err(AppError::new("validation_failed")
                    .field("resync_scopes")
                    .detail("too_many_scopes"));
            }
            let limits = pull::Limits {
                max_changes: crate::page::limit(req.limit, 1000, 5000)?,
                max_bytes: self.config().pull_page_bytes,
            };
            Ok((cursor, limits))
        })();
        let (args, refused) = match args {
            Ok(a) => (Some(a), None),
            Err(e) => (None, Some(e)),
        };
        let resync = req.resync_scopes;
        let client_id = req.client_id;
        let (seen, install, page) = self
            .store()
            .read(move |c| {
                let seen = Seen::read(c, token)?;
                let Some(user) = seen.admitted().cloned() else {
                    return Ok((seen, None, None));
                };
                let install = push::client(c, client_id, user.id)?;
                let pulled = match (&install, args) {
                    (Some(i), Some((cursor, limits)))
                        if !i.revoked && Actor(user.clone()).may(Action::Sync, None).is_ok() =>
                    {
                        let scopes = pull::scopes_for(c, &user)?;
                        let page =
                            pull::pull(c, &scopes, user.role.as_str(), cursor, &resync, limits)?;
                        // Read after the page, as the page's last word on the install.
                        Some((page, push::client(c, client_id, user.id)?))
                    }
                    _ => None,
                };
                Ok((seen, install, pulled))
            })
            .await?;
        let actor = seen.actor()?;
        actor.may(Action::Sync, None)?;
        let install = install.ok_or_else(not_registered)?;
        if install.revoked {
            return Err(revoked());
        }
        if let Some(e) = refused {
            return Err(e);
        }
        // Read whenever every check above passed.
        let (page, install) = page.ok_or_else(AppError::internal)?;
        let install = install.ok_or_else(not_registered)?;
        if install.revoked {
            return Err(revoked());
        }
        let last_mid = install.last_mutation_id;
        let mut changes = Vec::with_capacity(page.changes.len());
        for ch in page.changes {
            let data = match ch.data {
                Some(d) => Some(serde_json::value::RawValue::from_string(d).map_err(|e| {
                    tracing::error!(error = %e, "stored entity is not JSON");
                    AppError::internal()
                })?),
                None => None,
            };
            let op = if ch.op == "put" { Op::Put } else { Op::Remove };
            changes.push(Change {
                seq: ch.seq,
                scope: ch.scope,
                entity: ch.entity,
                id: ch.id,
                op,
                data,
            });
        }
        Ok(PullResponse {
            reset: page.reset.map(|r| Reset {
                reason: r.reason,
                scopes: r.scopes,
            }),
            changes,
            cursor: encode_cursor(&page.cursor)?,
            has_more: page.has_more,
            last_mutation_id: last_mid,
            checkpoint: page.checkpoint.map(|s| Checkpoint { scopes: sums(s) }),
        })
    }

    /// Per-scope count and checksum of the caller's scopes, for diagnostics.
    pub async fn sync_status(
        &self,
        actor: &Actor,
        client_id: Uuid,
    ) -> Result<StatusResponse, AppError> {
        actor.may(Action::Sync, None)?;
        let user = actor.0.clone();
        // The install, the log's head and the sums in one read transaction: figures of one
        // moment, which a phone comparing its own can trust (a push between two reads would
        // skew them).
        let (install, head, scopes) = self
            .store()
            .read(move |c| pull::status(c, client_id, &user))
            .await?;
        // `not_found` if the install is not the caller's (or not registered), `client_revoked`
        // if it was revoked.
        let install = install.ok_or_else(not_registered)?;
        if install.revoked {
            return Err(revoked());
        }
        Ok(StatusResponse {
            client_id,
            last_mutation_id: install.last_mutation_id,
            head,
            scopes: sums(scopes),
        })
    }
}

/// The half of a push that runs outside the writer: each mutation hashed, parsed and checked by
/// the domain, and each submission scored against its template and the subject and alert
/// state of one read transaction. The writer re-checks that basis and scores again only if it
/// moved (`lantian_store::push`).
pub async fn prepare(
    store: &lantian_store::Store,
    mutations: Vec<lantian_protocol::sync::Mutation>,
    clock_offset_ms: i64,
) -> Result<Vec<push::Prepared>, AppError> {
    let mut prepared = parse(mutations, clock_offset_ms);
    let wanted = wanted(&prepared);
    if wanted.is_empty() {
        return Ok(prepared);
    }
    let bases = store
        .read(move |c| push::bases(c, &wanted, &push::KnownTemplates::new()))
        .await?;
    score(&mut prepared, bases);
    Ok(prepared)
}

/// What makes a push request unanswerable as a whole: a protocol this server does not speak, too
/// many mutations, or mutation ids that do not ascend.
fn well_formed(req: &PushRequest) -> Result<(), AppError> {
    if req.protocol_version != PROTOCOL_VERSION {
        return Err(AppError::new("protocol_unsupported").field("protocol_version"));
    }
    if req.mutations.len() > MAX_PUSH_MUTATIONS {
        return Err(AppError::new("validation_failed")
            .field("mutations")
            .detail("too_many_mutations"));
    }
    if req.mutations.first().is_some_and(|m| m.mid < 1)
        || req.mutations.windows(2).any(|w| w[1].mid <= w[0].mid)
    {
        return Err(AppError::new("validation_failed")
            .field("mutations")
            .detail("mutations_not_ascending"));
    }
    Ok(())
}

/// Each mutation hashed, parsed and checked by the domain's rules that need no data.
fn parse(
    mutations: Vec<lantian_protocol::sync::Mutation>,
    clock_offset_ms: i64,
) -> Vec<push::Prepared> {
    mutations
        .into_iter()
        .map(|m| {
            let work = mutation::parse(&m.name, &m.args)
                .and_then(Command::checked)
                .map(|checked| match checked {
                    Checked::SubmitInspection(s) => {
                        let occurred_at = inspection::occurred_at(
                            m.device_time,
                            s.location.gps_time,
                            clock_offset_ms,
                        );
                        let expected_photos =
                            inspection::expected_photos(&s.results, s.signature_photo_id);
                        push::Work::Submit(Box::new(push::Submission {
                            texts: push::Texts::of(&s).map_err(|e| e.to_string()),
                            command: *s,
                            occurred_at,
                            expected_photos,
                            template: None,
                            scored: None,
                            subject: None,
                        }))
                    }
                    other => push::Work::Other(other),
                });
            push::Prepared {
                mid: m.mid,
                args_hash: mutation::args_hash(&m.name, &m.args),
                name: m.name,
                device_time: m.device_time,
                work,
            }
        })
        .collect()
}

/// What each submission's score rests on: (template, subject, time of occurrence).
type Wanted = Vec<(inspection::TemplateRef, Uuid, chrono::DateTime<chrono::Utc>)>;

fn wanted(prepared: &[push::Prepared]) -> Wanted {
    prepared
        .iter()
        .filter_map(|p| match &p.work {
            Ok(push::Work::Submit(s)) => Some((
                s.command.template.clone(),
                s.command.subject_id,
                s.occurred_at,
            )),
            _ => None,
        })
        .collect()
}

/// Scores each submission on the basis read for it (in order).
fn score(prepared: &mut [push::Prepared], bases: Vec<push::Basis>) {
    let submissions = prepared.iter_mut().filter_map(|p| match &mut p.work {
        Ok(push::Work::Submit(s)) => Some(s),
        _ => None,
    });
    for (s, basis) in submissions.zip(bases) {
        s.scored = match (&basis.template, &basis.subject) {
            (Some(t), Some((subject, alert))) => Some(push::Scored {
                subject_version: subject.subject.version,
                alert: *alert,
                score: inspection::evaluate_with(
                    t,
                    &subject.subject.attributes,
                    &s.command.results,
                    *alert,
                ),
            }),
            _ => None,
        };
        s.subject = basis.subject.map(|(subject, _)| subject);
        s.template = basis.template;
    }
}
