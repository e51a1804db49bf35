//! `all` (multivalue): every serving region, in a shuffled order so load spreads.

use rand::Rng;
use rand::seq::SliceRandom;

use super::Regions;

pub fn select<R: Rng + ?Sized>(weights: &[u64], rng: &mut R) -> Regions {
    let mut out: Regions = (0..weights.len()).filter(|i| weights[*i] > 0).collect();
    out.shuffle(rng);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn every_serving_region_once() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut firsts = [0; 4];
        for _ in 0..400 {
            let mut got = select(&[1, 0, 7, 1], &mut rng);
            firsts[got[0]] += 1;
            got.sort();
            assert_eq!(got.as_slice(), [0, 2, 3]);
        }
        // The order rotates: each serving region leads sometimes, weights do not matter.
        assert!(
            firsts[0] > 50 && firsts[2] > 50 && firsts[3] > 50,
            "{firsts:?}"
        );
        assert_eq!(firsts[1], 0);
    }
}
