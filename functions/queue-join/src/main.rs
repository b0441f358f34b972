//! `queue-join`: POST /api/v1/queue/join: take a place in an event's waiting room (the 30k/s path).
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::QueueJoin)
}
