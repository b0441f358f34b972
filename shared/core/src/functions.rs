//! Every deployable function of the platform, named once.
//!
//! On AWS each [`Function`] is a Lambda function (`functions/<name>/`, one small `main` each); the
//! embedded server and the container's HTTP mode serve every [`Route`] in one process. This table
//! is the one place that says which functions exist, what triggers each ([`Kind`]) and which
//! routes it serves. The Lambda dispatcher, the container, the HTTP router and the checks of
//! `template.yaml` and `cargo-lambda.toml` (`tacos-container functions`, read by
//! `scripts/check_functions.py`) all read it; the HTTP crate maps each route to its handler with
//! an exhaustive `match`, so a route without a handler does not compile.

use std::fmt;
use std::str::FromStr;

pub use crate::ports::scheduler::JobFamily;
use crate::secret::SecretName;

/// What invokes a function, and so how its runtime glue reads its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// API Gateway HTTP API routes; the whole response is sent when the handler returns.
    Http,
    /// HTTP routes whose response is streamed as it is produced (a Function URL in
    /// `RESPONSE_STREAM` mode: server-sent events).
    ResponseStream,
    /// An EventBridge Scheduler target: each invocation runs one [`Job`](crate::ports::Job) of
    /// this family.
    Scheduled(JobFamily),
    /// Drains the payment follow-up SQS queue: batches of EventBridge events.
    FollowUpQueue,
    /// A route of the API Gateway WebSocket API.
    WebSocket(WebSocketRoute),
    /// Started on a fixed schedule; pushes live frames to every WebSocket connection.
    LivePusher,
    /// Started every minute by a scheduled rule; does the work of timers AWS lost
    /// ([`crate::sweep`]).
    Sweeper,
}

/// The WebSocket API's routes that have an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSocketRoute {
    Connect,
    Disconnect,
}

impl WebSocketRoute {
    /// API Gateway's route key.
    pub fn route_key(self) -> &'static str {
        match self {
            Self::Connect => "$connect",
            Self::Disconnect => "$disconnect",
        }
    }
}

macro_rules! functions {
    ($($variant:ident = $name:literal, $kind:expr, $doc:literal;)+) => {
        /// A deployable function.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Function {
            $(#[doc = $doc] $variant,)+
        }

        impl Function {
            /// Every function, in the order of the table.
            pub const ALL: &'static [Function] = &[$(Function::$variant,)+];

            /// The function's name: its crate under `functions/`, its binary, its Lambda
            /// function's suffix.
            pub fn name(self) -> &'static str {
                match self {
                    $(Function::$variant => $name,)+
                }
            }

            /// What invokes it.
            pub fn kind(self) -> Kind {
                match self {
                    $(Function::$variant => $kind,)+
                }
            }
        }
    };
}

functions! {
    AuthRegister = "auth-register", Kind::Http, "Creates an account.";
    AuthLogin = "auth-login", Kind::Http, "Exchanges a username and password for an access token.";
    QueueJoin = "queue-join", Kind::Http, "Takes a place in an event's waiting room (the 30k/s path).";
    QueueStatus = "queue-status", Kind::Http, "A waiting token's position, ETA and readiness.";
    QueueEnter = "queue-enter", Kind::Http, "Trades a ready waiting token for a reservation token.";
    QueueLeave = "queue-leave", Kind::Http, "Gives up a place in line.";
    QueueChallenge = "queue-challenge", Kind::Http, "The proof of work a join must carry when an operator asks for it.";
    QueueDraw = "queue-draw", Kind::Http, "An event's lobby draw as published: commitment, seed, entries.";
    QueueStream = "queue-stream", Kind::ResponseStream, "The queue status as server-sent events.";
    EventsList = "events-list", Kind::Http, "Every event, soonest first.";
    EventGet = "event-get", Kind::Http, "One event.";
    EventAvailability = "event-availability", Kind::Http, "An event's seats and counts.";
    EventAvailabilityStream = "event-availability-stream", Kind::Http, "Availability as server-sent events (one per request behind API Gateway).";
    AdminCreateEvent = "admin-create-event", Kind::Http, "Creates an event (administrators).";
    AdminUpdateEvent = "admin-update-event", Kind::Http, "Changes a sale's admission rate or hold time (administrators).";
    AdminPauseEvent = "admin-pause-event", Kind::Http, "Pauses a sale's admission (administrators).";
    AdminResumeEvent = "admin-resume-event", Kind::Http, "Resumes a paused sale's admission (administrators).";
    AdminCloseEvent = "admin-close-event", Kind::Http, "Closes a sale for good (administrators).";
    AdminAudit = "admin-audit", Kind::Http, "The audit log of operator actions (administrators).";
    Reserve = "reserve", Kind::Http, "Places a hold.";
    ReservationGet = "reservation-get", Kind::Http, "One of the caller's reservations.";
    Confirm = "confirm", Kind::Http, "Confirms a paid hold.";
    Cancel = "cancel", Kind::Http, "Cancels a hold.";
    PaymentIntent = "payment-intent", Kind::Http, "Starts a simulated payment for a hold.";
    PaymentProcess = "payment-process", Kind::Http, "Lets the simulated bank decide.";
    PaymentStatus = "payment-status", Kind::Http, "A payment's status.";
    PaymentWebhook = "payment-webhook", Kind::Http, "Receives the simulator's signed webhooks.";
    Ops = "ops", Kind::Http, "Probes and version; answers every route API Gateway cannot match.";
    Expire = "expire", Kind::Scheduled(JobFamily::HoldExpiry), "Expires a hold when its timer fires.";
    PaymentSimulator = "payment-simulator", Kind::Scheduled(JobFamily::PaymentSimulator), "Settles delayed payments and delivers webhooks.";
    PaymentFollowup = "payment-followup", Kind::FollowUpQueue, "Confirms, cancels or refunds after a payment outcome.";
    WsConnect = "ws-connect", Kind::WebSocket(WebSocketRoute::Connect), "Registers a live-update connection.";
    WsDisconnect = "ws-disconnect", Kind::WebSocket(WebSocketRoute::Disconnect), "Forgets a live-update connection.";
    WsPush = "ws-push", Kind::LivePusher, "Pushes availability and queue frames every 2 s.";
    Sweeper = "sweeper", Kind::Sweeper, "Every minute: releases holds, settles payments and delivers webhooks whose timers were lost.";
}

