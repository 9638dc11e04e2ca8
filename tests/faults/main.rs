//! Proof under faults: the network, hostile input, tokens, authorization and tampering, each
//! against real servers on 127.0.0.1:0. (Crashes and full disks need the real process: they are in
//! `crates/lantian/tests/`.)

mod authz;
mod corpus;
mod hostile;
mod network;
mod tamper;
mod tokens;
