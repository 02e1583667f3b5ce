//! The engine from `headroom_core`, in-process; it implements the operations'
//! [`Backend`](crate::backend::Backend) itself.

use headroom_core::engine::{self, EngineHandle, EngineOptions};

/// Starts the engine on Tauri's async runtime with the standard paths
/// (`HEADROOM_CONFIG`, `HEADROOM_DATA_DIR`, `HEADROOM_RUNTIME_DIR` honoured).
pub fn start() -> EngineHandle {
    tauri::async_runtime::block_on(async { engine::start(EngineOptions::from_env()) })
}
