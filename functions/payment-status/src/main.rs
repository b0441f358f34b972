//! `payment-status`: GET /api/v1/payments/{id}/status: a payment, to its owner.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::PaymentStatus)
}
