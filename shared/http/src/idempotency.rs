//! The `Idempotency-Key` middleware for the POSTs the contract names, and [`OwnKey`] for the
//! routes that keep their key on the item they write anyway ([`tacos_core::domain::request_keys`]:
//! join, hold, payment intent), with [`signed_in_own_key`] for those that need a signed-in caller.

use std::future::Future;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use sha2::{Digest, Sha256};

use super::extract::{unread_body, verify_caller, ClientAddr};
use super::MAX_BODY_BYTES;
use tacos_core::domain::auth::Principal;
use tacos_core::domain::idempotency::{Begin, Repeats, StoredResponse};
use tacos_core::domain::request_keys::{KeyedAnswer, RequestKey};
use tacos_core::error::Error;
use tacos_core::functions::Route;
use tacos_core::platform::Platform;

use crate::error::ApiError;

/// Routes whose POSTs require a key, and whether they require a signed-in caller. All three do:
/// entering issues a reservation token to an account (contract v1.1), so an enter without a
/// bearer token is 401 `MISSING_AUTHORIZATION` before its waiting token is looked up or its key
/// claimed, whatever the token (an anonymous caller learns nothing of it, and writes nothing).
/// `POST /api/v1/queue/join`, `/api/v1/reservations` and `/api/v1/payments/intent` require one
/// too, and check it the same way, but keep it themselves ([`OwnKey`]): two writes fewer each.
///
/// These change items that exist, so they claim their key before they run (a replay, a conflict,
/// or the claim): another request under the key, even sent at once, is 409
/// `IDEMPOTENCY_CONFLICT`. A duplicate of the same request that finds the claim runs too and is
/// answered alike, its effect the first's. Keys are per route as well as per caller.
///
/// Entry and processing keep their key and answer on the item they change (an entry's ticket
/// keeps the reservation token it answered, `tacos_core::domain::queue::entry`; a payment's
/// intent the status it answered, `tacos_core::domain::payments::ProcessStamp`): a repeat runs
/// again and is answered from there, so the claim is all they write of their key
/// ([`Repeats::RunAgain`]; a handler says its answer is kept so with [`KeptOnItem`]). Confirmation
/// keeps its answer in the key's record, after it ran ([`Repeats::Replayed`]).
const KEYED_ROUTES: &[(Route, bool, Repeats)] = &[
    (Route::QueueEnter, true, Repeats::RunAgain),
    (Route::Confirm, true, Repeats::Replayed),
    (Route::PaymentProcess, true, Repeats::RunAgain),
];

/// Marks a keyed answer that the item its request changed keeps for the key's repeats
/// ([`keyed_answer`] sets it): the middleware of a [`Repeats::RunAgain`] route then keeps nothing
/// more; any other answer of such a route (a refusal, a payment another request decided) is kept
/// in the key's record.
#[derive(Debug, Clone, Copy)]
pub struct KeptOnItem;

/// `methods` (the handler of `route`) behind the middleware if `route` is one of
/// `KEYED_ROUTES`; as they are otherwise, so every other request pays nothing for it.
pub fn layered(
    route: Route,
    methods: MethodRouter<Arc<Platform>>,
    platform: &Arc<Platform>,
) -> MethodRouter<Arc<Platform>> {
    match KEYED_ROUTES.iter().find(|(keyed, ..)| *keyed == route) {
        Some(&(_, needs_caller, repeats)) => methods.layer(axum::middleware::from_fn_with_state(
            Keyed {
                platform: platform.clone(),
                route,
                needs_caller,
                repeats,
            },
            middleware,
        )),
        None => methods,
    }
}

/// What the middleware of one keyed route knows.
#[derive(Clone)]
struct Keyed {
    platform: Arc<Platform>,
    route: Route,
    needs_caller: bool,
    repeats: Repeats,
}

