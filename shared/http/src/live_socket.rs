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
//!
//! # A client that stops reading
//! Frames reach the socket task through the pusher's bounded channel, as the tick's own shared
//! `Arc<str>` (no copy per connection), and are written in fragments of at most [`FRAGMENT`]
//! bytes (RFC 6455 §5.4), each a slice of that frame: the socket's write buffer holds what the
//! client has not taken of one fragment, never a copy of the frame (axum's socket, used
//! before, copied every message whole into it: 1.8 MB a socket for a 20,000-seat event). A client
//! that reads nothing used to keep its frames, and the task, for as long as it stayed connected:
//! a probe's three hundred idle sockets on a 20,000-seat event held 9.5 MB each until the client
//! left. So every write to the socket, a whole frame or the close, must finish within
//! [`SEND_TIMEOUT`]; one that does not drops the connection and what it held. Every frame is the
//! whole current state, so a client dropped this way loses nothing by reconnecting.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tacos_core::domain::live_updates::{ConnectRequest, LiveUpdates};
use tacos_core::error::Error;
use tacos_core::in_process::{MemoryConnections, MemoryPusher};
use tacos_core::platform::Platform;
use tacos_core::ports::{ConnectionId, Pusher};
use tokio::sync::mpsc::Receiver;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::error::ApiError;
use crate::extract::Query;
use crate::settings::HttpSettings;
use crate::ws_upgrade::{NotAnUpgrade, Socket, Upgrade};
use crate::{cors, rate_limit, security_headers, trace};

/// The path of the endpoint.
pub const PATH: &str = "/api/v1/live";

/// How long one write to a client's socket (a whole frame, or the server's close) may take before
/// the connection is dropped. Five ticks: far more than a browser on a slow link needs for a
/// frame, and short enough that a client that never reads holds its socket only briefly.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest fragment of a frame handed to the socket at once. The socket writes each as it
/// comes ([`socket_config`]) and takes the next only once the last is written, so a connection
/// whose client stops reading holds at most one fragment's copy whatever the frame's size; a
/// browser reassembles the fragments into one message.
pub const FRAGMENT: usize = 64 * 1024;

/// The socket's buffers, sized for what it carries: the client sends nothing but pings and its
/// close (4 KiB to read them, not the default 128 KiB), and fragments are written at once rather
/// than gathered up to 128 KiB first. A probe's idle sockets each held the defaults' buffers.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

/// Why a write to a client's socket did not happen.
#[derive(Debug, thiserror::Error)]
enum SendError {
    /// The client did not take it in time: it stopped reading, or reads too slowly to follow.
    #[error("the client did not take it in time")]
    Stalled,
    /// The socket failed (the client went away).
    #[error("the socket failed: {0}")]
    Socket(#[from] tungstenite::Error),
}

/// Live updates over the in-process registry and pusher.
#[derive(Clone)]
pub struct LiveSocket {
    updates: LiveUpdates,
    pusher: Arc<MemoryPusher>,
    send_timeout: Duration,
}

impl LiveSocket {
    pub fn new(platform: &Platform) -> Self {
        let pusher = Arc::new(MemoryPusher::new());
        Self {
            updates: platform.live_updates(Arc::new(MemoryConnections::new()), pusher.clone()),
            pusher,
            send_timeout: SEND_TIMEOUT,
        }
    }

