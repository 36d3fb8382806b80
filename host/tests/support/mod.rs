//! Shared helpers of the host's integration tests.
//!
//! - [`paths`]: the workspace, its target dir and the reference plugins `cargo build
//!   --workspace` made;
//! - [`fixtures`]: builds the crates of `host/tests/fixtures` against copies of whisk-spi;
//! - [`isolate`]: runs each case of a table in a child process, so a crash in the code
//!   under test fails that case instead of the whole test binary;
//! - [`sample`]: an activation and invokers to place it on;
//! - [`inproc`]: the host in process over the real plugins, for looking inside.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

pub mod fixtures;
pub mod inproc;
pub mod isolate;
pub mod paths;
pub mod sample;
