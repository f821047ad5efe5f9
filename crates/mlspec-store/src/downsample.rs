//! Drawing a long metric curve from few points: min/max downsampling (M4).
//!
//! The x range is cut into `max_points / 4` equal buckets (about one per pixel column of a
//! chart), and each bucket keeps four points: its first, smallest, largest and last value.
//! A line through those, bucket after bucket, covers exactly the pixels the full curve would —
//! spikes included, which averaging or picking every n-th point would lose.
//!
//! The four aggregates combine, so a bucket can be filled from *cells*: single points, or the
//! envelopes of 64 consecutive points that chunks keep ([`crate::chunk`]). A cell goes to the
//! bucket its lowest x falls in. From points the result is exact; from envelopes a bucket's
//! edges are rounded to a 64-point sub-bucket, which [`crate::series`] allows only when a
//! bucket holds at least two of them.

use crate::chunk::{Envelope, Point};

/// Which x a chart uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum XAxis {
    Step,
    Time,
}

/// Points, or summaries of consecutive points, with their x span on one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cell {
    pub lo: f64,
    pub hi: f64,
    pub first: f64,
    pub min: f64,
    pub max: f64,
    pub last: f64,
}

impl Cell {
    /// A point as a cell; none on the time axis for a point without a time.
    pub fn of_point(point: &Point, axis: XAxis) -> Option<Cell> {
        let x = match axis {
            XAxis::Step => point.step as f64,
            XAxis::Time => point.us? as f64,
        };
        Some(Cell {
            lo: x,
            hi: x,
            first: point.value,
            min: point.value,
            max: point.value,
            last: point.value,
        })
    }

    /// An envelope as a cell; none on the time axis when its points have no time.
    pub fn of_envelope(envelope: &Envelope, axis: XAxis) -> Option<Cell> {
        let (lo, hi) = match axis {
            XAxis::Step => (envelope.lo_step as f64, envelope.hi_step as f64),
            XAxis::Time => {
                let (lo, hi) = envelope.us?;
                (lo as f64, hi as f64)
            }
        };
        Some(Cell {
            lo,
            hi,
            first: envelope.first,
            min: envelope.min,
            max: envelope.max,
            last: envelope.last,
        })
    }

    /// Whether any of the cell lies in `[from, to]`.
    pub fn overlaps(&self, from: f64, to: f64) -> bool {
        self.hi >= from && self.lo <= to
    }
}

/// One bucket's four points: (x, value) of the first, the smallest, the largest and the last.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bucket {
    first: (f64, f64),
    min: (f64, f64),
    max: (f64, f64),
    last: (f64, f64),
}

impl Bucket {
    fn of(cell: &Cell) -> Bucket {
        let middle = (cell.lo + cell.hi) / 2.0;
        Bucket {
            first: (cell.lo, cell.first),
            min: (middle, cell.min),
            max: (middle, cell.max),
            last: (cell.hi, cell.last),
        }
    }

    fn add(&mut self, cell: &Cell) {
        let next = Bucket::of(cell);
        if next.min.1 < self.min.1 {
            self.min = next.min;
        }
        if next.max.1 > self.max.1 {
            self.max = next.max;
        }
        self.last = next.last;
    }

    /// Its distinct points in x order.
    fn points(&self) -> Vec<(f64, f64)> {
        let mut points = vec![self.first, self.min, self.max, self.last];
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points.dedup();
        points
    }
}

/// The curve through `cells` (in logged order) within `[from, to]`, in at most `buckets`
/// buckets of four points: (xs, values).
pub(crate) fn m4(cells: impl IntoIterator<Item = Cell>, from: f64, to: f64, buckets: usize) -> (Vec<f64>, Vec<f64>) {
    fill(cells, from, to, buckets).iter().flat_map(Bucket::points).unzip()
}

