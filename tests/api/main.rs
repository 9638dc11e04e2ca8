//! lantian's integration tests: one binary, real servers on 127.0.0.1:0, one data folder each.

mod assessment;
mod auth;
mod console;
mod errors;
mod geo;
mod import;
mod lifecycle;
mod nodes;
mod photos;
mod policy;
mod review;
mod spec;
mod subjects;
mod sync;
mod users;
