//! `payment-intent`: POST /api/v1/payments/intent: start a simulated payment for a hold.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::PaymentIntent)
}
