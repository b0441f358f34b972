//! One JSON object per log line: `timestamp`, `level`, `target`, `message`, the event's own
//! fields, and the `trace_id` of the work in hand (`tacos_core::trace_context`).
//!
//! ```json
//! {"timestamp":"2026-12-02T10:00:00.000000Z","level":"INFO","target":"tacos_http::trace",
//!  "message":"request served","method":"GET","path":"/healthz","status":200,
//!  "latency_ms":0.21,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}
//! ```
//!
//! Written for the access log, a line per request: the line is built in one buffer with no
//! intermediate map or string, spans are never rendered (the trace id comes from a task-local,
//! not from a span's fields), and text is escaped as it is written. The access line's own fields
//! come written already ([`AccessLine`], recorded as [`JSON_MEMBERS`]): its shape is fixed, so
//! they need not be visited one by one through tracing's dynamic field API.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context as LayerContext, Filter};
use tracing_subscriber::registry::LookupSpan;

/// The format: see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogLine;

impl<S, N> FormatEvent<S, N> for LogLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = String::with_capacity(256);
        line.push_str("{\"timestamp\":\"");
        push_timestamp(&mut line, std::time::SystemTime::now());
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push_str("\",\"target\":");
        push_json_str(&mut line, meta.target());
        let mut fields = Fields { line: &mut line };
        event.record(&mut fields);
        tacos_core::trace_context::with_current_trace_id(|id| {
            if let Some(id) = id {
                line.push_str(",\"trace_id\":");
                push_json_str(&mut line, id);
            }
        });
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// Which events are logged: those `RUST_LOG` enables (default `info`), and never a span (logs
/// do not read spans). Decided once per call site, so an event that is not logged costs nothing
/// and one that is pays no filter bookkeeping: `RUST_LOG` is read as a list of
/// `target=level` directives and a default level, the form every deployment uses.
#[derive(Debug, Clone)]
pub struct LogFilter {
    targets: Targets,
}

impl LogFilter {
    /// From `RUST_LOG`: `info` when unset; a value that is not a list of `target=level`
    /// directives is reported on stderr and `info` is used.
    pub fn from_env() -> Self {
        let value = std::env::var("RUST_LOG").unwrap_or_default();
        Self::parse(if value.trim().is_empty() {
            "info"
        } else {
            &value
        })
    }

    /// From a `RUST_LOG`-style value.
    pub fn parse(value: &str) -> Self {
        let targets = value.parse().unwrap_or_else(|error| {
            eprintln!("RUST_LOG={value:?} is not understood ({error}); logging at info");
            "info".parse().expect("a level")
        });
        Self { targets }
    }

    fn logs(&self, meta: &Metadata<'_>) -> bool {
        meta.is_event() && self.targets.would_enable(meta.target(), meta.level())
    }
}

