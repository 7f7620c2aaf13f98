//! The MST's confidence interval as `mst.json` holds it (`"confidence": {…}`): where the
//! probability of a "sustainable" verdict crosses one half, with an interval, and the fitted
//! curve the report draws. The tool computes it (`mst_search::search::confidence`, where the
//! method is described); this crate only defines what is written and read.

use serde::{Deserialize, Serialize};

/// The capacity as the verdicts see it, with an interval: the offered rate at which a
/// "sustainable" verdict is as likely as not, from every judged iteration of a size.
///
/// The fitted curve is `P(sustainable | r) = 1 / (1 + exp((ln r − ln curve_midpoint_req_min)
/// / curve_log_scale))` for an offered rate `r` in requests/minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    /// Two-sided confidence level of the interval, in (0, 1) (0.9 for a 90% interval).
    pub level: f64,
    /// Lower end of the interval, requests/minute (within the judged rates' span widened by
    /// about 10% on either side).
    pub low_req_min: f64,
    /// Upper end of the interval, requests/minute (as the lower end).
    pub high_req_min: f64,
    /// The point estimate of the crossing, requests/minute (`logit-grid-posterior`: the
    /// posterior median of the curve's midpoint; Firth's methods: the fitted midpoint clamped
    /// to the judged rates' span).
    pub estimate_req_min: f64,
    /// How it was computed, a short id (`logit-grid-posterior`: the posterior of a logistic
    /// curve in the log of the rate on a grid, equal-tailed credible interval; files written
    /// before it say `firth-logit-case-bootstrap`: Firth's penalised logistic regression,
    /// percentile bootstrap over the iterations).
    pub method: String,
    /// Where the drawn curve crosses 1/2, requests/minute (draw the curve with this; for the
    /// grid posterior, the estimate).
    pub curve_midpoint_req_min: f64,
    /// The drawn curve's scale in natural-log units of the rate (> 0; for the grid posterior,
    /// the posterior median of the scale): the probability falls
    /// from 73% to 27% between `midpoint × e^−scale` and `midpoint × e^scale`.
    pub curve_log_scale: f64,
    /// Judged iterations (a pass or a fail) the fit used.
    pub iterations: u32,
    /// Bootstrap resamples whose crossing made the interval (0 for a method without one).
    pub resamples: u32,
    /// Resamples drawn again because they could not be fitted (a single rate, or a curve that
    /// rises with the rate).
    pub redrawn: u32,
}

impl Confidence {
    /// The fitted probability of a "sustainable" verdict at `req_min` (requests/minute, > 0).
    pub fn probability(&self, req_min: f64) -> f64 {
        let z = (req_min.ln() - self.curve_midpoint_req_min.ln()) / self.curve_log_scale;
        1.0 / (1.0 + z.exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_is_one_half_at_its_midpoint_and_falls_with_the_rate() {
        let c = Confidence {
            level: 0.9,
            low_req_min: 90.0,
            high_req_min: 110.0,
            estimate_req_min: 100.0,
            method: "firth-logit-case-bootstrap".into(),
            curve_midpoint_req_min: 100.0,
            curve_log_scale: 0.1,
            iterations: 6,
            resamples: 1000,
            redrawn: 0,
        };
        assert!((c.probability(100.0) - 0.5).abs() < 1e-12);
        // One scale above the midpoint: 1 / (1 + e) = 26.9%.
        let above = c.probability(100.0 * 0.1f64.exp());
        assert!((above - 1.0 / (1.0 + 1f64.exp())).abs() < 1e-12, "{above}");
        assert!(c.probability(50.0) > 0.99 && c.probability(200.0) < 0.01);
    }
}
