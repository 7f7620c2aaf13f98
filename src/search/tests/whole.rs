//! A search over a whole unit (closed-loop users): every level it asks for is a whole number,
//! a step moves by at least 1, it converges when the bounds are 1 apart, and its reasons name
//! the unit.

use super::*;

fn users(start: f64, threshold: Threshold) -> SearchConfig {
    SearchConfig {
        min_req_min: 1.0,
        unit: LoadUnit::Users,
        ..cfg(start, threshold, ConfirmPolicy::None)
    }
}

#[test]
fn levels_are_whole_and_the_search_ends_one_user_apart() {
    for capacity_users in [1.0, 5.0, 13.0, 37.0] {
        let mut s = Search::new(users(4.0, Threshold::Absolute(0.0)));
        let out = drive(&mut s, capacity(capacity_users));
        assert!(
            rates(&s).iter().all(|r| r.fract() == 0.0 && *r >= 1.0),
            "{:?}",
            rates(&s)
        );
        assert_eq!(out.mst_req_min, Some(capacity_users), "{:?}", rates(&s));
        assert_eq!(out.upper_req_min, Some(capacity_users + 1.0));
        assert_eq!(out.stop, StopKind::Converged);
        assert!(out.reason.contains("users"), "{}", out.reason);
        assert!(!out.reason.contains("req/min"), "{}", out.reason);
    }
}

#[test]
fn a_walk_down_below_one_user_reaches_the_floor() {
    let mut s = Search::new(users(3.0, Threshold::Relative(0.1)));
    let out = drive(&mut s, capacity(0.5));
    // 3 → round(1.5) = 2 → 1 → below the floor of 1 user.
    assert_eq!(rates(&s), vec![3.0, 2.0, 1.0]);
    assert_eq!((out.stop, out.mst_req_min), (StopKind::FloorReached, None));
    assert!(out.reason.contains("1 users"), "{}", out.reason);
}

#[test]
fn a_small_ramp_still_moves_by_a_whole_user() {
    // × 1.1 from 2 users rounds back to 2: the step is at least 1.
    let mut s = Search::new(SearchConfig {
        multiplier: 1.1,
        ..users(2.0, Threshold::Absolute(0.0))
    });
    drive(&mut s, capacity(4.0));
    assert_eq!(rates(&s)[..4], [2.0, 3.0, 4.0, 5.0]);
}
