//! Rebuilds the crate when the web app's build output changes: release builds embed its files,
//! and a new build of the app (new hashed asset names) must not leave a binary serving the old one.

use std::path::Path;

fn main() {
    let dist = Path::new("../../web/dist");
    if dist.is_dir() {
        // Cargo compares the newest modification time of everything under it.
        println!("cargo:rerun-if-changed=../../web/dist");
    } else {
        // A missing path would count as changed on every build, rebuilding this crate and every
        // binary above it each time; nothing is watched instead.
        println!("cargo:rerun-if-changed=build.rs");
        println!(
            "cargo:warning=web/dist/ is missing: release binaries built now serve the API only. \
             After building the app (cd web && npm run build), `touch shared/webapp/build.rs` to embed it."
        );
    }
}