impl Function {
    /// The function API Gateway's `$default` route sends every request no other route matches:
    /// it answers 405 for a known path and 404 otherwise, as the embedded server does.
    pub const CATCH_ALL: Function = Function::Ops;

    /// The routes it serves (none for functions that are not HTTP).
    pub fn routes(self) -> impl Iterator<Item = Route> {
        Route::ALL
            .iter()
            .copied()
            .filter(move |r| r.function() == self)
    }

    /// Whether its instances report the waiting room's gauges (line length, admission rate):
    /// the status function sees every waiting room that has people in it, often enough for a
    /// dashboard, so the gauges come from there and nowhere else.
    pub fn reports_queue_gauges(self) -> bool {
        self == Function::QueueStatus
    }
}

impl Function {
    /// The platform's secrets it reads when it starts; the deployment gives it these and no others
    /// (`scripts/check_functions.py` holds `template.yaml` to this table, and a Lambda function
    /// refuses to start without those it [must be given](SecretName::must_be_given)). Every HTTP
    /// function checks access tokens (the JWT key) and, behind CloudFront, the origin header; the
    /// webhook's two ends sign and verify it, and whatever posts one carries the origin header;
    /// whatever answers a queue status may draw a lobby at its opening, whose seed comes from the
    /// JWT key (`domain::queue::draw::Seeds`).
    pub fn secrets(self) -> &'static [SecretName] {
        use SecretName::{AdminPassword, Jwt, Origin, Webhook};
        match (self, self.kind()) {
            (Function::AuthLogin, _) => &[Jwt, Origin, AdminPassword],
            (Function::PaymentProcess | Function::PaymentWebhook, _) => &[Jwt, Origin, Webhook],
            (_, Kind::Http | Kind::ResponseStream) => &[Jwt, Origin],
            (Function::PaymentSimulator | Function::Sweeper, _) => &[Webhook, Origin],
            (Function::WsConnect | Function::WsPush, _) => &[Jwt],
            (
                _,
                Kind::Scheduled(_)
                | Kind::FollowUpQueue
                | Kind::WebSocket(_)
                | Kind::LivePusher
                | Kind::Sweeper,
            ) => &[],
        }
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a function's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no function named `{0}`")]
pub struct UnknownFunction(pub String);

impl FromStr for Function {
    type Err = UnknownFunction;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Function::ALL
            .iter()
            .copied()
            .find(|f| f.name() == name)
            .ok_or_else(|| UnknownFunction(name.chars().take(64).collect()))
    }
}

/// HTTP methods the contract uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

macro_rules! routes {
    ($($variant:ident = $method:ident $path:literal => $function:ident;)+) => {
        /// One route of the contract: a method on a path (as axum and API Gateway write it,
        /// `{id}` for a path parameter), served by one function.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Route {
            $($variant,)+
        }

        impl Route {
            /// Every route of the contract.
            pub const ALL: &'static [Route] = &[$(Route::$variant,)+];

            pub fn method(self) -> Method {
                match self {
                    $(Route::$variant => Method::$method,)+
                }
            }

            /// The path, relative to the server's root.
            pub fn path(self) -> &'static str {
                match self {
                    $(Route::$variant => $path,)+
                }
            }

            /// The function that serves it.
            pub fn function(self) -> Function {
                match self {
                    $(Route::$variant => Function::$function,)+
                }
            }
        }
    };
}

