//! The web UI, embedded at compile time from `ui/dist` (see `build.rs`).

use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

mod assets {
    include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));
}

pub use assets::UI_BUILT;

/// The embedded file at `path` (relative, no leading slash).
pub fn asset(path: &str) -> Option<&'static [u8]> {
    assets::ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Serves an embedded file; a path without an extension gets `index.html` (client routing).
/// Only `GET` and `HEAD` read files; other methods get 405.
pub async fn serve_asset(method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            format!(
                "{method} {}: the web UI's files are read with GET\n",
                uri.path()
            ),
        )
            .into_response();
    }
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let (path, bytes) = match asset(path) {
        Some(b) => (path, b),
        None if !path.rsplit('/').next().unwrap_or("").contains('.') => {
            ("index.html", asset("index.html").unwrap_or_default())
        }
        None => return (StatusCode::NOT_FOUND, format!("no such file: /{path}\n")).into_response(),
    };
    // Vite puts content-hashed files under assets/: they never change.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // No framing by other sites (clickjacking of the action buttons), and a token
            // given as `?token=` never leaks through the Referer header.
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        bytes,
    )
        .into_response()
}
