//! Geography benchmark (run with `cargo bench -p lantian-domain --bench geo`), in-process, one thread:
//!
//! 1. Nearby search among 100,000 subjects spread over Liaocheng (a third in dense town clusters):
//!    10,000 queries of 300 m with a subtree filter, as the server runs them; p50/p99/max.
//! 2. Location verdicts for 1,000,000 inspections (a third with a boundary, most with a previous fix,
//!    some with EXIF positions): throughput.

use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use lantian_domain::geo::{
    Datum, PreviousFix, Shape, SpatialIndex, VerdictInput, VerdictThresholds, verdict,
};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn point(&mut self) -> (f64, f64) {
        if self.next() < 0.33 {
            (36.43 + self.next() * 0.06, 115.95 + self.next() * 0.06)
        } else {
            (35.9 + self.next() * 0.9, 115.4 + self.next() * 1.1)
        }
    }
}

fn nearby() {
    let mut rng = Lcg(7);
    let items: Vec<(f64, f64, u32)> = (0..100_000u32)
        .map(|i| {
            let (lat, lon) = rng.point();
            (lat, lon, i % 19)
        })
        .collect();
    let t = Instant::now();
    let index = SpatialIndex::build(items);
    let build = t.elapsed();
    let mut times = Vec::with_capacity(10_000);
    let mut found = 0usize;
    for _ in 0..10_000 {
        let (lat, lon) = rng.point();
        let t = Instant::now();
        // The server's filter: the caller's subtree (here: 15 of 19 units).
        let r = index.nearby(lat, lon, 300.0, 20, |unit| *unit < 15);
        times.push(t.elapsed().as_secs_f64() * 1e6);
        found += black_box(r).len();
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "nearby among 100,000 subjects (index built in {:.0} ms): 10,000 queries of 300 m, {:.1} results each; \
         p50 {:.1} us, p99 {:.1} us, max {:.1} us (target p99 < 1 ms)",
        build.as_secs_f64() * 1000.0,
        found as f64 / 10_000.0,
        pct(0.50),
        pct(0.99),
        times[times.len() - 1]
    );
}

fn verdicts() {
    let mut rng = Lcg(11);
    let t0: DateTime<Utc> = "2026-11-02T02:00:00Z".parse().expect("time");
    let shapes: Vec<Shape> = (0..1000)
        .map(|_| {
            let (lat, lon) = rng.point();
            let (h, w) = (0.0005 + rng.next() * 0.002, 0.0005 + rng.next() * 0.002);
            Shape::from_geojson(&serde_json::json!({"type": "Polygon", "coordinates": [[
                [lon, lat], [lon + w, lat], [lon + w, lat + h], [lon + w * 0.5, lat + h * 1.3], [lon, lat + h], [lon, lat]
            ]]}))
            .expect("polygon")
        })
        .collect();
    let exif: Vec<[(f64, f64); 2]> = (0..1000).map(|_| [rng.point(), rng.point()]).collect();
    struct Case {
        original: (f64, f64),
        datum: Datum,
        subject: (f64, f64),
        shape: Option<usize>,
        previous: Option<PreviousFix>,
        exif: Option<usize>,
        at: DateTime<Utc>,
    }
    let cases: Vec<Case> = (0..1_000_000u32)
        .map(|i| {
            let subject = rng.point();
            let off = (rng.next() - 0.5) * 0.004;
            Case {
                original: (subject.0 + off, subject.1 - off),
                datum: [Datum::Wgs84, Datum::Gcj02, Datum::Bd09][(i % 3) as usize],
                subject,
                shape: (i % 3 == 0).then_some((i % 1000) as usize),
                previous: (i % 5 != 0).then(|| PreviousFix {
                    at: t0 - Duration::minutes(20),
                    wgs84: rng.point(),
                }),
                exif: (i % 4 == 0).then_some((i % 1000) as usize),
                at: t0,
            }
        })
        .collect();
    let th = VerdictThresholds::default();
    let t = Instant::now();
    let mut implausible = 0usize;
    for c in &cases {
        let v = verdict(
            &VerdictInput {
                original: c.original,
                datum: c.datum,
                accuracy_m: 12.0,
                mock: false,
                at: c.at,
                subject_point: Some(c.subject),
                subject_shape: c.shape.map(|s| &shapes[s]),
                previous: c.previous,
                exif_positions: c.exif.map_or(&[][..], |e| &exif[e][..]),
            },
            &th,
        );
        implausible +=
            usize::from(black_box(v).level == lantian_domain::geo::VerdictLevel::Implausible);
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "verdicts: 1,000,000 inspections on one thread in {:.2} s = {:.0} per second ({:.0}% implausible; target > 500,000/s)",
        secs,
        1e6 / secs,
        implausible as f64 / 1e4
    );
}

fn main() {
    nearby();
    verdicts();
}