/// The middleware of a keyed route ([`layered`]): its POSTs (another method gets the route's
/// 405 untouched).
async fn middleware(State(keyed): State<Keyed>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    match keyed_request(&keyed, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

/// A keyed POST: its key checked for its caller and body, the handler run (with the key in the
/// request's extensions, for a handler that keeps it: [`RequestKey`]), its answer kept for
/// replays. `Err` is an answer too: the refusal, rendered.
async fn keyed_request(
    Keyed {
        platform,
        route,
        needs_caller,
        repeats,
    }: &Keyed,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let (route, needs_caller, repeats) = (*route, *needs_caller, *repeats);
    let fail = |e: Error| ApiError(e).into_response();
    let key = idempotency_key(request.headers()).map_err(fail)?;
    let (mut parts, body) = request.into_parts();
    let caller = key_owner(&mut parts, platform, needs_caller)
        .await
        .map_err(fail)?;
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| fail(unread_body(&e)))?;
    let fingerprint = fingerprint(&parts, &bytes);
    let claimed = platform
        .idempotency
        .claim(route, repeats, &caller, &key, &fingerprint)
        .await
        .map_err(fail)?;
    let repeat = claimed == Begin::Repeat;
    if let Some(answered) = answered_already(claimed) {
        return Ok(answered);
    }
    parts.extensions.insert(RequestKey {
        owner: caller.clone(),
        key: key.clone(),
        fingerprint: fingerprint.clone(),
    });
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if repeat {
        // Answered as the first was (the route marks its replay itself, `keyed_answer`), and the
        // claim stays the key's record whatever this run met.
        return Ok(response);
    }
    if repeats == Repeats::RunAgain && response.extensions().get::<KeptOnItem>().is_some() {
        // The claim stays the key's record: a repeat runs again and is answered alike.
        return Ok(response);
    }
    if response.status().is_server_error() {
        // Nothing happened that a retry could duplicate: the key is free again, for any request.
        if let Err(e) = platform
            .idempotency
            .release(route, &caller, &key, &fingerprint)
            .await
        {
            tracing::warn!(error = %e, "idempotency claim not released (retaken once stale)");
        }
        return Ok(response);
    }
    Ok(record(platform, route, &caller, &key, &fingerprint, response).await)
}

/// A keyed POST whose route keeps its key itself: the key, whose it is, the request's
/// fingerprint, the caller and the body, checked in the middleware's order (key, then caller,
/// then body), so the route refuses exactly what the middleware would.
pub struct OwnKey {
    pub key: RequestKey,
    pub caller: Option<Principal>,
    pub body: Bytes,
}

impl FromRequest<Arc<Platform>> for OwnKey {
    type Rejection = ApiError;

    async fn from_request(request: Request, platform: &Arc<Platform>) -> Result<Self, ApiError> {
        let key = idempotency_key(request.headers())?;
        let (mut parts, body) = request.into_parts();
        let owner = key_owner(&mut parts, platform, false).await?;
        let caller = verify_caller(&mut parts, platform).await?;
        let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|e| unread_body(&e))?;
        Ok(Self {
            key: RequestKey {
                owner,
                key,
                fingerprint: fingerprint(&parts, &bytes),
            },
            caller,
            body: bytes,
        })
    }
}

/// A keyed POST by a signed-in caller whose route keeps its key on the item it writes: `run`
/// gets the caller, the key and the body, and answers `status` with the body it made or replays
/// (a [`KeyedAnswer`]). Around it, what the middleware does for the other routes, without its
/// two writes: a key refused before replays that refusal (or is a conflict), and a refusal now
/// (a 4xx: nothing was written) is kept for the retries ([`tacos_core::domain::idempotency`]).
/// A server error keeps nothing, so a retry runs again.
pub async fn signed_in_own_key<F, Fut>(
    platform: &Platform,
    route: Route,
    keyed: OwnKey,
    status: StatusCode,
    run: F,
) -> Response
where
    F: FnOnce(Principal, RequestKey, Bytes) -> Fut,
    Fut: Future<Output = Result<KeyedAnswer, Error>>,
{
    let fail = |e: Error| ApiError(e).into_response();
    let OwnKey { key, caller, body } = keyed;
    let Some(caller) = caller else {
        return fail(Error::MissingAuthorization);
    };
    match platform
        .idempotency
        .prior(route, &key.owner, &key.key, &key.fingerprint)
        .await
    {
        Ok(begin) => {
            if let Some(answered) = answered_already(begin) {
                return answered;
            }
        }
        Err(e) => return fail(e),
    }
    let refusal = match run(caller, key.clone(), body).await {
        Ok(answer) => return keyed_answer(status, answer),
        // The key's first answer is on its item, another request's: nothing of this one is kept
        // (kept, it would stand before that answer and refuse the key's own retries).
        Err(Error::IdempotencyConflict) => return fail(Error::IdempotencyConflict),
        Err(e) => fail(e),
    };
    if !refusal.status().is_client_error() {
        return refusal;
    }
    // Nothing was done; should the record fail, a retry runs again rather than replaying.
    record(
        platform,
        route,
        &key.owner,
        &key.key,
        &key.fingerprint,
        refusal,
    )
    .await
}

/// The key the middleware claimed for a [`KEYED_ROUTES`] handler, handed on in the request's
/// extensions, for a handler that keeps it on the item it changes ([`Repeats::RunAgain`]).
pub struct ClaimedKey(pub RequestKey);

impl<S: Send + Sync> FromRequestParts<S> for ClaimedKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<RequestKey>()
            .cloned()
            .map(Self)
            .ok_or_else(|| Error::Internal("the idempotency layer handed on no key".into()).into())
    }
}

