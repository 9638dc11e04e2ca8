//! The sync protocol v1: pre-flight, push, pull, status.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use lantian_domain::policy::Action;
use lantian_protocol::sync::{
    Change, Checkpoint, Gap, MAX_PUSH_MUTATIONS, MutationResult, MutationStatus, Op,
    PROTOCOL_HEADER, PROTOCOL_VERSION, PullRequest, PullResponse, PushRequest, PushResponse, Reset,
    SERVER_TIME_HEADER, ScopeChecksum, StatusResponse,
};
use lantian_store::{pull, push};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AppJson, AppQuery, Caller};

/// `HEAD /v1/sync`: 204 with the protocol version and the server time, so a phone can tell a
/// captive portal from the server and estimate its clock offset before it pushes.
pub(crate) async fn preflight() -> impl IntoResponse {
    let mut h = HeaderMap::new();
    h.insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
    h.insert(
        SERVER_TIME_HEADER,
        HeaderValue::from(chrono::Utc::now().timestamp_millis()),
    );
    (StatusCode::NO_CONTENT, h)
}

/// The caller's registered client row and its last mutation id; 404 if the install is not the
/// caller's (or not registered).
async fn client_of(
    state: &AppState,
    caller: &Caller,
    client_id: Uuid,
) -> Result<(i64, i64), ApiError> {
    let user_id = caller.0.id;
    state
        .store()
        .read(move |c| push::client(c, client_id, user_id))
        .await?
        .ok_or_else(|| {
            ApiError::not_found()
                .field("client_id")
                .detail("client_not_registered")
        })
}

/// `POST /v1/sync/push`.
pub(crate) async fn push(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(req): AppJson<PushRequest>,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::Sync, None)?;
    if req.protocol_version != PROTOCOL_VERSION {
        return Err(ApiError::new("protocol_unsupported").field("protocol_version"));
    }
    if req.mutations.len() > MAX_PUSH_MUTATIONS {
        return Err(ApiError::new("validation_failed")
            .field("mutations")
            .detail("too_many_mutations"));
    }
    if req.mutations.first().is_some_and(|m| m.mid < 1)
        || req.mutations.windows(2).any(|w| w[1].mid <= w[0].mid)
    {
        return Err(ApiError::new("validation_failed")
            .field("mutations")
            .detail("mutations_not_ascending"));
    }
    let (client_row, _) = client_of(&state, &caller, req.client_id).await?;
    let received_at = chrono::Utc::now();
    let offset = lantian_domain::inspection::clock_offset_ms(req.sent_at, received_at);
    let ctx = push::Context {
        user: caller.0.clone(),
        client_row,
        client_id: req.client_id,
        received_at,
        clock_offset_ms: offset,
        verdicts: state.config().verdicts,
        rectify: state.config().rectify.clone(),
    };
    let incoming: Vec<push::Incoming> = req
        .mutations
        .into_iter()
        .map(|m| push::Incoming {
            mid: m.mid,
            name: m.name,
            args: m.args,
            device_time: m.device_time,
        })
        .collect();
    let outcome = state
        .store()
        .write(move |c| push::push(c, &ctx, &incoming))
        .await?;
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
    Ok(axum::Json(PushResponse {
        last_mutation_id: outcome.last_mutation_id,
        results,
        gap: outcome.gap_expected.map(|expected| Gap { expected }),
        clock_offset_ms: offset,
    }))
}

fn encode_cursor(c: &pull::Cursor) -> Result<String, ApiError> {
    let json = serde_json::to_vec(c).map_err(|_| ApiError::internal())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(s: &str) -> Result<pull::Cursor, ApiError> {
    let bad = || {
        ApiError::new("bad_request")
            .field("cursor")
            .detail("cursor_invalid")
    };
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

/// `POST /v1/sync/pull`.
pub(crate) async fn pull(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(req): AppJson<PullRequest>,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::Sync, None)?;
    let (client_row, _) = client_of(&state, &caller, req.client_id).await?;
    let cursor = req.cursor.as_deref().map(decode_cursor).transpose()?;
    if req.resync_scopes.len() > 1000 {
        return Err(ApiError::new("validation_failed")
            .field("resync_scopes")
            .detail("too_many_scopes"));
    }
    let limits = pull::Limits {
        max_changes: req.limit.unwrap_or(1000).clamp(1, 5000) as usize,
        max_bytes: state.config().pull_page_bytes,
    };
    let user = caller.0.clone();
    let resync = req.resync_scopes;
    let (page, last_mid) = state
        .store()
        .read(move |c| {
            let scopes = pull::scopes_for(c, &user)?;
            let page = pull::pull(c, &scopes, user.role.as_str(), cursor, &resync, limits)?;
            let last: i64 = c.query_row(
                "SELECT last_mutation_id FROM clients WHERE id = ?1",
                [client_row],
                |r| r.get(0),
            )?;
            Ok((page, last))
        })
        .await?;
    let mut changes = Vec::with_capacity(page.changes.len());
    for ch in page.changes {
        let data = match ch.data {
            Some(d) => Some(serde_json::value::RawValue::from_string(d).map_err(|e| {
                tracing::error!(error = %e, "stored entity is not JSON");
                ApiError::internal()
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
    Ok(axum::Json(PullResponse {
        reset: page.reset.map(|r| Reset {
            reason: r.reason,
            scopes: r.scopes,
        }),
        changes,
        cursor: encode_cursor(&page.cursor)?,
        has_more: page.has_more,
        last_mutation_id: last_mid,
        checkpoint: page.checkpoint.map(|s| Checkpoint { scopes: sums(s) }),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusQuery {
    client_id: Uuid,
}

/// `GET /v1/sync/status?client_id=`: per-scope count and checksum, for diagnostics.
pub(crate) async fn status(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(q): AppQuery<StatusQuery>,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Action::Sync, None)?;
    let (_, last) = client_of(&state, &caller, q.client_id).await?;
    let user = caller.0.clone();
    let (head, scopes) = state
        .store()
        .read(move |c| {
            let scopes = pull::scopes_for(c, &user)?;
            Ok((lantian_store::sync::head(c)?, pull::scope_sums(c, &scopes)?))
        })
        .await?;
    Ok(axum::Json(StatusResponse {
        client_id: q.client_id,
        last_mutation_id: last,
        head,
        scopes: sums(scopes),
    }))
}
