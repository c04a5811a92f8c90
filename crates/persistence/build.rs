//! Rebuilds the crate when a migration is added or changed: `embed_migrations!` reads the
//! migration folders at compile time, and cargo does not track them on its own.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
