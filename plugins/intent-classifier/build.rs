//! Gives the WebAssembly build a larger initial memory. A fresh instance starts with
//! only ~10 KiB of free heap (the 1 MiB stack and the data fill the rest of the
//! initial pages), so a call that allocates more grows the memory, which costs far
//! more than the classification itself. With 256 KiB of initial heap no call grows it;
//! untouched pages cost nothing (copy-on-write, pooled memory).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        // 1 MiB stack + ~60 KiB data + ~250 KiB heap, in 64 KiB pages.
        println!("cargo:rustc-link-arg-cdylib=--initial-memory=1376256");
    }
}
