//! The waiting room: join, status (polled and streamed), enter, leave.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::{Stream, StreamExt};
use serde::Deserialize;

use tacos_core::domain::queue::challenge::{ChallengeAnswer, MAX_SOLUTION_CHARS};
use tacos_core::domain::queue::lobby::{EntryCursor, MAX_ENTRIES_PAGE};
use tacos_core::domain::queue::QueueStatusKind;
use tacos_core::error::Error;
use tacos_core::platform::Platform;

use crate::error::Result;
use crate::extract::{check_user_id, parse_json, path_id, Caller, Json, MaybeCaller, Query};
use crate::idempotency::{keyed_answer, ClaimedKey, KeyOwner, OwnKey};
use crate::sse::{self, Delivery, StreamFor};
use tacos_core::ids::{EventId, WaitingToken};

/// `{"event_id"}`, and `challenge` and `solution` when the event asks for proof of work
/// ([`challenge`]). Other fields are ignored; `user_id`, which the original gateway's clients
/// send, must name the caller ([`check_user_id`]). `challenge` and `solution` are strings when
/// sent, never `null` ([`tacos_core::request_fields`]), and a solution is at most
/// [`MAX_SOLUTION_CHARS`] characters whether or not the event asks for work: the body's shape
/// is the document's, not the sale's.
#[derive(Deserialize)]
pub struct JoinBody {
    event_id: Option<String>,
    #[serde(default, deserialize_with = "tacos_core::request_fields::named")]
    challenge: Option<String>,
    #[serde(default, deserialize_with = "tacos_core::request_fields::named")]
    solution: Option<String>,
}

/// `POST /queue/join`: its idempotency key is kept on the ticket it writes ([`OwnKey`]).
pub async fn join(
    State(platform): State<Arc<Platform>>,
    keyed: OwnKey,
) -> Result<impl IntoResponse> {
    check_user_id(&keyed.body, keyed.caller.as_ref())?;
    let body: JoinBody = parse_json(&keyed.body)?;
    let event_id = required_event_id(body.event_id)?;
    if body
        .solution
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_SOLUTION_CHARS)
    {
        return Err(Error::InvalidRequest(format!(
            "solution: at most {MAX_SOLUTION_CHARS} characters"
        ))
        .into());
    }
    let work = match (body.challenge, body.solution) {
        (Some(challenge), Some(solution)) => Some(ChallengeAnswer {
            challenge,
            solution,
        }),
        _ => None,
    };
    let answer = platform
        .queue
        .join_keyed(
            &event_id,
            keyed.caller.map(|p| p.user_id),
            &keyed.key,
            work.as_ref(),
        )
        .await?;
    Ok(keyed_answer(StatusCode::ACCEPTED, answer))
}

#[derive(Deserialize)]
pub struct ChallengeQuery {
    event_id: Option<String>,
}

/// `GET /queue/challenge?event_id=`: the proof of work a join of this caller must carry (its
/// `bits` 0 when the event asks for none).
pub async fn challenge(
    State(platform): State<Arc<Platform>>,
    KeyOwner(owner): KeyOwner,
    Query(query): Query<ChallengeQuery>,
) -> Result<impl IntoResponse> {
    let event_id = required_event_id(query.event_id)?;
    Ok(axum::Json(
        platform.queue.challenge(&event_id, &owner).await?,
    ))
}

/// The event a request names: 400 `MISSING_EVENT_ID` when absent or blank, 404
/// `EVENT_NOT_FOUND` when it cannot be an event id.
fn required_event_id(raw: Option<String>) -> Result<EventId> {
    let raw = raw
        .filter(|id| !id.trim().is_empty())
        .ok_or(Error::MissingEventId)?;
    path_id(&raw, Error::EventNotFound)
}

