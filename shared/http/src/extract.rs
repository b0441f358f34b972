//! Extractors that turn requests into domain values or contract errors.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use tacos_core::domain::auth::{Principal, Role};
use tacos_core::error::Error;
use tacos_core::platform::Platform;

use crate::client_network::counted_name;
use crate::error::ApiError;
use crate::server::body_timed_out;

/// A JSON body; a malformed one is 400 `INVALID_REQUEST` naming the offending field, an
/// oversized one 413 `PAYLOAD_TOO_LARGE`.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        // A handler's caller extractors run before its body's and leave what they verified.
        let caller = match request.extensions().get::<Verified>() {
            Some(Verified(Ok(caller))) => caller.clone(),
            _ => None,
        };
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        check_user_id(&bytes, caller.as_ref())?;
        Ok(parse_json(&bytes).map(Json)?)
    }
}

/// `user_id` in a request body, which the original gateway's clients send: identity comes from
/// the bearer token, never from the body, so it is accepted (and ignored) when it names the
/// signed-in caller, and refused with 403 `FORBIDDEN` otherwise (another user, or nobody signed
/// in). Every other unknown field is ignored.
pub fn check_user_id(bytes: &[u8], caller: Option<&Principal>) -> Result<(), Error> {
    #[derive(serde::Deserialize)]
    struct Claimed {
        #[serde(default)]
        user_id: Option<serde_json::Value>,
    }
    // Not an object (or not JSON): the body's own parsing says what is wrong with it.
    if !is_json_object(bytes) {
        return Ok(());
    }
    let Ok(Claimed {
        user_id: Some(claimed),
    }) = serde_json::from_slice::<Claimed>(bytes)
    else {
        return Ok(());
    };
    match claimed {
        serde_json::Value::Null => Ok(()),
        serde_json::Value::String(id) if caller.is_some_and(|p| p.user_id.as_str() == id) => Ok(()),
        serde_json::Value::String(_) => Err(Error::UserMismatch),
        _ => Err(Error::InvalidRequest(
            "user_id: expected the caller's user id, a string".into(),
        )),
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme's name is matched without
/// regard to case and may be followed by any spaces or tabs (RFC 9110 §11.1, §11.4): `BEARER`
/// from one client library and `Bearer\t` from another name the same scheme. `None` for another
/// scheme, or none at all.
pub(crate) fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_matches([' ', '\t']))
}

/// The body's bytes as sent (for a signature over them); an oversized one is 413
/// `PAYLOAD_TOO_LARGE`, one that did not arrive in time 408 `REQUEST_TIMEOUT` and an unreadable one
/// 400, all in the contract's shape (axum's own rejections are plain text).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Error::PayloadTooLarge
                } else if body_timed_out(&rejection) {
                    Error::RequestTimeout
                } else {
                    Error::InvalidRequest(format!("body: {}", rejection.body_text()))
                }
            })?;
        Ok(RawBody(bytes))
    }
}

/// A body that middleware could not read whole within [`crate::MAX_BODY_BYTES`]
/// (`axum::body::to_bytes`): 408 `REQUEST_TIMEOUT` when it did not arrive in time
/// ([`crate::server`]), else 413 `PAYLOAD_TOO_LARGE` (over the limit, or cut off on the way, which a
/// client cannot tell apart from being refused).
pub fn unread_body(error: &axum::Error) -> Error {
    if body_timed_out(error) {
        Error::RequestTimeout
    } else {
        Error::PayloadTooLarge
    }
}

/// Whether `bytes` starts as a JSON object does (after JSON's whitespace): what it holds is for
/// the parser to judge.
fn is_json_object(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|&b| b == b'{')
}