impl<S> Filter<S> for LogFilter {
    fn enabled(&self, meta: &Metadata<'_>, _: &LayerContext<'_, S>) -> bool {
        self.logs(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.logs(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(
            Filter::<S>::max_level_hint(&self.targets)
                .unwrap_or(tracing::level_filters::LevelFilter::TRACE),
        )
    }
}

/// Appends each field as `,"name":value` (the message as `"message"`).
struct Fields<'a> {
    line: &'a mut String,
}

impl Fields<'_> {
    fn key(&mut self, field: &Field) {
        self.line.push(',');
        push_json_str(self.line, field.name());
        self.line.push(':');
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        push_json_str(self.line, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        self.line.push_str(itoa::Buffer::new().format(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        self.line.push_str(itoa::Buffer::new().format(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            // Shortest round-trip form, as JSON writes numbers (a tenth of `Display`'s cost).
            self.line.push_str(ryu::Buffer::new().format_finite(value));
        } else {
            self.line.push_str("null");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.line.push_str(if value { "true" } else { "false" });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(field);
        self.line.push('"');
        let _ = write!(Escaped(&mut *self.line), "{value}");
        self.line.push('"');
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == JSON_MEMBERS {
            // Members written by their own type, as JSON already ([`AccessLine`]).
            self.line.push(',');
            let _ = write!(self.line, "{value:?}");
            return;
        }
        // `%value` fields arrive here too, formatted with Display.
        self.key(field);
        self.line.push('"');
        let _ = write!(Escaped(&mut *self.line), "{value:?}");
        self.line.push('"');
    }
}

/// The name of the field whose value writes the line's members itself, as JSON ([`AccessLine`]).
pub const JSON_MEMBERS: &str = "json_members";

/// A request's access line: its message and its fields, written as JSON members in one go.
///
/// Logged as one field, `json_members = ?line` ([`JSON_MEMBERS`]), which [`LogLine`] copies into
/// the line as it comes. Every request writes one, and the line's shape is fixed, so its five
/// members are written here from their types rather than recorded one by one through tracing's
/// dynamic field API, each visited, looked up and formatted on its own: that took 2,200 of a
/// health check's 28,000 instructions, a third of them printing the latency as the shortest
/// decimal of a float (BENCHMARKS.md §8.18). The latency is written to the microsecond, the clock's
/// useful precision here.
///
/// `Debug` is the form tracing hands a value to a formatter in; it writes JSON members
/// (`"message":"request served","method":"GET",…`), not a debugging view.
pub struct AccessLine<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub latency: std::time::Duration,
}

impl fmt::Debug for AccessLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = u64::try_from(self.latency.as_micros()).unwrap_or(u64::MAX);
        let mut fraction = [b'0'; 3];
        let mut rest = micros % 1000;
        for digit in fraction.iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        f.write_str("\"message\":\"request served\",\"method\":\"")?;
        Escaped(&mut *f).write_str(self.method)?;
        f.write_str("\",\"path\":\"")?;
        Escaped(&mut *f).write_str(self.path)?;
        f.write_str("\",\"status\":")?;
        f.write_str(itoa::Buffer::new().format(self.status))?;
        f.write_str(",\"latency_ms\":")?;
        f.write_str(itoa::Buffer::new().format(micros / 1000))?;
        f.write_str(".")?;
        f.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
    }
}

/// Appends `value` as a JSON string.
fn push_json_str(line: &mut String, value: &str) {
    line.push('"');
    let _ = Escaped(&mut *line).write_str(value);
    line.push('"');
}

/// Writes into a JSON string's body, escaping as it goes (no intermediate string).
struct Escaped<W>(W);

/// The bytes a JSON string cannot hold as they are: control characters, `"` and `\\`.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

impl<W: fmt::Write> fmt::Write for Escaped<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Runs of plain bytes are found with one table lookup a byte and copied whole: nearly
        // every string of an access line (names, paths, ids) is one such run. (A `match` on each
        // byte took 2,300 of a health check's 31,000 instructions, this 1,400: BENCHMARKS.md
        // §8.17.)
        let bytes = text.as_bytes();
        let mut plain = 0;
        while let Some(offset) = bytes[plain..]
            .iter()
            .position(|&byte| NEEDS_ESCAPE[usize::from(byte)])
        {
            let at = plain + offset;
            self.0.write_str(&text[plain..at])?;
            match bytes[at] {
                b'"' => self.0.write_str("\\\"")?,
                b'\\' => self.0.write_str("\\\\")?,
                b'\n' => self.0.write_str("\\n")?,
                b'\r' => self.0.write_str("\\r")?,
                b'\t' => self.0.write_str("\\t")?,
                control => write!(self.0, "\\u{control:04x}")?,
            }
            plain = at + 1;
        }
        self.0.write_str(&text[plain..])
    }
}

