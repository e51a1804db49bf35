//! `weighted`: distinct regions drawn at random in proportion to their live weight.

use rand::Rng;
use smallvec::SmallVec;

use super::Regions;

/// Draws up to `count` distinct indexes with probability proportional to `weights` (without
/// replacement). Zero-weight entries are never drawn.
pub fn draw<R: Rng + ?Sized>(weights: &[u64], count: usize, rng: &mut R) -> Regions {
    let mut taken: SmallVec<[bool; 8]> = SmallVec::from_elem(false, weights.len());
    let mut out = Regions::new();
    let mut total: u64 = weights.iter().sum();
    while out.len() < count && total > 0 {
        let mut pick = rng.random_range(0..total);
        for (i, w) in weights.iter().enumerate() {
            if taken[i] || *w == 0 {
                continue;
            }
            if pick < *w {
                taken[i] = true;
                total -= *w;
                out.push(i);
                break;
            }
            pick -= *w;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn three_two_one_within_two_points_over_ten_thousand_draws() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            counts[draw(&[3, 2, 1], 1, &mut rng)[0]] += 1;
        }
        let pct: Vec<f64> = counts.iter().map(|c| f64::from(*c) / 100.0).collect();
        for (got, want) in pct.iter().zip([50.0, 100.0 / 3.0, 100.0 / 6.0]) {
            assert!((got - want).abs() <= 2.0, "got {pct:?}");
        }
    }

    #[test]
    fn distinct_and_never_zero_weight() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            let d = draw(&[5, 0, 1, 1], 3, &mut rng);
            assert_eq!(d.len(), 3);
            assert!(!d.contains(&1));
            let mut s = d.clone();
            s.sort();
            s.dedup();
            assert_eq!(s.len(), 3);
        }
    }

    #[test]
    fn fewer_regions_than_answers() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(draw(&[0, 4], 3, &mut rng).as_slice(), [1]);
        assert!(draw(&[0, 0], 1, &mut rng).is_empty());
    }

    #[test]
    fn same_seed_same_draws() {
        let a: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(42);
            (0..50).map(|_| draw(&[3, 2, 1], 2, &mut rng)).collect()
        };
        let mut rng = StdRng::seed_from_u64(42);
        let b: Vec<_> = (0..50).map(|_| draw(&[3, 2, 1], 2, &mut rng)).collect();
        assert_eq!(a, b);
    }
}
