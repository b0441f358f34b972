//! `tacos-load`: the load driver of Traffic Tacos, and the ceiling it is measured against.
//!
//! ```text
//! tacos-load run --scenario join     --concurrency 64 --duration 10        # max rate
//! tacos-load run --scenario status   --rate 5000 --duration 10             # fixed rate
//! tacos-load run --scenario purchase --rate 200 --count 2000 --poll 250    # whole buyers
//! tacos-load ceiling --addr 127.0.0.1:8001                                 # fixed-JSON server
//! ```
//!
//! A run sets up what it needs through the API (an event of its own, created as the
//! administrator; accounts for buyers; waiting tokens to poll), then drives the scenario and
//! reports throughput, answers by status and error code, and HDR latency percentiles per route.
//! A purchase run ends with a ledger check. `--json` and `--plot` write the report for scripts and
//! people; `--strict` makes any error, skip or ledger problem the exit status. BENCHMARKS.md has
//! the benchmarks built on it (`scripts/bench.sh`).
//!
//! Modules: [`pace`] starts jobs (open or closed model), [`api`] makes the contract's calls,
//! [`record`] keeps the histograms, [`scenario`] is what a virtual user does, [`ledger`] checks
//! a purchase run's sales, [`report`] and [`plot`] present it, [`ceiling`] is the baseline server.

