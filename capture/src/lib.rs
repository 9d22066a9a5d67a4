//! Packet sampling: live capture at the TCX hooks, offline replay of
//! captures with the same sampler, and injection of captures into an
//! interface for end-to-end tests.
//!
//! Replay applies exactly the sampler the kernel program uses to a pcap or
//! pcapng file, so a known trace can be sampled reproducibly (same seed, same
//! output) and the statistics of analyze can be checked against the truth.

pub mod error;
pub mod inject;
pub mod layout;
pub mod live;
pub mod netdev;
pub mod options;
pub mod replay;
pub mod rotate;
pub mod sampler;
pub mod sflow;

pub use error::CaptureError;
pub use replay::{Progress, ReplayOptions, ReplaySummary, replay};
pub use sampler::Sampler;

/// A seed for runs where the user gave none: different every run, and
/// recorded in the output's metadata so the run can be repeated.
pub fn fresh_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // splitmix64 finaliser over time and pid, so close starts differ widely.
    let mut z = t ^ ((std::process::id() as u64) << 32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}
