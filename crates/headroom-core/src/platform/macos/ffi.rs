//! macOS kernel access (placeholder until the FFI lands; compiled on macOS only).

use crate::platform::RawSample;

use super::MacRaw;

/// Reads raw counters from the macOS kernel.
#[derive(Debug, Default)]
pub struct MacReader;

impl MacReader {
    /// A reader of this Mac.
    pub fn from_env() -> Self {
        Self
    }

    /// Reads one raw sample.
    pub fn read(&mut self) -> RawSample {
        RawSample::Macos(MacRaw {
            read_errors: vec!["ffi: not implemented".into()],
            ..MacRaw::default()
        })
    }
}
