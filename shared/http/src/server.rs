//! The HTTP server of the processes that serve the router themselves (the embedded server, the
//! container's HTTP mode): an accept loop that a hostile client cannot stall.
//!
//! `axum::serve` accepts every connection and keeps it as long as the peer likes: 3,000 half-open
//! connections from one address stayed open for 45 s, and at the file-descriptor limit `accept`
//! failed and `/healthz` stopped answering for everyone. Here:
//!
//! * a connection has [`Limits::header_timeout`] to send a request's head, from the moment it is
//!   accepted and again after each response (hyper's header-read timeout: an idle keep-alive
//!   connection is closed as a half-open one is). A response being streamed (server-sent
//!   events) is not idle;
//! * a request's body has [`Limits::body_timeout`] to arrive once its head has: a client that sent
//!   a valid head and then one byte of its body every few seconds held its connection for good
//!   (4,096 such connections from 4 addresses kept `/healthz` refused for the whole attack).
//!   Reading a body past its time fails with [`BodyError::TimedOut`], which the extractors answer
//!   408 `REQUEST_TIMEOUT` in the contract's shape; hyper then closes the connection, whose body
//!   was never read to its end;
//! * a request head may take at most [`MAX_HEAD_BYTES`] of buffer: hyper's default (~400 KB) let
//!   1,000 unfinished heads hold 450 MB for their 10 s; a larger head is answered 431;
//! * at most [`Limits::per_address`] connections per client address (an IPv6 client's /64:
//!   [`counted_network`]) and [`Limits::total`] in all;
//!   a connection over either is closed at once, so it costs a file descriptor for a moment, not
//!   for the peer's patience. The per-address bound is kept well under the total, so one address
//!   cannot take every slot from the others (unless configured otherwise: a server behind a proxy
//!   on its own machine sees every client at the proxy's address). Each refused connection is
//!   counted (`http_connections_refused_total`, by the bound it hit) and logged, at most one
//!   warning per [`REFUSAL_LOG_EVERY`] with how many since, so a full server is never silent;
//! * at start the soft limit of open files is raised to the hard one ([`raise_fd_limit`]) and the
//!   total bound is kept below it, leaving room for the store's files and outgoing calls, so
//!   `accept` itself never fails for want of a descriptor;
//! * a write to a connection that makes no progress for [`Limits::write_timeout`] (a client that
//!   stopped reading a stream or a WebSocket) fails and ends the connection, freeing what its
//!   response had queued ([`crate::write_timeout`]): a probe's thousand unread availability
//!   streams held 3.7 GB for as long as the client cared to;
//! * an `accept` error (the rare resource shortage) pauses the loop briefly instead of spinning.
//!
//! HTTP/1.1 only (with upgrades, for the WebSocket endpoint): the browsers and load balancers in
//! front of these servers speak it, and it keeps the header timeout in force from the first byte
//! (a protocol sniff would run without one).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tacos_telemetry::series;
use tokio::net::TcpListener;
use tower::Service;

use crate::client_network::counted_network;
use crate::settings::HttpSettings;
use crate::write_timeout::WriteTimeout;

/// Descriptors kept free of connections: the store's files, outgoing HTTP, logs.
const RESERVED_FDS: u64 = 256;

/// At most one warning about refused connections this often (a flood would otherwise write one
/// line per connection it opens).
pub const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// The most a request head may fill of a connection's read buffer (hyper's `max_buf_size`): far
/// above any real head (browsers send a few KiB; a page's cookies are capped near 8 KiB by most
/// proxies), far below hyper's default of ~400 KB, which every unfinished head could hold for
/// [`Limits::header_timeout`]. A head still unfinished at that size is answered 431 and its
/// connection closed (hyper checks between reads, so one read may carry a buffer past the bound
/// by up to its own size: a head's memory stays within a small multiple of this).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The bounds of a server's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to send a request's head, from accept or from the end of the previous response.
    pub header_timeout: Duration,
    /// Time for a request's body to arrive, from the moment its head was read. The contract's
    /// largest body (64 KiB) in 10 s is 6.4 KB/s, which any client that means to send it beats.
    pub body_timeout: Duration,
    /// Time a stopping server gives the responses in flight to finish before it closes their
    /// connections: an event stream never finishes, and a stop that waited for every browser to
    /// leave kept a restart during a sale waiting (33 and 84 s in an operator's probe, the data
    /// directory still locked). Every event carries a whole state, so a stream cut here loses
    /// its client nothing: it reconnects to the next process.
    pub drain_timeout: Duration,
    /// Connections open at once from one client address.
    pub per_address: usize,
    /// Connections open at once in all.
    pub total: usize,
    /// Time a write may wait on the peer without progress before the connection is closed.
    pub write_timeout: Duration,
}

