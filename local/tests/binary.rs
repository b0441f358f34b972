//! The `tacos-local` binary as a user starts it: the web app's settings come from the environment
//! (`/config.json` and the page's policy say what `TACOS_WEB_*` say), and a setting it cannot use
//! stops it at start-up with the variable named, rather than serving a broken app.
//!
//! Ports 8300–8399: the first one free.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    (8300..8400)
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port in 8300-8399")
}

/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn local(envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tacos-local"));
    command
        .env("RUST_LOG", "warn")
        .env("TACOS_STORE", "memory")
        .env_remove("TACOS_WEB_API_BASE_URL")
        .env_remove("TACOS_WEB_WS_URL")
        .envs(envs.iter().copied());
    command
}

#[test]
fn config_json_and_the_page_policy_come_from_the_environment() {
    let port = free_port();
    let _server = Server(
        local(&[
            ("TACOS_WEB_API_BASE_URL", "https://api.tickets.test/"),
            ("TACOS_WEB_WS_URL", "wss://live.tickets.test/ws"),
        ])
        .args(["--port", &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("start tacos-local"),
    );
    let runtime = tokio_runtime();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/config.json");
        let deadline = Instant::now() + Duration::from_secs(30);
        let response = loop {
            match http.get(&url).send().await {
                Ok(response) => break response,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("tacos-local did not answer on :{port}: {e}"),
            }
        };
        assert_eq!(response.status(), 200);
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            policy.contains("connect-src 'self' https://api.tickets.test wss://live.tickets.test;"),
            "{policy}"
        );
        let config: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            config,
            serde_json::json!({
                "api_base_url": "https://api.tickets.test",
                "ws_url": "wss://live.tickets.test/ws",
            })
        );
    });
}

#[test]
fn an_unusable_setting_stops_the_server_at_start_up() {
    let port = free_port();
    let output = local(&[("TACOS_WEB_WS_URL", "https://not-a-websocket.test")])
        .args(["--port", &port.to_string()])
        .output()
        .expect("run tacos-local");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TACOS_WEB_WS_URL") && stderr.contains("ws:// or wss://"),
        "{stderr}"
    );
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
