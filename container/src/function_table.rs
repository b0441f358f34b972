//! `tacos-container functions`: the function table as JSON, for the deployment checks.
//!
//! `scripts/check_functions.py` holds `template.yaml` and `cargo-lambda.toml` to what this prints,
//! so the table in `tacos_core::functions` stays the one place that names each function.

use serde_json::{json, Value};
use tacos_core::functions::{Function, Kind};

/// `{"catch_all": "ops", "functions": [{"name", "kind", "routes": [{"method", "path"}],
/// "secrets": ["jwt", "origin", ...]}]}`.
pub fn json() -> Value {
    let functions: Vec<Value> = Function::ALL
        .iter()
        .map(|function| {
            let routes: Vec<Value> = function
                .routes()
                .map(|r| json!({ "method": r.method().as_str(), "path": r.path() }))
                .collect();
            json!({
                "name": function.name(),
                "kind": kind_name(function.kind()),
                "routes": routes,
                "secrets": function.secrets().iter().map(|s| s.key()).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "catch_all": Function::CATCH_ALL.name(), "functions": functions })
}

fn kind_name(kind: Kind) -> String {
    match kind {
        Kind::Http => "http".into(),
        Kind::ResponseStream => "response_stream".into(),
        Kind::Scheduled(family) => format!("scheduled:{family:?}"),
        Kind::FollowUpQueue => "follow_up_queue".into(),
        Kind::WebSocket(route) => format!("websocket:{}", route.route_key()),
        Kind::LivePusher => "live_pusher".into(),
        Kind::Sweeper => "sweeper".into(),
    }
}
