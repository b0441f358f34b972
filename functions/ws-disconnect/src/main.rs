//! `ws-disconnect`: the WebSocket API's `$disconnect` route: forgets the connection.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main("ws-disconnect")
}
