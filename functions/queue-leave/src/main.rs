//! `queue-leave`: DELETE /api/v1/queue/leave: give up a place in line.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::QueueLeave)
}
