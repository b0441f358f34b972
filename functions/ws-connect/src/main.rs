//! `ws-connect`: the WebSocket API's `$connect` route: checks `event_id` and the optional waiting
//! `token` of the query string (refusing an unknown event or token with 404) and registers the
//! connection.
//!
//! Every function is the shared platform behind one entry point; see `tacos_lambda`.

use tacos_lambda::Function;

fn main() -> Result<(), tacos_lambda::Error> {
    tacos_lambda::main(Function::WsConnect)
}