/// Parses a JSON body, which must be an object, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    // serde reads a struct from a JSON array too, its elements taken as the fields in order:
    // `["admin","password"]` would log in. Every body of the contract is an object.
    if !is_json_object(bytes) {
        return Err(Error::InvalidRequest(
            "body: a JSON object is required".into(),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // serde names a missing field in its message; otherwise the path says where, unless
        // the JSON broke before a field was named (cut short inside a name, the path is `?`):
        // then it is the body's fault.
        let field = if path == "." || path.contains('?') {
            "body".to_string()
        } else {
            path
        };
        Error::InvalidRequest(format!("{field}: {}", strip_position(&message)))
    })?;
    deserializer.end().map_err(|_| {
        Error::InvalidRequest("body: trailing characters after the JSON value".into())
    })?;
    Ok(value)
}

fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

/// A query string; a malformed one is 400 `INVALID_REQUEST` in the contract's shape.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|rejection| {
                Error::InvalidRequest(format!("query: {}", rejection.body_text())).into()
            })
    }
}

/// The client's network address, for scoping anonymous callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

impl ClientAddr {
    /// The network the client is counted as ([`counted_name`]), from the address the entry
    /// point set (the socket peer locally, the API Gateway source IP in Lambda, or the trusted
    /// proxy's header). A value that is not an address is used as it is.
    pub fn of(parts: &Parts) -> String {
        if let Some(addr) = parts.extensions.get::<ClientAddr>() {
            return addr
                .0
                .parse::<IpAddr>()
                .map_or_else(|_| addr.0.clone(), counted_name);
        }
        if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            return counted_name(addr.ip());
        }
        "unknown".into()
    }

    /// The client's address in a header a trusted proxy in front of the service sets
    /// (`TACOS_CLIENT_IP_HEADER`): `X-Forwarded-For`'s last entry (the one that proxy appended;
    /// earlier entries are whatever the client sent), `CloudFront-Viewer-Address`'s `ip:port`, or
    /// any header holding just an address (`X-Real-IP`). `None` when it holds no address.
    pub fn from_header(name: &str, value: &str) -> Option<String> {
        let value = if name.eq_ignore_ascii_case("x-forwarded-for") {
            value.rsplit(',').next()?
        } else {
            value
        };
        let value = value.trim();
        let value = if name.eq_ignore_ascii_case("cloudfront-viewer-address") {
            // `198.51.100.10:46532`, `2001:db8::1:46532`: the port is always last.
            value.rsplit_once(':')?.0
        } else {
            value
        };
        let value = value.trim_start_matches('[').trim_end_matches(']');
        value
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| ip.to_string())
    }
}

/// Sets the [`ClientAddr`] from the configured header, when the request has a usable one. Its
/// last line is read: a proxy appends its own line after those the client sent (a client's
/// `X-Forwarded-For: 6.6.6.6` line ahead of the proxy's was trusted when the first was read), and
/// a proxy that sets the header leaves one line.
pub async fn client_addr_from_header(
    axum::extract::State(header): axum::extract::State<Arc<str>>,
    mut request: Request,
) -> Request {
    let addr = request
        .headers()
        .get_all(&*header)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ClientAddr::from_header(&header, v));
    if let Some(addr) = addr {
        request.extensions_mut().insert(ClientAddr(addr));
    }
    request
}

/// The verified caller of a request, once per request (the idempotency layer and the handler
/// share it through the request's extensions).
#[derive(Debug, Clone)]
pub struct Verified(pub Result<Option<Principal>, Error>);

pub async fn verify_caller(
    parts: &mut Parts,
    platform: &Platform,
) -> Result<Option<Principal>, Error> {
    if let Some(Verified(result)) = parts.extensions.get::<Verified>() {
        return result.clone();
    }
    let result = match parts.headers.get(axum::http::header::AUTHORIZATION) {
        None => Ok(None),
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| Error::InvalidToken("malformed".into()));
            match value.map(bearer_credentials) {
                Ok(Some(token)) if !token.is_empty() => {
                    platform.accounts.tokens().verify(token).await.map(Some)
                }
                Ok(_) => Err(Error::InvalidToken("expected `Bearer <token>`".into())),
                Err(e) => Err(e),
            }
        }
    };
    parts.extensions.insert(Verified(result.clone()));
    result
}

