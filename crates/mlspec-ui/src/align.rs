//! Several runs' curves on one shared x axis, so that a chart receives one x array and one y
//! array per run, equal in length, and the browser draws them without joining them first
//! (joining 20 curves whose downsampled points sit at different steps makes a table of 20 ×
//! 26,000 cells, mostly empty, per chart — the slowest part of drawing a comparison).
//!
//! When the curves together have few enough distinct x values, the axis is their union and
//! nothing changes but the alignment (a run without a point at an x has a gap there). Otherwise
//! the range is cut into buckets narrower than a pixel, and each bucket keeps, per run, the same
//! four points the store's downsampling keeps — the first, the lowest, the highest and the last
//! — in x order, placed at four fixed positions inside the bucket. A point moves by less than a
//! quarter of a bucket (less than a pixel), and every minimum and maximum survives: the lines
//! drawn are those of the points themselves.

/// One run's curve: x and y, in x order.
pub struct Points<'a> {
    pub x: &'a [f64],
    pub y: &'a [f64],
}

/// The shared axis and each run's values on it (`None`: a gap).
#[derive(Debug, PartialEq)]
pub struct Aligned {
    pub x: Vec<f64>,
    pub y: Vec<Vec<Option<f64>>>,
}

/// `curves` on one axis of at most `4 × buckets` positions.
pub fn align(curves: &[Points<'_>], buckets: usize) -> Aligned {
    let buckets = buckets.max(1);
    let mut union: Vec<f64> = curves.iter().flat_map(|c| c.x.iter().copied()).collect();
    union.sort_by(f64::total_cmp);
    union.dedup();
    if union.len() <= 4 * buckets {
        let y = curves.iter().map(|c| on_union(&union, c)).collect();
        return Aligned { x: union, y };
    }
    let (lo, hi) = (union[0], union[union.len() - 1]);
    let width = (hi - lo) / buckets as f64;
    let x = (0..buckets)
        .flat_map(|b| (0..4).map(move |k| lo + (b as f64 + (k as f64 + 0.5) / 4.0) * width))
        .collect();
    let y = curves.iter().map(|c| in_buckets(c, lo, width, buckets)).collect();
    Aligned { x, y }
}

/// A curve's values at each x of `union` (which holds all its x values).
fn on_union(union: &[f64], curve: &Points<'_>) -> Vec<Option<f64>> {
    let mut values = vec![None; union.len()];
    for (&x, &y) in curve.x.iter().zip(curve.y) {
        if let Ok(i) = union.binary_search_by(|u| u.total_cmp(&x)) {
            values[i] = Some(y);
        }
    }
    values
}

/// The first, lowest, highest and last point of a bucket, by their index in the curve.
#[derive(Clone, Copy)]
struct Extremes {
    first: usize,
    low: usize,
    high: usize,
    last: usize,
}

/// A curve's four points per bucket, in x order, at the bucket's four positions.
fn in_buckets(curve: &Points<'_>, lo: f64, width: f64, buckets: usize) -> Vec<Option<f64>> {
    let mut extremes: Vec<Option<Extremes>> = vec![None; buckets];
    for (i, (&x, &y)) in curve.x.iter().zip(curve.y).enumerate() {
        let b = if width > 0.0 { ((x - lo) / width) as usize } else { 0 };
        let slot = &mut extremes[b.min(buckets - 1)];
        *slot = Some(match *slot {
            None => Extremes {
                first: i,
                low: i,
                high: i,
                last: i,
            },
            Some(e) => Extremes {
                first: if x < curve.x[e.first] { i } else { e.first },
                low: if y < curve.y[e.low] { i } else { e.low },
                high: if y > curve.y[e.high] { i } else { e.high },
                last: if x >= curve.x[e.last] { i } else { e.last },
            },
        });
    }
    let mut values = vec![None; 4 * buckets];
    for (b, e) in extremes.iter().enumerate() {
        let Some(e) = e else { continue };
        let mut picked = [e.first, e.low, e.high, e.last];
        picked.sort_by(|&a, &b| curve.x[a].total_cmp(&curve.x[b]).then(a.cmp(&b)));
        for (k, &i) in picked.iter().enumerate() {
            values[4 * b + k] = Some(curve.y[i]);
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn few_points_keep_their_own_positions() {
        let (a, b) = ([1.0, 2.0, 3.0], [2.0, 4.0]);
        let aligned = align(
            &[
                Points {
                    x: &a,
                    y: &[10.0, 20.0, 30.0],
                },
                Points { x: &b, y: &[5.0, 6.0] },
            ],
            10,
        );
        assert_eq!(aligned.x, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(aligned.y[0], [Some(10.0), Some(20.0), Some(30.0), None]);
        assert_eq!(aligned.y[1], [None, Some(5.0), None, Some(6.0)]);
    }

    #[test]
    fn many_points_keep_each_buckets_extremes_in_order() {
        let x: Vec<f64> = (0..1000).map(f64::from).collect();
        let y: Vec<f64> = (0..1000)
            .map(|i| if i == 517 { 99.0 } else { f64::from(i % 7) })
            .collect();
        let aligned = align(&[Points { x: &x, y: &y }], 10);
        assert_eq!(aligned.x.len(), 40);
        let values: Vec<f64> = aligned.y[0].iter().map(|v| v.unwrap()).collect();
        assert_eq!(values.iter().cloned().fold(f64::MIN, f64::max), 99.0);
        // Bucket 0 holds x 0..99: first 0 (y 0), then its min and max, last x 99 (y 1).
        assert_eq!((values[0], values[3]), (0.0, 1.0));
    }

    proptest! {
        /// Any curves: each run's extremes survive, its values are its own, and every array has
        /// the axis's length.
        #[test]
        fn extremes_survive_alignment(
            curves in prop::collection::vec(prop::collection::vec((0u32..5000, -1e6f64..1e6), 1..400), 1..6),
            buckets in 1usize..50,
        ) {
            let sorted: Vec<(Vec<f64>, Vec<f64>)> = curves.iter().map(|points| {
                let mut points = points.clone();
                points.sort_by_key(|p| p.0);
                points.dedup_by_key(|p| p.0);
                (points.iter().map(|p| f64::from(p.0)).collect(), points.iter().map(|p| p.1).collect())
            }).collect();
            let inputs: Vec<Points<'_>> = sorted.iter().map(|(x, y)| Points { x, y }).collect();
            let aligned = align(&inputs, buckets);
            prop_assert!(aligned.x.len() <= 4 * buckets);
            prop_assert!(aligned.x.windows(2).all(|w| w[0] < w[1]));
            for ((_, y), values) in sorted.iter().zip(&aligned.y) {
                prop_assert_eq!(values.len(), aligned.x.len());
                let kept: Vec<f64> = values.iter().flatten().copied().collect();
                let max = y.iter().cloned().fold(f64::MIN, f64::max);
                let min = y.iter().cloned().fold(f64::MAX, f64::min);
                prop_assert!(kept.contains(&max) && kept.contains(&min));
                prop_assert!(kept.iter().all(|v| y.contains(v)));
            }
        }
    }
}
