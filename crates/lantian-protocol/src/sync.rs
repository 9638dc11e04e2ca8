//! The sync protocol v1 on the wire. See `docs/sync-protocol.md` for the rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// Protocol version, also sent by `HEAD /v1/sync` in the [`PROTOCOL_HEADER`] header.
pub const PROTOCOL_VERSION: u32 = 1;
pub const PROTOCOL_HEADER: &str = "lantian-sync-protocol";
/// Server time in milliseconds since the epoch, sent by `HEAD /v1/sync` for clock-offset estimates.
pub const SERVER_TIME_HEADER: &str = "lantian-server-time";
/// Most mutations in one push.
pub const MAX_PUSH_MUTATIONS: usize = 500;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    pub client_id: Uuid,
    pub protocol_version: u32,
    /// Version of the app's local schema, for diagnostics and future migrations.
    pub schema_version: u32,
    pub app_version: String,
    /// The device clock when this request was sent: the server estimates the clock offset from it.
    pub sent_at: DateTime<Utc>,
    pub mutations: Vec<Mutation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mutation {
    /// Per client: 1, 2, 3, ... without gaps.
    pub mid: i64,
    /// e.g. `inspection.submit`.
    pub name: String,
    /// Duplicate keys anywhere inside are refused (the whole request is malformed).
    #[serde(deserialize_with = "crate::strict::value")]
    pub args: serde_json::Value,
    /// When the officer did it, by the device clock.
    pub device_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MutationStatus {
    Applied,
    Rejected,
    /// The id was used before for a different mutation: nothing was applied.
    Mismatch,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MutationResult {
    pub mid: i64,
    pub status: MutationStatus,
    /// Answered from the record of an earlier push of the same mutation.
    pub duplicate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushResponse {
    /// The last mutation id the server has for this client (applied or rejected).
    pub last_mutation_id: i64,
    pub results: Vec<MutationResult>,
    /// Present when the batch stopped at a gap: resend from `expected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<Gap>,
    /// Device clock minus server clock, from `sent_at`.
    pub clock_offset_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gap {
    pub expected: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    pub client_id: Uuid,
    /// Absent on the first pull of an install.
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    /// Scopes whose checksum did not match: the server sends them again from scratch.
    #[serde(default)]
    pub resync_scopes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Put,
    Remove,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Change {
    /// The change's position in the server's log; 0 for snapshot rows.
    pub seq: i64,
    pub scope: String,
    /// `unit`, `subject`, `template`, `campaign`, `inspection`, `draft`, `proposal`, `incident`,
    /// `mutation_result`.
    pub entity: String,
    pub id: String,
    pub op: Op,
    /// The entity, for `put`: keep its exact text, the scope checksum is computed over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
}

pub use lantian_domain::sync::ResetReason;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reset {
    pub reason: ResetReason,
    /// Clear these scopes before applying this page; absent: clear everything pulled. Never the
    /// queue of unsent mutations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeChecksum {
    pub scope: String,
    pub count: u64,
    /// 16 hex digits: wrapping sum of the entity hashes (see `lantian_domain::sync`).
    pub checksum: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub scopes: Vec<ScopeChecksum>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PullResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<Reset>,
    pub changes: Vec<Change>,
    /// Store it together with the changes, in one local transaction.
    pub cursor: String,
    pub has_more: bool,
    pub last_mutation_id: i64,
    /// On the last page only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusResponse {
    pub client_id: Uuid,
    pub last_mutation_id: i64,
    /// The newest change in the server's log.
    pub head: i64,
    pub scopes: Vec<ScopeChecksum>,
}
