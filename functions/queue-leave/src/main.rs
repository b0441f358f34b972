//! `queue-leave`: DELETE /api/v1/queue/leave: give up a place in line.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main("queue-leave")
}
