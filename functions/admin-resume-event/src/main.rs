//! `admin-resume-event`: POST /api/v1/admin/events/{id}/resume: an administrator resumes a paused sale.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::AdminResumeEvent)
}
