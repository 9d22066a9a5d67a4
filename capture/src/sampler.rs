//! The 1-in-N random sampler, shared by offline replay and (as the same
//! arithmetic in C) the kernel program.
//!
//! A packet is taken when `(r * N) >> 32 == 0` for a uniform 32-bit `r`, i.e.
//! when `r < 2^32 / N`: probability `ceil(2^32 / N) / 2^32`, within 2^-32 of
//! 1/N, rate 1 takes everything, and it needs one multiply, no division, in
//! BPF. Offline the random numbers come from a seeded xoshiro256++ generator,
//! so the same seed selects the same packets.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

/// The selection predicate: does random value `r` select a packet at 1-in-`rate`?
#[inline]
pub fn selects(r: u32, rate: u32) -> bool {
    (r as u64 * rate as u64) >> 32 == 0
}

/// A seeded Bernoulli(1/N) sampler.
pub struct Sampler {
    rng: Xoshiro256PlusPlus,
    rate: u32,
}

impl Sampler {
    /// `rate` must be at least 1.
    pub fn new(rate: u32, seed: u64) -> Self {
        assert!(rate >= 1, "sampling rate must be at least 1");
        Sampler {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            rate,
        }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Decide for the next packet.
    #[inline]
    pub fn take(&mut self) -> bool {
        self.rate == 1 || selects(self.rng.next_u32(), self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicate_edges() {
        assert!(selects(u32::MAX, 1));
        assert!(selects(0, u32::MAX));
        // ceil(2^32 / (2^32 - 1)) = 2 values select.
        assert!(selects(1, u32::MAX));
        assert!(!selects(2, u32::MAX));
        // 1-in-2 takes exactly the lower half.
        assert!(selects((1 << 31) - 1, 2));
        assert!(!selects(1 << 31, 2));
        // 1-in-3: threshold ceil(2^32/3) = 1431655766.
        assert!(selects(1_431_655_765, 3));
        assert!(!selects(1_431_655_766, 3));
    }

    #[test]
    fn same_seed_same_choices_other_seed_differs() {
        let run = |seed| {
            let mut s = Sampler::new(10, seed);
            (0..10_000).map(|_| s.take()).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn rate_one_takes_all() {
        let mut s = Sampler::new(1, 0);
        assert!((0..1000).all(|_| s.take()));
    }
}
