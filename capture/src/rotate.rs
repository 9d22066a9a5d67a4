//! When a capture or a collector starts a new output part: shared by the
//! live capture and the sFlow collector, so neither reaches into the other.

use std::time::Duration;

/// When to start a new output part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotate {
    Every(Duration),
    Bytes(u64),
}
