//! `ws-push`: started every minute by EventBridge Scheduler; for a minute, sends every WebSocket
//! connection its availability and queue status frames every 2 s.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::WsPush)
}
