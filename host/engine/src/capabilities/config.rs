//! `scrm:plugin/config`: the configuration installed with the binding, readable
//! whole or in ranges (so a large model need not be copied in on every call).

use crate::bindings::scrm::plugin::config as wit;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Per-call configuration state: a shared reference to the binding's bytes.
#[derive(Debug, Clone)]
pub struct ConfigState {
    bytes: Arc<[u8]>,
}

impl ConfigState {
    /// State exposing `bytes`.
    pub fn new(bytes: Arc<[u8]>) -> ConfigState {
        ConfigState { bytes }
    }
}

impl wit::Host for ConfigState {
    fn get(&mut self) -> Vec<u8> {
        self.bytes.to_vec()
    }

    fn size(&mut self) -> u64 {
        self.bytes.len() as u64
    }

    fn read(&mut self, offset: u64, len: u32) -> Vec<u8> {
        self.range(offset, len).to_vec()
    }

    fn read_many(&mut self, ranges: Vec<(u64, u32)>) -> Vec<u8> {
        let total: usize = ranges.iter().map(|&(o, l)| self.range(o, l).len()).sum();
        let mut out = Vec::with_capacity(total);
        for (offset, len) in ranges {
            out.extend_from_slice(self.range(offset, len));
        }
        out
    }
}

impl ConfigState {
    /// The bytes of `[offset, offset + len)`, clamped to the configuration.
    fn range(&self, offset: u64, len: u32) -> &[u8] {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        let end = start.saturating_add(len as usize).min(self.bytes.len());
        &self.bytes[start..end]
    }
}

struct Config;

impl HasData for Config {
    type Data<'a> = &'a mut ConfigState;
}

/// Adds `scrm:plugin/config` to `linker`, reading state through `get`.
///
/// # Errors
/// When the interface is already defined in the linker.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut ConfigState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Config>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit::Host;

    #[test]
    fn reads_ranges_clamped_to_the_config() {
        let mut s = ConfigState::new(Arc::from(&b"0123456789"[..]));
        assert_eq!(s.size(), 10);
        assert_eq!(s.read(2, 3), b"234");
        assert_eq!(s.read(8, 100), b"89");
        assert_eq!(s.read(u64::MAX, 4), b"");
        assert_eq!(s.get(), b"0123456789");
        assert_eq!(s.read_many(vec![(0, 2), (9, 5), (20, 1), (4, 1)]), b"0194");
    }
}