impl Limits {
    /// 10 s for a head, 10 s for a body, 10 s for a stalled write (five ticks of the live
    /// streams: a browser that reads keeps up with far less), 10 s to drain at a stop; 4,096
    /// connections in all (fewer when the descriptor limit is lower: [`Limits::fitting`]), a
    /// quarter of them per address.
    pub const DEFAULT: Limits = Limits {
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
        drain_timeout: Duration::from_secs(10),
        per_address: 1024,
        total: 4096,
        write_timeout: Duration::from_secs(10),
    };

    /// The limits `settings` ask for (`TACOS_MAX_CONNECTIONS`, `TACOS_MAX_CONNECTIONS_PER_ADDRESS`)
    /// within `fd_limit` open files: an address's share, when configured, is kept as configured
    /// (up to the total); else a quarter of the total, as [`Limits::fitting`] keeps it.
    pub fn configured(settings: &HttpSettings, fd_limit: u64) -> Self {
        let fitted = Limits {
            total: settings.max_connections,
            ..Limits::DEFAULT
        }
        .fitting(fd_limit);
        match settings.max_connections_per_address {
            Some(per_address) => Limits {
                per_address: per_address.clamp(1, fitted.total),
                ..fitted
            },
            None => fitted,
        }
    }

    /// These limits within `fd_limit` open files: the total at most the limit less
    /// `RESERVED_FDS`, one address at most a quarter of the total.
    pub fn fitting(self, fd_limit: u64) -> Self {
        let room = usize::try_from(fd_limit.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
        let total = self.total.min(room).max(4);
        Limits {
            total,
            per_address: self.per_address.min(total / 4).max(1),
            ..self
        }
    }
}

/// Raises the soft limit of open files to the hard limit; returns the limit in force.
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "the limit of open files was not raised");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// Who holds connections, to keep each address under its share.
#[derive(Default)]
struct Occupancy {
    per_address: HashMap<IpAddr, usize>,
    total: usize,
}

/// A connection's place, given back when it closes.
struct Slot {
    occupancy: Arc<Mutex<Occupancy>>,
    address: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut occupancy = self.occupancy.lock();
        occupancy.total -= 1;
        if let Some(count) = occupancy.per_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                occupancy.per_address.remove(&self.address);
            }
        }
    }
}

/// Which bound a refused connection hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Total,
    PerAddress,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::Total => "total",
            Refusal::PerAddress => "per_address",
        }
    }
}

/// Counts refused connections and warns about them, at most once per [`REFUSAL_LOG_EVERY`].
#[derive(Default)]
struct Refusals {
    since_warning: u64,
    warned_at: Option<Instant>,
}

impl Refusals {
    fn refused(&mut self, refusal: Refusal, address: IpAddr, limits: &Limits) {
        series::connection_refused(refusal.label());
        self.since_warning += 1;
        let now = Instant::now();
        if self
            .warned_at
            .is_some_and(|at| now.duration_since(at) < REFUSAL_LOG_EVERY)
        {
            return;
        }
        tracing::warn!(
            bound = refusal.label(),
            %address,
            total = limits.total,
            per_address = limits.per_address,
            refused = self.since_warning,
            "connections refused: over the server's bound (refused counts those since the last warning)"
        );
        self.since_warning = 0;
        self.warned_at = Some(now);
    }
}

