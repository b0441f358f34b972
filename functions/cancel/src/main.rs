//! `cancel`: DELETE /api/v1/reservations/{id} and POST /api/v1/reservations/{id}/cancel: release a hold.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::Cancel)
}
