//! `event-get`: GET /api/v1/events/{id}: one event.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main("event-get")
}
