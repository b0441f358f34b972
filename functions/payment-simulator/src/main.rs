//! `payment-simulator`: EventBridge Scheduler target: the payment simulator settles payments and posts signed webhooks.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::PaymentSimulator)
}