routes! {
    Register = Post "/api/v1/auth/register" => AuthRegister;
    Login = Post "/api/v1/auth/login" => AuthLogin;
    QueueJoin = Post "/api/v1/queue/join" => QueueJoin;
    QueueStatus = Get "/api/v1/queue/status" => QueueStatus;
    QueueEnter = Post "/api/v1/queue/enter" => QueueEnter;
    QueueLeave = Delete "/api/v1/queue/leave" => QueueLeave;
    QueueLeaveByPost = Post "/api/v1/queue/leave" => QueueLeave;
    QueueStream = Get "/api/v1/queue/stream" => QueueStream;
    QueueChallenge = Get "/api/v1/queue/challenge" => QueueChallenge;
    QueueDraw = Get "/api/v1/queue/draw" => QueueDraw;
    EventsList = Get "/api/v1/events" => EventsList;
    EventGet = Get "/api/v1/events/{id}" => EventGet;
    EventAvailability = Get "/api/v1/events/{id}/availability" => EventAvailability;
    EventAvailabilityStream = Get "/api/v1/events/{id}/availability/stream" => EventAvailabilityStream;
    AdminCreateEvent = Post "/api/v1/admin/events" => AdminCreateEvent;
    AdminUpdateEvent = Patch "/api/v1/admin/events/{id}" => AdminUpdateEvent;
    AdminPauseEvent = Post "/api/v1/admin/events/{id}/pause" => AdminPauseEvent;
    AdminResumeEvent = Post "/api/v1/admin/events/{id}/resume" => AdminResumeEvent;
    AdminCloseEvent = Post "/api/v1/admin/events/{id}/close" => AdminCloseEvent;
    AdminAudit = Get "/api/v1/admin/audit" => AdminAudit;
    Reserve = Post "/api/v1/reservations" => Reserve;
    ReservationGet = Get "/api/v1/reservations/{id}" => ReservationGet;
    Confirm = Post "/api/v1/reservations/{id}/confirm" => Confirm;
    CancelByDelete = Delete "/api/v1/reservations/{id}" => Cancel;
    CancelByPost = Post "/api/v1/reservations/{id}/cancel" => Cancel;
    PaymentIntent = Post "/api/v1/payments/intent" => PaymentIntent;
    PaymentProcess = Post "/api/v1/payments/process" => PaymentProcess;
    PaymentStatus = Get "/api/v1/payments/{id}/status" => PaymentStatus;
    PaymentWebhook = Post "/api/v1/payments/webhook" => PaymentWebhook;
    Healthz = Get "/healthz" => Ops;
    Readyz = Get "/readyz" => Ops;
    Version = Get "/version" => Ops;
    ApiHealthz = Get "/api/v1/healthz" => Ops;
    ApiReadyz = Get "/api/v1/readyz" => Ops;
    ApiVersion = Get "/api/v1/version" => Ops;
}

impl Route {
    /// The route written `METHOD /path`, as configuration names it.
    pub fn key(self) -> String {
        format!("{} {}", self.method().as_str(), self.path())
    }

    /// The route `METHOD /path` names (whitespace between them is free).
    pub fn from_key(key: &str) -> Option<Route> {
        let key = key.split_whitespace().collect::<Vec<_>>().join(" ");
        Route::ALL.iter().copied().find(|r| r.key() == key)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let names: HashSet<_> = Function::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Function::ALL.len());
        for function in Function::ALL {
            assert_eq!(function.name().parse::<Function>(), Ok(*function));
        }
        assert!("nope".parse::<Function>().is_err());
    }

    #[test]
    fn http_functions_have_routes_and_the_others_none() {
        for function in Function::ALL {
            let serves_http = matches!(function.kind(), Kind::Http | Kind::ResponseStream);
            assert_eq!(
                function.routes().next().is_some(),
                serves_http,
                "{function}"
            );
        }
    }

    #[test]
    fn each_method_and_path_is_one_route() {
        let keys: HashSet<_> = Route::ALL.iter().map(|r| r.key()).collect();
        assert_eq!(keys.len(), Route::ALL.len());
        assert_eq!(
            Route::from_key("POST   /api/v1/auth/login"),
            Some(Route::Login)
        );
        assert_eq!(Route::from_key("GET /api/v1/auth/login"), None);
    }
}