/// A slot for a connection from `peer`, counted against its network's share (an IPv6 peer's /64,
/// as everywhere a client is counted: [`counted_network`]) and the total.
fn admit(
    occupancy: &Arc<Mutex<Occupancy>>,
    limits: &Limits,
    peer: IpAddr,
) -> Result<Slot, Refusal> {
    let address = counted_network(peer);
    let mut held = occupancy.lock();
    let mine = held.per_address.get(&address).copied().unwrap_or(0);
    if held.total >= limits.total {
        return Err(Refusal::Total);
    }
    if mine >= limits.per_address {
        return Err(Refusal::PerAddress);
    }
    held.total += 1;
    *held.per_address.entry(address).or_insert(0) += 1;
    Ok(Slot {
        occupancy: occupancy.clone(),
        address,
    })
}

/// What [`serve`] serves: a [`Router`](axum::Router), or a service in front of one, copied for
/// each connection. Like a router, it is always ready: requests are handed to it without asking.
pub trait App:
    Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
}

impl<S> App for S where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then waits for the
/// requests in flight, at most [`Limits::drain_timeout`]. Each request carries the peer's [`ConnectInfo<SocketAddr>`]. `app` is
/// the API's [`Router`](axum::Router), or a service in front of it.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: App,
{
    let occupancy = Arc::new(Mutex::new(Occupancy::default()));
    let mut refusals = Refusals::default();
    // Connections in flight, and the signal that asks them to finish.
    let mut connections = tokio::task::JoinSet::new();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed; pausing");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let slot = match admit(&occupancy, &limits, peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                // Over its address's share or the total: closed at once.
                drop(stream);
                refusals.refused(refusal, peer.ip(), &limits);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            &http,
            app.clone(),
            (stream, peer),
            (slot, limits.body_timeout, limits.write_timeout),
            stopping.clone(),
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open when the drain ended (event streams, slow readers): closed"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// One accepted connection served to its end: its requests through `app`, each knowing the
/// peer's address, each body bounded by `body_timeout` and its writes by `write_timeout`; when
/// `stopping` changes, the request in flight is finished and no other taken. Its `slot` is given
/// back when it ends, however it ends.
fn connection<S: App>(
    http: &http1::Builder,
    app: S,
    (stream, peer): (tokio::net::TcpStream, SocketAddr),
    (slot, body_timeout, write_timeout): (Slot, Duration, Duration),
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    // The connection's own copy of the app, lent to each request in turn (hyper asks for one
    // answer at a time on a connection): a copy per request would count references to the
    // router, shared by every connection, from both cores at every request.
    let app = std::cell::RefCell::new(app);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let request = request.map(|body| TimedBody::new(body, body_timeout).into_body());
        app.borrow_mut().call(request)
    });
    let connection = http
        .serve_connection(
            TokioIo::new(WriteTimeout::new(stream, write_timeout)),
            service,
        )
        .with_upgrades();
    async move {
        let mut connection = std::pin::pin!(connection);
        let ended = tokio::select! {
            ended = connection.as_mut() => ended,
            _ = stopping.changed() => {
                // Finish the request in flight, take no other.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(error) = ended {
            tracing::debug!(%error, %peer, "connection ended");
        }
        drop(slot);
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Its time ([`Limits::body_timeout`]) ran out before its end arrived.
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(Duration),
    /// The connection failed under it (the peer went away, or sent what is not HTTP).
    #[error(transparent)]
    Read(#[from] hyper::Error),
}

/// Whether `error`, or any error under it, is a body that ran out of time: the body passes through
/// axum's own error types before an extractor sees it.
pub fn body_timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source())
        .any(|e| matches!(e.downcast_ref(), Some(BodyError::TimedOut(_))))
}

