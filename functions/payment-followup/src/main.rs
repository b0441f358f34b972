//! `payment-followup`: SQS consumer (EventBridge rule): confirm, cancel or refund after a payment outcome.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::PaymentFollowup)
}
