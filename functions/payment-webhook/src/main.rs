//! `payment-webhook`: POST /api/v1/payments/webhook: verify and accept the payment provider's outcome.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::PaymentWebhook)
}