/// The caller when an `Authorization` header is sent (which must then be valid).
pub struct MaybeCaller(pub Option<Principal>);

impl FromRequestParts<Arc<Platform>> for MaybeCaller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, ApiError> {
        Ok(verify_caller(parts, platform).await.map(MaybeCaller)?)
    }
}

/// A signed-in caller.
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<Platform>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, ApiError> {
        let caller = verify_caller(parts, platform).await?;
        Ok(caller.map(Caller).ok_or(Error::MissingAuthorization)?)
    }
}

/// A signed-in administrator.
pub struct Admin(pub Principal);

impl FromRequestParts<Arc<Platform>> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, platform).await?;
        if principal.role == Role::Admin {
            Ok(Admin(principal))
        } else {
            Err(Error::Forbidden.into())
        }
    }
}

/// A path segment as text. One that does not decode (bad percent-encoding, or not UTF-8 once
/// decoded) is passed on as empty, which no identifier is, so the route answers its own 404 in
/// the contract's shape (axum's own rejection is a plain-text 400).
pub struct Path<T>(pub T);

impl<S: Send + Sync> FromRequestParts<S> for Path<String> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Self, std::convert::Infallible> {
        let segment = axum::extract::Path::<String>::from_request_parts(parts, state).await;
        Ok(Path(segment.map(|p| p.0).unwrap_or_default()))
    }
}

/// A path identifier of a given type; one that does not parse is "not found".
pub fn path_id<T: std::str::FromStr>(raw: &str, not_found: Error) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError(not_found))
}

#[cfg(test)]
mod tests {
    use super::{bearer_credentials, ClientAddr};
    use crate::client_network::counted_network;
    use axum::extract::{ConnectInfo, Request};
    use std::net::{IpAddr, SocketAddr};