pin_project_lite::pin_project! {
    /// A request body that must arrive by its deadline. The timer is made only when a read has to
    /// wait: a body that came with its head (nearly every one) costs none.
    struct TimedBody {
        #[pin]
        inner: Incoming,
        limit: Duration,
        deadline: tokio::time::Instant,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl TimedBody {
    fn new(inner: Incoming, limit: Duration) -> Self {
        TimedBody {
            inner,
            limit,
            deadline: tokio::time::Instant::now() + limit,
            timer: None,
        }
    }

    /// As the router takes it; an empty body (a `GET`'s) is passed on as it is, with nothing to
    /// time.
    fn into_body(self) -> axum::body::Body {
        if hyper::body::Body::is_end_stream(&self.inner) {
            axum::body::Body::new(self.inner)
        } else {
            axum::body::Body::new(self)
        }
    }
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(BodyError::Read)));
        }
        let deadline = *this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::TimedOut(*this.limit)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Instant;

    use axum::routing::{get, post};
    use axum::Router;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::extract::RawBody;

    async fn server(limits: Limits) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app =
            Router::new()
                .route(
                    "/healthz",
                    get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                        peer.ip().to_string()
                    }),
                )
                .route(
                    "/echo",
                    post(|RawBody(body): RawBody| async move { body.len().to_string() }),
                )
                .route("/endless", get(endless));
        tokio::spawn(serve(listener, app, limits, std::future::pending()));
        addr
    }

    /// A response that never ends and is always ready with more (a stream's worst case).
    async fn endless() -> axum::body::Body {
        static CHUNK: [u8; 16 * 1024] = [b'x'; 16 * 1024];
        let chunk = axum::body::Bytes::from_static(&CHUNK);
        axum::body::Body::from_stream(futures::stream::repeat(Ok::<_, Infallible>(chunk)))
    }

    /// Reads until the server closes the connection; how long that took.
    async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(limit, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                Ok(Ok(_)) => continue,
                Err(_) => return None,
            }
        }
    }

    #[tokio::test]
    async fn silent_and_idle_connections_are_closed_after_the_header_timeout() {
        let addr = server(Limits {
            header_timeout: Duration::from_millis(500),
            ..Limits::DEFAULT
        })
        .await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_within(&mut silent, Duration::from_secs(3))
                .await
                .is_some(),
            "a half-open connection is closed"
        );

        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        assert!(
            closed_within(&mut idle, Duration::from_secs(3))
                .await
                .is_some(),
            "an idle keep-alive connection is closed"
        );

        let mut trickle = TcpStream::connect(addr).await.unwrap();
        trickle
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        assert!(
            closed_within(&mut trickle, Duration::from_secs(3))
                .await
                .is_some(),
            "a head sent too slowly is cut off"
        );
    }

    /// Reads what the server sends until it closes the connection or `limit` passes; the text,
    /// and whether it closed.
    async fn answer_within(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&answer).into(), true),
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => return (String::from_utf8_lossy(&answer).into(), false),
            }
        }
    }

    /// The probe's slow body: a valid head, then a byte of the body now and then. Such
    /// connections stayed open for good (4,096 of them kept `/healthz` refused); each is now
    /// answered 408 in the contract's shape and closed once its body's time is up, and others are
    /// served meanwhile.
    #[tokio::test]
    async fn a_body_dribbled_slower_than_its_time_is_answered_408_and_closed() {
        let addr = server(Limits {
            body_timeout: Duration::from_millis(700),
            ..Limits::DEFAULT
        })
        .await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{")
            .await
            .unwrap();
        let started = Instant::now();
        let dribble = async {
            // A byte every 200 ms, for far longer than the body's time.
            for _ in 0..25 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if slow.write_all(b" ").await.is_err() {
                    break;
                }
            }
        };
        let other = async {
            // Another client is answered while the body dribbles.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut other = TcpStream::connect(addr).await.unwrap();
            other
                .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 256];
            let n = tokio::time::timeout(Duration::from_secs(1), other.read(&mut buf))
                .await
                .expect("healthz answered at once")
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let ((), healthz) = tokio::join!(dribble, other);
        assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
        let (answer, closed) = answer_within(&mut slow, Duration::from_secs(2)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(closed, "the connection is closed after the 408: {answer}");
        assert!(started.elapsed() < Duration::from_secs(7));
        let body = &answer[answer.find("\r\n\r\n").expect("a body") + 4..];
        let error: serde_json::Value = serde_json::from_str(body).expect(body);
        assert_eq!(error["error"]["code"], "REQUEST_TIMEOUT", "{error}");
        assert!(error["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));

        // A body that arrives in time, even in pieces, is read as ever.
        let mut prompt = TcpStream::connect(addr).await.unwrap();
        prompt
            .write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nab")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        prompt.write_all(b"cd").await.unwrap();
        let mut buf = [0u8; 512];
        let n = prompt.read(&mut buf).await.unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\n4"),
            "{answer}"
        );
    }

    /// An unfinished head of a few hundred KB held that much memory for its 10 s (1,000 of them:
    /// 450 MB); a head over [`MAX_HEAD_BYTES`] is refused with 431 instead.
    /// A stop finishes the requests in flight and closes, after [`Limits::drain_timeout`], the
    /// responses that never end (an event stream), instead of waiting for their clients to go.
    #[tokio::test]
    async fn a_stop_closes_a_response_that_never_ends_after_the_drain() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/stream",
            get(|| async {
                let endless = futures::stream::pending::<Result<Bytes, Infallible>>();
                axum::body::Body::from_stream(endless)
            }),
        );
        let limits = Limits {
            drain_timeout: Duration::from_millis(500),
            ..Limits::DEFAULT
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(serve(listener, app, limits, async {
            let _ = stopped.await;
        }));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let started = Instant::now();
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("the server stops though the stream is still open")
            .unwrap()
            .unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "it drained first"
        );
        assert!(
            closed_within(&mut stream, Duration::from_secs(1))
                .await
                .is_some(),
            "the stream's connection is closed"
        );
    }

    #[tokio::test]
    async fn a_head_over_the_buffer_is_refused_with_431() {
        let addr = server(Limits::DEFAULT).await;
        let mut big = TcpStream::connect(addr).await.unwrap();
        // hyper checks the bound between reads, and one read may take the buffer past it: three
        // times the bound is refused for sure, and is well under hyper's default (~400 KB).
        let filler = "a".repeat(3 * MAX_HEAD_BYTES);
        let head = format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-filler: {filler}\r\n\r\n");
        // The server may stop reading (and close) before the whole head is written.
        let _ = big.write_all(head.as_bytes()).await;
        let (answer, closed) = answer_within(&mut big, Duration::from_secs(2)).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        assert!(closed, "{answer}");
        // A head under the bound is served.
        let mut fine = TcpStream::connect(addr).await.unwrap();
        let filler = "a".repeat(MAX_HEAD_BYTES / 2);
        let head = format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-filler: {filler}\r\n\r\n");
        fine.write_all(head.as_bytes()).await.unwrap();
        let mut buf = [0u8; 256];
        let n = fine.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }

    /// A client that opens a stream and stops reading (a probe held a thousand availability
    /// streams so, 3.7 GB, for as long as it liked) is closed once a write has waited on it for
    /// the write timeout; then all it can read is what was already in flight.
    #[tokio::test]
    async fn a_client_that_stops_reading_is_closed_after_the_write_timeout() {
        let addr = server(Limits {
            write_timeout: Duration::from_millis(500),
            ..Limits::DEFAULT
        })
        .await;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        // A small window, so the server's writes stall at once rather than after megabytes.
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stalled = socket.connect(addr).await.unwrap();
        stalled
            .write_all(b"GET /endless HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        // Reads nothing for six times the timeout.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let drained = tokio::time::timeout(
            Duration::from_secs(20),
            closed_within(&mut stalled, Duration::from_secs(5)),
        )
        .await;
        assert!(
            matches!(drained, Ok(Some(_))),
            "the stream went on for a client that had stopped reading: {drained:?}"
        );
    }

    #[tokio::test]
    async fn one_address_cannot_take_every_connection() {
        let addr = server(Limits {
            header_timeout: Duration::from_secs(30),
            per_address: 8,
            total: 32,
            ..Limits::DEFAULT
        })
        .await;
        // 8 held from 127.0.0.1; the 9th is closed at once.
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut ninth = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut ninth, Duration::from_secs(2))
            .await
            .is_some());
        // Another address is served at once.
        let other = tokio::net::TcpSocket::new_v4().unwrap();
        other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut other = other.connect(addr).await.unwrap();
        other
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(1), other.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("127.0.0.2"),
            "{answer}"
        );
        // A held one closing frees its place.
        drop(held.pop());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut again = TcpStream::connect(addr).await.unwrap();
        again
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let n = tokio::time::timeout(Duration::from_secs(1), again.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }

    /// 30 addresses of one /64 made 30 connections' worth of shares; they are one share now.
    #[test]
    fn an_ipv6_64_shares_one_addresss_connections() {
        let occupancy = Arc::new(Mutex::new(Occupancy::default()));
        let limits = Limits {
            per_address: 2,
            ..Limits::DEFAULT
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut held = vec![
            admit(&occupancy, &limits, ip("2001:db8:1:2::1")).unwrap(),
            admit(&occupancy, &limits, ip("2001:db8:1:2:ffff::2")).unwrap(),
        ];
        assert_eq!(
            admit(&occupancy, &limits, ip("2001:db8:1:2::3")).err(),
            Some(Refusal::PerAddress),
            "a third address of the same /64"
        );
        held.push(admit(&occupancy, &limits, ip("2001:db8:1:3::1")).unwrap());
        // IPv4, plain or mapped, is one address each.
        held.push(admit(&occupancy, &limits, ip("192.0.2.1")).unwrap());
        held.push(admit(&occupancy, &limits, ip("::ffff:192.0.2.1")).unwrap());
        assert_eq!(
            admit(&occupancy, &limits, ip("192.0.2.1")).err(),
            Some(Refusal::PerAddress)
        );
        held.push(admit(&occupancy, &limits, ip("192.0.2.2")).unwrap());
        // A slot given back frees its network's place.
        held.remove(0);
        assert!(admit(&occupancy, &limits, ip("2001:db8:1:2::3")).is_ok());
    }

    #[test]
    fn limits_fit_under_the_descriptor_limit() {
        let fitted = Limits::DEFAULT.fitting(1024);
        assert_eq!(fitted.total, 768);
        assert_eq!(fitted.per_address, 192);
        assert_eq!(Limits::DEFAULT.fitting(1_048_576), Limits::DEFAULT);
    }

    #[test]
    fn configured_limits_keep_an_address_share_as_asked_within_the_total() {
        let settings = |pairs: &[(&str, &str)]| {
            HttpSettings::read(&tacos_core::config::Env::from_pairs(pairs)).unwrap()
        };
        assert_eq!(
            Limits::configured(&settings(&[]), 1_048_576),
            Limits::DEFAULT
        );
        let behind_a_proxy = Limits::configured(
            &settings(&[
                ("TACOS_MAX_CONNECTIONS", "8000"),
                ("TACOS_MAX_CONNECTIONS_PER_ADDRESS", "8000"),
            ]),
            1_048_576,
        );
        assert_eq!(
            (behind_a_proxy.total, behind_a_proxy.per_address),
            (8000, 8000)
        );
        // Never above what the descriptors allow.
        let low = Limits::configured(
            &settings(&[("TACOS_MAX_CONNECTIONS_PER_ADDRESS", "5000")]),
            1024,
        );
        assert_eq!((low.total, low.per_address), (768, 768));
    }

    #[tokio::test]
    async fn connections_over_an_address_share_are_refused_and_counted() {
        let refused = || {
            let text = series::prometheus().render();
            text.lines()
                .find(|l| l.starts_with("http_connections_refused_total{limit=\"per_address\"}"))
                .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let before = refused();
        let addr = server(Limits {
            per_address: 2,
            ..Limits::DEFAULT
        })
        .await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 256];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
            held.push(stream);
        }
        let mut third = TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_within(&mut third, Duration::from_secs(2))
                .await
                .is_some(),
            "the third connection from one address is closed at once"
        );
        assert!(refused() > before, "the refusal is counted");
    }
}
