//! Fair share per account (issue 14): the hostile client's scenarios, over HTTP.
//!
//! One account joining many times has one place in line (joining again answers the same waiting
//! token, 202 as a first join); a waiting token joined by an account is entered and left only by
//! it (anyone else: 404 `TOKEN_NOT_FOUND`, as for a token that never existed), and an anonymous
//! one belongs to the first account that enters with it; an account holds and buys at most the
//! event's `max_per_order` tickets across all its orders (409 `PURCHASE_LIMIT_EXCEEDED`, nothing
//! changed, the reservation token still usable for a smaller hold).

use std::time::Duration;

use crate::client::*;

const TURN: Duration = Duration::from_secs(30);

async fn leave(api: &Api, token: &str, user: Option<&User>) -> Resp {
    api.delete(&format!("/queue/leave?token={token}"))
        .auth(user)
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_account_joining_25_times_has_one_place_and_buys_at_most_the_cap() {
    let api = Api::new();
    let event = api.ga_event(200, 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let first = str_of(&api.join(event_id, Some(&user)).await, "waiting_token").to_string();
    for _ in 1..25 {
        let again = api.join(event_id, Some(&user)).await;
        assert_eq!(str_of(&again, "waiting_token"), first, "{again}");
    }
    api.wait_ready(&first, TURN).await;
    let rtkn = api.enter(&first, &user).await;
    api.enter_raw(&first, Some(&user))
        .await
        .expect_error(409, "ALREADY_ENTERED");
    api.reserve_qty(&user, event_id, 4, &rtkn).await.expect(201);
    // Coming through the line again is allowed (the place was used), buying more is not.
    let rtkn = api.admit(event_id, &user).await;
    let refused = api
        .reserve_qty(&user, event_id, 1, &rtkn)
        .await
        .expect_error(409, "PURCHASE_LIMIT_EXCEEDED");
    assert!(
        refused["message"].as_str().unwrap().contains('4'),
        "the message names the limit: {refused}"
    );
    assert_eq!(counts(&api.availability(event_id).await), (200, 196, 4, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiting_token_joined_by_another_account_is_refused() {
    let api = Api::new();
    let event = api.ga_event(50, 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let (owner, thief) = tokio::join!(api.register(), api.register());
    let token = str_of(&api.join(event_id, Some(&owner)).await, "waiting_token").to_string();
    api.wait_ready(&token, TURN).await;

    api.enter_raw(&token, Some(&thief))
        .await
        .expect_error(404, "TOKEN_NOT_FOUND");
    api.enter_raw(&token, None)
        .await
        .expect_error(401, "MISSING_AUTHORIZATION");
    leave(&api, &token, Some(&thief))
        .await
        .expect_error(404, "TOKEN_NOT_FOUND");
    leave(&api, &token, None)
        .await
        .expect_error(404, "TOKEN_NOT_FOUND");

    // The owner's place is intact: it enters and holds.
    let status = api.status(&token).await;
    assert_eq!(status["ready_for_entry"], true, "{status}");
    let rtkn = api.enter(&token, &owner).await;
    api.reserve_qty(&owner, event_id, 2, &rtkn)
        .await
        .expect(201);
    // After the owner entered, the thief is still a stranger to the token, never told 409.
    api.enter_raw(&token, Some(&thief))
        .await
        .expect_error(404, "TOKEN_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_anonymous_waiting_token_belongs_to_the_first_account_that_enters() {
    let api = Api::new();
    let event = api.ga_event(50, 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let (first, second) = tokio::join!(api.register(), api.register());
    let token = str_of(&api.join(event_id, None).await, "waiting_token").to_string();
    api.wait_ready(&token, TURN).await;
    let rtkn = api.enter(&token, &first).await;
    api.enter_raw(&token, Some(&second))
        .await
        .expect_error(404, "TOKEN_NOT_FOUND");
    api.enter_raw(&token, Some(&first))
        .await
        .expect_error(409, "ALREADY_ENTERED");
    leave(&api, &token, None)
        .await
        .expect_error(404, "TOKEN_NOT_FOUND");
    api.reserve_qty(&first, event_id, 1, &rtkn)
        .await
        .expect(201);
    // An anonymous token nobody entered with is left by whoever holds it.
    let other = str_of(&api.join(event_id, None).await, "waiting_token").to_string();
    assert_eq!(
        leave(&api, &other, None).await.expect(200)["status"],
        "left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_purchase_cap_counts_every_order_of_the_account() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 20)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    assert_eq!(event["max_per_order"], 4, "{event}");
    let user = api.register().await;
    let three = api
        .hold_seats(&user, event_id, &["A-1", "A-2", "A-3"])
        .await;

    let rtkn = api.admit(event_id, &user).await;
    let refused = api
        .reserve_seats(&user, event_id, &["A-4", "A-5"], &rtkn)
        .await
        .expect_error(409, "PURCHASE_LIMIT_EXCEEDED");
    assert!(
        refused["message"].as_str().unwrap().contains("at most 4"),
        "{refused}"
    );
    let av = api.availability(event_id).await;
    assert_eq!(counts(&av), (20, 17, 3, 0), "nothing changed");
    assert_eq!(seat_status(&av, "A-4"), "AVAILABLE");
    // The refused hold did not use the reservation token up: a hold within the cap takes it.
    api.reserve_seats(&user, event_id, &["A-4"], &rtkn)
        .await
        .expect(201);

    // A cancelled order no longer counts.
    api.cancel_delete(&user, str_of(&three, "reservation_id"))
        .await
        .expect(200);
    api.hold_seats(&user, event_id, &["A-5", "A-6", "A-7"])
        .await;
    assert_eq!(counts(&api.availability(event_id).await), (20, 16, 4, 0));
}
