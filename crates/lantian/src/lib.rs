//! lantian: the server binary's library half: configuration, start-up wiring and the operator
//! commands. `main.rs` is only the command line over these functions, and the integration tests
//! start servers through [`app::start`] exactly as `lantian serve` does.
//!
//! # Layout
//! - [`config`] — defaults < `lantian.toml` < `LANTIAN_…` environment < command-line flags.
//! - [`app`] — open the data folder, load reference (and demo) data, bind, serve, shut down.
//! - [`users`] — `lantian user add`.
//! - [`logs`] — text log lines with their control characters escaped, so none can be forged.
//! - [`copy`] — `lantian copy`: a SQLite deployment into PostgreSQL and S3-compatible storage.
//!
//! Every command calls one operation of `lantian_app` (most in `lantian_app::operator`); what
//! stays here is wiring: opening the data folder, the backup of the SQLite file, the schedule.

pub mod app;
pub mod assessment;
pub mod audit;
pub mod backup;
pub mod config;
pub mod copy;
pub mod jobs;
pub mod logs;
pub mod outbound;
pub mod users;
pub mod webhooks;
