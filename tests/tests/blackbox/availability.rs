//! The seat map kept live: `GET /events/{id}/availability/stream` pushes the event's availability
//! (the JSON of `GET /events/{id}/availability`) as server-sent events, one at once and then about
//! every 2 s. The suite reads it as a browser's `EventSource` does, reconnecting when the server
//! ends the stream: the Lambda functions answer one event per request (API Gateway buffers
//! responses) and ask for the reconnection with `retry: 2000`; the embedded server and the
//! container keep the connection open.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::*;
use crate::limits::assert_security_headers;

fn availability_of(event: &SseEvent) -> Value {
    assert_eq!(event.name, "availability", "{event:?}");
    serde_json::from_str(&event.data).unwrap_or_else(|e| panic!("{event:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_availability_is_pushed_every_two_seconds_and_shows_a_new_hold() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 10)], 1500, 50.0).await;
    let event_id = str_of(&event, "event_id");
    let url = api
        .t
        .api(&format!("/events/{event_id}/availability/stream"));
    let (mut feed, headers) = EventSource::open(&api, url.clone()).await;
    let opened = Resp {
        status: reqwest::StatusCode::OK,
        headers,
        body: Vec::new(),
        json: Value::Null,
        what: format!("GET {url}"),
    };
    assert_security_headers(&opened);

    // At once: the same document as the plain read.
    let first = feed
        .next(Duration::from_secs(5))
        .await
        .expect("the first event at once");
    let pushed = availability_of(&first);
    assert_eq!(pushed["event_id"], event_id, "{pushed}");
    assert_eq!(counts(&pushed), (10, 10, 0, 0));
    assert_eq!(pushed, api.availability(event_id).await);
    assert_eq!(
        feed.retry,
        Some(Duration::from_secs(2)),
        "each event asks for reconnection after 2 s"
    );

    // About 2 s later, the next one (on the same connection, or the next).
    let second = feed
        .next(Duration::from_secs(6))
        .await
        .expect("a second event");
    let gap = second.at - first.at;
    assert!(
        gap >= Duration::from_millis(1500) && gap <= Duration::from_secs(5),
        "events {gap:?} apart (about 2 s expected)"
    );
    availability_of(&second);

    // A hold shows in the feed within one interval or two.
    let buyer = api.register().await;
    api.hold_seats(&buyer, event_id, &["A-3"]).await;
    let deadline = Instant::now() + Duration::from_secs(8);
    let held = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = feed
            .next(left)
            .await
            .expect("an event showing the hold within 8 s");
        let pushed = availability_of(&event);
        if seat_status(&pushed, "A-3") == "HELD" {
            break pushed;
        }
    };
    assert_eq!(counts(&held), (10, 9, 1, 0), "{held}");
    eprintln!(
        "availability stream: {} connection(s) for the events read",
        feed.connections
    );
}

#[tokio::test]
async fn an_unknown_event_has_no_stream() {
    let api = Api::new();
    api.get("/events/evt_nowhere/availability/stream")
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect_error(404, "EVENT_NOT_FOUND");
}
