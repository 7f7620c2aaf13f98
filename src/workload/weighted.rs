//! A weighted choice among a few items by a uniform draw: the class of a request in an
//! `ADDITIVE` mix (`TOKENS_LIST_PROPORTION`) and its model in a split over several models
//! (`TRAFFIC_SPLIT`). Draws come from the request's own seeded key, so the same seed picks
//! the same item for the same request index.

/// Items with their cumulative weights.
#[derive(Debug, Clone)]
pub(super) struct Weighted<T> {
    pub items: Vec<T>,
    /// Cumulative weights, normalised to end at 1.
    cumulative: Vec<f64>,
    /// The last item of positive weight: what a draw lands on when rounding left the
    /// cumulative sum a hair below it.
    last_positive: usize,
}

impl<T> Weighted<T> {
    /// `items` with `weights` (one per item, non-negative, not all zero: the config checks).
    pub fn new(items: Vec<T>, weights: &[f64]) -> Weighted<T> {
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        let last_positive = weights.iter().rposition(|&w| w > 0.0).unwrap_or(0);
        Weighted {
            items,
            cumulative,
            last_positive,
        }
    }

    /// The index chosen by `u`, uniform in [0, 1): item i with probability weight i / total;
    /// an item of weight 0 is never chosen.
    pub fn pick(&self, u: f64) -> usize {
        self.cumulative
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.last_positive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_follow_the_weights_and_skip_zero_weights() {
        let w = Weighted::new(vec!['a', 'b', 'c'], &[0.8, 0.0, 0.2]);
        assert_eq!(w.pick(0.0), 0);
        assert_eq!(w.pick(0.799), 0);
        assert_eq!(w.pick(0.8), 2);
        assert_eq!(w.pick(0.999_999), 2);
        // Past the end (rounding): the last item that can be chosen, not a zero-weight one.
        let w = Weighted::new(vec!['a', 'b'], &[1.0, 0.0]);
        assert_eq!(w.pick(1.0), 0);
        // Weights on any scale.
        let w = Weighted::new(vec!['a', 'b'], &[3.0, 1.0]);
        assert_eq!((w.pick(0.74), w.pick(0.76)), (0, 1));
    }
}
