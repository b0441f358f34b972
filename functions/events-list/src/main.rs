//! `events-list`: GET /api/v1/events: events on sale, soonest first.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::EventsList)
}
