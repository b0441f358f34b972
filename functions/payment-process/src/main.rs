//! `payment-process`: POST /api/v1/payments/process: run the simulated charge.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main("payment-process")
}