/// The driver shares the machine's cores with the server it measures: every microsecond it
/// spends is one the server does not get, so it allocates as the server does (with glibc's
/// allocator it spent about 7 % more CPU per purchase flow; BENCHMARKS.md §2).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod api;
mod ceiling;
mod ledger;
mod pace;
mod plot;
mod record;
mod report;
mod scenario;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Parser, ValueEnum};
use futures::stream::{self, StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use parking_lot::Mutex;
use reqwest::Method;
use serde_json::json;

use api::{Account, Api};
use pace::{Load, Stop};
use record::Recorder;
use report::{FlowReport, Report};
use scenario::{Flows, Poll, Purchase};

#[derive(Parser)]
#[command(name = "tacos-load", about = "Load driver for Traffic Tacos", version)]
enum Cli {
    /// Drive a scenario against a deployment and report.
    Run(Box<RunArgs>),
    /// Serve the ceiling: a fixed JSON body on every path, on the platform's HTTP stack.
    Ceiling {
        #[arg(long, default_value = "127.0.0.1:8001")]
        addr: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScenarioKind {
    /// Anonymous joins of the waiting room.
    Join,
    /// Position polls with tokens joined before the run.
    Status,
    /// Whole buyers: join, poll, enter, reserve, pay, wait for the webhook's confirmation.
    Purchase,
}

impl ScenarioKind {
    fn name(self) -> &'static str {
        match self {
            ScenarioKind::Join => "join",
            ScenarioKind::Status => "status",
            ScenarioKind::Purchase => "purchase",
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// The deployment, without `/api/v1`.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    base_url: String,
    #[arg(long, value_enum)]
    scenario: ScenarioKind,
    /// Fixed rate (open model): requests (purchase: buyers) started per second. Without it the
    /// run is max-rate with `--concurrency` workers.
    #[arg(long)]
    rate: Option<f64>,
    /// Workers of a max-rate run.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds to keep starting requests or buyers.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many requests or buyers instead of after `--duration`.
    #[arg(long)]
    count: Option<u64>,
    /// Use this event instead of creating one (no ledger check: others may buy from it).
    #[arg(long)]
    event_id: Option<String>,
    #[arg(long, env = "TACOS_ADMIN_USERNAME", default_value = "admin")]
    admin_username: String,
    /// Needed to create the run's event.
    #[arg(long, env = "TACOS_ADMIN_PASSWORD")]
    admin_password: Option<String>,
    /// Tickets of the run's (general-admission) event.
    #[arg(long, default_value_t = 1_000_000)]
    tickets: u64,
    /// Admission rate of the run's event, people per second [default: 10000 for purchase, 1
    /// otherwise, so that joins and polls see a waiting line].
    #[arg(long)]
    admission_rate: Option<f64>,
    /// Purchase: accounts registered before the run; buyers take turns with them. At least one
    /// per `MAX_PER_ORDER` buyers of a `--count` run is registered whatever this says: an account
    /// holds and buys at most that many tickets of an event across its orders.
    #[arg(long, default_value_t = 32)]
    accounts: usize,
    /// Purchase: milliseconds between a waiting buyer's polls, `250` or a range `2000-4000`.
    #[arg(long, default_value = "250")]
    poll: Poll,
    /// Status: waiting tokens joined before the run.
    #[arg(long, default_value_t = 1_000)]
    tokens: usize,
    /// Purchase: a buyer not done after this many seconds has failed.
    #[arg(long, default_value_t = 120)]
    patience: u64,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Most jobs in flight before the driver skips (and reports) further starts.
    #[arg(long, default_value_t = 50_000)]
    max_in_flight: usize,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write an HTML page with latency and rate plots here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Exit with status 1 unless every request succeeded, nothing was skipped and the ledger
    /// balanced. (An unbalanced ledger always does.)
    #[arg(long)]
    strict: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    match Cli::parse() {
        Cli::Ceiling { addr } => runtime.block_on(ceiling::serve(&addr)),
        Cli::Run(args) => {
            let report = runtime.block_on(run(&args))?;
            println!("{}", report.table());
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = &args.plot {
                std::fs::write(path, plot::html(&report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if report.ledger.as_ref().is_some_and(|l| !l.balanced()) {
                bail!("the ledger does not balance");
            }
            if args.strict && !report.clean() {
                bail!("--strict: the run had errors, skips or failed flows");
            }
            Ok(())
        }
    }
}

async fn run(args: &RunArgs) -> anyhow::Result<Report> {
    let timeout = Duration::from_secs(args.timeout);
    let setup = Api::new(
        &args.base_url,
        timeout,
        Arc::new(Recorder::new(Instant::now())),
    )?;
    let event_id = match &args.event_id {
        Some(id) => id.clone(),
        None => create_event(&setup, args).await?,
    };
    let (load, stop) = shape(args)?;
    let progress = progress_bar(args.quiet, stop);
    let prepared = Prepared::for_scenario(&setup, args, &event_id).await?;

    let recorder = Arc::new(Recorder::new(Instant::now()));
    let api = Api::new(&args.base_url, timeout, recorder.clone())?;
    let ticker = tokio::spawn({
        let (recorder, progress) = (recorder.clone(), progress.clone());
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                progress.set_message(format!("{} answered", recorder.total()));
            }
        }
    });
    let flows = Arc::new(Mutex::new(Flows::default()));
    let pacing = Pacing {
        load,
        stop,
        max_in_flight: args.max_in_flight,
        progress: &progress,
    };
    let paced = drive(args, pacing, api, &event_id, &prepared, &flows).await;
    ticker.abort();
    progress.finish_and_clear();

    let (routes, timeline) = recorder.summary(Duration::from_secs_f64(paced.seconds));
    let answered: u64 = routes.iter().map(|r| r.requests).sum();
    let errors = routes.iter().map(|r| r.errors).sum();
    let (flow_report, ledger) = if args.scenario == ScenarioKind::Purchase {
        // Every buyer has finished: the tally is the run's alone now.
        let flows = std::mem::take(&mut *flows.lock());
        let ledger = match args.event_id {
            Some(_) => None,
            None => Some(ledger::check(&setup, &event_id, &flows, &prepared.accounts).await?),
        };
        (Some(FlowReport::new(&flows, paced.seconds)), ledger)
    } else {
        (None, None)
    };
    Ok(Report {
        scenario: args.scenario.name(),
        base_url: args.base_url.clone(),
        load,
        stop,
        requests_per_sec: answered as f64 / paced.seconds.max(1e-9),
        paced,
        errors,
        routes,
        flows: flow_report,
        ledger,
        timeline,
    })
}

/// The run's load model and end, from the arguments.
fn shape(args: &RunArgs) -> anyhow::Result<(Load, Stop)> {
    let stop = match args.count {
        Some(jobs) => Stop::Count { jobs },
        None => Stop::After {
            seconds: args.duration,
        },
    };
    let load = match args.rate {
        Some(per_sec) if per_sec > 0.0 => Load::FixedRate { per_sec },
        Some(_) => bail!("--rate must be above 0"),
        None => Load::MaxRate {
            workers: args.concurrency,
        },
    };
    Ok((load, stop))
}

/// What a scenario needs before the clock starts: waiting tokens to poll, or accounts to buy with.
struct Prepared {
    tokens: Arc<Vec<String>>,
    accounts: Vec<Account>,
}

impl Prepared {
    async fn for_scenario(setup: &Api, args: &RunArgs, event_id: &str) -> anyhow::Result<Self> {
        Ok(Self {
            tokens: match args.scenario {
                ScenarioKind::Status => {
                    Arc::new(waiting_tokens(setup, event_id, args.tokens).await?)
                }
                _ => Arc::default(),
            },
            accounts: match args.scenario {
                ScenarioKind::Purchase => register(setup, accounts_needed(args)).await?,
                _ => Vec::new(),
            },
        })
    }
}

/// How the jobs are paced ([`pace::run`]'s arguments but the job).
struct Pacing<'a> {
    load: Load,
    stop: Stop,
    max_in_flight: usize,
    progress: &'a ProgressBar,
}

/// Runs the scenario's jobs, paced, until the run's end; purchases tally into `flows`.
async fn drive(
    args: &RunArgs,
    pacing: Pacing<'_>,
    api: Api,
    event_id: &str,
    prepared: &Prepared,
    flows: &Arc<Mutex<Flows>>,
) -> pace::Paced {
    let Pacing {
        load,
        stop,
        max_in_flight,
        progress,
    } = pacing;
    match args.scenario {
        ScenarioKind::Join => {
            let event_id = Arc::<str>::from(event_id);
            pace::run(load, stop, max_in_flight, progress, move |_, due| {
                let (api, event_id) = (api.clone(), event_id.clone());
                async move {
                    let _ = api.join(due, &event_id, None).await;
                }
            })
            .await
        }
        ScenarioKind::Status => {
            let tokens = prepared.tokens.clone();
            pace::run(load, stop, max_in_flight, progress, move |i, due| {
                let (api, tokens) = (api.clone(), tokens.clone());
                async move {
                    let _ = api.status(due, &tokens[i as usize % tokens.len()]).await;
                }
            })
            .await
        }
        ScenarioKind::Purchase => {
            let purchase = Arc::new(Purchase {
                api,
                event_id: event_id.to_owned(),
                accounts: prepared.accounts.clone(),
                poll: args.poll,
                patience: Duration::from_secs(args.patience),
                flows: flows.clone(),
            });
            pace::run(load, stop, max_in_flight, progress, move |i, due| {
                let purchase = purchase.clone();
                async move { purchase.buyer(i, due).await }
            })
            .await
        }
    }
}

fn progress_bar(quiet: bool, stop: Stop) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(pace::progress_len(stop));
    bar.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:40}] {percent:>3}% {msg}")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    bar
}

/// The run's own general-admission event, so its ledger is the run's alone.
async fn create_event(api: &Api, args: &RunArgs) -> anyhow::Result<String> {
    let password = args.admin_password.as_deref().context(
        "creating the run's event needs the administrator: set TACOS_ADMIN_PASSWORD or pass --event-id",
    )?;
    let admin = api.login(&args.admin_username, password).await?;
    let rate = args.admission_rate.unwrap_or(match args.scenario {
        ScenarioKind::Purchase => 10_000.0,
        _ => 1.0,
    });
    let starts_at = chrono::Utc::now() + chrono::Duration::days(30);
    let body = json!({
        "name": format!("Load test {}", uuid::Uuid::new_v4().simple()),
        "venue": "tacos-load arena",
        "starts_at": starts_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "currency": "USD",
        "price": 4500,
        "admission_rate_per_sec": rate,
        "capacity": args.tickets,
        "max_per_order": MAX_PER_ORDER,
    });
    let event = api
        .setup(
            Method::POST,
            "/admin/events",
            Some(&admin),
            Some(&body),
            201,
        )
        .await?;
    event["event_id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no event_id in {event}"))
}

