//! The web console: one hand-written page (HTML, CSS, JS) served at `/ui/`
//! by every instance, embedded in the binary so `cargo build` needs no
//! front-end toolchain and the page works offline.
//!
//! The assets hold no data and are served without the token; the page asks
//! for the token when a data request answers 401 and sends it with every
//! request to the public REST API (`/v1/api/...`), the only thing it uses.
//! The content security policy allows nothing but this origin, so a spec
//! shown on the page can never run as script.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

const INDEX_HTML: &str = include_str!("console/index.html");
const APP_CSS: &str = include_str!("console/app.css");
const APP_JS: &str = include_str!("console/app.js");

/// The policy of every console asset: this origin only, no inline script.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether `path` is one of the console's assets (public, like the probes).
pub fn is_console_path(path: &str) -> bool {
    matches!(path, "/ui" | "/ui/" | "/ui/app.css" | "/ui/app.js")
}

/// The console's routes, to merge into the API router.
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route(
            "/ui/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Assets change with the binary: revalidate rather than cache stale JS
    // across an upgrade.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_paths_are_exactly_the_assets() {
        for p in ["/ui", "/ui/", "/ui/app.css", "/ui/app.js"] {
            assert!(is_console_path(p), "{p}");
        }
        for p in ["/ui/x", "/ui/../v1/api/apps", "/v1/api/apps", "/uix", "/"] {
            assert!(!is_console_path(p), "{p}");
        }
    }

    /// The page loads only its own assets: nothing from a CDN, no inline
    /// script the policy would block.
    #[test]
    fn console_page_references_only_its_own_assets() {
        assert!(INDEX_HTML.contains(r#"src="app.js""#));
        assert!(INDEX_HTML.contains(r#"href="app.css""#));
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"));
        assert!(!APP_JS.contains("http://") && !APP_JS.contains("https://"));
        assert!(
            !INDEX_HTML.contains("<script>"),
            "inline script is blocked by the CSP"
        );
    }
}
