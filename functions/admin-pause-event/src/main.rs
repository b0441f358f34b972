//! `admin-pause-event`: POST /api/v1/admin/events/{id}/pause: an administrator pauses a sale's admission.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::AdminPauseEvent)
}
