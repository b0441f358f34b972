//! Issue 14, item 4, against the `tacos-local` binary as a user starts it (default settings, so
//! the default 10 s header timeout and connection caps): 3,000 half-open connections from one
//! address (connected, half a request head sent, then silence) do not keep another client's
//! `/healthz` waiting more than 1 s, and the server closes every one of them within 30 s.
//!
//! "Another client" connects from 127.0.0.2 (Linux loopback answers any 127/8 source), so it is
//! a different address to the server's per-address cap. The test raises its own limit of open
//! files so its 3,000 sockets fit.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const HALF_OPEN: usize = 3_000;
/// What the server must answer the other client within.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
/// What the server must close the half-open connections within.
const CLOSED_WITHIN: Duration = Duration::from_secs(30);

/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `GET /healthz` from 127.0.0.2 on a fresh connection; the status line and how long it took.
async fn health_from_another_address(server: SocketAddr) -> (String, Duration) {
    let started = Instant::now();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        let mut stream = socket.connect(server).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    })
    .await
    .unwrap_or_else(|_| "no answer in 10 s".into());
    (answer, started.elapsed())
}

/// Reads until the server closes the connection (EOF or reset), or `deadline`; whether it did.
async fn closed_by(mut stream: TcpStream, deadline: tokio::time::Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an error answer before closing, say
            Err(_) => return false,
        }
    }
}

#[test]
fn half_open_connections_from_one_address_neither_starve_others_nor_stay_open() {
    let fd_limit = tacos_http::server::raise_fd_limit();
    assert!(
        fd_limit > HALF_OPEN as u64 + 256,
        "the test needs {} open files; the limit is {fd_limit}",
        HALF_OPEN + 256
    );
    let port = free_port();
    let data = std::env::temp_dir().join(format!("tacos-half-open-{}", std::process::id()));
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_tacos-local"))
            .args(["--port", &port.to_string(), "--data-dir"])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .env("TACOS_STORE", "memory")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tacos-local"),
    );
    let server: SocketAddr = ([127, 0, 0, 1], port).into();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Up, and answering the other address before the flood.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(server).await.is_ok() {
                let (status, _) = health_from_another_address(server).await;
                if status.starts_with("HTTP/1.1 200") {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "tacos-local did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // 3,000 connections from 127.0.0.1, each sending half a request head, then nothing.
        let opening = Instant::now();
        let mut half_open = Vec::with_capacity(HALF_OPEN);
        let mut refused_writes = 0;
        for batch in 0..HALF_OPEN / 100 {
            let opened = futures::future::join_all((0..100).map(|_| async {
                let mut stream = TcpStream::connect(server).await.expect("connect");
                // A connection over the server's per-address cap may already be closed.
                let wrote = stream
                    .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
                    .await
                    .is_ok();
                (stream, wrote)
            }))
            .await;
            for (stream, wrote) in opened {
                refused_writes += usize::from(!wrote);
                half_open.push(stream);
            }
            // Another client, while the flood is being opened.
            if batch % 10 == 9 {
                let (status, took) = health_from_another_address(server).await;
                assert!(
                    status.starts_with("HTTP/1.1 200") && took <= ANSWER_WITHIN,
                    "with {} half-open connections open, /healthz from another address \
                     answered {status:?} in {took:?}",
                    half_open.len()
                );
            }
        }
        let all_open = Instant::now();
        eprintln!(
            "{HALF_OPEN} half-open connections opened in {:?} ({refused_writes} already closed \
             when written to)",
            all_open - opening
        );

        // Another client, with all of them held: answered within 1 s, several times over.
        let mut slowest = Duration::ZERO;
        for _ in 0..5 {
            let (status, took) = health_from_another_address(server).await;
            assert!(
                status.starts_with("HTTP/1.1 200"),
                "/healthz from another address answered {status:?}"
            );
            slowest = slowest.max(took);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            slowest <= ANSWER_WITHIN,
            "/healthz from another address took {slowest:?} with {HALF_OPEN} half-open \
             connections held"
        );

        // The server closes every half-open connection within 30 s of its opening (measured
        // from the first one opened: the strictest reading).
        let deadline = tokio::time::Instant::from_std(opening + CLOSED_WITHIN);
        let waits = half_open.into_iter().map(|stream| async move {
            let closed = closed_by(stream, deadline).await;
            (closed, opening.elapsed())
        });
        let closed = futures::future::join_all(waits).await;
        let still_open = closed.iter().filter(|(closed, _)| !closed).count();
        let last_closed = closed
            .iter()
            .filter(|(closed, _)| *closed)
            .map(|(_, at)| *at)
            .max()
            .unwrap_or_default();
        eprintln!(
            "slowest /healthz from another address: {slowest:?}; every half-open connection \
             closed by the server {last_closed:?} after the first was opened"
        );
        assert_eq!(
            still_open, 0,
            "{still_open} of {HALF_OPEN} half-open connections were still open 30 s after \
             the first was opened"
        );

        // And the server still answers everyone.
        let (status, took) = health_from_another_address(server).await;
        assert!(status.starts_with("HTTP/1.1 200"), "{status} in {took:?}");
        let (status, _) = {
            let mut stream = TcpStream::connect(server).await.unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut buf = vec![0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            (String::from_utf8_lossy(&buf[..n]).to_string(), ())
        };
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "the flooding address is served again: {status}"
        );
    });
    let _ = std::fs::remove_dir_all(&data);
}
