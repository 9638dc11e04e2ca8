//! lantian-protocol: the wire types of the lantian API, shared by the server and the reference
//! client so the two cannot drift.
//!
//! # Layout
//! - [`error`] — the one JSON error shape and the table of stable error codes.
//! - [`auth`] — login, refresh, logout, client registration.
//! - [`sync`] — push, pull and status of the offline sync protocol.
//! - [`mod@reference`] — units, subjects and templates as the API reads and writes them.
//! - [`review`] — the review queue, orders, the assessment and alerts.
//! - [`webhook`] — endpoints other systems registered, and their deliveries.
//!
//! Every request type refuses unknown fields: a misspelt field is an error, never silently dropped.
//! Depends on the domain crate only; must not depend on the store or on HTTP crates.

pub mod auth;
pub mod error;
pub mod reference;
pub mod review;
pub mod strict;
pub mod sync;
pub mod webhook;

/// Version of the HTTP API, sent in the `Lantian-Api` response header.
pub const API_VERSION: &str = "1";
