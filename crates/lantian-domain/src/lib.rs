//! lantian-domain: the pure rules and types of lantian.
//!
//! Everything here is deterministic and free of IO: no tokio, no SQL, no HTTP. The store, the HTTP
//! layer and the reference client all speak these types, so a rule lives in one place.
//!
//! # Layout
//! - [`mod@unit`] — the organisation as a tree of units, peer groups for ranking, supervising departments.
//! - [`assessment`] — the monthly indicators, composite score, ranks and revision diffs.
//! - [`campaign`] — campaigns (period, targets, weights) and their numbered tasks.
//! - [`subject`] — what officers inspect, with type-specific attributes and a place.
//! - [`checklist`] — versioned checklist templates and their items.
//! - [`geo`] — WGS-84 / GCJ-02 / BD-09 conversion and distances.
//! - [`inspection`] — submitted results, their validation against a template version, and scoring.
//! - [`media`] — photo evidence as recorded and synced; evidence flags.
//! - [`mutation`] — the commands phones queue offline (`inspection.submit`, `draft.save`, ...).
//! - [`user`] — roles.
//! - [`policy`] — the one authorization table (role x action x relation of the object's unit).
//! - [`sync`] — scope names and the entity hash and scope checksum that server and client share.
//! - [`limits`] — the length and count limits of what people type.
//! - [`review`] — review states, decisions and the rules of a decision.
//! - [`rectification`] — rectification orders: the state machine of their events, severities and
//!   working-day deadlines.
//! - [`webhook`] — the events other systems subscribe to, the delivery signature, the retry schedule.
//! - [`mod@reference`] — the 2019-2020 Liaocheng campaign as data, and the deterministic demo data set.
//!
//! Must not depend on: rusqlite, tokio, axum, or any crate that does IO.

pub mod assessment;
pub mod campaign;
pub mod checklist;
pub mod error;
pub mod geo;
pub mod inspection;
pub mod limits;
pub mod media;
pub mod mutation;
pub mod policy;
pub mod rectification;
pub mod reference;
pub mod review;
pub mod subject;
pub mod sync;
pub mod unit;
pub mod user;
pub mod webhook;

pub use error::ValidationError;
