//! The embedded server killed with SIGKILL in the middle of a rush, and started again on the same
//! data directory: everything it acknowledged is still there.
//!
//! 240 buyers register, queue, hold a seat, pay (most approve, some fail, some are delayed) and
//! wait for their confirmation, while the server is killed once 60 purchases are confirmed. The
//! holds last 6 s and the server stays down 8 s, so the holds alive at the crash expire while it
//! is down. After the restart:
//!
//! * every purchase the server confirmed (a 2xx showing CONFIRMED) is still CONFIRMED with the
//!   same order id, read with the token issued before the crash;
//! * the seats add up: available + held + sold = total, no seat sold twice (one order per sold
//!   seat) or both sold and available;
//! * holds that fell due while the server was down (their expiry, or for a hold whose payment
//!   had started, that payment's deadline) are settled at start, and nothing stays held past its
//!   due time; every payment the bank approved ends CONFIRMED or REFUNDED;
//! * passwords set before the crash still log in, and a join's idempotency key still replays
//!   its first answer;
//! * the holds released at start, due while the server was down, are counted by its metrics
//!   (`reservation_status_total`): its recorder is installed before the timers resume.
//!
//! A backup taken with `tacos-local backup` from another process during the rush, restored with
//! `tacos-local restore` into the stopped server's directory, gives a ledger that adds up too.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Mutex;

const BUYERS: usize = 240;
const SEATS: usize = 200;
const HOLD_SECONDS: u64 = 6;
const PAYMENT_GRACE_SECONDS: u64 = 2;
const PASSWORD: &str = "crash-test-password";
const ADMIN_PASSWORD: &str = "crash-admin-password";

struct Server {
    child: Child,
}

