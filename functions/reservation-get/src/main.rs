//! `reservation-get`: GET /api/v1/reservations/{id}: a reservation, to its owner.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main("reservation-get")
}
