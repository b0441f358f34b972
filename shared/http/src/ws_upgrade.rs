//! The WebSocket handshake of an HTTP/1.1 request (RFC 6455 §4.2), handing over the protocol's
//! own stream.
//!
//! axum's `WebSocketUpgrade` does the same checks, but its socket sends a message only whole:
//! the message is copied into the socket's write buffer, so every client that stops reading holds
//! a copy of the frame it was sent (1.8 MB for a 20,000-seat event's availability) until the
//! server gives up on it. With the stream itself, the live socket sends a frame in fragments
//! (RFC 6455 §5.4), each a slice of the frame shared by every connection, and the write buffer
//! holds only the fragments not yet taken.

use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tacos_core::error::Error;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::error::ApiError;

/// An upgraded connection, speaking the WebSocket protocol as the server.
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Why a request is not a WebSocket handshake the server can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotAnUpgrade {
    #[error("a handshake is a GET")]
    Method,
    #[error("no `connection: upgrade`")]
    Connection,
    #[error("no `upgrade: websocket`")]
    Upgrade,
    #[error("no `sec-websocket-key`")]
    Key,
    #[error("`sec-websocket-version` is not 13")]
    Version,
    #[error("the connection cannot be upgraded")]
    NotUpgradable,
}

impl IntoResponse for NotAnUpgrade {
    /// The contract's 400 `INVALID_REQUEST`, saying what was missing.
    fn into_response(self) -> Response {
        ApiError(Error::InvalidRequest(format!(
            "not a WebSocket handshake: {self}"
        )))
        .into_response()
    }
}

/// A checked handshake: answer it with [`Upgrade::on_upgrade`].
#[derive(Debug)]
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotAnUpgrade;

    /// The checks of axum's `WebSocketUpgrade` for HTTP/1.1, the only version the server speaks.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotAnUpgrade> {
        if parts.method != Method::GET {
            return Err(NotAnUpgrade::Method);
        }
        if !header_has_token(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(NotAnUpgrade::Connection);
        }
        if !header_is(&parts.headers, header::UPGRADE, "websocket") {
            return Err(NotAnUpgrade::Upgrade);
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .ok_or(NotAnUpgrade::Key)?
            .clone();
        if !header_is(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(NotAnUpgrade::Version);
        }
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(NotAnUpgrade::NotUpgradable)?;
        Ok(Self { key, on_upgrade })
    }
}

impl Upgrade {
    /// Answers the handshake (101 with its `sec-websocket-accept`) and, once the connection is
    /// upgraded, runs `callback` on its socket (configured by `config`) in a task of its own.
    pub fn on_upgrade<C, F>(self, config: WebSocketConfig, callback: C) -> Response
    where
        C: FnOnce(Socket) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = TokioIo::new(upgraded);
                    let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config));
                    callback(socket.await).await
                }
                Err(error) => tracing::debug!(%error, "WebSocket upgrade failed"),
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(
                header::SEC_WEBSOCKET_ACCEPT,
                derive_accept_key(self.key.as_bytes()),
            )
            .body(Body::empty())
            .expect("a 101 with valid headers")
    }
}

/// Whether header `name` is `value`, ignoring case.
fn header_is(headers: &HeaderMap, name: header::HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// Whether header `name` lists `token` among its comma-separated values, ignoring case
/// (`connection: keep-alive, Upgrade`).
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}
