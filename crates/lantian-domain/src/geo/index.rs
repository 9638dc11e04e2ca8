//! The spatial index of subjects for "what is registered around me?": an R-tree over points on the
//! unit sphere (3-D), so straight-line (chord) order is great-circle order everywhere, with no
//! projection to distort distances across China.

use rstar::RTree;
use rstar::primitives::GeomWithData;

use super::distance_m;

/// The GRS80 mean radius, metres: the sphere of `geo`'s haversine, which makes the exact cut.
const EARTH_RADIUS_M: f64 = 6_371_008.771_4;

type Entry = GeomWithData<[f64; 3], usize>;

/// A built index over items of type `T` (a subject's id, unit path, kind...).
pub struct SpatialIndex<T> {
    tree: RTree<Entry>,
    items: Vec<(f64, f64, T)>,
}

/// One result: the item and its great-circle distance.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearby<'a, T> {
    pub item: &'a T,
    pub distance_m: f64,
}

fn unit_vector(lat: f64, lon: f64) -> [f64; 3] {
    let (la, lo) = (lat.to_radians(), lon.to_radians());
    [la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()]
}

impl<T> SpatialIndex<T> {
    /// Bulk-loads `(lat, lon, item)` (WGS-84).
    pub fn build(items: Vec<(f64, f64, T)>) -> SpatialIndex<T> {
        let entries = items
            .iter()
            .enumerate()
            .map(|(i, (lat, lon, _))| GeomWithData::new(unit_vector(*lat, *lon), i))
            .collect();
        SpatialIndex {
            tree: RTree::bulk_load(entries),
            items,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Up to `limit` items within `radius_m` of (lat, lon) that pass `keep`, nearest first (ties by
    /// insertion order).
    pub fn nearby(
        &self,
        lat: f64,
        lon: f64,
        radius_m: f64,
        limit: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Vec<Nearby<'_, T>> {
        let q = unit_vector(lat, lon);
        // The chord of the radius, a hair wider: the exact cut is by great-circle distance below.
        let chord = 2.0
            * (radius_m / (2.0 * EARTH_RADIUS_M))
                .min(std::f64::consts::FRAC_PI_2)
                .sin();
        let max2 = chord * chord * (1.0 + 1e-9) + 1e-18;
        let mut out: Vec<(f64, usize)> = Vec::new();
        for (e, d2) in self.tree.nearest_neighbor_iter_with_distance_2(&q) {
            if d2 > max2 {
                break;
            }
            let (ilat, ilon, item) = &self.items[e.data];
            if !keep(item) {
                continue;
            }
            let d = distance_m((lat, lon), (*ilat, *ilon));
            if d <= radius_m {
                out.push((d, e.data));
            }
            // Enough found, and the next can only be further (chord order is distance order; the
            // slack below covers rounding between the two measures).
            if out.len() >= limit.saturating_mul(2).max(limit + 8) {
                break;
            }
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out.truncate(limit);
        out.into_iter()
            .map(|(d, i)| Nearby {
                item: &self.items[i].2,
                distance_m: d,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn nearby_equals_a_brute_force_scan_on_fifty_thousand_subjects() {
        let mut rng = Lcg(2019);
        // Spread over Liaocheng's prefecture (about 80 x 100 km), with dense clusters in town.
        let items: Vec<(f64, f64, u32)> = (0..50_000u32)
            .map(|i| {
                if i % 3 == 0 {
                    (36.45 + rng.next() * 0.02, 115.97 + rng.next() * 0.02, i)
                } else {
                    (35.9 + rng.next() * 0.9, 115.4 + rng.next() * 1.1, i)
                }
            })
            .collect();
        let index = SpatialIndex::build(items.clone());
        for q in 0..200 {
            let (lat, lon) = if q % 2 == 0 {
                (36.45 + rng.next() * 0.02, 115.97 + rng.next() * 0.02)
            } else {
                (35.9 + rng.next() * 0.9, 115.4 + rng.next() * 1.1)
            };
            let radius = [50.0, 300.0, 1000.0, 5000.0][q % 4];
            let limit = [5, 50, 500][q % 3];
            let keep = |i: &u32| !i.is_multiple_of(7);
            let mut brute: Vec<(f64, u32)> = items
                .iter()
                .filter(|(_, _, i)| keep(i))
                .map(|(a, b, i)| (distance_m((lat, lon), (*a, *b)), *i))
                .filter(|(d, _)| *d <= radius)
                .collect();
            brute.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            brute.truncate(limit);
            let got: Vec<(f64, u32)> = index
                .nearby(lat, lon, radius, limit, keep)
                .into_iter()
                .map(|n| (n.distance_m, *n.item))
                .collect();
            assert_eq!(
                got, brute,
                "query {q} at {lat},{lon} r={radius} limit={limit}"
            );
        }
    }
}