/// `n` waiting tokens of `event_id`, joined anonymously before the run.
async fn waiting_tokens(api: &Api, event_id: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let body = json!({ "event_id": event_id });
    stream::iter(0..n.max(1))
        .map(|_| async {
            let v = api
                .setup(Method::POST, "/queue/join", None, Some(&body), 202)
                .await?;
            v["waiting_token"]
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("no waiting_token in {v}"))
        })
        .buffer_unordered(64)
        .try_collect()
        .await
}

/// The most tickets an account may hold and buy of the run's event (the platform's largest
/// `max_per_order`): buyers sharing an account share this cap.
const MAX_PER_ORDER: u64 = 10;

/// Accounts a purchase run registers: `--accounts`, and at least enough that the buyers it will
/// start (`--count`, or `--rate` × `--duration`) sharing them, one ticket each, stay within each
/// account's cap. A max-rate run's buyers cannot be counted ahead: `--accounts` it is.
fn accounts_needed(args: &RunArgs) -> usize {
    let buyers = args.count.or_else(|| {
        args.rate
            .filter(|r| *r > 0.0)
            .map(|r| (r * args.duration).ceil() as u64)
    });
    let for_the_cap = buyers.map_or(0, |b| b.div_ceil(MAX_PER_ORDER)) as usize;
    args.accounts.max(for_the_cap)
}

/// `n` new accounts. Registration hashes a password (Argon2, deliberately slow), so it happens
/// before the run and buyers share the accounts.
async fn register(api: &Api, n: usize) -> anyhow::Result<Vec<Account>> {
    stream::iter(0..n.max(1))
        .map(|_| api.register())
        .buffer_unordered(8)
        .try_collect()
        .await
}
