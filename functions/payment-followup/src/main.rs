//! `payment-followup`: SQS consumer (EventBridge rule): confirm, cancel or refund after a payment outcome.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main("payment-followup")
}
