//! What a browser or an operator sees before buying anything.
//!
//! Proves that the deployment reports itself healthy, ready and versioned; that the event list is
//! sorted soonest first; that an event reads back as it was created (seated and general
//! admission); that availability has the contract's shape; and that the seeded demo event exists
//! and can be queued for.

use serde_json::{json, Value};

use crate::client::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_readiness_and_version() {
    let api = Api::new();
    // At the root of the host, like the original gateway, and (docs/openapi.yaml) under /api/v1.
    let api_v1 = api.t.api("");
    for base in [api.t.base_url.as_str(), api_v1.as_str()] {
        api.get(&format!("{base}/healthz")).send().await.expect(200);
        api.get(&format!("{base}/readyz")).send().await.expect(200);
        let v = api.get(&format!("{base}/version")).send().await.expect(200);
        assert!(
            v["version"].as_str().is_some_and(|s| !s.is_empty()),
            "version: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_are_listed_soonest_first() {
    let api = Api::new();
    let mut ids = Vec::new();
    for days in [40, 10, 25] {
        let mut body = seated_body(&[("A", 1, 2)], 1000, 10.0);
        body["starts_at"] = json!(starts_in_days(days));
        ids.push((
            days,
            api.create_event(&body).await["event_id"]
                .as_str()
                .unwrap()
                .to_string(),
        ));
    }
    let list = api.get("/events").send().await.expect(200);
    let events = list["events"]
        .as_array()
        .unwrap_or_else(|| panic!("events: {list}"));
    let starts: Vec<_> = events.iter().map(|e| parse_time(&e["starts_at"])).collect();
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "soonest first: {starts:?}"
    );
    let index = |id: &str| {
        events
            .iter()
            .position(|e| e["event_id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed"))
    };
    let (i40, i10, i25) = (index(&ids[0].1), index(&ids[1].1), index(&ids[2].1));
    assert!(
        i10 < i25 && i25 < i40,
        "ours in order 10, 25, 40 days: {i10} {i25} {i40}"
    );
    for e in events {
        for k in [
            "event_id",
            "name",
            "venue",
            "starts_at",
            "currency",
            "price",
            "total",
            "sections",
        ] {
            assert!(!e[k].is_null(), "listed event lacks {k}: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_reads_back_as_created() {
    let api = Api::new();
    let mut body = seated_body(&[("A", 2, 5), ("B1", 1, 3)], 4550, 12.5);
    body["max_per_order"] = json!(6);
    body["currency"] = json!("EUR");
    let created = api.create_event(&body).await;
    let id = str_of(&created, "event_id");
    let got = api.get(&format!("/events/{id}")).send().await.expect(200);
    assert_eq!(got, created, "GET returns what POST returned");
    assert_eq!(got["name"], body["name"]);
    assert_eq!(got["venue"], body["venue"]);
    assert_eq!(
        parse_time(&got["starts_at"]),
        parse_time(&body["starts_at"])
    );
    assert_eq!(got["currency"], "EUR");
    assert_eq!(got["price"], 4550);
    assert_eq!(got["total"], 13);
    assert_eq!(got["kind"], "seated");
    assert_eq!(got["max_per_order"], 6);
    assert_eq!(got["admission_rate_per_sec"].as_f64(), Some(12.5));
    let sections = got["sections"]
        .as_array()
        .unwrap_or_else(|| panic!("sections: {got}"));
    assert_eq!(sections.len(), 2, "{got}");
    assert_eq!(sections[0]["name"], "A");
    assert_eq!(sections[1]["name"], "B1");

    let ga = api.ga_event(1234, 999, 5.0).await;
    let got = api
        .get(&format!("/events/{}", str_of(&ga, "event_id")))
        .send()
        .await
        .expect(200);
    assert_eq!(got["kind"], "general_admission", "{got}");
    assert_eq!(got["total"], 1234);
    assert_eq!(got["sections"], json!([]));
    assert_eq!(got["price"], 999);
}

/// The fields of an event object, as `docs/openapi.yaml` (schema `Event`) names them: a client
/// written against the document meets nothing else.
const EVENT_FIELDS: &[&str] = &[
    "event_id",
    "name",
    "venue",
    "starts_at",
    "currency",
    "price",
    "total",
    "sections",
    "kind",
    "admission_rate_per_sec",
    "max_per_order",
    "on_sale_at",
    "currency_minor_unit",
    "sale",
];

/// An event shows what the document names and nothing of how the store keeps it: its stock's
/// sharding (`stock_shards`) was sent on every event, created, read or listed, though no client
/// can use it and the document does not name it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_shows_only_the_documents_fields() {
    let api = Api::new();
    let created = api.seated_event(&[("A", 1, 2)], 1000, 10.0).await;
    let id = str_of(&created, "event_id");
    let read = api.get(&format!("/events/{id}")).send().await.expect(200);
    let list = api.get("/events").send().await.expect(200);
    let listed = list["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["event_id"] == id))
        .unwrap_or_else(|| panic!("{id} not listed: {list}"))
        .clone();
    for (how, event) in [("created", &created), ("read", &read), ("listed", &listed)] {
        let fields = event
            .as_object()
            .unwrap_or_else(|| panic!("{how}: {event}"));
        let unnamed: Vec<&String> = fields
            .keys()
            .filter(|k| !EVENT_FIELDS.contains(&k.as_str()))
            .collect();
        assert!(
            unnamed.is_empty(),
            "{how}: fields the document does not name: {unnamed:?} in {event}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn availability_has_the_contract_shape() {
    let api = Api::new();
    let event = api.seated_event(&[("C", 2, 3)], 1000, 10.0).await;
    let id = str_of(&event, "event_id");
    let av = api.availability(id).await;
    assert_eq!(av["event_id"], id);
    assert_eq!(counts(&av), (6, 6, 0, 0));
    let seats = av["seats"].as_array().unwrap();
    for s in seats {
        assert!(
            s["seat_id"].as_str().is_some_and(|x| x.starts_with("C-")),
            "{s}"
        );
        assert_eq!(s["status"], "AVAILABLE");
    }
    let mut ids: Vec<&str> = seats
        .iter()
        .map(|s| s["seat_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["C-1", "C-2", "C-3", "C-4", "C-5", "C-6"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_event_exists_and_can_be_queued_for() {
    let api = Api::new();
    let list = api.get("/events").send().await.expect(200);
    let events = list["events"]
        .as_array()
        .unwrap_or_else(|| panic!("events: {list}"));
    // Events this suite creates are named "Seated show …" / "GA festival …"; the demo is not.
    let demo: Vec<&Value> = events
        .iter()
        .filter(|e| {
            let n = e["name"].as_str().unwrap_or("");
            !n.starts_with("Seated show ") && !n.starts_with("GA festival ")
        })
        .collect();
    assert!(!demo.is_empty(), "no demo event in {list}");
    let demo = demo[0];
    let id = str_of(demo, "event_id");
    let av = api.availability(id).await;
    let (total, ..) = counts(&av);
    assert!(total > 0, "{av}");
    let joined = api.join(id, None).await;
    let s = api.status(str_of(&joined, "waiting_token")).await;
    assert_eq!(s["event_id"], id);
}
