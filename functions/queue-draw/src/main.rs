//! `queue-draw`: GET /api/v1/queue/draw: an event's lobby draw as published: commitment, seed, entries.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::QueueDraw)
}
