//! The on-disk cache of compiled components, so a restart (or another process on the
//! same machine) does not compile again. Entries are keyed by the component's SHA-256
//! and the engine's compatibility hash (wasmtime version and every setting that
//! affects code generation), and are written atomically (temp file, then rename).
//!
//! The directory must be writable only by scrm: loading an entry maps its code into
//! the process, so whoever can write there can run code as the host.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiled components on disk.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    /// A cache in `dir` for components compiled by `engine`.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn new(engine: &Engine, dir: PathBuf) -> std::io::Result<CompileCache> {
        std::fs::create_dir_all(&dir)?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(CompileCache {
            dir,
            engine_key: format!("{:016x}", h.finish()),
        })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// Loads the compiled form of `bytes` (whose hash is `sha256`) from the cache, or
    /// compiles it and stores it there. Blocking.
    ///
    /// # Errors
    /// The compiler's message when `bytes` is not a valid component.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<Component, wasmtime::Error> {
        let path = self.path(sha256);
        if path.exists() {
            // SAFETY: the file was produced by `Component::serialize` of an engine with
            // the same compatibility hash (it is in the name), written atomically into
            // a directory only scrm writes (see the module docs), and is never
            // modified in place while mapped: replacements go through rename.
            #[allow(unsafe_code)]
            let loaded = unsafe { Component::deserialize_file(engine, &path) };
            match loaded {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable compile cache entry");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        match component.serialize() {
            Ok(code) => {
                // Unique per writer: tests run many hosts over one cache at once.
                let tmp = path.with_extension(format!("tmp{:016x}", rand::random::<u64>()));
                let written =
                    std::fs::write(&tmp, &code).and_then(|()| std::fs::rename(&tmp, &path));
                if let Err(e) = written {
                    tracing::warn!(path = %path.display(), error = %e, "cannot write compile cache entry");
                    let _ = std::fs::remove_file(&tmp);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot serialise compiled component"),
        }
        Ok(component)
    }
}
