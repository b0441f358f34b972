//! The app's requests, answered in front of the API.

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use axum::Router;
use futures::future::Either;
use tacos_http::routes;
use tacos_http::SECURITY_HEADERS;

use crate::files::{self, File, ASSETS_DIR, INDEX};
use crate::settings::Settings;

/// Content-Security-Policy of the app's pages and files, before the origins of [`Settings`] are
/// added to `connect-src`: scripts, styles, fonts and images from the app's own origin only (no
/// inline script or style attribute), nothing may frame it, and forms post only to it.
/// `scripts/check_edge.py` holds the CloudFront policy of the app to the same directives.
pub const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

/// The path of the app's runtime settings.
const CONFIG_PATH: &str = "/config.json";

/// Paths served at the root that are the API's, not the app's: the probes of the endpoint
/// table and the Prometheus endpoint.
const METRICS_PATH: &str = "/metrics";

/// [`PAGE_POLICY`] with the origins the app connects to besides its own (the API's and the
/// WebSocket endpoint's, when the settings name other origins).
pub fn page_policy(settings: &Settings) -> String {
    let extra: String = settings
        .connect_origins()
        .map(|origin| format!(" {origin}"))
        .collect();
    PAGE_POLICY.replacen(
        "connect-src 'self'",
        &format!("connect-src 'self'{extra}"),
        1,
    )
}

/// `api` with the web app in front of it (see the crate's documentation).
pub fn in_front_of(api: Router, settings: &Settings) -> InFront {
    if !files::is_built() {
        tracing::warn!(
            "the web app is not built into this binary (web/dist/ was missing): serving the API only"
        );
    }
    InFront {
        app: Arc::new(WebApp::new(settings)),
        api,
    }
}

/// The web app in front of the API: the app's answer when the request is the app's, else the
/// API router's.
///
/// A service around the router rather than a layer of it: a router's layer wraps each of its
/// routes in a boxed service, cloned for every request, and a middleware function boxes its
/// future and the rest of the chain too, which every API request (not only the app's) paid.
#[derive(Clone)]
pub struct InFront {
    app: Arc<WebApp>,
    api: Router,
}

impl tower::Service<Request> for InFront {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.app.answer(&request) {
            Some(response) => Either::Left(std::future::ready(Ok(response))),
            None => Either::Right(self.api.call(request)),
        }
    }
}

struct WebApp {
    config_json: Bytes,
    /// The security headers of every answer of the app.
    headers: HeaderMap,
    /// Paths outside `/api/` that belong to the API.
    api_root_paths: Vec<&'static str>,
}

impl WebApp {
    fn new(settings: &Settings) -> Self {
        let policy = page_policy(settings);
        let mut headers = HeaderMap::new();
        for (name, value) in SECURITY_HEADERS {
            let value = if *name == header::CONTENT_SECURITY_POLICY.as_str() {
                HeaderValue::from_str(&policy).expect("origins are ASCII")
            } else {
                HeaderValue::from_static(value)
            };
            headers.insert(HeaderName::from_static(name), value);
        }
        let mut api_root_paths = routes::paths(|r| !is_under_api(r.path()));
        api_root_paths.push(METRICS_PATH);
        Self {
            config_json: Bytes::from(settings.config_json().to_string()),
            headers,
            api_root_paths,
        }
    }

    /// The app's answer to `request`, or `None` when it is the API's.
    fn answer(&self, request: &Request) -> Option<Response> {
        let path = request.uri().path();
        if !matches!(*request.method(), Method::GET | Method::HEAD)
            || is_under_api(path)
            || self.api_root_paths.contains(&path)
        {
            return None;
        }
        let mut response = if path == CONFIG_PATH {
            self.config()
        } else {
            let relative = path.trim_start_matches('/');
            let file = files::find(relative).or_else(|| {
                (!relative.starts_with(ASSETS_DIR) && accepts_html(request.headers()))
                    .then(|| files::find(INDEX))
                    .flatten()
            })?;
            respond(file, request.headers())
        };
        response.headers_mut().extend(self.headers.clone());
        Some(response)
    }

    fn config(&self) -> Response {
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from(self.config_json.clone()))
            .expect("valid response")
    }
}

fn is_under_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Whether the client asks for a page: a browser's navigation sends `Accept: text/html, ...`,
/// `fetch` and API clients do not.
fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

