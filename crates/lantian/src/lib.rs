//! lantian: the server binary's library half: configuration, start-up wiring and the operator
//! commands. `main.rs` is only the command line over these functions, and the integration tests
//! start servers through [`app::start`] exactly as `lantian serve` does.
//!
//! # Layout
//! - [`config`] — defaults < `lantian.toml` < `LANTIAN_…` environment < command-line flags.
//! - [`app`] — open the data folder, load reference (and demo) data, bind, serve, shut down.
//! - [`import`] — subjects from CSV or GeoJSON, all or nothing, errors reported by line.
//! - [`users`] — `lantian user add`.

pub mod app;
pub mod assessment;
pub mod audit;
pub mod backup;
pub mod config;
pub mod import;
pub mod jobs;
pub mod users;
