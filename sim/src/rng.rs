//! The world's one source of randomness: a ChaCha8 stream seeded from a `u64`.
//!
//! Every random choice in a run (latencies, faults, sleep jitter, workload decisions) is drawn
//! from the single [`SimRng`] owned by the world, in event order, so a seed replays exactly.
//!
//! **Invariant:** no floating-point transcendental function is used to turn random bits into
//! values (their results may differ between libm implementations); the exponential latency
//! tail uses an integer fixed-point logarithm ([`neg_log2_q16`]).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The seeded PRNG of one simulated world.
#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    pub fn from_seed(seed: u64) -> SimRng {
        SimRng {
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// True with probability `p` (`p` in `[0, 1]`). Draws nothing when `p == 0`, so a fault
    /// that is switched off does not perturb the stream.
    pub fn chance(&mut self, p: f64) -> bool {
        assert!((0.0..=1.0).contains(&p), "probability {p} out of range");
        if p == 0.0 {
            return false;
        }
        self.inner.random_bool(p)
    }

    /// Uniform in `[lo, hi]` (inclusive). Draws nothing when `lo == hi`.
    pub fn range_u64(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        if lo == hi {
            return lo;
        }
        self.inner.random_range(lo..=hi)
    }

    /// Uniform in `[-bound, bound]`.
    pub fn range_i64_symmetric(&mut self, bound: u64) -> i64 {
        let bound = i64::try_from(bound).expect("bound fits i64");
        if bound == 0 {
            return 0;
        }
        self.inner.random_range(-bound..=bound)
    }

    /// Index in `0..len` (`len > 0`).
    pub fn index(&mut self, len: usize) -> usize {
        assert!(len > 0);
        self.inner.random_range(0..len)
    }

    pub fn u64(&mut self) -> u64 {
        self.inner.random()
    }

    /// `min + Exp(mean - min)` capped at `max`: a latency with an exponential tail.
    /// Requires `min <= mean <= max`. The mean is approximate (the cap trims the tail).
    pub fn latency_ms(&mut self, min: u64, mean: u64, max: u64) -> u64 {
        assert!(
            min <= mean && mean <= max,
            "latency {min}/{mean}/{max} not ordered"
        );
        if min == max {
            return min;
        }
        let scale = mean - min;
        let u = (self.inner.random::<u32>()).max(1);
        // Exp(1) = -ln(u) = -log2(u) * ln 2; ln 2 in Q16 is 45426.
        let exp_q32 = u128::from(neg_log2_q16(u)) * 45_426;
        let extra = (u128::from(scale) * exp_q32) >> 32;
        let extra = u64::try_from(extra).unwrap_or(u64::MAX);
        min.saturating_add(extra).min(max)
    }
}

/// `-log2(u / 2^32)` in Q16 fixed point, for `u >= 1`, by the binary-logarithm
/// squaring method (exact integer arithmetic, so identical on every platform).
pub fn neg_log2_q16(u: u32) -> u64 {
    assert!(u >= 1);
    let lz = u.leading_zeros();
    // m = u << lz has its top bit set: m / 2^31 is in [1, 2).
    let mut x: u64 = u64::from(u) << lz;
    let mut frac: u64 = 0;
    for _ in 0..16 {
        x = (x * x) >> 31;
        frac <<= 1;
        if x >= 1 << 32 {
            x >>= 1;
            frac |= 1;
        }
    }
    // u / 2^32 = (m / 2^31) * 2^-(lz + 1), so -log2 = lz + 1 - log2(m / 2^31).
    ((u64::from(lz) + 1) << 16) - frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_log_matches_known_values() {
        assert_eq!(neg_log2_q16(1 << 31), 1 << 16); // -log2(1/2) = 1
        assert_eq!(neg_log2_q16(1 << 30), 2 << 16); // -log2(1/4) = 2
        assert_eq!(neg_log2_q16(1), 32 << 16); // -log2(2^-32) = 32
                                               // -log2(3/4) = 0.415037...; within 2 Q16 units.
        let got = neg_log2_q16(3 << 30) as i64;
        assert!((got - 27_200).abs() <= 2, "{got}");
    }

    #[test]
    fn latency_respects_bounds_and_roughly_its_mean() {
        let mut rng = SimRng::from_seed(7);
        let n = 20_000u64;
        let mut sum = 0;
        for _ in 0..n {
            let l = rng.latency_ms(2, 10, 1_000);
            assert!((2..=1_000).contains(&l));
            sum += l;
        }
        let mean = sum / n;
        assert!((8..=11).contains(&mean), "mean {mean}");
    }

    #[test]
    fn same_seed_same_stream() {
        let mut a = SimRng::from_seed(42);
        let mut b = SimRng::from_seed(42);
        let mut c = SimRng::from_seed(43);
        let xa: Vec<u64> = (0..8).map(|_| a.u64()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.u64()).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }
}