    /// These live updates with another bound on a write than [`SEND_TIMEOUT`] (a test's own).
    pub fn with_send_timeout(self, send_timeout: Duration) -> Self {
        Self {
            send_timeout,
            ..self
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
    upgrade: Result<Upgrade, NotAnUpgrade>,
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
    upgrade.on_upgrade(socket_config(), move |socket| {
        forward(socket, frames, id, live)
    })
}

/// Forwards the connection's frames to the socket until either side ends it, or a write takes
/// longer than the bound ([`SEND_TIMEOUT`]), then forgets it.
async fn forward(
    mut socket: Socket,
    mut frames: Receiver<Arc<str>>,
    id: ConnectionId,
    live: LiveSocket,
) {
    let limit = live.send_timeout;
    let ended: Result<(), SendError> = loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => {
                    if let Err(error) = within(send_text(&mut socket, frame), limit).await {
                        break Err(error);
                    }
                }
                // The server closed it (after an error frame), or dropped it for falling
                // `FRAMES_BEHIND` frames behind.
                None => {
                    let close = CloseFrame {
                        code: CloseCode::Normal,
                        reason: "closed by the server".into(),
                    };
                    break within(socket.send(Message::Close(Some(close))), limit).await;
                }
            },
            // The client sends nothing but pings and its close; anything else is ignored.
            message = socket.next() => match message {
                None | Some(Err(_)) => break Ok(()),
                Some(Ok(Message::Close(_))) => {
                    // The reply to its close (RFC 6455 §5.5.1) is queued by the protocol; sent
                    // here before the socket is dropped, so the browser sees a clean close.
                    break within(socket.flush(), limit).await;
                }
                Some(Ok(_)) => {}
            },
        }
    };
    if let Err(SendError::Stalled) = ended {
        tracing::info!(connection = %id, "live connection dropped: a write took over {limit:?}");
    }
    // Dropping the socket closes the connection, and frees what it had buffered.
    drop(socket);
    drop(frames);
    if let Err(error) = live.updates.disconnect(&id).await {
        tracing::warn!(connection = %id, %error, "live connection not forgotten");
    }
}