    /// [`ClientAddr::of`] a request from `peer`, with `header` set as the entry point would.
    fn counted_as(peer: &str, header: Option<&str>) -> String {
        let mut request = Request::new(axum::body::Body::empty());
        let peer: IpAddr = peer.parse().unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(peer, 40000)));
        if let Some(addr) = header {
            request.extensions_mut().insert(ClientAddr(addr.into()));
        }
        ClientAddr::of(&request.into_parts().0)
    }

    #[test]
    fn ipv6_callers_are_counted_by_their_64_and_ipv4_by_their_address() {
        // Thirty addresses of one /64 are one caller; the next /64 is another.
        let callers: std::collections::HashSet<String> = (1..=30)
            .map(|i| counted_as(&format!("2001:db8:1:2:{i:x}::{i:x}"), None))
            .collect();
        assert_eq!(
            callers.into_iter().collect::<Vec<_>>(),
            ["2001:db8:1:2::/64"]
        );
        assert_eq!(counted_as("2001:db8:1:3::1", None), "2001:db8:1:3::/64");
        // IPv4, plain or mapped, is per address.
        assert_eq!(counted_as("198.51.100.7", None), "198.51.100.7");
        assert_eq!(counted_as("::ffff:198.51.100.7", None), "198.51.100.7");
        assert_eq!(counted_as("::ffff:198.51.100.8", None), "198.51.100.8");
        // The address an entry point or a proxy's header gave counts the same way.
        assert_eq!(
            counted_as("10.0.0.1", Some("2001:db8:9:9:abcd::1")),
            "2001:db8:9:9::/64"
        );
        assert_eq!(counted_as("10.0.0.1", Some("203.0.113.9")), "203.0.113.9");
        assert_eq!(counted_as("10.0.0.1", Some("not an ip")), "not an ip");
        // The server's connection share keys by the same rule.
        let net = |s: &str| counted_network(s.parse().unwrap());
        assert_eq!(net("2001:db8:1:2:ffff::1"), net("2001:db8:1:2::9"));
        assert_ne!(net("2001:db8:1:2::1"), net("2001:db8:1:3::1"));
        assert_eq!(net("::ffff:192.0.2.1"), net("192.0.2.1"));
        assert_ne!(net("192.0.2.1"), net("192.0.2.2"));
    }

    #[test]
    fn the_bearer_scheme_is_named_in_any_case_with_any_blanks_after_it() {
        for value in [
            "Bearer t.k.n",
            "bearer t.k.n",
            "BEARER t.k.n",
            "Bearer\tt.k.n",
            "Bearer   t.k.n ",
        ] {
            assert_eq!(bearer_credentials(value), Some("t.k.n"), "{value:?}");
        }
        for value in ["Basic dXNlcjpwdw==", "Bearert.k.n", "t.k.n", "Token t.k.n"] {
            assert_eq!(bearer_credentials(value), None, "{value:?}");
        }
        assert_eq!(
            bearer_credentials("Bearer "),
            Some(""),
            "no token: refused by the caller"
        );
    }

    /// The address `client_addr_from_header` sets for a request with these header lines.
    async fn from_lines(header: &str, lines: &[&str]) -> Option<String> {
        let mut request = Request::new(axum::body::Body::empty());
        let name = axum::http::HeaderName::from_bytes(header.as_bytes()).unwrap();
        for line in lines {
            request
                .headers_mut()
                .append(name.clone(), line.parse().unwrap());
        }
        let request = super::client_addr_from_header(
            axum::extract::State(std::sync::Arc::from(header)),
            request,
        )
        .await;
        request
            .extensions()
            .get::<ClientAddr>()
            .map(|a| a.0.clone())
    }

    /// A client's own `X-Forwarded-For` line ahead of the one the proxy appended was trusted
    /// (the first line was read): the last entry of the last line is the proxy's.
    #[tokio::test]
    async fn the_last_entry_of_the_last_forwarded_for_line_is_the_address() {
        let xff = "x-forwarded-for";
        assert_eq!(
            from_lines(xff, &["6.6.6.6", "203.0.113.7"])
                .await
                .as_deref(),
            Some("203.0.113.7"),
            "two lines: the proxy's is the last"
        );
        assert_eq!(
            from_lines(xff, &["6.6.6.6, 7.7.7.7", "198.51.100.1, 203.0.113.7"])
                .await
                .as_deref(),
            Some("203.0.113.7"),
            "comma lists on both lines"
        );
        assert_eq!(
            from_lines(xff, &["6.6.6.6, 203.0.113.8"]).await.as_deref(),
            Some("203.0.113.8"),
            "one line, a comma list"
        );
        assert_eq!(
            from_lines("x-real-ip", &["6.6.6.6", "203.0.113.9"])
                .await
                .as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(from_lines(xff, &["203.0.113.7", "garbage"]).await, None);
        assert_eq!(from_lines(xff, &[]).await, None);
    }

    #[test]
    fn client_addresses_are_read_from_the_proxys_header() {
        let of = ClientAddr::from_header;
        assert_eq!(
            of("CloudFront-Viewer-Address", "198.51.100.10:46532").as_deref(),
            Some("198.51.100.10")
        );
        assert_eq!(
            of("cloudfront-viewer-address", "2001:db8::1:46532").as_deref(),
            Some("2001:db8::1")
        );
        // The proxy's own entry is the last; what the client wrote before it is not trusted.
        assert_eq!(
            of("X-Forwarded-For", "6.6.6.6, 203.0.113.7").as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            of("x-real-ip", " 203.0.113.8 ").as_deref(),
            Some("203.0.113.8")
        );
        assert_eq!(of("x-real-ip", "not an address"), None);
        assert_eq!(of("cloudfront-viewer-address", "garbage"), None);
    }
}
