//! `GET /api/v1/live`: the WebSocket API of live updates, in process, with the protocol of the
//! AWS deployment's WebSocket API (see `tacos_core::domain::live_updates`), so a browser's WebSocket
//! path can be tried on a laptop (`TACOS_WEB_WS_URL=ws://127.0.0.1:8000/api/v1/live`). The
//! default push channel of the local web app stays server-sent events.
//!
//! The handshake plays `$connect`: the query is checked (`event_id`, optional `token`) and an
//! unknown event or token is refused before the upgrade, with the contract's error (404,
//! `EVENT_NOT_FOUND` / `TOKEN_NOT_FOUND`; 400 `MISSING_EVENT_ID`). An accepted connection is
//! registered in a [`MemoryConnections`] and attached to a [`MemoryPusher`]; one background task
//! ticks every 2 s for all of them, exactly as `ws-push` does over DynamoDB and API Gateway. The
//! socket closing plays `$disconnect`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::SinkExt;
use tacos_core::domain::live_updates::{ConnectRequest, LiveUpdates};
use tacos_core::error::Error;
use tacos_core::in_process::{MemoryConnections, MemoryPusher};
use tacos_core::platform::Platform;
use tacos_core::ports::{ConnectionId, Pusher};
use tokio::sync::mpsc::Receiver;

use crate::error::ApiError;
use crate::extract::Query;
use crate::settings::HttpSettings;
use crate::{cors, rate_limit, security_headers, trace};

/// The path of the endpoint.
pub const PATH: &str = "/api/v1/live";

/// Live updates over the in-process registry and pusher.
#[derive(Clone)]
pub struct LiveSocket {
    updates: LiveUpdates,
    pusher: Arc<MemoryPusher>,
}

impl LiveSocket {
    pub fn new(platform: &Platform) -> Self {
        let pusher = Arc::new(MemoryPusher::new());
        Self {
            updates: platform.live_updates(Arc::new(MemoryConnections::new()), pusher.clone()),
            pusher,
        }
    }

    /// Pushes to every connection every 2 s, for as long as the server runs.
    pub async fn run(self) {
        loop {
            let until = tokio::time::Instant::now() + Duration::from_secs(3600);
            self.updates.run_until(until).await;
        }
    }

    /// The route, for merging into the server's router, behind the API's own per-caller rate
    /// limit (a bucket of its own), CORS, security headers and trace ids, and answering another
    /// method as every route does (405 in the contract's shape; a probe found an empty 405 and
    /// preflights unanswered here).
    pub fn routes(self, platform: &Arc<Platform>, settings: &HttpSettings) -> Router {
        let routes: Router<Arc<Platform>> = Router::new()
            .route(PATH, get(connect))
            .method_not_allowed_fallback(|| async { ApiError(Error::MethodNotAllowed) })
            .with_state(self);
        let routes = rate_limit::layer(
            routes,
            platform,
            settings.rate_limit.as_ref(),
            rate_limit::DefaultClock::default(),
        );
        routes
            .with_state(platform.clone())
            .layer(cors::CorsLayer)
            .layer(security_headers())
            .layer(trace::ObserveLayer)
    }
}

async fn connect(
    State(live): State<LiveSocket>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    Query(request): Query<ConnectRequest>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(_) => {
            return ApiError(Error::InvalidRequest(format!(
                "{PATH} is a WebSocket endpoint: upgrade to it"
            )))
            .into_response()
        }
    };
    let id = ConnectionId::generate();
    // Attached before it is registered, so no tick can find it without a way to reach it.
    let frames = live.pusher.attach(id.clone());
    if let Err(error) = live.updates.connect(id.clone(), &request).await {
        let _ = live.pusher.close(&id).await;
        return ApiError(error).into_response();
    }
    upgrade.on_upgrade(move |socket| forward(socket, frames, id, live))
}

/// Forwards the connection's frames to the socket until either side ends it, then forgets it.
async fn forward(
    mut socket: WebSocket,
    mut frames: Receiver<String>,
    id: ConnectionId,
    live: LiveSocket,
) {
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => {
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                // The server closed it (after an error frame), or dropped it for falling
                // `FRAMES_BEHIND` frames behind.
                None => {
                    let close = CloseFrame { code: 1000, reason: "closed by the server".into() };
                    let _ = socket.send(Message::Close(Some(close))).await;
                    break;
                }
            },
            // The client sends nothing but pings and its close; anything else is ignored.
            message = socket.recv() => match message {
                None | Some(Err(_)) => break,
                Some(Ok(Message::Close(_))) => {
                    // The reply to its close (RFC 6455 §5.5.1) is queued by the protocol; sent
                    // here before the socket is dropped, so the browser sees a clean close.
                    let _ = socket.flush().await;
                    break;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    drop(frames);
    if let Err(error) = live.updates.disconnect(&id).await {
        tracing::warn!(connection = %id, %error, "live connection not forgotten");
    }
}
