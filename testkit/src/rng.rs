//! SplitMix64 (Steele, Lea and Flood 2014; the generator Java's `SplittableRandom` uses): one
//! 64-bit state, full period, good enough statistics for test inputs, trivially seedable.

/// A seeded SplitMix64 generator. The same seed always gives the same sequence.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.unit() * 2.0 - 1.0) as f32
    }

    /// Standard normal deviate (Box–Muller; one of the pair is discarded, which keeps the
    /// generator's state a single `u64`).
    pub fn normal(&mut self) -> f64 {
        // 1 - unit() is in (0, 1]: the logarithm is finite.
        let radius = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        radius * (std::f64::consts::TAU * self.unit()).cos()
    }

    /// `n` values uniform in [-scale, scale).
    pub fn uniform_vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform() * scale).collect()
    }

    /// `n` normal deviates with mean 0 and standard deviation `std`.
    pub fn normal_vec(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| self.normal() as f32 * std).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_splitmix64() {
        // First outputs of the reference C implementation (Vigna, splitmix64.c) from state 0.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..100).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    /// Sample mean and variance.
    fn moments(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    #[test]
    fn uniform_and_normal_have_the_right_moments() {
        let mut rng = Rng::new(42);
        let n = 200_000;
        // Standard errors: uniform[-1,1) mean 1/sqrt(3n) ≈ 0.0013; normal mean 1/sqrt(n) ≈
        // 0.0022, variance sqrt(2/n) ≈ 0.0032. Bounds at about 5 standard errors.
        let u: Vec<f64> = (0..n).map(|_| f64::from(rng.uniform())).collect();
        assert!(u.iter().all(|x| (-1.0..1.0).contains(x)));
        let (mean, var) = moments(&u);
        assert!(mean.abs() < 0.007, "uniform mean {mean}");
        assert!((var - 1.0 / 3.0).abs() < 0.005, "uniform variance {var}");

        let z: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        assert!(z.iter().all(|x| x.is_finite()));
        let (mean, var) = moments(&z);
        assert!(mean.abs() < 0.011, "normal mean {mean}");
        assert!((var - 1.0).abs() < 0.016, "normal variance {var}");
        // Tails: P(|z| > 2) = 0.0455 for a normal (3.3 % for a uniform of the same variance).
        let tail = z.iter().filter(|x| x.abs() > 2.0).count() as f64 / n as f64;
        assert!((tail - 0.0455).abs() < 0.003, "P(|z| > 2) = {tail}");

        let v = rng.normal_vec(1000, 3.0);
        let (_, var) = moments(&v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
        assert!((var.sqrt() - 3.0).abs() < 0.3, "std {}", var.sqrt());
        assert!(rng.uniform_vec(1000, 5.0).iter().all(|x| x.abs() <= 5.0));
    }
}
