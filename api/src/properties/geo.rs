//! Coordinates and distances. Coordinates are WGS 84 degrees; distances use the haversine
//! formula on a sphere of the Earth's mean radius (within 0.5% of the ellipsoid, plenty for
//! finding properties near a point).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};

/// Mean Earth radius, metres (IUGG).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A point on the map.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Degrees north, -90 to 90.
    #[schema(example = 41.8781)]
    pub latitude: f64,
    /// Degrees east, -180 to 180.
    #[schema(example = -87.6298)]
    pub longitude: f64,
}

impl Location {
    /// Checks the ranges.
    pub fn check(self, pointer: &str) -> Result<Location> {
        if !self.latitude.is_finite() || !(-90.0..=90.0).contains(&self.latitude) {
            return Err(Error::invalid(
                format!("{pointer}/latitude"),
                "must be a number between -90 and 90",
            ));
        }
        if !self.longitude.is_finite() || !(-180.0..=180.0).contains(&self.longitude) {
            return Err(Error::invalid(
                format!("{pointer}/longitude"),
                "must be a number between -180 and 180",
            ));
        }
        Ok(self)
    }
}

/// Great-circle distance between two points, metres.
pub fn haversine_m(a: Location, b: Location) -> f64 {
    let (la1, la2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.longitude - a.longitude).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// A box of latitudes and longitudes that contains every point within `radius_m` of
/// `center`, for an index to narrow a radius search. `None` for longitudes when the circle
/// reaches a pole or crosses the antimeridian (then only latitude narrows).
pub(super) fn bounding_box(center: Location, radius_m: f64) -> ((f64, f64), Option<(f64, f64)>) {
    let dlat = (radius_m / EARTH_RADIUS_M).to_degrees();
    let lat = (
        (center.latitude - dlat).max(-90.0),
        (center.latitude + dlat).min(90.0),
    );
    if lat.0 <= -90.0 || lat.1 >= 90.0 {
        return (lat, None);
    }
    // The widest longitude span of the circle is at the latitude nearest a pole.
    let widest = lat.0.abs().max(lat.1.abs()).to_radians();
    let dlon = (radius_m / (EARTH_RADIUS_M * widest.cos())).to_degrees();
    let lon = (center.longitude - dlon, center.longitude + dlon);
    if lon.0 < -180.0 || lon.1 > 180.0 {
        return (lat, None);
    }
    (lat, Some(lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances() {
        let chicago = Location {
            latitude: 41.8781,
            longitude: -87.6298,
        };
        let milwaukee = Location {
            latitude: 43.0389,
            longitude: -87.9065,
        };
        let d = haversine_m(chicago, milwaukee);
        assert!((d - 131_000.0).abs() < 2_000.0, "{d}");
        assert_eq!(haversine_m(chicago, chicago), 0.0);
    }

    #[test]
    fn box_contains_the_circle() {
        for (lat, lon) in [(0.0, 0.0), (60.0, 10.0), (-45.0, 170.0), (89.9, 0.0)] {
            let c = Location {
                latitude: lat,
                longitude: lon,
            };
            for r in [1_000.0, 50_000.0, 500_000.0] {
                let ((la0, la1), lon_box) = bounding_box(c, r);
                for i in 0..360 {
                    // Points on the circle, found by walking out along a bearing.
                    let b = f64::from(i).to_radians();
                    let d = r / EARTH_RADIUS_M;
                    let (p1, l1) = (lat.to_radians(), lon.to_radians());
                    let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * b.cos()).asin();
                    let l2 =
                        l1 + (b.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
                    let (p2, l2) = (p2.to_degrees(), l2.to_degrees());
                    assert!(p2 >= la0 - 1e-9 && p2 <= la1 + 1e-9);
                    if let Some((lo0, lo1)) = lon_box {
                        assert!(
                            l2 >= lo0 - 1e-9 && l2 <= lo1 + 1e-9,
                            "{lat},{lon} bearing {i}"
                        );
                    }
                }
            }
        }
    }
}
