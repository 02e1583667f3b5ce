//! Headroom's core: sampling Apple Silicon / Linux unified memory, MLX agents, rules and
//! history. It has no UI dependency; the menu-bar app, the CLI and `headroom serve` are thin
//! shells around it.
#![deny(missing_docs)]

pub mod agents;
pub mod capture;
pub mod config;
pub mod doctor;
pub mod engine;
pub mod events;
pub mod files;
pub mod fit;
pub mod history;
pub mod metrics;
pub mod ops;
pub mod platform;
pub mod policies;
pub mod restart;
pub mod rules;
pub mod selftest;
pub mod snapshot;
pub mod text;
pub mod top;
pub mod units;
pub mod wired;

pub use platform::Sampler;
pub use snapshot::Snapshot;
