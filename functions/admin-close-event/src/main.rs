//! `admin-close-event`: POST /api/v1/admin/events/{id}/close: an administrator closes a sale for good.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::AdminCloseEvent)
}
