//! Every refusal is clear, correct and traceable.
//!
//! Proves that each error code of the contract and of `docs/api-decisions.md` is answered with the
//! right status in the situation a client would meet it, with the body
//! `{"error":{"code","message","trace_id"}}` (non-empty trace id, equal to the `X-Trace-Id`
//! header); that a `traceparent` request header's trace id is used; that validation messages name
//! the offending field; that nothing a client sends yields a 5xx; that forged tokens (garbage,
//! tampered, expired, wrong signature, `alg: none`) never get in; that webhooks must be signed and
//! fresh and a replayed webhook id is acknowledged and ignored; that other users' reservations and
//! payments are invisible (404); that one approved payment cannot confirm a second hold; and that
//! CORS preflights are answered with the allowed headers.
//! (`RESERVATION_EXPIRED` is proven in `expiry.rs`, `INVALID_STATE` in `cancel.rs`/`expiry.rs`.)

use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_routes_and_methods() {
    let api = Api::new();
    api.get("/definitely-not-a-route")
        .send()
        .await
        .expect_error(404, "NOT_FOUND");
    api.post("/teleport/now")
        .json(&json!({}))
        .send()
        .await
        .expect_error(404, "NOT_FOUND");
    api.root(Method::GET, "/no/such/page")
        .send()
        .await
        .expect_error(404, "NOT_FOUND");
    api.call(Method::PUT, "/events")
        .json(&json!({}))
        .send()
        .await
        .expect_error(405, "METHOD_NOT_ALLOWED");
    api.call(Method::PATCH, "/auth/login")
        .json(&json!({}))
        .send()
        .await
        .expect_error(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_json_and_missing_fields_name_the_field() {
    let api = Api::new();
    api.post("/auth/register")
        .raw("{\"username\": ")
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    api.post("/auth/register")
        .raw("[1,2,3]")
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");

    let name = unique("nopass");
    let e = api
        .post("/auth/register")
        .json(&json!({"username": name}))
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(
        str_of(&e, "message").contains("password"),
        "message names the field: {e}"
    );
    let e = api
        .post("/auth/register")
        .json(&json!({"username": name, "password": "a"}))
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(
        str_of(&e, "message").contains("password"),
        "weak password: {e}"
    );
    let e = api
        .post("/auth/register")
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(str_of(&e, "message").contains("username"), "{e}");
    let e = api
        .post("/auth/register")
        .json(&json!({"username": 42, "password": PASSWORD}))
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(
        str_of(&e, "message").contains("username"),
        "wrong type: {e}"
    );
    let e = api
        .post("/auth/login")
        .json(&json!({"username": name}))
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(str_of(&e, "message").contains("password"), "{e}");
    // The refused registrations created nobody.
    api.register_as(&name).await.expect(201);

    let user = api.register().await;
    let e = api
        .post("/reservations")
        .bearer(&user.token)
        .idem()
        .json(&json!({"event_id": "evt_x", "quantity": 1}))
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(str_of(&e, "message").contains("reservation_token"), "{e}");
    let e = api
        .post("/payments/process")
        .bearer(&user.token)
        .idem()
        .json(&json!({}))
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(str_of(&e, "message").contains("payment_intent_id"), "{e}");
}

/// serde reads a struct from a JSON array, its elements taken as the fields in order: an array
/// whose elements fit registered an account, logged in, held seats (a hostile client's probe),
/// and a one-element array read as `user_id` was 403 rather than 400. Every body of the contract
/// is an object; anything else is 400 and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_that_is_not_an_object_is_refused_even_when_its_elements_fit() {
    let api = Api::new();
    let name = unique("arr");
    api.post("/auth/register")
        .raw(json!([name, PASSWORD, null, null]).to_string())
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    api.register_as(&name).await.expect(201);
    api.post("/auth/login")
        .raw(json!([name, PASSWORD]).to_string())
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    let e = api
        .post("/queue/join")
        .idem()
        .raw(r#"["evt_demo"]"#)
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(str_of(&e, "message").contains("object"), "{e}");
    let user = api.register().await;
    let event = api.seated_event(&[("A", 1, 4)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let token = api.admit(event_id, &user).await;
    api.post("/reservations")
        .bearer(&user.token)
        .idem()
        .raw(json!([event_id, ["A-1"], 1, token]).to_string())
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert_eq!(counts(&api.availability(event_id).await), (4, 4, 0, 0));
    // Leading whitespace is still an object.
    api.post("/auth/login")
        .raw(format!(
            " \n{}",
            json!({"username": name, "password": PASSWORD})
        ))
        .send()
        .await
        .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_event_validation_names_the_field() {
    let api = Api::new();
    let good = seated_body(&[("A", 1, 5)], 1000, 10.0);
    let cases: Vec<(&str, Value)> = vec![
        ("name", {
            let mut b = good.clone();
            b.as_object_mut().unwrap().remove("name");
            b
        }),
        ("venue", {
            let mut b = good.clone();
            b.as_object_mut().unwrap().remove("venue");
            b
        }),
        ("starts_at", {
            let mut b = good.clone();
            b["starts_at"] = json!("next tuesday");
            b
        }),
        // Read by the parser, but not RFC 3339 (four-digit years): refused, not stored and
        // answered back as sent.
        ("starts_at", {
            let mut b = good.clone();
            b["starts_at"] = json!("+10000-01-01T00:00:00Z");
            b
        }),
        ("on_sale_at", {
            let mut b = good.clone();
            b["on_sale_at"] = json!("+10000-01-01T00:00:00Z");
            b
        }),
        ("price", {
            let mut b = good.clone();
            b["price"] = json!(0);
            b
        }),
        ("price", {
            let mut b = good.clone();
            b["price"] = json!("ten dollars");
            b
        }),
        ("currency", {
            let mut b = good.clone();
            b["currency"] = json!("usd");
            b
        }),
        ("admission_rate_per_sec", {
            let mut b = good.clone();
            b["admission_rate_per_sec"] = json!(0);
            b
        }),
        ("max_per_order", {
            let mut b = good.clone();
            b["max_per_order"] = json!(11);
            b
        }),
        ("capacity", {
            let mut b = ga_body(10, 1000, 10.0);
            b["capacity"] = json!(0);
            b
        }),
        ("capacity", {
            let mut b = ga_body(10, 1000, 10.0);
            b["capacity"] = json!(1_000_001);
            b
        }),
        ("sections", {
            let mut b = good.clone();
            b["capacity"] = json!(10);
            b
        }),
        ("sections", {
            let mut b = good.clone();
            b.as_object_mut().unwrap().remove("sections");
            b
        }),
        ("section", {
            let mut b = good.clone();
            b["sections"] = json!([{"name": "A", "rows": 1, "seats_per_row": 2}, {"name": "A", "rows": 1, "seats_per_row": 2}]);
            b
        }),
        ("section", {
            let mut b = good.clone();
            b["sections"] = json!([{"name": "no spaces!", "rows": 1, "seats_per_row": 2}]);
            b
        }),
        // Seats `VIP-1-1` and `vip-1-1` side by side are one seat to whoever reads a ticket.
        ("section", {
            let mut b = good.clone();
            b["sections"] = json!([{"name": "VIP", "rows": 1, "seats_per_row": 2}, {"name": "vip", "rows": 1, "seats_per_row": 2}]);
            b
        }),
    ];
    for (field, body) in cases {
        let r = api.create_event_raw(&body).await;
        let e = r.expect_error(400, "INVALID_REQUEST");
        let msg = str_of(&e, "message");
        // "exactly one of sections / capacity" may name either field.
        let named = msg.contains(field) || (field == "sections" && msg.contains("capacity"));
        assert!(named, "message must name `{field}`: {msg} (body {body})");
    }
    // Defaults of an accepted minimal body.
    let mut b = good.clone();
    b.as_object_mut().unwrap().remove("currency");
    b.as_object_mut().unwrap().remove("admission_rate_per_sec");
    let e = api.create_event(&b).await;
    assert_eq!(e["currency"], "USD", "{e}");
    assert_eq!(e["max_per_order"], 4, "{e}");
    assert_eq!(e["admission_rate_per_sec"].as_f64(), Some(50.0), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservation_request_validation() {
    let api = Api::new();
    let seated = api.seated_event(&[("A", 1, 10)], 1000, 100.0).await;
    let sid = str_of(&seated, "event_id");
    let ga = api.ga_event(10, 1000, 100.0).await;
    let gid = str_of(&ga, "event_id");
    let user = api.register().await;
    let rt_seated = api.admit(sid, &user).await;
    let rt_ga = api.admit(gid, &user).await;

    let bad = |body: Value, needle: &'static str| {
        let api = &api;
        let user = &user;
        async move {
            let e = api
                .reserve_raw(user, &body)
                .await
                .expect_error(400, "INVALID_REQUEST");
            // `a|b`: either name is fine (for a seated event the seat count is the quantity).
            assert!(
                needle.split('|').any(|n| str_of(&e, "message").contains(n)),
                "message must name `{needle}`: {e} (body {body})"
            );
        }
    };
    bad(
        json!({"event_id": sid, "quantity": 1, "reservation_token": rt_seated}),
        "seat_ids",
    )
    .await;
    bad(
        json!({"event_id": sid, "seat_ids": [], "reservation_token": rt_seated}),
        "seat_ids",
    )
    .await;
    bad(json!({"event_id": sid, "seat_ids": ["A-1", "A-2"], "quantity": 3, "reservation_token": rt_seated}), "quantity").await;
    bad(
        json!({"event_id": sid, "seat_ids": ["A-1", "Z-99"], "reservation_token": rt_seated}),
        "Z-99",
    )
    .await;
    bad(
        json!({"event_id": sid, "seat_ids": ["A-11"], "reservation_token": rt_seated}),
        "A-11",
    )
    .await;
    bad(
        json!({"event_id": sid, "seat_ids": ["A-1", "A-1"], "reservation_token": rt_seated}),
        "seat_ids",
    )
    .await;
    bad(
        json!({"event_id": sid, "seat_ids": ["A-1", "A-2", "A-3", "A-4", "A-5"], "reservation_token": rt_seated}),
        "seat_ids|quantity",
    )
    .await;
    bad(
        json!({"event_id": gid, "quantity": 0, "reservation_token": rt_ga}),
        "quantity",
    )
    .await;
    bad(
        json!({"event_id": gid, "quantity": 5, "reservation_token": rt_ga}),
        "quantity",
    )
    .await;
    bad(
        json!({"event_id": gid, "reservation_token": rt_ga}),
        "quantity",
    )
    .await;

    // None of those consumed the tokens.
    let a = api
        .reserve_seats(&user, sid, &["A-1", "A-2", "A-3", "A-4"], &rt_seated)
        .await
        .expect(201);
    assert_eq!(a["quantity"], 4);
    let b = api.reserve_qty(&user, gid, 4, &rt_ga).await.expect(201);
    assert_eq!(b["quantity"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn body_over_64_kib_is_payload_too_large() {
    let api = Api::new();
    let big = format!(
        "{{\"username\":\"{}\",\"password\":\"{PASSWORD}\"}}",
        "x".repeat(70 * 1024)
    );
    api.post("/auth/register")
        .raw(big.clone())
        .send()
        .await
        .expect_error(413, "PAYLOAD_TOO_LARGE");
    let user = api.register().await;
    let big = json!({"event_id": "evt_x", "padding": "y".repeat(65 * 1024 + 1)});
    api.post("/queue/join")
        .bearer(&user.token)
        .idem()
        .json(&big)
        .send()
        .await
        .expect_error(413, "PAYLOAD_TOO_LARGE");
    // Just under the limit is not refused for its size.
    let small = json!({"event_id": "evt_nope", "padding": "y".repeat(60 * 1024)});
    api.post("/queue/join")
        .bearer(&user.token)
        .idem()
        .json(&small)
        .send()
        .await
        .expect_error(404, "EVENT_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn protected_routes_need_a_bearer_token() {
    let api = Api::new();
    api.get("/reservations/rsv_anything")
        .send()
        .await
        .expect_error(401, "MISSING_AUTHORIZATION");
    api.post("/reservations")
        .idem()
        .json(&json!({"event_id": "evt_x", "quantity": 1, "reservation_token": "rtkn_x"}))
        .send()
        .await
        .expect_error(401, "MISSING_AUTHORIZATION");
    api.post("/payments/intent")
        .idem()
        .json(&json!({"reservation_id": "rsv_x", "amount": 1, "currency": "USD"}))
        .send()
        .await
        .expect_error(401, "MISSING_AUTHORIZATION");
    api.get("/payments/pi_x/status")
        .send()
        .await
        .expect_error(401, "MISSING_AUTHORIZATION");
    api.delete("/reservations/rsv_x")
        .send()
        .await
        .expect_error(401, "MISSING_AUTHORIZATION");
    api.post("/admin/events")
        .json(&seated_body(&[("A", 1, 1)], 100, 1.0))
        .send()
        .await
        .expect_error(401, "MISSING_AUTHORIZATION");
}

/// A JWT with the header and claims of `token`, the claims changed by `edit`, signed by `sign`.
fn forge(
    token: &str,
    header: Option<Value>,
    edit: impl FnOnce(&mut Value),
    sign: impl FnOnce(&str) -> String,
) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let header = match header {
        Some(h) => b64url(&serde_json::to_vec(&h).unwrap()),
        None => parts[0].to_string(),
    };
    let mut claims: Value =
        serde_json::from_slice(&b64url_decode(parts[1])).expect("JWT claims are JSON");
    edit(&mut claims);
    let payload = b64url(&serde_json::to_vec(&claims).unwrap());
    let input = format!("{header}.{payload}");
    let sig = sign(&input);
    format!("{input}.{sig}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_and_broken_tokens_are_invalid() {
    let api = Api::new();
    let event = api.ga_event(5, 100, 10.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let real = user.token.clone();
    let original_sig = real.rsplit('.').next().unwrap().to_string();
    let now = Utc::now().timestamp();

    let mut bad: Vec<(&str, String)> = vec![
        ("garbage", "not-a-jwt".into()),
        ("three garbage parts", "aaa.bbb.ccc".into()),
        ("truncated", real[..real.len() - 5].to_string()),
        // The bypass tokens the original gateway shipped: no such thing here.
        (
            "the original's dev bypass",
            "dev-super-key-local-testing".into(),
        ),
        (
            "the original's load-test bypass",
            "load-test-bypass-token".into(),
        ),
    ];
    bad.push((
        "wrong signature",
        forge(&real, None, |_| {}, |i| hs256(b"not-the-server-secret", i)),
    ));
    bad.push((
        "expired (re-signed with a guessed key)",
        forge(
            &real,
            None,
            |c| {
                c["exp"] = json!(now - 3600);
                c["iat"] = json!(now - 7200);
            },
            |i| hs256(b"not-the-server-secret", i),
        ),
    ));
    let sig = original_sig.clone();
    bad.push((
        "expired (claims edited, original signature)",
        forge(&real, None, |c| c["exp"] = json!(now - 3600), move |_| sig),
    ));
    let sig = original_sig.clone();
    bad.push((
        "wrong audience (claims edited)",
        forge(
            &real,
            None,
            |c| c["aud"] = json!("someone-else"),
            move |_| sig,
        ),
    ));
    bad.push((
        "alg none",
        forge(
            &real,
            Some(json!({"alg": "none", "typ": "JWT"})),
            |_| {},
            |_| String::new(),
        ),
    ));
    bad.push((
        "alg None",
        forge(
            &real,
            Some(json!({"alg": "None", "typ": "JWT"})),
            |_| {},
            |_| String::new(),
        ),
    ));

    for (what, token) in &bad {
        let r = api.get("/reservations/rsv_x").bearer(token).send().await;
        assert_eq!(
            r.error_code(),
            Some("INVALID_TOKEN"),
            "{what}: {} {}",
            r.status,
            r.text()
        );
        r.expect_error(401, "INVALID_TOKEN");
        // An Authorization header on join must be valid too.
        api.post("/queue/join")
            .bearer(token)
            .idem()
            .json(&json!({"event_id": event_id}))
            .send()
            .await
            .expect_error(401, "INVALID_TOKEN");
    }
    api.get("/reservations/rsv_x")
        .header("authorization", "Basic YWRtaW46YWRtaW4=")
        .send()
        .await
        .expect_error(401, "INVALID_TOKEN");

    // Promoting oneself to admin with an unsigned or self-signed token creates nothing.
    let promote = |c: &mut Value| {
        c["role"] = json!("admin");
    };
    for token in [
        forge(
            &real,
            Some(json!({"alg": "none", "typ": "JWT"})),
            promote,
            |_| String::new(),
        ),
        forge(&real, None, promote, |i| hs256(b"secret", i)),
    ] {
        let body = seated_body(&[("A", 1, 1)], 100, 1.0);
        api.post("/admin/events")
            .bearer(&token)
            .json(&body)
            .send()
            .await
            .expect_error(401, "INVALID_TOKEN");
    }
    // The genuine token still works.
    api.get("/reservations/rsv_nope")
        .bearer(&real)
        .send()
        .await
        .expect_error(404, "RESERVATION_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn non_admin_cannot_create_events() {
    let api = Api::new();
    let user = api.register().await;
    api.post("/admin/events")
        .bearer(&user.token)
        .json(&seated_body(&[("A", 1, 2)], 100, 1.0))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn register_and_login_errors() {
    let api = Api::new();
    let name = unique("dup");
    let first = api
        .post("/auth/register")
        .json(&json!({"username": name, "password": PASSWORD, "display_name": "Duplicate Dora"}))
        .send()
        .await
        .expect(201);
    assert_eq!(first["username"], name.as_str());
    assert_eq!(first["display_name"], "Duplicate Dora");
    assert_eq!(first["role"], "user");
    assert_eq!(first["expires_in"], 86400);
    assert!(str_of(&first, "user_id").starts_with("usr_"), "{first}");
    assert!(!str_of(&first, "token").is_empty());

    api.register_as(&name)
        .await
        .expect_error(409, "USERNAME_EXISTS");
    api.login(&name, "Wrong-Password-123!")
        .await
        .expect_error(401, "INVALID_CREDENTIALS");
    api.login(&unique("ghost"), PASSWORD)
        .await
        .expect_error(401, "INVALID_CREDENTIALS");
    // An empty field is a request without it (the document's minLength 1), not a wrong guess:
    // an empty password answered 401 INVALID_CREDENTIALS where an empty username was 400.
    for (username, password, field) in [("", PASSWORD, "username"), (name.as_str(), "", "password")]
    {
        let e = api
            .login(username, password)
            .await
            .expect_error(400, "INVALID_REQUEST");
        assert!(str_of(&e, "message").starts_with(field), "{e}");
    }
    // A device token that is not a string is a field of the wrong type, as any other (it was
    // ignored, and the login served; schemathesis found it).
    let e = api
        .post("/auth/login")
        .json(&json!({"username": name, "password": PASSWORD, "device_token": 7}))
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(str_of(&e, "message").contains("device_token"), "{e}");
    let ok = api.login(&name, PASSWORD).await.expect(200);
    assert_eq!(ok["user_id"], first["user_id"]);
    assert_eq!(ok["role"], "user");
    assert_eq!(ok["expires_in"], 86400);
    assert_eq!(ok["display_name"], "Duplicate Dora");
    // This browser's device token, to send with its next login (its own login budget).
    let device = str_of(&ok, "device_token");
    assert!(device.starts_with("dvc_"), "{ok}");
    let again = api
        .post("/auth/login")
        .json(&json!({"username": name, "password": PASSWORD, "device_token": device}))
        .send()
        .await
        .expect(200);
    assert_eq!(again["user_id"], first["user_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_events_and_tokens() {
    let api = Api::new();
    let user = api.register().await;
    api.post("/queue/join")
        .bearer(&user.token)
        .idem()
        .json(&json!({}))
        .send()
        .await
        .expect_error(400, "MISSING_EVENT_ID");
    api.post("/queue/join")
        .idem()
        .json(&json!({}))
        .send()
        .await
        .expect_error(400, "MISSING_EVENT_ID");
    api.post("/queue/join")
        .idem()
        .json(&json!({"event_id": "evt_nope"}))
        .send()
        .await
        .expect_error(404, "EVENT_NOT_FOUND");
    api.get("/events/evt_nope")
        .send()
        .await
        .expect_error(404, "EVENT_NOT_FOUND");
    api.get("/events/evt_nope/availability")
        .send()
        .await
        .expect_error(404, "EVENT_NOT_FOUND");
    api.status_raw("wtkn_nope")
        .await
        .expect_error(404, "TOKEN_NOT_FOUND");
    api.enter_raw("wtkn_nope", Some(&user))
        .await
        .expect_error(404, "TOKEN_NOT_FOUND");
    api.delete("/queue/leave?token=wtkn_nope")
        .send()
        .await
        .expect_error(404, "TOKEN_NOT_FOUND");
    api.reservation_raw(&user, "rsv_nope")
        .await
        .expect_error(404, "RESERVATION_NOT_FOUND");
    api.payment_status_raw(&user, "pi_nope")
        .await
        .expect_error(404, "PAYMENT_NOT_FOUND");
    api.process_raw(&user, "pi_nope", None)
        .await
        .expect_error(404, "PAYMENT_NOT_FOUND");
    api.intent_raw(
        &user,
        &json!({"reservation_id": "rsv_nope", "amount": 100, "currency": "USD"}),
    )
    .await
    .expect_error(404, "RESERVATION_NOT_FOUND");
    api.confirm_raw(&user, "rsv_nope", "pi_nope")
        .await
        .expect_error(404, "RESERVATION_NOT_FOUND");
}

/// A malformed id inside a JSON body is 400 `INVALID_REQUEST` naming the field (the document's
/// convention, and what intent, confirm, process and holds answer): entering and leaving by POST
/// answered 404 `TOKEN_NOT_FOUND` for a `waiting_token` that cannot be one, so a client bug
/// looked like a place that was gone. Nobody leaves, and the well-formed unknown token is still
/// 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_malformed_waiting_token_in_a_body_is_an_invalid_request() {
    let api = Api::new();
    let user = api.register().await;
    for malformed in [
        "rsv_00000000000000000000000000000000",
        "wtkn_!",
        "wtkn_",
        &format!("wtkn_{}", "a".repeat(65)),
    ] {
        let body = json!({"waiting_token": malformed});
        for path in ["/queue/enter", "/queue/leave"] {
            let e = api
                .post(path)
                .bearer(&user.token)
                .idem()
                .json(&body)
                .send()
                .await
                .expect_error(400, "INVALID_REQUEST");
            assert!(
                str_of(&e, "message").starts_with("waiting_token:"),
                "{path} {malformed}: {e}"
            );
        }
    }
    let unknown = json!({"waiting_token": "wtkn_0123456789abcdef0123456789abcdef"});
    for path in ["/queue/enter", "/queue/leave"] {
        api.post(path)
            .bearer(&user.token)
            .idem()
            .json(&unknown)
            .send()
            .await
            .expect_error(404, "TOKEN_NOT_FOUND");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entering_before_your_turn_is_not_ready() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 20)], 1000, 0.2).await;
    let event_id = str_of(&event, "event_id");
    let mut users = Vec::new();
    for _ in 0..6 {
        users.push(api.register().await);
    }
    let mut tokens = Vec::new();
    for u in &users {
        tokens.push(str_of(&api.join(event_id, Some(u)).await, "waiting_token").to_string());
    }
    let last = tokens.last().unwrap();
    let s = api.status(last).await;
    assert_eq!(s["status"], "waiting", "{s}");
    assert_eq!(s["ready_for_entry"], false, "{s}");
    assert!(
        s["position"].as_i64().unwrap() >= 2,
        "people are ahead of the last joiner: {s}"
    );
    api.enter_raw(last, users.last())
        .await
        .expect_error(403, "NOT_READY");
    // Still waiting, still in line.
    assert_eq!(api.status(last).await["status"], "waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entering_needs_an_identity() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 5)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    // Anonymous join, anonymous enter: who would the reservation token belong to?
    let anon = api.join(event_id, None).await;
    let wtkn = str_of(&anon, "waiting_token");
    api.wait_ready(wtkn, Duration::from_secs(30)).await;
    api.enter_raw(wtkn, None)
        .await
        .expect_error(401, "MISSING_AUTHORIZATION");
    // A token joined with a bearer is bound to that account, and only its bearer enters with
    // it: holding the waiting token alone proves nothing.
    let user = api.register().await;
    let joined = api.join(event_id, Some(&user)).await;
    let wtkn = str_of(&joined, "waiting_token");
    api.wait_ready(wtkn, Duration::from_secs(30)).await;
    api.enter_raw(wtkn, None)
        .await
        .expect_error(401, "MISSING_AUTHORIZATION");
    let v = api.enter_raw(wtkn, Some(&user)).await.expect(200);
    let rtkn = str_of(&v, "reservation_token");
    api.reserve_seats(&user, event_id, &["A-1"], rtkn)
        .await
        .expect(201);
    // Entering is for a signed-in caller whatever the token: one that does not exist, or is not
    // a waiting token at all, is the same 401 (it answered 404 `TOKEN_NOT_FOUND`, telling an
    // anonymous caller which tokens exist), and so is one already entered.
    for token in [
        "wtkn_00000000000000000000000000000000",
        "wtkn_x",
        "rsv_00000000000000000000000000000000",
        wtkn,
    ] {
        api.enter_raw(token, None)
            .await
            .expect_error(401, "MISSING_AUTHORIZATION");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservation_tokens_that_are_not_yours_to_use() {
    let api = Api::new();
    let e1 = api.seated_event(&[("A", 1, 10)], 1000, 100.0).await;
    let e1 = str_of(&e1, "event_id").to_string();
    let e2 = api.seated_event(&[("A", 1, 10)], 1000, 100.0).await;
    let e2 = str_of(&e2, "event_id").to_string();
    let (alice, bob) = tokio::join!(api.register(), api.register());
    let rta = api.admit(&e1, &alice).await;

    api.reserve_seats(&alice, &e1, &["A-1"], "rtkn_forged")
        .await
        .expect_error(403, "INVALID_RESERVATION_TOKEN");
    api.reserve_seats(&alice, &e1, &["A-1"], "not-even-a-token")
        .await
        .expect_error(403, "INVALID_RESERVATION_TOKEN");
    let mut tampered = rta.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    api.reserve_seats(&alice, &e1, &["A-1"], &tampered)
        .await
        .expect_error(403, "INVALID_RESERVATION_TOKEN");
    // For another event.
    api.reserve_seats(&alice, &e2, &["A-1"], &rta)
        .await
        .expect_error(403, "INVALID_RESERVATION_TOKEN");
    // Another user's token.
    api.reserve_seats(&bob, &e1, &["A-1"], &rta)
        .await
        .expect_error(403, "INVALID_RESERVATION_TOKEN");
    assert_eq!(counts(&api.availability(&e1).await), (10, 10, 0, 0));
    assert_eq!(counts(&api.availability(&e2).await), (10, 10, 0, 0));

    // None of that used it up; the first hold does.
    api.reserve_seats(&alice, &e1, &["A-1"], &rta)
        .await
        .expect(201);
    api.reserve_seats(&alice, &e1, &["A-2"], &rta)
        .await
        .expect_error(403, "INVALID_RESERVATION_TOKEN");
    assert_eq!(counts(&api.availability(&e1).await), (10, 9, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservation_token_expires_after_its_ttl() {
    let api = Api::new();
    let event = api.ga_event(10, 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let joined = api.join(event_id, Some(&user)).await;
    let wtkn = str_of(&joined, "waiting_token");
    api.wait_ready(wtkn, Duration::from_secs(30)).await;
    let entered = api.enter_raw(wtkn, Some(&user)).await.expect(200);
    let ttl = entered["ttl_sec"].as_u64().expect("ttl_sec");
    assert!(ttl <= 60, "{entered}");
    tokio::time::sleep(Duration::from_secs(ttl) + Duration::from_millis(1500)).await;
    api.reserve_qty(&user, event_id, 1, str_of(&entered, "reservation_token"))
        .await
        .expect_error(403, "INVALID_RESERVATION_TOKEN");
    assert_eq!(counts(&api.availability(event_id).await), (10, 10, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn taken_seats_and_too_few_tickets() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 6)], 1000, 100.0).await;
    let sid = str_of(&event, "event_id");
    let (alice, bob) = tokio::join!(api.register(), api.register());
    let (ra, rb) = tokio::join!(api.admit(sid, &alice), api.admit(sid, &bob));
    api.reserve_seats(&alice, sid, &["A-2", "A-3"], &ra)
        .await
        .expect(201);
    let e = api
        .reserve_seats(&bob, sid, &["A-1", "A-3"], &rb)
        .await
        .expect_error(409, "SEAT_UNAVAILABLE");
    assert_eq!(
        e["seats"],
        json!(["A-3"]),
        "names exactly the taken seat: {e}"
    );
    assert!(str_of(&e, "message").contains("A-3"), "{e}");
    // A-1 was not held by the failed attempt, and the token still works.
    assert_eq!(
        seat_status(&api.availability(sid).await, "A-1"),
        "AVAILABLE"
    );
    api.reserve_seats(&bob, sid, &["A-1"], &rb)
        .await
        .expect(201);

    let ga = api.ga_event(5, 1000, 100.0).await;
    let gid = str_of(&ga, "event_id");
    let (carol, dave) = tokio::join!(api.register(), api.register());
    let (rc, rd) = tokio::join!(api.admit(gid, &carol), api.admit(gid, &dave));
    api.reserve_qty(&carol, gid, 4, &rc).await.expect(201);
    api.reserve_qty(&dave, gid, 2, &rd)
        .await
        .expect_error(409, "INSUFFICIENT_INVENTORY");
    assert_eq!(counts(&api.availability(gid).await), (5, 1, 4, 0));
    api.reserve_qty(&dave, gid, 1, &rd).await.expect(201);
    assert_eq!(counts(&api.availability(gid).await), (5, 0, 5, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payment_errors() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 4)], 1999, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let rsv = api.hold_seats(&user, event_id, &["A-1"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    assert_eq!(rsv["total_amount"], 1999);

    for (amount, currency) in [
        (json!(1998), "USD"),
        (json!(2000), "USD"),
        (json!(-1999), "USD"),
        (json!(0), "USD"),
        (json!(1999), "EUR"),
    ] {
        let body = json!({"reservation_id": rsv_id, "amount": amount, "currency": currency});
        api.intent_raw(&user, &body)
            .await
            .expect_error(400, "INVALID_AMOUNT");
    }
    let body =
        json!({"reservation_id": rsv_id, "amount": 1999, "currency": "USD", "scenario": "explode"});
    let e = api
        .intent_raw(&user, &body)
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(str_of(&e, "message").contains("scenario"), "{e}");

    // A pending payment does not confirm.
    let intent = api.intent(&user, &rsv, None).await;
    let pi = str_of(&intent, "payment_intent_id");
    api.confirm_raw(&user, rsv_id, pi)
        .await
        .expect_error(412, "PAYMENT_NOT_APPROVED");
    let got = api.reservation(&user, rsv_id).await;
    assert_ne!(got["status"], "CONFIRMED", "{got}");
    assert!(got["order_id"].is_null(), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_users_reservations_and_payments_are_invisible() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 4)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let (owner, other) = tokio::join!(api.register(), api.register());
    let rsv = api.hold_seats(&owner, event_id, &["A-1"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    let intent = api.intent(&owner, &rsv, None).await;
    let pi = str_of(&intent, "payment_intent_id");

    api.reservation_raw(&other, rsv_id)
        .await
        .expect_error(404, "RESERVATION_NOT_FOUND");
    api.confirm_raw(&other, rsv_id, pi)
        .await
        .expect_error(404, "RESERVATION_NOT_FOUND");
    let body = json!({"reservation_id": rsv_id, "amount": 1000, "currency": "USD"});
    api.intent_raw(&other, &body)
        .await
        .expect_error(404, "RESERVATION_NOT_FOUND");
    api.payment_status_raw(&other, pi)
        .await
        .expect_error(404, "PAYMENT_NOT_FOUND");
    api.process_raw(&other, pi, None)
        .await
        .expect_error(404, "PAYMENT_NOT_FOUND");
    // The owner's payment was not touched.
    assert_eq!(
        api.payment_status_raw(&owner, pi).await.expect(200)["status"],
        "PENDING"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_must_be_signed_and_fresh() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 4)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let rsv = api.hold_seats(&user, event_id, &["A-1"]).await;
    let intent = api.intent(&user, &rsv, None).await;
    let pi = str_of(&intent, "payment_intent_id");
    let body = serde_json::to_vec(&webhook_body("payment.approved", pi, &rsv)).unwrap();
    let secret = api.t.webhook_secret.clone();
    let now = Utc::now().timestamp();
    let ts = now.to_string();

    let id = unique("wh_");
    let wrong_key = sign_webhook("not-the-secret", &ts, &id, &body);
    api.webhook_with(&id, &ts, &wrong_key, body.clone())
        .await
        .expect_error(401, "INVALID_SIGNATURE");
    let garbage = "sha256=00112233";
    api.webhook_with(&unique("wh_"), &ts, garbage, body.clone())
        .await
        .expect_error(401, "INVALID_SIGNATURE");
    // Signed, but for another body.
    let other_body = serde_json::to_vec(&webhook_body("payment.failed", pi, &rsv)).unwrap();
    let id = unique("wh_");
    let sig_other = sign_webhook(&secret, &ts, &id, &other_body);
    api.webhook_with(&id, &ts, &sig_other, body.clone())
        .await
        .expect_error(401, "INVALID_SIGNATURE");
    // Signed under another id: a captured webhook re-sent under a fresh id to pass as new.
    let captured = sign_webhook(&secret, &ts, &unique("wh_"), &body);
    api.webhook_with(&unique("wh_"), &ts, &captured, body.clone())
        .await
        .expect_error(401, "INVALID_SIGNATURE");
    // Correctly signed but stale or from the future (more than 5 minutes off).
    for off in [-400i64, 400] {
        let ts = (now + off).to_string();
        let id = unique("wh_");
        let sig = sign_webhook(&secret, &ts, &id, &body);
        api.webhook_with(&id, &ts, &sig, body.clone())
            .await
            .expect_error(401, "INVALID_SIGNATURE");
    }
    // Missing headers.
    api.post("/payments/webhook")
        .raw(body.clone())
        .send()
        .await
        .expect_error(401, "INVALID_SIGNATURE");

    // None of them confirmed anything.
    let got = api.reservation(&user, str_of(&rsv, "reservation_id")).await;
    assert_ne!(got["status"], "CONFIRMED", "{got}");
    assert_eq!(
        api.payment_status_raw(&user, pi).await.expect(200)["status"],
        "PENDING"
    );
    assert_eq!(
        counts(&api.availability(event_id).await).3,
        0,
        "nothing sold"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replayed_webhook_id_is_acknowledged_and_ignored() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 4)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let (user, user2) = tokio::join!(api.register(), api.register());
    let r1 = api.hold_seats(&user, event_id, &["A-1"]).await;
    let i1 = api.intent(&user, &r1, None).await;
    let pi1 = str_of(&i1, "payment_intent_id");

    // The provider reports that the payment failed: the hold is cancelled.
    let id = unique("wh_");
    let first = api
        .webhook(&id, &webhook_body("payment.failed", pi1, &r1))
        .await
        .expect(200);
    assert_eq!(first["status"], "accepted", "{first}");
    api.wait_reservation(
        &user,
        str_of(&r1, "reservation_id"),
        "CANCELLED",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        api.payment_status_raw(&user, pi1).await.expect(200)["status"],
        "FAILED",
        "the provider's word is recorded on the payment it released the hold for"
    );
    let dup = api
        .webhook(&id, &webhook_body("payment.failed", pi1, &r1))
        .await
        .expect(200);
    assert_eq!(dup["status"], "duplicate", "{dup}");

    // The same webhook id again, now carrying another reservation's payment: acknowledged, ignored.
    let r2 = api.hold_seats(&user2, event_id, &["A-2"]).await;
    let i2 = api.intent(&user2, &r2, None).await;
    let pi2 = str_of(&i2, "payment_intent_id");
    let dup = api
        .webhook(&id, &webhook_body("payment.failed", pi2, &r2))
        .await
        .expect(200);
    assert_eq!(dup["status"], "duplicate", "{dup}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got2 = api.reservation(&user2, str_of(&r2, "reservation_id")).await;
    assert_eq!(
        got2["status"], "HOLD",
        "a replayed webhook id cancelled another reservation: {got2}"
    );
    let av = api.availability(event_id).await;
    assert_eq!(seat_status(&av, "A-1"), "AVAILABLE");
    assert_eq!(seat_status(&av, "A-2"), "HELD");
    // A fresh webhook id is processed.
    let fresh = api
        .webhook(&unique("wh_"), &webhook_body("payment.failed", pi2, &r2))
        .await
        .expect(200);
    assert_eq!(fresh["status"], "accepted", "{fresh}");
    api.wait_reservation(
        &user2,
        str_of(&r2, "reservation_id"),
        "CANCELLED",
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trace_ids_are_sent_and_traceparent_is_honoured() {
    let api = Api::new();
    let a = api.get("/definitely-not-a-route").send().await;
    let b = api.get("/definitely-not-a-route").send().await;
    let ea = a.expect_error(404, "NOT_FOUND");
    let eb = b.expect_error(404, "NOT_FOUND");
    assert_ne!(
        ea["trace_id"], eb["trace_id"],
        "each request has its own trace id"
    );

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = api
        .get("/events/evt_nope")
        .header("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await;
    let e = r.expect_error(404, "EVENT_NOT_FOUND");
    assert_eq!(e["trace_id"], trace, "the traceparent's trace id is used");
    assert_eq!(r.header("x-trace-id").as_deref(), Some(trace));

    // Successful responses carry a trace id too.
    let ok = api.get("/events").send().await;
    ok.expect(200);
    assert!(
        ok.header("x-trace-id").is_some_and(|t| !t.is_empty()),
        "X-Trace-Id on success"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cors_preflight_is_answered() {
    let api = Api::new();
    for path in ["/reservations", "/queue/join", "/payments/intent"] {
        let r = api
            .call(Method::OPTIONS, path)
            .header("origin", "https://tickets.example.com")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,idempotency-key,x-trace-id,traceparent",
            )
            .send()
            .await;
        assert!(
            r.status.is_success(),
            "preflight {path}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            r.header("access-control-allow-origin").is_some(),
            "allow-origin on {path}: {:?}",
            r.headers
        );
        let methods = r
            .header("access-control-allow-methods")
            .unwrap_or_default()
            .to_ascii_uppercase();
        assert!(
            methods.contains("POST") || methods.contains('*'),
            "allow-methods: {methods}"
        );
        let allowed = r
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for h in [
            "authorization",
            "content-type",
            "idempotency-key",
            "x-trace-id",
            "traceparent",
        ] {
            assert!(
                allowed.contains(h) || allowed.trim() == "*",
                "allow-headers must include {h}: {allowed:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_a_client_sends_causes_a_5xx() {
    let api = Api::new();
    let user = api.register().await;
    let huge = "9".repeat(400);
    let weird: Vec<(Method, String, Option<String>)> = vec![
        (Method::POST, "/auth/register".into(), Some("null".into())),
        (Method::POST, "/auth/register".into(), Some("\"just a string\"".into())),
        (Method::POST, "/auth/login".into(), Some("{\"username\":\"\\u0000\",\"password\":\"\"}".into())),
        (Method::POST, "/auth/register".into(), Some(format!("{{\"username\":\"{}\",\"password\":\"{PASSWORD}\"}}", "é".repeat(300)))),
        (Method::POST, "/queue/join".into(), Some(format!("{{\"event_id\":{huge}}}"))),
        (Method::POST, "/queue/join".into(), Some("{\"event_id\":\"evt_../../etc/passwd\"}".into())),
        (Method::GET, "/queue/status".into(), None),
        (Method::GET, "/queue/status?token=".into(), None),
        (Method::GET, "/queue/status?token=%00%ff".into(), None),
        (Method::DELETE, "/queue/leave".into(), None),
        (Method::POST, "/reservations".into(), Some(format!("{{\"event_id\":\"evt_x\",\"quantity\":{huge},\"reservation_token\":\"rtkn_x\"}}"))),
        (Method::POST, "/reservations".into(), Some("{\"event_id\":\"evt_x\",\"quantity\":-1,\"seat_ids\":[null,1,{}],\"reservation_token\":\"rtkn_x\"}".into())),
        (Method::POST, "/payments/intent".into(), Some(format!("{{\"reservation_id\":\"rsv_x\",\"amount\":{huge},\"currency\":\"USD\"}}"))),
        (Method::POST, "/payments/intent".into(), Some("{\"reservation_id\":\"rsv_x\",\"amount\":1.5,\"currency\":\"USD\"}".into())),
        (Method::GET, "/reservations/%E2%98%83".into(), None),
        (Method::GET, "/events/%00".into(), None),
        (Method::POST, "/payments/webhook".into(), Some("{}".into())),
    ];
    for (method, path, body) in weird {
        let mut call = api.call(method.clone(), &path).bearer(&user.token).idem();
        if let Some(b) = body {
            call = call.raw(b);
        }
        let r = call.send().await;
        assert!(
            !r.status.is_server_error(),
            "{method} {path} answered {}: {}",
            r.status,
            r.text()
        );
        if !r.status.is_success() {
            assert!(
                r.status.is_client_error(),
                "{method} {path} answered {}: {}",
                r.status,
                r.text()
            );
            assert_error_shape(&r);
        }
    }

    // Odd headers.
    let odd = [
        api.get("/events")
            .header("traceparent", "garbage")
            .send()
            .await,
        api.get("/events/evt_nope")
            .header("traceparent", "00-zz-yy-01")
            .send()
            .await,
        api.get("/reservations/rsv_x")
            .header("authorization", "Bearer ")
            .send()
            .await,
        api.get("/reservations/rsv_x")
            .header("authorization", "Bearer a.b")
            .send()
            .await,
        api.post("/auth/login")
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await,
        api.post("/queue/join")
            .bearer(&user.token)
            .key("")
            .json(&json!({"event_id": "evt_x"}))
            .send()
            .await,
    ];
    for r in &odd {
        assert!(
            !r.status.is_server_error(),
            "{} answered {}: {}",
            r.what,
            r.status,
            r.text()
        );
        if !r.status.is_success() {
            assert_error_shape(r);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_payment_cannot_confirm_two_reservations() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 4)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let r1 = api.hold_seats(&user, event_id, &["A-1"]).await;
    let r2 = api.hold_seats(&user, event_id, &["A-2"]).await;
    let pi1 = api.pay(&user, &r1).await;
    api.wait_reservation(
        &user,
        str_of(&r1, "reservation_id"),
        "CONFIRMED",
        Duration::from_secs(10),
    )
    .await;
    // The first payment, approved, does not pay for the second hold.
    api.confirm_raw(&user, str_of(&r2, "reservation_id"), &pi1)
        .await
        .expect_error(412, "PAYMENT_NOT_APPROVED");
    let got = api.reservation(&user, str_of(&r2, "reservation_id")).await;
    assert!(got["order_id"].is_null(), "{got}");
    assert_ne!(got["status"], "CONFIRMED", "{got}");
    let av = api.availability(event_id).await;
    assert_eq!(seat_status(&av, "A-1"), "SOLD");
    assert_ne!(seat_status(&av, "A-2"), "SOLD");
}

/// Requests that say one thing twice, or say it in a form a library writes, found by a hostile
/// client's probe: a query naming two waiting tokens is refused (which one was meant is not the
/// server's to guess) and leaves nobody; two `Idempotency-Key` headers name no one key; a cancel
/// whose body names another user is refused as every other route refuses it; the Bearer scheme
/// is matched in any case; JSON cut short inside a field's name is the body's fault; and a
/// seated hold over the limit names the seats it asked for. Each refusal changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ambiguous_requests_are_refused_and_change_nothing() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 10)], 1000, 0.01).await;
    let event_id = str_of(&event, "event_id");
    let (user, other) = tokio::join!(api.register(), api.register());
    let ahead = api.join(event_id, None).await;
    let mine = api.join(event_id, Some(&user)).await;
    let (a, b) = (
        str_of(&ahead, "waiting_token"),
        str_of(&mine, "waiting_token"),
    );

    for (method, path) in [
        (Method::GET, format!("/queue/status?token={a}&token={b}")),
        (Method::DELETE, format!("/queue/leave?token={b}&token={a}")),
    ] {
        let e = api
            .call(method, &path)
            .bearer(&user.token)
            .send()
            .await
            .expect_error(400, "INVALID_REQUEST");
        assert!(str_of(&e, "message").contains("token"), "{e}");
    }
    let still_waiting = api.status_raw(b).await.expect(200);
    assert_ne!(
        still_waiting["status"], "left",
        "nobody left: {still_waiting}"
    );

    api.post("/queue/join")
        .key(&new_key())
        .key(&new_key())
        .json(&json!({"event_id": event_id}))
        .send()
        .await
        .expect_error(400, "INVALID_IDEMPOTENCY_KEY");

    // Holds on an event that admits at once.
    let event = api.seated_event(&[("A", 1, 10)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let rsv = api.hold_seats(&user, event_id, &["A-1"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    api.post(&format!("/reservations/{rsv_id}/cancel"))
        .bearer(&user.token)
        .json(&json!({"user_id": other.user_id}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    let still = api
        .get(&format!("/reservations/{rsv_id}"))
        .header("authorization", &format!("BEARER {}", user.token))
        .send()
        .await
        .expect(200);
    assert_eq!(
        still["status"], "HOLD",
        "the refused cancel changed nothing: {still}"
    );
    api.post(&format!("/reservations/{rsv_id}/cancel"))
        .bearer(&user.token)
        .json(&json!({"user_id": user.user_id}))
        .send()
        .await
        .expect(200);

    let e = api
        .post("/auth/login")
        .raw("{\"username\":\"someone\",\"pass")
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(str_of(&e, "message").starts_with("body:"), "{e}");

    let rtkn = api.admit(event_id, &user).await;
    let e = api
        .reserve_seats(&user, event_id, &["A-2", "A-3", "A-4", "A-5", "A-6"], &rtkn)
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(str_of(&e, "message").starts_with("seat_ids:"), "{e}");
}
