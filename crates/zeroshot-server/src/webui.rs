//! The release's WebUI: `GET /` and its assets (script, style sheet, icon), embedded in the
//! binary (no CDN, no external fonts: the server is often offline). They hold no data, so they
//! need no token; the API calls the page makes carry the token the user types, and pass the
//! usual check.
//!
//! Every answer forbids inline script and style and framing (`Content-Security-Policy`), and
//! content sniffing; `no-cache` makes a browser ask again after an upgrade of the server.
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::metrics::Metrics;

const INDEX_HTML: &str = include_str!("webui/index.html");
const APP_JS: &str = include_str!("webui/app.js");
const STYLE_CSS: &str = include_str!("webui/style.css");
/// Named by the page, so that a browser does not ask for `/favicon.ico` (a 404, or a 401 on a
/// server with a token, in its console).
const FAVICON_SVG: &str = include_str!("webui/favicon.svg");

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn asset(metrics: &Metrics, endpoint: &'static str, content_type: &'static str, body: &'static str) -> Response {
    metrics.request(endpoint, 200);
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

async fn index(State(metrics): State<Arc<Metrics>>) -> Response {
    asset(&metrics, "/", "text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js(State(metrics): State<Arc<Metrics>>) -> Response {
    asset(&metrics, "/app.js", "text/javascript; charset=utf-8", APP_JS)
}

async fn style_css(State(metrics): State<Arc<Metrics>>) -> Response {
    asset(&metrics, "/style.css", "text/css; charset=utf-8", STYLE_CSS)
}

async fn favicon(State(metrics): State<Arc<Metrics>>) -> Response {
    asset(&metrics, "/favicon.svg", "image/svg+xml", FAVICON_SVG)
}

/// The page's routes, with no fallback of their own: they are merged into the API's router
/// after its token check, so that they need none.
pub fn routes(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/style.css", get(style_css))
        .route("/favicon.svg", get(favicon))
        .with_state(metrics)
}
