//! Shapes the WebAssembly build's linear memory for fresh-instance calls: a
//! 128 KiB stack instead of rustc's 1 MiB and an initial memory large enough that a
//! call never grows it. Every instance starts from a pooled slot whose pages stay
//! resident; a smaller memory is less to scan and reset after each call, and a
//! `memory.grow` costs more than the whole classification.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        // Stack first (rustc's default layout): an overflow traps instead of
        // corrupting data.
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=131072");
        // 128 KiB stack + ~62 KiB data + ~130 KiB heap, in 64 KiB pages.
        println!("cargo:rustc-link-arg-cdylib=--initial-memory=327680");
    }
}
