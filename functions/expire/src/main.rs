//! `expire`: EventBridge Scheduler target: expire a hold nobody confirmed or cancelled.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::Expire)
}
