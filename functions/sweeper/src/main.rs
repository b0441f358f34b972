//! `sweeper`: started every minute by a scheduled rule; does the work of timers AWS lost
//! (holds past their expiry, settlements, webhook deliveries), read from the ledger of due work.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::Sweeper)
}