/// Sends the tick's frame as one text message in fragments of at most [`FRAGMENT`] bytes, each
/// a slice of the frame itself, and flushes it.
async fn send_text(socket: &mut Socket, frame: Arc<str>) -> Result<(), tungstenite::Error> {
    /// Lends the frame's bytes to [`Bytes`] and keeps the frame alive as long as they are.
    struct Shared(Arc<str>);
    impl AsRef<[u8]> for Shared {
        fn as_ref(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }
    let mut rest = Bytes::from_owner(Shared(frame));
    let mut opcode = OpCode::Data(Data::Text);
    loop {
        let fragment = rest.split_to(rest.len().min(FRAGMENT));
        let last = rest.is_empty();
        // `feed` waits while the socket's buffer is full: the client sets the pace.
        socket
            .feed(Message::Frame(Frame::message(fragment, opcode, last)))
            .await?;
        if last {
            break;
        }
        opcode = OpCode::Data(Data::Continue);
    }
    socket.flush().await
}

/// Runs a write to the socket for at most `limit`.
async fn within(
    write: impl std::future::Future<Output = Result<(), tungstenite::Error>>,
    limit: Duration,
) -> Result<(), SendError> {
    tokio::time::timeout(limit, write)
        .await
        .map_err(|_| SendError::Stalled)?
        .map_err(SendError::from)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tacos_core::config::Config;
    use tacos_embedded::InProcess;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    /// The event of 20,000 seats the tests create: its availability frame is about 1.8 MB.
    const BIG: &str = "evt_big";

    /// The live endpoint, with the demo events and [`BIG`], over one in-memory connection whose
    /// buffers hold `buffer` bytes each way, with writes bounded by `limit` (and nothing else: no
    /// server-level write timeout); the client's end.
    async fn connection(buffer: usize, limit: Duration) -> DuplexStream {
        let mut config = Config::for_tests();
        config.seed_demo_event = true;
        let local = InProcess::new(config);
        tacos_core::seed::seed(&local.platform).await.unwrap();
        let big = serde_json::json!({
            "event_id": BIG, "name": "Big", "venue": "Hall", "starts_at": "2030-01-01T20:00:00Z",
            "price": 1500,
            "sections": (0..4)
                .map(|i| serde_json::json!({"name": format!("S{i}"), "rows": 50, "seats_per_row": 100}))
                .collect::<Vec<_>>(),
        });
        local
            .platform
            .catalog
            .create(serde_json::from_value(big).unwrap())
            .await
            .unwrap();
        let live = LiveSocket::new(&local.platform).with_send_timeout(limit);
        tokio::spawn(live.clone().run());
        let app = live.routes(&local.platform, &HttpSettings::defaults());
        let (client, server) = tokio::io::duplex(buffer);
        tokio::spawn(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(server), TowerToHyperService::new(app))
                .with_upgrades(),
        );
        client
    }

    /// [`connection`], upgraded by hand to a WebSocket watching `event`: the client's end, past
    /// the server's answer.
    async fn upgraded(buffer: usize, limit: Duration, event: &str) -> DuplexStream {
        let mut client = connection(buffer, limit).await;
        client
            .write_all(
                format!(
                    "GET {PATH}?event_id={event} HTTP/1.1\r\nhost: tacos\r\nupgrade: websocket\r\n\
                     connection: upgrade\r\nsec-websocket-version: 13\r\n\
                     sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(client.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "RFC 6455's own example: {head}"
        );
        client
    }

    /// Whether the server has let go of its end of `client`'s connection (a write of nothing
    /// to a dropped peer is refused; it reads nothing, so it does not unblock the server).
    async fn closed_by_the_server(client: &mut DuplexStream) -> bool {
        client.write(&[]).await.is_err()
    }

    /// A probe's idle sockets were held until the client left (9.5 MB each on a 20,000-seat
    /// event): `forward` waited forever on a frame its client never read. A write that takes
    /// longer than the bound now drops the connection.
    #[tokio::test]
    async fn a_client_that_never_reads_is_dropped_once_a_write_outlasts_the_bound() {
        let limit = Duration::from_millis(500);
        // Less than one availability frame of the demo event fits in the connection.
        let mut client = upgraded(256, limit, "evt_demo").await;
        let started = Instant::now();
        // The first frame comes within a tick (2 s); it cannot be written, and after `limit`
        // the server gives up. Far more time than that is allowed before the test fails.
        let deadline = started + Duration::from_secs(20);
        while !closed_by_the_server(&mut client).await {
            assert!(
                Instant::now() < deadline,
                "the server still holds a socket whose client has read nothing for 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            started.elapsed() >= limit,
            "not before its write could outlast the bound"
        );
    }

    /// A client that reads is not dropped, however long its frames take to arrive in all.
    #[tokio::test]
    async fn a_client_that_reads_keeps_its_socket() {
        let mut client = upgraded(256, Duration::from_millis(500), "evt_demo").await;
        let mut buf = [0; 1024];
        let started = Instant::now();
        let mut read = 0;
        // Two ticks' frames, read as they come.
        while started.elapsed() < Duration::from_secs(5) {
            match tokio::time::timeout(Duration::from_millis(100), client.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => panic!("closed after {read} bytes"),
                Ok(Ok(n)) => read += n,
                Err(_) => {}
            }
        }
        assert!(read > 1024, "frames arrived: {read} bytes");
        assert!(!closed_by_the_server(&mut client).await);
    }

    /// A frame larger than [`FRAGMENT`] leaves in fragments, each a slice of the shared frame,
    /// so a client that stops reading holds the socket to a fragment's copy, not the frame's
    /// (axum's socket copied the whole 1.8 MB message into its buffer for every idle client).
    #[tokio::test]
    async fn a_large_frame_leaves_in_fragments() {
        let mut client = upgraded(1 << 20, SEND_TIMEOUT, BIG).await;
        let mut header = [0; 2];
        tokio::time::timeout(Duration::from_secs(20), client.read_exact(&mut header))
            .await
            .expect("a frame within a tick")
            .unwrap();
        let (fin, opcode) = (header[0] & 0x80 != 0, header[0] & 0x0f);
        let length = match header[1] & 0x7f {
            126 => usize::from(client.read_u16().await.unwrap()),
            127 => usize::try_from(client.read_u64().await.unwrap()).unwrap(),
            n => usize::from(n),
        };
        assert_eq!(opcode, 1, "a text message");
        assert!(
            !fin && length <= FRAGMENT,
            "its first fragment, not the whole message: fin {fin}, {length} bytes"
        );
    }

    /// A client that reads gets the large frame whole, reassembled from its fragments.
    #[tokio::test]
    async fn a_client_that_reads_gets_a_large_frame_whole() {
        let client = connection(64 * 1024, SEND_TIMEOUT).await;
        let url = format!("ws://tacos{PATH}?event_id={BIG}");
        let (mut socket, _) = tokio_tungstenite::client_async(url, client).await.unwrap();
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame within a tick")
            .unwrap()
            .unwrap();
        let Message::Text(text) = message else {
            panic!("a text frame: {message:?}")
        };
        assert!(text.len() > 1_000_000, "{} bytes", text.len());
        let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(frame["type"], "availability");
        assert_eq!(frame["data"]["total"], 20_000);
    }
}
