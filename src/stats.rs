//! Statistics used by evaluators and summaries: percentiles, regression, t-tests.
