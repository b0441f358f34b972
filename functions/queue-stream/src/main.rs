//! `queue-stream`: GET /api/v1/queue/stream: the queue status pushed as server-sent events
//! every 2 s (a response-streaming function).
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::QueueStream)
}
