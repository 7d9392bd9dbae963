//! examples/axum_server.rs's app (shared with tests/eco_axum.rs): an axum `Router` whose
//! file routes go through ringcore's ring from axum's `Send` handlers, by
//! `ringcore::task::spawn_pinned` (feature `tokio-context`).
//!
//! - `GET /` answers `Hello from core N` (the core that ran the handler);
//! - `GET /files/{name}` answers the file `name` of the root directory, read with
//!   `ringcore::fs::read`: 404 when there is no such file, 400 for a name that could leave
//!   the directory (empty, `.`-led, or holding a `/` once percent-decoded);
//! - `PUT /files/{name}` writes the request body to that file with `ringcore::fs::write`
//!   (201), same name rules;
//! - `GET /slow` answers `slow` after 200 ms on a tokio timer.
#![allow(dead_code, unreachable_pub)]

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The app over the files of `root`.
pub fn router(root: PathBuf) -> Router {
    Router::new()
        .route("/", get(hello))
        .route("/files/{name}", get(read_file).put(write_file))
        .route("/slow", get(slow))
        .with_state(Arc::new(root))
}

async fn hello() -> String {
    format!("Hello from core {}\n", ringcore::current_core().index())
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(200)).await;
    "slow"
}

/// `root/name` when `name` stays in `root`.
fn file_path(root: &std::path::Path, name: &str) -> Option<PathBuf> {
    let bad = name.is_empty() || name.starts_with('.') || name.contains('/') || name.contains('\0');
    (!bad).then(|| root.join(name))
}

fn bad_name() -> Response {
    (StatusCode::BAD_REQUEST, "bad file name\n").into_response()
}

fn io_error(e: &io::Error) -> Response {
    match e.kind() {
        io::ErrorKind::NotFound => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn read_file(State(root): State<Arc<PathBuf>>, Path(name): Path<String>) -> Response {
    let Some(path) = file_path(&root, &name) else {
        return bad_name();
    };
    // The handler's future must be `Send`; ringcore's file futures are not. spawn_pinned
    // builds the read on this core and hands back a `Send` handle.
    let read = ringcore::task::spawn_pinned(move || async move { ringcore::fs::read(path).await });
    match read.await {
        Ok(Ok(bytes)) => bytes.into_response(),
        Ok(Err(e)) => io_error(&e),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

async fn write_file(
    State(root): State<Arc<PathBuf>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(path) = file_path(&root, &name) else {
        return bad_name();
    };
    let write = ringcore::task::spawn_pinned(move || async move {
        ringcore::fs::write(path, body.to_vec()).await
    });
    match write.await {
        Ok(Ok(())) => StatusCode::CREATED.into_response(),
        Ok(Err(e)) => io_error(&e),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}