/// Whose a join's key would be (the caller's account, or its client address): whom a join
/// challenge is issued to, so the work is checked against the same owner
/// ([`tacos_core::domain::queue::challenge`]).
pub struct KeyOwner(pub String);

impl FromRequestParts<Arc<Platform>> for KeyOwner {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, ApiError> {
        Ok(Self(key_owner(parts, platform, false).await?))
    }
}

/// The answer of a route that keeps its own key: `status` with `body` (JSON), marked as a replay
/// when it is one, exactly as the middleware's replays are, and as kept on its item
/// ([`KeptOnItem`]).
pub fn keyed_answer(status: StatusCode, answer: KeyedAnswer) -> Response {
    let mut response = match answer {
        KeyedAnswer::Fresh(body) => json_answer(status, body),
        KeyedAnswer::Replay(body) => replay(StoredResponse {
            status: status.as_u16(),
            content_type: "application/json".into(),
            body,
        }),
    };
    response.extensions_mut().insert(KeptOnItem);
    response
}

/// `status` with `body`, already JSON text.
pub fn json_answer(status: StatusCode, body: String) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The `Idempotency-Key` header, which must be a UUID, in one spelling (hyphenated, lower case)
/// so that the same key written twice is one key. Sent more than once it names no one key, and
/// is refused like a key that is not a UUID rather than read as its first value.
fn idempotency_key(headers: &HeaderMap) -> Result<String, Error> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Err(Error::IdempotencyRequired);
    };
    if values.next().is_some() {
        return Err(Error::InvalidIdempotencyKey);
    }
    let key = value
        .to_str()
        .ok()
        .and_then(|v| uuid::Uuid::parse_str(v.trim()).ok())
        .ok_or(Error::InvalidIdempotencyKey)?;
    Ok(key.hyphenated().to_string())
}

/// Whose keys these are: the signed-in caller's, or the client address's on a route anyone may
/// call. Who is calling decides it, so a bad token is refused before any key is claimed or
/// replayed, and so is a missing one where the route needs a caller.
async fn key_owner(
    parts: &mut Parts,
    platform: &Platform,
    needs_caller: bool,
) -> Result<String, Error> {
    Ok(match verify_caller(parts, platform).await? {
        Some(principal) => principal.user_id.to_string(),
        None if needs_caller => return Err(Error::MissingAuthorization),
        None => format!("addr:{}", ClientAddr::of(parts)),
    })
}

/// What the key was first used for (method, path and body), so that reusing it for another
/// request is told apart from a retry.
fn fingerprint(parts: &Parts, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b"\n");
    hasher.update(parts.uri.path());
    hasher.update(b"\n");
    hasher.update(body);
    let mut hex = [0; 64];
    hex::encode_to_slice(hasher.finalize(), &mut hex).expect("32 bytes are 64 hex digits");
    std::str::from_utf8(&hex).expect("hex is ASCII").to_owned()
}

/// What a keyed request is answered without running: a replay, a conflict, or that its first is
/// still running; `None` when it is to run.
fn answered_already(begin: Begin) -> Option<Response> {
    let refused = |e: Error| Some(ApiError(e).into_response());
    match begin {
        Begin::Proceed | Begin::Repeat => None,
        Begin::Replay(stored) => Some(replay(stored)),
        Begin::Conflict => refused(Error::IdempotencyConflict),
    }
}

/// Keeps the answer as the first one of its key: the answers of [`KEYED_ROUTES`], and the
/// refusals of the routes that keep their key themselves. Never a server error's (each caller
/// gives those back as they are, so a retry runs again). An answer that cannot be kept is still
/// given; its retry runs again.
async fn record(
    platform: &Platform,
    route: Route,
    caller: &str,
    key: &str,
    fingerprint: &str,
    response: Response,
) -> Response {
    debug_assert!(!response.status().is_server_error(), "a 5xx is never kept");
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError(Error::Internal("response body unreadable".into())).into_response();
    };
    if let Err(e) = platform
        .idempotency
        .remember_first(route, caller, key, fingerprint, stored(&parts, &bytes))
        .await
    {
        tracing::warn!(error = %e, "idempotent response not stored");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The answer as kept for replays.
fn stored(parts: &axum::http::response::Parts, body: &[u8]) -> StoredResponse {
    StoredResponse {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_string(),
        body: String::from_utf8_lossy(body).into_owned(),
    }
}

fn replay(stored: StoredResponse) -> Response {
    let status =
        axum::http::StatusCode::from_u16(stored.status).unwrap_or(axum::http::StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&stored.content_type) {
        headers.insert(axum::http::header::CONTENT_TYPE, value);
    }
    headers.insert("x-idempotency-cached", HeaderValue::from_static("true"));
    response
}
