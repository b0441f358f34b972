//! `reserve`: POST /api/v1/reservations: place a 60-second hold.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::Reserve)
}
