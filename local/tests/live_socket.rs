//! `GET /api/v1/live` on the embedded server, through a real WebSocket client: the frames a
//! browser in line receives, and the handshakes refused like API Gateway's `$connect`.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use tacos_core::config::Config;
use tokio_tungstenite::tungstenite::{self, Message};

/// The embedded server with its demo events, on an ephemeral port; its base address.
async fn server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::for_tests();
    config.seed_demo_event = true;
    config.demo_admission_rate = 0.01; // nobody is admitted while the test watches the line
    let web = tacos_webapp::Settings::new(None, None).expect("no web settings to get wrong");
    tokio::spawn(tacos_local::serve(
        listener,
        config,
        tacos_embedded::EmbeddedSettings::memory(),
        tacos_http::settings::HttpSettings::defaults(),
        web,
        std::future::pending(),
    ));
    format!("127.0.0.1:{}", addr.port())
}

async fn join(addr: &str) -> String {
    let joined: Value = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/queue/join"))
        .header(
            "Idempotency-Key",
            tacos_core::ids::random_uuid().to_string(),
        )
        .json(&json!({ "event_id": "evt_demo" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    joined["waiting_token"].as_str().unwrap().to_string()
}

async fn get(addr: &str, path: &str) -> Value {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_browser_in_line_is_pushed_availability_and_its_position() {
    let addr = server().await;
    let _ahead = join(&addr).await;
    let token = join(&addr).await;
    let url = format!("ws://{addr}/api/v1/live?event_id=evt_demo&token={token}");
    let (mut socket, response) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(response.status(), 101);

    let mut seen: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    // Two ticks' worth: each tick sends an availability frame, then the queue frame.
    while seen.len() < 4 {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("frames every 2 s")
            .expect("the server keeps the connection open")
            .unwrap();
        match frame {
            Message::Text(text) => seen.push(serde_json::from_str(&text).unwrap()),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
    let kinds: Vec<&str> = seen.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["availability", "queue", "availability", "queue"]);

    let availability = get(&addr, "/api/v1/events/evt_demo/availability").await;
    assert_eq!(
        seen[2]["data"], availability,
        "the availability route's answer, as is"
    );
    assert_eq!(seen[2]["data"]["total"], 120);
    let status = get(&addr, &format!("/api/v1/queue/status?token={token}")).await;
    assert_eq!(seen[3]["data"]["event_id"], "evt_demo");
    assert_eq!(
        seen[3]["data"]["position"], 2,
        "behind the one who joined first"
    );
    assert_eq!(seen[3]["data"]["position"], status["position"]);
    assert_eq!(seen[3]["data"]["status"], "waiting");

    socket.close(None).await.unwrap();
}

/// The refusal of a handshake: its status and the contract's error code in its body.
async fn refused(url: String) -> (u16, Value) {
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            (
                response.status().as_u16(),
                serde_json::from_slice(&body).unwrap(),
            )
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("the handshake was accepted"),
    }
}

#[tokio::test]
async fn unknown_events_and_tokens_are_refused_before_the_upgrade() {
    let addr = server().await;
    let (status, body) = refused(format!("ws://{addr}/api/v1/live?event_id=evt_nope")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("EVENT_NOT_FOUND"))
    );
    let (status, body) = refused(format!(
        "ws://{addr}/api/v1/live?event_id=evt_demo&token=wtkn_nope"
    ))
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("TOKEN_NOT_FOUND"))
    );
    let (status, body) = refused(format!("ws://{addr}/api/v1/live")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("MISSING_EVENT_ID"))
    );

    let plain = reqwest::get(format!("http://{addr}/api/v1/live?event_id=evt_demo"))
        .await
        .unwrap();
    assert_eq!(plain.status(), 400, "a plain GET is told to upgrade");
    assert!(plain.headers().contains_key("x-trace-id"));
    for (name, value) in tacos_http::SECURITY_HEADERS {
        assert_eq!(
            plain.headers()[*name],
            *value,
            "the API's {name}, as on every route"
        );
    }
    let body: Value = plain.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_REQUEST");

    // A watcher without a token gets availability only.
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/live?event_id=evt_demo_ga"))
            .await
            .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(4), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let frame: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    assert_eq!(frame["type"], "availability");
    assert_eq!(frame["data"]["event_id"], "evt_demo_ga");
    assert_eq!(
        frame["data"]["seats"],
        json!([]),
        "general admission has no seat map"
    );
}