/// Appends `at` as RFC 3339 with microseconds (`2026-12-02T10:00:00.000000Z`), without a
/// format string to interpret for every line.
fn push_timestamp(line: &mut String, at: std::time::SystemTime) {
    use chrono::{Datelike, Timelike};
    /// The date and time to the second last written by this thread: every line of a busy
    /// second shares it, so only the microseconds are formatted per line.
    struct Second {
        epoch: u64,
        text: String,
    }
    thread_local! {
        static SECOND: std::cell::RefCell<Second> = const {
            std::cell::RefCell::new(Second { epoch: u64::MAX, text: String::new() })
        };
    }
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let epoch = since.as_secs();
    SECOND.with_borrow_mut(|second| {
        if second.epoch != epoch {
            let whole: chrono::DateTime<chrono::Utc> =
                (std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch)).into();
            second.text.clear();
            let _ = write!(
                second.text,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                whole.year(),
                whole.month(),
                whole.day(),
                whole.hour(),
                whole.minute(),
                whole.second(),
            );
            second.epoch = epoch;
        }
        line.push_str(&second.text);
    });
    let mut micros = since.subsec_micros();
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    line.push('.');
    line.push_str(std::str::from_utf8(&digits).expect("digits"));
    line.push('Z');
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::captured::Captured;

    #[test]
    fn the_filter_takes_events_at_the_levels_rust_log_names_and_no_span() {
        let filter = LogFilter::parse("warn,tacos_http=debug");
        let event = |target: &'static str, level| {
            tracing::Metadata::new(
                "e",
                target,
                level,
                None,
                None,
                None,
                tracing::field::FieldSet::new(&[], tracing_core::identify_callsite!(&CALLSITE)),
                tracing::metadata::Kind::EVENT,
            )
        };
        struct Callsite;
        impl tracing_core::callsite::Callsite for Callsite {
            fn set_interest(&self, _: Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                unreachable!()
            }
        }
        static CALLSITE: Callsite = Callsite;
        assert!(filter.logs(&event("tacos_http::trace", tracing::Level::DEBUG)));
        assert!(!filter.logs(&event("tacos_core::x", tracing::Level::INFO)));
        assert!(filter.logs(&event("tacos_core::x", tracing::Level::WARN)));
        assert!(LogFilter::parse("not=a=filter").logs(&event("x", tracing::Level::INFO)));
    }

    #[test]
    fn strings_are_written_as_json_writes_them() {
        for text in [
            "",
            "plain /api/v1/queue/status",
            "a \"quoted\" \\ path",
            "line\nbreak\r\ttab \u{1}\u{1f}",
            "ünïcødé ✓ and \u{7f}",
            "\"",
        ] {
            let mut line = String::new();
            push_json_str(&mut line, text);
            assert_eq!(line, serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn an_access_line_is_written_with_its_members_as_json_writes_them() {
        let captured = Captured::default();
        let _guard = captured.as_server_log();
        for (nanos, latency) in [
            (212_345, 0.212),
            (7_000, 0.007),
            (999, 0.0),
            (1_500_000_000, 1500.0),
            (12_345_678, 12.345),
        ] {
            let line = AccessLine {
                method: "GET",
                path: "/a \"quoted\" path\n\u{1}",
                status: 404,
                latency: std::time::Duration::from_nanos(nanos),
            };
            tracing::info!(json_members = ?line);
            let text = captured.text();
            let last = text.lines().last().expect("a line");
            let logged: serde_json::Value = serde_json::from_str(last).expect(last);
            assert_eq!(logged["message"], "request served");
            assert_eq!(logged["method"], "GET");
            assert_eq!(logged["path"], "/a \"quoted\" path\n\u{1}");
            assert_eq!(logged["status"], 404);
            assert_eq!(logged["latency_ms"], latency, "{last}");
            assert!(logged.get(JSON_MEMBERS).is_none(), "{last}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_to_the_microsecond_across_seconds() {
        use std::time::{Duration, UNIX_EPOCH};
        // The same second twice (its text reused), the next, a day later, a year boundary.
        for micros in [
            1_796_000_000_000_007u64,
            1_796_000_000_999_999,
            1_796_000_001_000_000,
            1_796_086_400_120_000,
            1_798_761_599_999_999,
            1_798_761_600_000_000,
        ] {
            let at = UNIX_EPOCH + Duration::from_micros(micros);
            let mut line = String::new();
            push_timestamp(&mut line, at);
            let expected = chrono::DateTime::<chrono::Utc>::from(at)
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            assert_eq!(line, expected);
        }
    }

    #[tokio::test]
    async fn a_line_is_one_json_object_with_the_fields_and_the_trace_id_of_the_work_in_hand() {
        let captured = Captured::default();
        let _guard = captured.as_server_log();
        tacos_core::trace_context::in_trace("4bf92f3577b34da6a3ce929d0e0e4736".into(), async {
            tracing::info!(
                status = 200u16,
                path = "/a \"quoted\" path\n\u{1}",
                latency_ms = 0.5,
                ok = true,
                "request served"
            );
        })
        .await;
        tracing::warn!(error = %"outside", "no trace");
        let text = captured.text();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect(l))
            .collect();
        assert_eq!(lines[0]["message"], "request served");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["status"], 200);
        assert_eq!(lines[0]["path"], "/a \"quoted\" path\n\u{1}");
        assert_eq!(lines[0]["latency_ms"], 0.5);
        assert_eq!(lines[0]["ok"], true);
        assert_eq!(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(lines[0]["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["message"], "no trace");
        assert_eq!(lines[1]["error"], "outside");
        assert!(lines[1].get("trace_id").is_none());
    }
}
