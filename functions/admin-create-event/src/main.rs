//! `admin-create-event`: POST /api/v1/admin/events: an administrator creates an event.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main("admin-create-event")
}