/// `file`, or 304 Not Modified when the client already has this content.
fn respond(file: File, request: &HeaderMap) -> Response {
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == file.etag || tag == "*");
    let builder = Response::builder()
        .header(header::ETAG, &file.etag)
        .header(header::CACHE_CONTROL, file.caching.header());
    let response = if fresh {
        builder.status(StatusCode::NOT_MODIFIED).body(Body::empty())
    } else {
        builder
            .header(header::CONTENT_TYPE, &file.content_type)
            .body(Body::from(file.body.into_owned()))
    };
    response.expect("valid response")
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// An API with a probe and the contract's JSON 404 for everything else.
    fn app(settings: &Settings) -> InFront {
        let api = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/api/v1/events", get(|| async { "[]" }))
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"error":{"code":"NOT_FOUND"}}"#,
                )
            });
        in_front_of(api, settings)
    }

    async fn get_with(router: &InFront, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn header_of<'r>(response: &'r Response, name: &str) -> &'r str {
        response
            .headers()
            .get(name)
            .map_or("", |v| v.to_str().unwrap())
    }

    async fn body(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml,*/*;q=0.8");

    fn a_script() -> String {
        files::paths()
            .find(|p| p.starts_with(ASSETS_DIR) && p.ends_with(".js"))
            .expect("web/dist/ has a script under assets/ (build the app: cd web && npm run build)")
            .into_owned()
    }

    #[tokio::test]
    async fn the_page_the_assets_and_deep_links_are_the_apps() {
        let router = app(&Settings::default());
        let index = get_with(&router, "/", &[]).await;
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(
            header_of(&index, "content-type"),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_of(&index, "cache-control"), "no-cache");
        assert_eq!(header_of(&index, "content-security-policy"), PAGE_POLICY);
        assert_eq!(header_of(&index, "x-frame-options"), "DENY");
        let page = body(index).await;

        let deep = get_with(&router, "/events/evt_demo", &[BROWSER]).await;
        assert_eq!(deep.status(), StatusCode::OK);
        assert_eq!(header_of(&deep, "content-security-policy"), PAGE_POLICY);
        assert_eq!(body(deep).await, page);

        let script = get_with(&router, &format!("/{}", a_script()), &[]).await;
        assert_eq!(script.status(), StatusCode::OK);
        assert_eq!(
            header_of(&script, "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            header_of(&script, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        let etag = header_of(&script, "etag").to_string();
        let again = get_with(
            &router,
            &format!("/{}", a_script()),
            &[("if-none-match", &etag)],
        )
        .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(body(again).await.is_empty());
    }

    #[tokio::test]
    async fn the_api_keeps_its_paths_and_its_404s() {
        let router = app(&Settings::default());
        for (path, status) in [
            ("/api/v1/events", StatusCode::OK),
            ("/api/v1/nope", StatusCode::NOT_FOUND),
            ("/api", StatusCode::NOT_FOUND),
            ("/healthz", StatusCode::OK),
            ("/metrics", StatusCode::NOT_FOUND),
            // A missing bundle is a 404, never the page in place of a script.
            ("/assets/gone-0000.js", StatusCode::NOT_FOUND),
            ("/assets/../index.html", StatusCode::NOT_FOUND),
        ] {
            let response = get_with(&router, path, &[BROWSER]).await;
            assert_eq!(response.status(), status, "{path}");
            assert_eq!(
                header_of(&response, "content-security-policy"),
                "",
                "{path}"
            );
        }
        // A client that does not ask for a page gets the API's 404 on an unknown path.
        let api_client = get_with(&router, "/events/evt_demo", &[("accept", "*/*")]).await;
        assert_eq!(api_client.status(), StatusCode::NOT_FOUND);
        assert_eq!(header_of(&api_client, "content-type"), "application/json");
        // Only reads are the app's.
        let post = router
            .clone()
            .oneshot(Request::post("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(post.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn config_json_and_the_policy_follow_the_settings() {
        let settings = Settings::new(
            Some("https://api.tickets.example"),
            Some("wss://live.tickets.example/ws"),
        )
        .unwrap();
        let router = app(&settings);
        let config = get_with(&router, "/config.json", &[]).await;
        assert_eq!(config.status(), StatusCode::OK);
        assert_eq!(header_of(&config, "content-type"), "application/json");
        assert_eq!(header_of(&config, "cache-control"), "no-cache");
        let policy = header_of(&config, "content-security-policy").to_string();
        assert!(
            policy.contains(
                "connect-src 'self' https://api.tickets.example wss://live.tickets.example;"
            ),
            "{policy}"
        );
        let json: serde_json::Value = serde_json::from_slice(&body(config).await).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "api_base_url": "https://api.tickets.example",
                "ws_url": "wss://live.tickets.example/ws",
            })
        );
        let index = get_with(&router, "/", &[]).await;
        assert_eq!(header_of(&index, "content-security-policy"), policy);
    }
}
