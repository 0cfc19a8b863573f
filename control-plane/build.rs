//! `sqlx::migrate!` embeds `../migrations` at compile time but does not
//! tell cargo to watch it: without this, a migration added to a built
//! checkout is left out until a source file changes (sqlx's
//! `migrate build-script` advice).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
