//! `admin-audit`: GET /api/v1/admin/audit: the audit log of operator actions.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::AdminAudit)
}
