//! The shape of the traffic beyond its rate: when requests arrive (`ARRIVAL`, `BURSTINESS`).
//! Kept apart from the general layering in [`super::load`] because these keys only make
//! sense together and are checked against each other.

use super::load::{Layers, f64_where};
use super::parse::parse_arrival;
use crate::error::{Error, Result};
use crate::load::arrivals::ArrivalKind;

/// `ARRIVAL` with `BURSTINESS`, the gamma shape. A `BURSTINESS` other than 1 with another
/// `ARRIVAL` is refused: it asks for bursts the schedule would not have (1, the default, is
/// the shape of Poisson gaps and contradicts nothing).
pub(super) fn resolve_arrival(l: &Layers) -> Result<ArrivalKind> {
    let arrival = l.or_default("ARRIVAL", parse_arrival)?;
    let burstiness = l.or_default(
        "BURSTINESS",
        f64_where(
            "a positive number, the gamma shape (1 = Poisson gaps, below 1 burstier)",
            |x| x > 0.0,
        ),
    )?;
    match arrival {
        ArrivalKind::Gamma { .. } => Ok(ArrivalKind::Gamma { burstiness }),
        other if burstiness == 1.0 => Ok(other),
        other => Err(Error::config(
            "BURSTINESS",
            l.shown("BURSTINESS", "1"),
            format!(
                "1 or unset with ARRIVAL={}: BURSTINESS shapes only ARRIVAL=gamma; set \
                 ARRIVAL=gamma for bursty arrivals",
                l.shown("ARRIVAL", &format!("{other:?}").to_ascii_lowercase())
            ),
        )),
    }
}
