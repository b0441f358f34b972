//! `auth-register`: POST /api/v1/auth/register: create an account and return a JWT.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::AuthRegister)
}