impl Server {
    fn start(dir: &std::path::Path, port: u16) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_tacos-local"))
            .args(["--port", &port.to_string(), "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "error")
            .env("TACOS_RATE_LIMIT", "off")
            .env("TACOS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TACOS_HOLD_SECONDS", HOLD_SECONDS.to_string())
            // A hold whose payment has started is kept past its expiry until the payment's
            // deadline; short here, so every hold is due within the test's waits.
            .env(
                "TACOS_PAYMENT_GRACE_SECONDS",
                PAYMENT_GRACE_SECONDS.to_string(),
            )
            .env("TACOS_DEMO_EVENT", "false")
            .env_remove("TACOS_JWT_SECRET")
            .env_remove("TACOS_WEBHOOK_SECRET")
            .env_remove("TACOS_STORE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tacos-local");
        Self { child }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value, bool), reqwest::Error> {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let cached = response.headers().contains_key("x-idempotency-cached");
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body, cached))
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<(u16, Value), reqwest::Error> {
        let key = uuid::Uuid::new_v4().to_string();
        let (status, body, _) = self
            .call(reqwest::Method::POST, path, token, Some(&key), Some(body))
            .await?;
        Ok((status, body))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Result<(u16, Value), reqwest::Error> {
        let (status, body, _) = self
            .call(reqwest::Method::GET, path, token, None, None)
            .await?;
        Ok((status, body))
    }

    async fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.get("/healthz", None).await.ok().map(|r| r.0) != Some(200) {
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What the buyers were told before the crash.
#[derive(Default)]
struct Acknowledged {
    /// reservation id -> (owner's token, order id) of every purchase seen CONFIRMED.
    confirmed: HashMap<String, (String, String)>,
    /// reservation id -> owner's token, of every hold placed.
    holds: HashMap<String, String>,
    /// (username, token) of every account registered.
    accounts: Vec<(String, String)>,
    /// A join before the crash: its idempotency key, token, body and first answer.
    join: Option<(String, String, Value, Value)>,
}

/// One buyer's purchase, as far as the server lets it go.
async fn buy(
    api: Api,
    event: String,
    n: usize,
    seen: Arc<Mutex<Acknowledged>>,
    confirmed: Arc<AtomicUsize>,
) -> Option<()> {
    let username = format!(
        "crash-buyer-{n}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let (status, session) = api
        .post(
            "/auth/register",
            None,
            &json!({"username": username, "password": PASSWORD}),
        )
        .await
        .ok()?;
    if status != 201 {
        return None;
    }
    let token = session["token"].as_str()?.to_string();
    seen.lock().await.accounts.push((username, token.clone()));
    let join_key = uuid::Uuid::new_v4().to_string();
    let join_body = json!({"event_id": event});
    let (status, joined, _) = api
        .call(
            reqwest::Method::POST,
            "/queue/join",
            Some(&token),
            Some(&join_key),
            Some(&join_body),
        )
        .await
        .ok()?;
    if status != 202 {
        return None;
    }
    seen.lock()
        .await
        .join
        .get_or_insert((join_key, token.clone(), join_body, joined.clone()));
    let waiting = joined["waiting_token"].as_str()?.to_string();
    loop {
        let (_, status) = api
            .get(&format!("/queue/status?token={waiting}"), None)
            .await
            .ok()?;
        if status["ready_for_entry"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, entered) = api
        .post(
            "/queue/enter",
            Some(&token),
            &json!({"waiting_token": waiting}),
        )
        .await
        .ok()?;
    if status != 200 {
        return None;
    }
    let seat = format!("A-{}", 1 + n % SEATS);
    let (status, hold) = api
        .post(
            "/reservations",
            Some(&token),
            &json!({"event_id": event, "seat_ids": [seat], "reservation_token": entered["reservation_token"]}),
        )
        .await
        .ok()?;
    if status != 201 {
        return None;
    }
    let reservation = hold["reservation_id"].as_str()?.to_string();
    seen.lock()
        .await
        .holds
        .insert(reservation.clone(), token.clone());
    let scenario = ["approve", "approve", "approve", "delay", "fail"][n % 5];
    let (status, intent) = api
        .post(
            "/payments/intent",
            Some(&token),
            &json!({"reservation_id": reservation, "amount": hold["total_amount"], "currency": hold["currency"], "scenario": scenario}),
        )
        .await
        .ok()?;
    if status != 200 {
        return None;
    }
    api.post(
        "/payments/process",
        Some(&token),
        &json!({"payment_intent_id": intent["payment_intent_id"]}),
    )
    .await
    .ok()?;
    for _ in 0..100 {
        let (status, got) = api
            .get(&format!("/reservations/{reservation}"), Some(&token))
            .await
            .ok()?;
        if status == 200 && got["status"] == "CONFIRMED" {
            let order = got["order_id"].as_str()?.to_string();
            seen.lock()
                .await
                .confirmed
                .insert(reservation, (token, order));
            confirmed.fetch_add(1, Ordering::SeqCst);
            return Some(());
        }
        if got["status"] != "HOLD" {
            return Some(());
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_rush_keeps_everything_it_acknowledged() {
    let dir = std::env::temp_dir().join(format!("tacos-crash-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let api = Api {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(64)
            .build()
            .unwrap(),
    };
    let server = Server::start(&dir, port);
    api.wait_up().await;

    let (_, admin) = api
        .post(
            "/auth/login",
            None,
            &json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await
        .unwrap();
    let admin = admin["token"].as_str().expect("admin token").to_string();
    let (status, event) = api
        .post(
            "/admin/events",
            Some(&admin),
            &json!({
                "name": "Crash test", "venue": "Hall", "starts_at": "2031-01-01T20:00:00Z",
                "currency": "USD", "price": 2500, "admission_rate_per_sec": 200,
                "sections": [{"name": "A", "rows": 1, "seats_per_row": SEATS}],
            }),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{event}");
    let event_id = event["event_id"].as_str().unwrap().to_string();

    // The rush, and the crash once 60 purchases are confirmed.
    let seen = Arc::new(Mutex::new(Acknowledged::default()));
    let confirmed = Arc::new(AtomicUsize::new(0));
    let buyers: Vec<_> = (0..BUYERS)
        .map(|n| {
            tokio::spawn(buy(
                api.clone(),
                event_id.clone(),
                n,
                seen.clone(),
                confirmed.clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let backup = dir.with_extension("backup.sqlite3");
    let mut backed_up = false;
    while confirmed.load(Ordering::SeqCst) < 60 {
        assert!(
            Instant::now() < deadline,
            "the rush did not confirm 60 purchases"
        );
        if !backed_up && confirmed.load(Ordering::SeqCst) >= 30 {
            // An online backup, by another process, while the buyers go on.
            let out = tacos_local(&["backup"], &backup, &dir);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            backed_up = true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let killed_at = chrono::Utc::now();
    for buyer in buyers {
        let _ = buyer.await;
    }
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner();
    assert!(seen.confirmed.len() >= 60);
    assert!(
        seen.holds.len() > seen.confirmed.len(),
        "some buyers were holding or paying at the crash"
    );

    // Down for longer than a hold and its payment grace: the holds alive at the crash are due
    // while nobody runs.
    tokio::time::sleep(Duration::from_secs(
        HOLD_SECONDS + PAYMENT_GRACE_SECONDS + 2,
    ))
    .await;
    let server = Server::start(&dir, port);
    api.wait_up().await;

    // Every acknowledged purchase, with the token issued before the crash.
    for (reservation, (token, order)) in &seen.confirmed {
        let (status, got) = api
            .get(&format!("/reservations/{reservation}"), Some(token))
            .await
            .unwrap();
        assert_eq!(status, 200, "{reservation}: {got}");
        assert_eq!(got["status"], "CONFIRMED", "{reservation}: {got}");
        assert_eq!(
            got["order_id"].as_str(),
            Some(order.as_str()),
            "{reservation}"
        );
    }
    // Passwords set before the crash.
    for (username, _) in seen.accounts.iter().take(5) {
        let (status, _) = api
            .post(
                "/auth/login",
                None,
                &json!({"username": username, "password": PASSWORD}),
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "{username} logs in after the restart");
    }
    // A join's idempotency key replays its first answer.
    let (key, token, body, first) = seen.join.clone().expect("a join before the crash");
    let (status, replayed, cached) = api
        .call(
            reqwest::Method::POST,
            "/queue/join",
            Some(&token),
            Some(&key),
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!((status, cached), (202, true), "{replayed}");
    assert_eq!(replayed, first);

    // Every hold settles: the expired ones were released at start, the paid ones confirmed (or
    // refunded when the approval came after the hold's end).
    let settled = Instant::now() + Duration::from_secs(30);
    let statuses = loop {
        let mut statuses = HashMap::new();
        for (reservation, token) in &seen.holds {
            let (_, got) = api
                .get(&format!("/reservations/{reservation}"), Some(token))
                .await
                .unwrap();
            statuses.insert(reservation.clone(), got);
        }
        if statuses.values().all(|r| r["status"] != "HOLD") || Instant::now() > settled {
            break statuses;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let still_held: Vec<_> = statuses
        .values()
        .filter(|r| r["status"] == "HOLD")
        .collect();
    assert!(
        still_held.is_empty(),
        "holds past their expiry: {still_held:?}"
    );

    // The holds that fell due while the server was down were released by the timers the new
    // process resumed as it started, and its metrics count them.
    let expired_while_down = statuses
        .values()
        .filter(|r| r["status"] == "EXPIRED" && due_after(r, killed_at))
        .count();
    assert!(
        expired_while_down > 0,
        "some holds fell due while the server was down"
    );
    let metrics = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = metrics
        .lines()
        .find(|line| line.starts_with("reservation_status_total{status=\"EXPIRED\"}"))
        .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        counted >= expired_while_down as f64,
        "{expired_while_down} holds expired while the server was down, /metrics counts {counted}"
    );

    let statuses = statuses.into_values().collect::<Vec<_>>();
    assert_ledger(&api, &event_id, &statuses).await;

    // The backup taken mid-rush, restored into the stopped server's directory: its ledger adds
    // up as well once its holds have run out.
    server.kill();
    let out = tacos_local(&["restore"], &backup, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _server = Server::start(&dir, port);
    api.wait_up().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut restored = Vec::new();
    for (reservation, token) in &seen.holds {
        let (status, got) = api
            .get(&format!("/reservations/{reservation}"), Some(token))
            .await
            .unwrap();
        // Holds placed after the backup are not in it.
        if status == 200 {
            assert_ne!(
                got["status"], "HOLD",
                "a hold past its due time (its expiry, or its payment's deadline) after the restore: {got}"
            );
            restored.push(got);
        }
    }
    assert!(
        restored.len() >= 30,
        "the backup holds the purchases made before it"
    );
    assert_ledger(&api, &event_id, &restored).await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&backup);
}

/// The event's seats add up, none is held, and the sold ones are exactly the seats of the
/// CONFIRMED reservations among `reservations`, each sold once.
async fn assert_ledger(api: &Api, event_id: &str, reservations: &[Value]) {
    let (_, availability) = api
        .get(&format!("/events/{event_id}/availability"), None)
        .await
        .unwrap();
    let count = |name: &str| availability[name].as_u64().unwrap();
    assert_eq!(
        count("available") + count("held") + count("sold"),
        count("total"),
        "{availability}"
    );
    assert_eq!(count("held"), 0, "{availability}");
    let sold: HashSet<String> = availability["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "SOLD")
        .map(|s| s["seat_id"].as_str().unwrap().to_string())
        .collect();
    let mut confirmed_seats = HashSet::new();
    for reservation in reservations.iter().filter(|r| r["status"] == "CONFIRMED") {
        for seat in reservation["seat_ids"].as_array().unwrap() {
            assert!(
                confirmed_seats.insert(seat.as_str().unwrap().to_string()),
                "seat {seat} sold twice"
            );
        }
    }
    assert_eq!(
        sold, confirmed_seats,
        "sold seats are exactly the confirmed ones"
    );
}

/// Runs `tacos-local <command> <path> --data-dir <dir>` to its end.
fn tacos_local(
    command: &[&str],
    path: &std::path::Path,
    dir: &std::path::Path,
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tacos-local"))
        .args(command)
        .arg(path)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run tacos-local")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `reservation`'s hold was due after `instant` (its `hold_expires_at`).
fn due_after(reservation: &Value, instant: chrono::DateTime<chrono::Utc>) -> bool {
    reservation["hold_expires_at"]
        .as_str()
        .and_then(|due| chrono::DateTime::parse_from_rfc3339(due).ok())
        .is_some_and(|due| due > instant)
}
