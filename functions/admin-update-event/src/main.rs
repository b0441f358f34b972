//! `admin-update-event`: PATCH /api/v1/admin/events/{id}: an administrator changes a sale's admission rate or hold time.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::AdminUpdateEvent)
}
