//! What the app needs from the engine: the core's one [`Backend`] trait (object-safe, so the
//! app keeps `Arc<dyn Backend>`); commands, the tray and notifications call its operations
//! (`headroom_core::ops`), whose typed answers and [`OpError`]s the UI receives as they are.

pub use headroom_core::engine::EngineEvent as Feed;
pub use headroom_core::ops::{Backend, BoxFuture, OpError};