#[derive(Deserialize)]
pub struct DrawQuery {
    event_id: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /queue/draw?event_id=&after=&limit=`: the event's lobby draw as published (the seed's
/// commitment before the opening, the seed and the frozen counts after it) with a page of its
/// entries, for anyone to recompute every drawn place (`scripts/verify_draw.py`).
pub async fn draw(
    State(platform): State<Arc<Platform>>,
    Query(query): Query<DrawQuery>,
) -> Result<impl IntoResponse> {
    let event_id = required_event_id(query.event_id)?;
    // Present means given: an empty `after` or `limit` is refused as the document's pattern and
    // range refuse it, not taken for "from the start" or "the most".
    let after: Option<EntryCursor> = query.after.map(|a| a.parse()).transpose()?;
    let limit = match query.limit {
        None => MAX_ENTRIES_PAGE,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_ENTRIES_PAGE).contains(l))
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "limit: a whole number from 1 to {MAX_ENTRIES_PAGE}"
                ))
            })?,
    };
    Ok(axum::Json(
        platform.queue.draw_record(&event_id, after, limit).await?,
    ))
}

/// The waiting token of a `?token=` query, a path id checked as one (unknown shape: 404).
///
/// Read straight from the query rather than through a deserialized struct: every status names
/// its token this way, and the struct's serde route (a `String` allocated, then parsed again)
/// was a tenth of a status's own work.
pub struct TokenParam(pub WaitingToken);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TokenParam {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let mut tokens = query_values(query, "token");
        let raw = tokens
            .next()
            .filter(|value| !value.is_empty())
            .ok_or_else(|| Error::InvalidRequest("token: query parameter required".into()))?;
        // Two tokens name two people: which one was meant is not ours to guess (the document
        // refuses it, as the other routes' queries refuse a repeated field).
        if tokens.next().is_some() {
            return Err(Error::InvalidRequest(
                "query: Failed to deserialize query string: duplicate field `token`".into(),
            )
            .into());
        }
        Ok(TokenParam(path_id(&raw, Error::TokenNotFound)?))
    }
}

/// The values of `name` in a query, decoded as a form decodes them.
///
/// Each pair is decoded only when it holds an escape (`%` or `+`): a status's query is nearly
/// always `token=<token>` as the server gave it, and decoding every pair to compare its name
/// (`form_urlencoded::parse` does) was half of reading the token (BENCHMARKS.md §8.18).
fn query_values<'q>(query: &'q str, name: &'q str) -> impl Iterator<Item = Cow<'q, str>> + 'q {
    let plain = |text: &str| !text.bytes().any(|b| b == b'%' || b == b'+');
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(move |pair| {
            if plain(pair) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                return (key == name).then_some(Cow::Borrowed(value));
            }
            form_urlencoded::parse(pair.as_bytes())
                .next()
                .filter(|(key, _)| key == name)
                .map(|(_, value)| value)
        })
}

pub async fn status(
    State(platform): State<Arc<Platform>>,
    TokenParam(token): TokenParam,
) -> Result<impl IntoResponse> {
    Ok(axum::Json(platform.queue.status(&token).await?))
}

/// How long a browser whose status stream dropped waits before it reconnects (the SSE `retry:`
/// field, on every event): the stream's own period, rather than the browser's default of a few
/// seconds or less, so a line of reconnecting browsers asks no more often than it polls.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// The status pushed as server-sent events every 2 s, until the client is admitted or gone, for
/// at most [`sse::STREAM_FOR`] (the client reconnects after `retry`, and picks up where it was);
/// on a [buffered transport](Delivery::Buffered) only the first event is sent.
pub async fn stream(
    State(platform): State<Arc<Platform>>,
    TokenParam(token): TokenParam,
    delivery: Option<Extension<Delivery>>,
    stream_for: Option<Extension<StreamFor>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    platform.queue.status(&token).await?;
    let updates = futures::stream::unfold(
        (platform, token, false),
        |(platform, token, done)| async move {
            if done {
                return None;
            }
            let (event, last) = match platform.queue.status(&token).await {
                Ok(status) => {
                    let last = !matches!(
                        status.status,
                        QueueStatusKind::Waiting | QueueStatusKind::Lobby
                    ) || status.sold_out;
                    (
                        Event::default()
                            .event("status")
                            .retry(RECONNECT_AFTER)
                            .json_data(&status)
                            .unwrap_or_default(),
                        last,
                    )
                }
                Err(e) => (
                    Event::default()
                        .event("error")
                        .retry(RECONNECT_AFTER)
                        .data(e.code()),
                    matches!(e, Error::TokenNotFound),
                ),
            };
            if !last {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Some((Ok(event), (platform, token, last)))
        },
    );
    let updates = match delivery.map(|Extension(d)| d).unwrap_or_default() {
        Delivery::Streamed => sse::for_a_while(
            updates,
            stream_for.map(|Extension(s)| s).unwrap_or_default(),
        )
        .boxed(),
        Delivery::Buffered => updates.take(1).boxed(),
    };
    Ok(Sse::new(updates).keep_alive(KeepAlive::default()))
}

/// `{"waiting_token"}`: a malformed token in a body is 400 `INVALID_REQUEST` naming the field,
/// as every body's ids are (the document's convention), where the `token` query's is 404.
#[derive(Deserialize)]
pub struct EnterBody {
    waiting_token: WaitingToken,
}

/// `POST /queue/enter`. Its `Idempotency-Key`, checked by the idempotency middleware (which every
/// router of this crate runs) and handed on in the request's extensions, is kept on the ticket it
/// enters, so a retry is answered the same reservation token
/// (`tacos_core::domain::queue::entry`). The caller must be signed in, as the middleware
/// checks before it claims the key: the reservation token is issued to an account.
pub async fn enter(
    State(platform): State<Arc<Platform>>,
    Caller(caller): Caller,
    ClaimedKey(key): ClaimedKey,
    Json(body): Json<EnterBody>,
) -> Result<Response> {
    let answer = platform
        .queue
        .enter_keyed(&body.waiting_token, Some(caller.user_id), &key)
        .await?;
    Ok(keyed_answer(StatusCode::OK, answer))
}

/// Leaves the line (`DELETE /queue/leave?token=`). A token joined by (or entered by) an account
/// is left only with that account's bearer token; an anonymous one by whoever holds it.
pub async fn leave(
    State(platform): State<Arc<Platform>>,
    MaybeCaller(caller): MaybeCaller,
    TokenParam(token): TokenParam,
) -> Result<impl IntoResponse> {
    left(&platform, &token, caller).await
}

/// `{"waiting_token"}`, for `POST /queue/leave`; a malformed token is 400, as on enter.
#[derive(Deserialize)]
pub struct LeaveBody {
    waiting_token: WaitingToken,
}

/// Leaves the line (`POST /queue/leave` `{"waiting_token"}`): what a page that is closing can
/// send, since `navigator.sendBeacon` only POSTs. The same rules as `DELETE`.
pub async fn leave_by_post(
    State(platform): State<Arc<Platform>>,
    MaybeCaller(caller): MaybeCaller,
    Json(body): Json<LeaveBody>,
) -> Result<impl IntoResponse> {
    left(&platform, &body.waiting_token, caller).await
}

async fn left(
    platform: &Platform,
    token: &WaitingToken,
    caller: Option<tacos_core::domain::auth::Principal>,
) -> Result<impl IntoResponse> {
    platform
        .queue
        .leave(token, caller.map(|p| p.user_id))
        .await?;
    Ok(axum::Json(serde_json::json!({ "status": "left" })))
}

#[cfg(test)]
mod tests {
    use axum::extract::FromRequestParts;

    use super::*;

    async fn token_param(uri: &str) -> std::result::Result<WaitingToken, Error> {
        let (mut parts, ()) = axum::http::Request::get(uri).body(()).unwrap().into_parts();
        TokenParam::from_request_parts(&mut parts, &())
            .await
            .map(|TokenParam(token)| token)
            .map_err(|crate::error::ApiError(e)| e)
    }

    #[test]
    fn a_querys_values_are_those_a_form_decoder_reads() {
        for query in [
            "",
            "token=wtkn_abc",
            "token=",
            "token",
            "&&token=a&&",
            "a=1&token=b&token=c",
            "%74oken=escaped-name",
            "tok+en=plus-in-name&token=x",
            "token=a%2Db+c",
            "token=%zz&other=%41",
            "x=token&tokens=1&token=2",
            "token=a=b",
            "=token&token",
        ] {
            let ours: Vec<String> = query_values(query, "token").map(Cow::into_owned).collect();
            let form: Vec<String> = form_urlencoded::parse(query.as_bytes())
                .filter(|(name, _)| name == "token")
                .map(|(_, value)| value.into_owned())
                .collect();
            assert_eq!(ours, form, "{query:?}");
        }
    }

    #[tokio::test]
    async fn the_token_is_read_from_the_query_as_a_form_would_send_it() {
        let token = "wtkn_0123456789abcdef0123456789abcdef";
        let plain = token_param(&format!("/s?token={token}")).await.unwrap();
        assert_eq!(plain.to_string(), token);
        let encoded = token_param(&format!("/s?x=1&token=%77{}", &token[1..])).await;
        assert_eq!(
            encoded.unwrap(),
            plain,
            "percent-encoded, after another parameter"
        );
        for missing in ["/s", "/s?token=", "/s?tokens=1"] {
            match token_param(missing).await {
                Err(Error::InvalidRequest(message)) => assert!(message.starts_with("token")),
                other => panic!("{missing}: {other:?}"),
            }
        }
        for unknown in ["/s?token=%00%ff", "/s?token=rtkn_1", "/s?token=wtkn_a%20b"] {
            assert!(
                matches!(token_param(unknown).await, Err(Error::TokenNotFound)),
                "{unknown}"
            );
        }
    }
}
