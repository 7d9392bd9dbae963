//! The kv_store application as one module, for the example's `main` and for a test or
//! simulation harness: `#[path = "../examples/kv_store/app.rs"] mod kv_store;` (from
//! `tests/`), then `kv_store::server::serve(Config)`, `kv_store::client::Client`, and the
//! checking workload `kv_store::workload::run_client` with its `kv_store::check::Model`.
//! The modules refer to each other through `super::`, so they work wherever this module
//! is mounted.

#[path = "check.rs"]
pub(crate) mod check;
#[path = "client.rs"]
pub(crate) mod client;
#[path = "protocol.rs"]
pub(crate) mod protocol;
#[path = "server.rs"]
pub(crate) mod server;
#[path = "wal.rs"]
pub(crate) mod wal;
#[path = "workload.rs"]
pub(crate) mod workload;
