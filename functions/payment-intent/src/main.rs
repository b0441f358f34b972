//! `payment-intent`: POST /api/v1/payments/intent: start a simulated payment for a hold.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main("payment-intent")
}
