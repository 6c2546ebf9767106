//! The operator's console: the web bundle built from `web/` (see `build.rs`), embedded in the
//! binary, and an axum router that serves it at `/` with a Content-Security-Policy that allows
//! no inline script, no inline style element and no other origin.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

#[derive(rust_embed::Embed)]
#[folder = "$LIMES_WEB_BUNDLE"]
struct Bundle;

/// The Content-Security-Policy of the page: its own origin only, no inline script or style
/// elements, no plugins, no framing; the map's worker is a file of this origin.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self'; worker-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// Headers every console response carries.
const COMMON: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ),
];

/// The router serving the page (`/`, `/index.html`) and its assets (`/assets/…`).
pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/{*file}", get(asset))
}

/// Whether the bundle has a page (it always has when the build succeeded).
pub fn has_page() -> bool {
    Bundle::get("index.html").is_some()
}

/// Names of the embedded files, for the tests and `limes` diagnostics.
pub fn files() -> Vec<String> {
    Bundle::iter().map(|f| f.into_owned()).collect()
}

fn with_common(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (k, v) in COMMON {
        h.insert(*k, HeaderValue::from_static(v));
    }
    r
}

async fn index() -> Response {
    let Some(f) = Bundle::get("index.html") else {
        return with_common((StatusCode::NOT_FOUND, "no console in this build").into_response());
    };
    let mut r = Response::new(Body::from(f.data.into_owned()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    with_common(r)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let name = format!("assets/{file}");
    let Some(f) = Bundle::get(&name) else {
        return with_common((StatusCode::NOT_FOUND, "no such file").into_response());
    };
    let etag = format!(
        "\"{}\"",
        f.metadata
            .sha256_hash()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mime = match name.rsplit('.').next() {
        // Module workers need a JavaScript type, whatever the platform's table says of .mjs.
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => f.metadata.mimetype(),
    };
    let mut r = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(f.data.into_owned()))
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Vite names assets by their content hash: they never change under one name.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    with_common(r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str) -> Response {
        router()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_page_is_served_with_a_policy_that_allows_no_inline_script() {
        let r = get("/").await;
        assert_eq!(r.status(), StatusCode::OK);
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let html = String::from_utf8_lossy(&body);
        // No inline script: every <script> has a src.
        for tag in html.split("<script").skip(1) {
            let head = tag.split('>').next().unwrap_or("");
            assert!(head.contains("src="), "inline script in index.html: {head}");
        }
    }

    #[tokio::test]
    async fn assets_have_their_types_and_are_cached_by_content() {
        let js = files()
            .into_iter()
            .find(|f| f.starts_with("assets/") && f.ends_with(".js"))
            .expect("a script in the bundle");
        let r = get(&format!("/{js}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        assert!(r.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable"));
        let etag = r.headers()[header::ETAG].clone();
        let again = router()
            .oneshot(
                Request::get(format!("/{js}"))
                    .header(header::IF_NONE_MATCH, etag)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            get("/assets/nothing-here.js").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get("/assets/../Cargo.toml").await.status(),
            StatusCode::NOT_FOUND
        );
    }
}
