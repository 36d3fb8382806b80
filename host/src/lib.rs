//! # whisk-host: the whisk server
//!
//! An OpenWhisk-compatible serverless host whose extension points are plugins. This crate
//! is the binary `whisk` and the library behind it: the config ([`config`]), the plugin
//! loader and the host's handles on plugin objects ([`plugin`]), and the server.
//!
//! One blocking invoke flows through the modules in this order: HTTP request →
//! authenticator chain → identity → action from the store → pool routing → the pool's
//! LoadBalancer → the invoker's container pool (ContainerFactory) → `/init`, `/run` →
//! result classified → LogStore → activation record stored → LoadBalancer told of the
//! completion → HTTP response.

pub mod activator;
pub mod config;
pub mod entity;
pub mod invoker;
pub mod logging;
pub mod plugin;
pub mod server;
pub mod store;
