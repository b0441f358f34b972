//! The web app beside the API: its page at `/` with the page's Content-Security-Policy, hashed
//! bundles cached for a year, deep links answered with the page (the app routes in the browser),
//! `/config.json` saying what the deployment was given, and the API's answers untouched beside
//! it (an unknown `/api/...` path is still the contract's JSON 404 with the API's strict policy).
//!
//! Only deployments that serve the app run these (the embedded server; by URL, with
//! `TACOS_SERVES_WEB_APP=1`: the container, or CloudFront with the app in S3). The Lambda
//! functions behind the gateway do not serve it, and there each test says it was skipped.

use std::collections::BTreeMap;

use reqwest::Method;
use tacos_tests::target;

use crate::client::*;
use crate::limits::assert_security_headers;

/// What a browser's navigation sends.
const NAVIGATION: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn serves_app(test: &str) -> bool {
    let serves = target().serves_web_app;
    if !serves {
        eprintln!(
            "{test}: skipped, {} does not serve the web app (TACOS_SERVES_WEB_APP=1 if it does)",
            target().base_url
        );
    }
    serves
}

async fn navigate(api: &Api, path: &str) -> Resp {
    api.root(Method::GET, path)
        .header("accept", NAVIGATION)
        .send()
        .await
}

/// The directives of a Content-Security-Policy: name → sources.
fn directives(policy: &str) -> BTreeMap<String, Vec<String>> {
    policy
        .split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace().map(str::to_string);
            Some((words.next()?, words.collect()))
        })
        .collect()
}

/// The page's policy: every directive of `tacos_webapp::PAGE_POLICY`, `connect-src` allowing the
/// page's own origin and the API's and WebSocket's the deployment was given (a CDN may allow a
/// WebSocket host pattern besides).
#[track_caller]
fn assert_page_headers(r: &Resp) {
    let policy = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{}: no Content-Security-Policy", r.what));
    let mut got = directives(&policy);
    let mut wanted = directives(tacos_webapp::PAGE_POLICY);
    let connect = got.remove("connect-src").unwrap_or_default();
    wanted.remove("connect-src");
    assert_eq!(got, wanted, "{}: {policy}", r.what);
    for origin in std::iter::once("'self'").chain(target().web.connect_origins()) {
        assert!(
            connect.iter().any(|s| s == origin),
            "{}: connect-src lacks {origin}: {policy}",
            r.what
        );
    }
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(
        r.header("strict-transport-security").is_some(),
        "{}",
        r.what
    );
}

/// The `/assets/…` files `index.html` loads.
fn assets_of(page: &str) -> Vec<String> {
    page.split(['"', '\''])
        .filter(|s| s.starts_with("/assets/") && !s.contains(['<', '>', ' ']))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn the_app_is_served_at_the_root_with_the_page_policy() {
    if !serves_app("the_app_is_served_at_the_root_with_the_page_policy") {
        return;
    }
    let api = Api::new();
    let page = navigate(&api, "/").await;
    page.expect(200);
    let ctype = page.header("content-type").unwrap_or_default();
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert_eq!(page.header("cache-control").as_deref(), Some("no-cache"));
    assert!(
        page.text().to_ascii_lowercase().contains("<html"),
        "{}",
        page.text()
    );
    assert_page_headers(&page);
}

#[tokio::test]
async fn hashed_assets_are_served_with_their_type_and_cached_for_a_year() {
    if !serves_app("hashed_assets_are_served_with_their_type_and_cached_for_a_year") {
        return;
    }
    let api = Api::new();
    let page = navigate(&api, "/").await;
    let assets = assets_of(&page.text());
    assert!(
        assets.iter().any(|a| a.ends_with(".js")),
        "index.html loads no script under /assets/: {}",
        page.text()
    );
    for asset in &assets {
        let file = api
            .root(Method::GET, asset)
            .header("accept", "*/*")
            .send()
            .await;
        file.expect(200);
        let ctype = file.header("content-type").unwrap_or_default();
        let expected = match asset.rsplit('.').next() {
            Some("js") => "javascript",
            Some("css") => "text/css",
            _ => "",
        };
        assert!(ctype.contains(expected), "{asset}: content-type {ctype}");
        let cache = file.header("cache-control").unwrap_or_default();
        assert!(
            cache.contains("max-age=31536000") && cache.contains("immutable"),
            "{asset}: cache-control {cache}"
        );
        assert_page_headers(&file);
    }
    // A bundle that is not there is a 404, not the page in its place.
    let missing = api
        .root(Method::GET, "/assets/index-00000000.js")
        .header("accept", NAVIGATION)
        .send()
        .await;
    assert_eq!(missing.code(), 404, "{}", missing.text());
    assert!(!missing.text().to_ascii_lowercase().contains("<html"));
}

#[tokio::test]
async fn a_deep_link_opens_the_app() {
    if !serves_app("a_deep_link_opens_the_app") {
        return;
    }
    let api = Api::new();
    let index = navigate(&api, "/").await;
    for path in ["/events/evt_demo", "/events/evt_demo/seats", "/queue"] {
        let page = navigate(&api, path).await;
        page.expect(200);
        assert_eq!(page.body, index.body, "{path} is not the app's page");
        assert_eq!(page.header("cache-control").as_deref(), Some("no-cache"));
        assert_page_headers(&page);
    }
}

#[tokio::test]
async fn the_api_keeps_its_json_404_and_strict_policy_beside_the_app() {
    if !serves_app("the_api_keeps_its_json_404_and_strict_policy_beside_the_app") {
        return;
    }
    let api = Api::new();
    // Even when a browser navigates there.
    for path in ["/api/v1/nope", "/api/v1/events/evt_demo/nope"] {
        let r = navigate(&api, path).await;
        r.expect_error(404, "NOT_FOUND");
        assert_security_headers(&r);
    }
    let probe = navigate(&api, "/healthz").await;
    probe.expect(200);
    assert_security_headers(&probe);
    let events = api.get("/events").header("accept", NAVIGATION).send().await;
    events.expect(200);
    assert_security_headers(&events);
}

#[tokio::test]
async fn config_json_says_what_the_deployment_was_given() {
    if !serves_app("config_json_says_what_the_deployment_was_given") {
        return;
    }
    let api = Api::new();
    let config = api.root(Method::GET, "/config.json").send().await;
    assert_eq!(config.expect(200), target().web.config_json());
    assert!(config
        .header("content-type")
        .unwrap_or_default()
        .starts_with("application/json"));
    assert_eq!(config.header("cache-control").as_deref(), Some("no-cache"));
    assert_page_headers(&config);
}
