//! `event-availability-stream`: GET /api/v1/events/{id}/availability/stream: the availability as
//! server-sent events.
//!
//! API Gateway's HTTP API buffers a function's whole response, so here the stream sends its
//! first event and ends; the event's `retry` field brings `EventSource` back after 2 s (see
//! `tacos_http::sse::Delivery`). Browsers on AWS get live updates from the WebSocket API.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::EventAvailabilityStream)
}
