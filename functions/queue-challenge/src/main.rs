//! `queue-challenge`: GET /api/v1/queue/challenge: the proof of work a join must carry when an operator asks for it.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::QueueChallenge)
}
