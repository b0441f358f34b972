//! An opening time on any deployment (issue 16, item 1): joins before it answer `lobby` with the
//! time left, the draw's commitment is published before the opening and its seed after, everyone
//! in the lobby gets a distinct place, later joins queue behind them, and an implementation that
//! shares no code with the platform (`scripts/verify_draw.py`) recomputes every place from what
//! `GET /queue/draw` publishes.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::*;

/// Seconds from now, as RFC 3339.
fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

async fn draw(api: &Api, id: &str) -> Value {
    api.get(&format!("/queue/draw?event_id={id}"))
        .send()
        .await
        .expect(200)
}

/// A page of the draw asked for with a cursor or a size that is not one (empty included) is
/// refused, as the document's pattern and range refuse it: it is not read as "from the start"
/// or "the most". schemathesis found the empty cursor answered 200.
#[tokio::test]
async fn a_draw_page_with_a_cursor_or_size_that_is_not_one_is_refused() {
    let api = Api::new();
    let event = api.create_event(&ga_body(10, 1_000, 1.0)).await;
    let id = str_of(&event, "event_id");
    assert_eq!(draw(&api, id).await["status"], "none");
    for query in [
        "after=",
        "after=%2B1.2",
        "after=1",
        "after=1.2.3",
        "limit=",
        "limit=0",
        "limit=1001",
    ] {
        api.get(&format!("/queue/draw?event_id={id}&{query}"))
            .send()
            .await
            .expect_error(400, "INVALID_REQUEST");
    }
    let page = api
        .get(&format!("/queue/draw?event_id={id}&after=0.0&limit=1"))
        .send()
        .await
        .expect(200);
    assert_eq!(page["entries"], json!([]), "{page}");
}

#[tokio::test]
async fn a_lobby_is_drawn_at_the_opening_and_the_draw_checks_out() {
    let api = Api::new();
    let opens = 5;
    let mut body = ga_body(200, 1_000, 1.0);
    body["on_sale_at"] = json!(in_secs(opens));
    let event = api.create_event(&body).await;
    let id = str_of(&event, "event_id").to_string();
    assert!(event["on_sale_at"].is_string(), "{event}");
    assert_eq!(event["sale"]["on_sale_at"], event["on_sale_at"], "{event}");

    let mut tokens = Vec::new();
    for _ in 0..12 {
        let joined = api.join(&id, None).await;
        assert_eq!(joined["status"], "lobby", "{joined}");
        assert_eq!(joined["position_hint"], 0, "{joined}");
        assert!(joined["opens_in_sec"]
            .as_u64()
            .is_some_and(|s| (1..=5).contains(&s)));
        tokens.push(str_of(&joined, "waiting_token").to_string());
    }
    let status = api.status(&tokens[0]).await;
    assert_eq!(status["status"], "lobby", "{status}");
    assert!(status["opens_in_sec"].as_u64().is_some(), "{status}");
    let entered = api.enter_raw(&tokens[0], Some(&api.register().await)).await;
    assert_eq!(
        entered.json["error"]["code"], "NOT_READY",
        "not admitted before the opening: {}",
        entered.json
    );

    let before = draw(&api, &id).await;
    assert_eq!(before["status"], "scheduled", "{before}");
    assert!(before.get("seed").is_none(), "{before}");
    let commitment = str_of(&before, "seed_sha256").to_string();
    assert_eq!(before["entries"].as_array().map(Vec::len), Some(12));

    // The opening time cannot be given as anything but a time; moved, the event shows it.
    let admin = api.admin_token().await;
    let sooner = in_secs(opens - 1);
    let moved = api
        .call(Method::PATCH, &format!("/admin/events/{id}"))
        .bearer(&admin)
        .json(&json!({"on_sale_at": sooner}))
        .send()
        .await
        .expect(200);
    let shown = api.get(&format!("/events/{id}")).send().await.expect(200);
    assert_eq!(shown["on_sale_at"], moved["on_sale_at"], "{shown}");
    assert_eq!(shown["sale"]["on_sale_at"], moved["on_sale_at"], "{shown}");
    api.call(Method::PATCH, &format!("/admin/events/{id}"))
        .bearer(&admin)
        .json(&json!({"on_sale_at": "tomorrow"}))
        .send()
        .await
        .expect(400);

    tokio::time::sleep(Duration::from_secs(opens as u64 + 1)).await;
    let mut positions = Vec::new();
    for token in &tokens {
        let status = api.status(token).await;
        assert!(
            status["status"] == "waiting" || status["status"] == "ready",
            "{status}"
        );
        positions.push(status);
    }
    let after = draw(&api, &id).await;
    assert_eq!(after["status"], "drawn", "{after}");
    assert_eq!(after["seed_sha256"], commitment.as_str());
    assert_eq!(after["lobby_size"], 12);

    // A later join queues behind the whole lobby.
    let late = api.join(&id, None).await;
    assert_eq!(late["status"], "waiting", "{late}");
    let late = api.status(str_of(&late, "waiting_token")).await;
    assert!(late["position"].as_u64().unwrap() >= 12, "{late}");

    // An independent implementation recomputes each person's drawn place.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/verify_draw.py");
    let output = std::process::Command::new("python3")
        .args([script, api.base_url(), &id])
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{output:?}");
    let verified: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(verified["ok"], true, "{verified}");
    let mut places: Vec<u64> = Vec::new();
    for token in &tokens {
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
        places.push(verified["places"][&hash].as_u64().expect("a drawn place"));
    }
    let mut sorted = places.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=12).collect::<Vec<u64>>(), "{verified}");
    // Whoever the draw put first is admitted first (1 a second): a drawn place of 1 is ready
    // within a few seconds, and nobody waiting is ahead of them.
    let first = &tokens[places.iter().position(|&p| p == 1).unwrap()];
    api.wait_ready(first, Duration::from_secs(10)).await;
    for (token, place) in tokens.iter().zip(&places) {
        let status = api.status(token).await;
        if status["status"] == "waiting" {
            assert!(*place > 1, "{status}");
        }
    }

    // The opening has passed: it cannot move any more.
    let moved = api
        .call(Method::PATCH, &format!("/admin/events/{id}"))
        .bearer(&admin)
        .json(&json!({"on_sale_at": in_secs(600)}))
        .send()
        .await
        .expect(409);
    assert_eq!(moved["error"]["code"], "INVALID_STATE", "{moved}");
}
