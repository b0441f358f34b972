//! `event-availability`: GET /api/v1/events/{id}/availability: counters and seat map.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::EventAvailability)
}
