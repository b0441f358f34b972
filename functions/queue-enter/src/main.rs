//! `queue-enter`: POST /api/v1/queue/enter: exchange an admitted waiting token for a reservation token.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::QueueEnter)
}