/// The non-empty buckets of `[from, to]` cut in `buckets`, in x order.
fn fill(cells: impl IntoIterator<Item = Cell>, from: f64, to: f64, buckets: usize) -> Vec<Bucket> {
    let buckets = buckets.max(1);
    let width = (to - from) / buckets as f64;
    let mut filled: Vec<Option<Bucket>> = vec![None; buckets];
    for cell in cells.into_iter().filter(|c| c.overlaps(from, to)) {
        let index = if width > 0.0 {
            // Saturating: a cell that starts before `from` goes to the first bucket.
            (((cell.lo - from) / width).floor().max(0.0) as usize).min(buckets - 1)
        } else {
            0
        };
        match &mut filled[index] {
            Some(bucket) => bucket.add(&cell),
            slot @ None => *slot = Some(Bucket::of(&cell)),
        }
    }
    filled.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::SUB_POINTS;
    use proptest::prelude::*;

    fn points(values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, value)| Point {
                step: i as i64,
                us: Some(i as i64 * 10),
                value: *value,
            })
            .collect()
    }

    /// First, min, max and last value of each bucket, computed point by point.
    fn brute_force(points: &[Point], from: f64, to: f64, buckets: usize) -> Vec<[f64; 4]> {
        let width = (to - from) / buckets as f64;
        let mut out: Vec<Option<[f64; 4]>> = vec![None; buckets];
        for p in points.iter().filter(|p| (from..=to).contains(&(p.step as f64))) {
            let i = (((p.step as f64 - from) / width).floor() as usize).min(buckets - 1);
            out[i] = Some(match out[i] {
                None => [p.value; 4],
                Some([first, min, max, _]) => [first, min.min(p.value), max.max(p.value), p.value],
            });
        }
        out.into_iter().flatten().collect()
    }

    fn aggregates(cells: Vec<Cell>, from: f64, to: f64, buckets: usize) -> Vec<[f64; 4]> {
        fill(cells, from, to, buckets)
            .into_iter()
            .map(|b| [b.first.1, b.min.1, b.max.1, b.last.1])
            .collect()
    }

    proptest! {
        /// Buckets whose edges fall on sub-bucket edges come out the same from envelopes as
        /// from every point, and as a brute-force pass over the points.
        #[test]
        fn envelopes_give_the_buckets_points_give(
            values in proptest::collection::vec(-1e6_f64..1e6, 1..3000),
            subs_per_bucket in 1_usize..8,
        ) {
            let points = points(&values);
            let per_bucket = subs_per_bucket * SUB_POINTS;
            let buckets = points.len().div_ceil(per_bucket);
            let (from, to) = (0.0, (buckets * per_bucket) as f64);
            let from_points: Vec<Cell> = points.iter().filter_map(|p| Cell::of_point(p, XAxis::Step)).collect();
            let from_envelopes: Vec<Cell> = points
                .chunks(SUB_POINTS)
                .filter_map(Envelope::of)
                .filter_map(|e| Cell::of_envelope(&e, XAxis::Step))
                .collect();
            let brute = brute_force(&points, from, to, buckets);
            prop_assert_eq!(&aggregates(from_points, from, to, buckets), &brute);
            prop_assert_eq!(&aggregates(from_envelopes, from, to, buckets), &brute);
        }

        /// The curve never has more than four points a bucket, in x order, and keeps the
        /// extremes.
        #[test]
        fn the_curve_is_bounded_ordered_and_keeps_the_extremes(
            values in proptest::collection::vec(-1e6_f64..1e6, 1..3000),
            buckets in 1_usize..200,
        ) {
            let points = points(&values);
            let cells = points.iter().filter_map(|p| Cell::of_point(p, XAxis::Step));
            let (xs, ys) = m4(cells, 0.0, (points.len() - 1) as f64, buckets);
            prop_assert!(xs.len() <= 4 * buckets && xs.len() == ys.len());
            prop_assert!(xs.windows(2).all(|w| w[0] <= w[1]));
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            prop_assert!(ys.contains(&max) && ys.contains(&min));
        }
    }

    #[test]
    fn a_spike_survives_downsampling() {
        let mut values = vec![1.0; 10_000];
        values[7_777] = 100.0;
        let points = points(&values);
        let cells = points.iter().filter_map(|p| Cell::of_point(p, XAxis::Step));
        let (xs, ys) = m4(cells, 0.0, 9_999.0, 10);
        assert!(ys.contains(&100.0) && xs.contains(&7_777.0), "{xs:?} {ys:?}");
    }

    #[test]
    fn points_without_a_time_are_not_on_the_time_axis() {
        let point = Point {
            step: 3,
            us: None,
            value: 1.0,
        };
        assert!(Cell::of_point(&point, XAxis::Time).is_none());
        assert_eq!(Cell::of_point(&point, XAxis::Step).map(|c| c.lo), Some(3.0));
    }
}
