//! Operators steer a running sale (issue 16, item 2), on any deployment: pause keeps every place
//! and admits nobody, a new rate and resume admit again, close tells everyone waiting and refuses
//! joins, and the audit log records each action with who did it and the sale before and after.
//! Only administrators may do any of it.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::*;

/// How long any instance of a deployment may go by the sale it last read.
const SEEN_WITHIN: Duration = Duration::from_millis(1_200);

async fn act(api: &Api, method: Method, path: &str, body: Option<Value>) -> Resp {
    let token = api.admin_token().await;
    let call = api.call(method, path).bearer(&token);
    match body {
        Some(body) => call.json(&body).send().await,
        None => call.send().await,
    }
}

async fn statuses(api: &Api, tokens: &[String]) -> Vec<Value> {
    futures::future::join_all(tokens.iter().map(|t| api.status(t))).await
}

fn ready(statuses: &[Value]) -> usize {
    statuses.iter().filter(|s| s["status"] == "ready").count()
}

#[tokio::test]
async fn an_operator_pauses_retunes_resumes_and_closes_a_sale_and_the_log_says_so() {
    let api = Api::new();
    let event = api.ga_event(50, 1_000, 2.0).await;
    let id = str_of(&event, "event_id").to_string();
    assert_eq!(event["sale"]["state"], "open", "{event}");
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(str_of(&api.join(&id, None).await, "waiting_token").to_string());
    }

    let paused = act(
        &api,
        Method::POST,
        &format!("/admin/events/{id}/pause"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(paused["state"], "paused", "{paused}");
    tokio::time::sleep(SEEN_WITHIN).await;
    let held_back = statuses(&api, &tokens).await;
    assert!(
        held_back.iter().all(|s| s["paused"] == true),
        "{held_back:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = statuses(&api, &tokens).await;
    assert_eq!(
        ready(&later),
        ready(&held_back),
        "nobody admitted while paused"
    );
    for (before, after) in held_back.iter().zip(&later) {
        assert_eq!(before["position"], after["position"], "places kept");
    }

    let tuned = act(
        &api,
        Method::PATCH,
        &format!("/admin/events/{id}"),
        Some(json!({"admission_rate_per_sec": 50, "hold_seconds": 120})),
    )
    .await
    .expect(200);
    assert_eq!(
        (
            &tuned["admission_rate_per_sec"],
            &tuned["hold_seconds"],
            &tuned["state"]
        ),
        (&json!(50.0), &json!(120), &json!("paused")),
        "{tuned}"
    );
    act(
        &api,
        Method::POST,
        &format!("/admin/events/{id}/resume"),
        None,
    )
    .await
    .expect(200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = statuses(&api, &tokens).await;
        if ready(&now) == tokens.len() {
            assert!(now.iter().all(|s| s["paused"] == false));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "everyone admitted at 50/s: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let closed = act(
        &api,
        Method::POST,
        &format!("/admin/events/{id}/close"),
        None,
    )
    .await
    .expect(200);
    assert_eq!(closed["state"], "closed");
    tokio::time::sleep(SEEN_WITHIN).await;
    let told = statuses(&api, &tokens).await;
    assert!(
        told.iter()
            .all(|s| s["status"] == "closed" && s["ready_for_entry"] == false),
        "{told:?}"
    );
    api.join_raw(&id, None)
        .await
        .expect_error(409, "SALE_CLOSED");
    act(
        &api,
        Method::POST,
        &format!("/admin/events/{id}/resume"),
        None,
    )
    .await
    .expect_error(409, "SALE_CLOSED");
    let shown = api.get(&format!("/events/{id}")).send().await.expect(200);
    assert_eq!(shown["sale"]["state"], "closed", "{shown}");

    let log = act(
        &api,
        Method::GET,
        &format!("/admin/audit?event_id={id}&limit=10"),
        None,
    )
    .await
    .expect(200);
    let entries = log["entries"].as_array().expect("entries");
    let actions: Vec<&str> = entries.iter().map(|e| str_of(e, "action")).collect();
    assert_eq!(actions, ["close", "resume", "update", "pause"], "{log}");
    let update = &entries[2];
    assert_eq!(update["before"]["admission_rate_per_sec"], json!(2.0));
    assert_eq!(update["after"]["hold_seconds"], 120);
    assert!(str_of(update, "actor").starts_with("usr_"));
    // Page by page, the same entries.
    let first = act(
        &api,
        Method::GET,
        &format!("/admin/audit?event_id={id}&limit=3"),
        None,
    )
    .await
    .expect(200);
    let next = str_of(&first, "next").to_string();
    let rest = act(
        &api,
        Method::GET,
        &format!(
            "/admin/audit?event_id={id}&limit=3&before={}",
            next.replace('#', "%23")
        ),
        None,
    )
    .await
    .expect(200);
    assert_eq!(rest["entries"][0]["action"], "pause", "{rest}");
}

#[tokio::test]
async fn only_administrators_may_operate_a_sale() {
    let api = Api::new();
    let event = api.ga_event(10, 1_000, 5.0).await;
    let id = str_of(&event, "event_id").to_string();
    let buyer = api.register().await;
    let routes = [
        (Method::POST, format!("/admin/events/{id}/pause")),
        (Method::POST, format!("/admin/events/{id}/resume")),
        (Method::POST, format!("/admin/events/{id}/close")),
        (Method::PATCH, format!("/admin/events/{id}")),
        (Method::GET, "/admin/audit".to_string()),
    ];
    for (method, path) in &routes {
        let body = json!({"admission_rate_per_sec": 1});
        api.call(method.clone(), path)
            .json(&body)
            .send()
            .await
            .expect_error(401, "MISSING_AUTHORIZATION");
        api.call(method.clone(), path)
            .bearer(&buyer.token)
            .json(&body)
            .send()
            .await
            .expect_error(403, "FORBIDDEN");
    }
    act(
        &api,
        Method::POST,
        "/admin/events/evt_no_such_event/pause",
        None,
    )
    .await
    .expect_error(404, "EVENT_NOT_FOUND");
    for bad in [
        json!({}),
        json!({"hold_seconds": 1}),
        json!({"admission_rate_per_sec": -3}),
        // A setting named is a value: null is not "leave it", the document's schema has no null.
        json!({"admission_rate_per_sec": null, "hold_seconds": 90}),
        json!({"hold_seconds": null, "admission_rate_per_sec": 20}),
        json!({"join_challenge_bits": null, "hold_seconds": 90}),
        json!({"on_sale_at": null, "hold_seconds": 90}),
    ] {
        act(
            &api,
            Method::PATCH,
            &format!("/admin/events/{id}"),
            Some(bad),
        )
        .await
        .expect_error(400, "INVALID_REQUEST");
    }
    act(&api, Method::GET, "/admin/audit?limit=0", None)
        .await
        .expect_error(400, "INVALID_REQUEST");
    // Nothing above changed the sale.
    let shown = api.get(&format!("/events/{id}")).send().await.expect(200);
    assert_eq!(shown["sale"]["state"], "open", "{shown}");
    assert!(shown["sale"].get("changed_at").is_none(), "{shown}");
}

/// A body's `user_id` names the caller or is refused (contract v1.1), on the actions that need no
/// body as on every other route: pause, resume and close ignored one naming someone else and
/// acted, where cancelling a reservation (no body either) refused it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sale_action_whose_body_names_another_user_is_refused_and_changes_nothing() {
    let api = Api::new();
    let event = api.ga_event(10, 1_000, 5.0).await;
    let id = str_of(&event, "event_id").to_string();
    let someone = api.register().await;
    for action in ["pause", "close", "resume"] {
        act(
            &api,
            Method::POST,
            &format!("/admin/events/{id}/{action}"),
            Some(json!({"user_id": someone.user_id})),
        )
        .await
        .expect_error(403, "FORBIDDEN");
    }
    let shown = api.get(&format!("/events/{id}")).send().await.expect(200);
    assert_eq!(shown["sale"]["state"], "open", "{shown}");
    assert!(shown["sale"].get("changed_at").is_none(), "{shown}");
    // A body that is not JSON, or names nobody, is still no business of these routes.
    let paused = act(
        &api,
        Method::POST,
        &format!("/admin/events/{id}/pause"),
        Some(json!({"reason": "doors jammed", "user_id": null})),
    )
    .await
    .expect(200);
    assert_eq!(paused["state"], "paused", "{paused}");
}
