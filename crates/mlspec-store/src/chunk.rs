//! How a metric's points are kept: chunks of [`CHUNK_POINTS`] points in logged order, each a
//! compressed columnar body plus an *envelope* that summarizes it without decoding.
//!
//! # The body
//!
//! A chunk's points are stored column by column, then compressed with zstd:
//!
//! | part | encoding |
//! |---|---|
//! | count | varint |
//! | steps | zigzag varint of each step minus the previous one (the first minus 0) |
//! | timestamps | one byte: 0 none, 1 every point has one, 2 some do (then a bitmap, one bit a point); then zigzag varint deltas of the present ones |
//! | values | f64, little-endian, 8 bytes each |
//!
//! Steps usually rise by one and timestamps by a few milliseconds, so their deltas take a byte
//! or two; values are kept exactly (noise does not compress, so nothing clever is tried).
//!
//! # The envelope
//!
//! Every [`SUB_POINTS`] consecutive points of a chunk (a *sub-bucket*, 16 to a full chunk) are
//! summarized by an [`Envelope`]: the lowest and highest step and timestamp among them, and the
//! first, smallest, largest and last value. Envelopes combine ([`Envelope::then`]): the
//! envelope of two consecutive runs of points is computed from theirs alone. So a curve of a
//! million points is drawn from its chunks' envelopes (about a kilobyte each) without decoding
//! a single body ([`crate::downsample`]).

use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};

/// Points in a full (sealed) chunk.
pub(crate) const CHUNK_POINTS: usize = 1024;
/// Points summarized by one envelope.
pub(crate) const SUB_POINTS: usize = 64;
/// Bytes of one encoded envelope.
const ENVELOPE_BYTES: usize = 64;
/// The largest decompressed body: a count, 10-byte varints for steps and timestamps, a
/// bitmap, 8-byte values.
const MAX_RAW_BODY: usize = 16 + CHUNK_POINTS * 28 + CHUNK_POINTS / 8;
/// zstd's level for bodies: fast, and within a few percent of the higher levels on this data.
const ZSTD_LEVEL: i32 = 3;
/// The hash a series' first chunk is chained to.
pub(crate) const SERIES_GENESIS: [u8; 32] = [0; 32];

/// One point of a metric: its step, its time (microseconds since the Unix epoch) if known,
/// and its value (finite).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Point {
    pub step: i64,
    pub us: Option<i64>,
    pub value: f64,
}

/// The summary of consecutive points, in logged order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Envelope {
    pub lo_step: i64,
    pub hi_step: i64,
    /// The lowest and highest timestamps; `None` when no point has one.
    pub us: Option<(i64, i64)>,
    pub first: f64,
    pub min: f64,
    pub max: f64,
    pub last: f64,
}

impl Envelope {
    /// The envelope of one point.
    pub fn of_point(point: &Point) -> Envelope {
        Envelope {
            lo_step: point.step,
            hi_step: point.step,
            us: point.us.map(|us| (us, us)),
            first: point.value,
            min: point.value,
            max: point.value,
            last: point.value,
        }
    }

    /// The envelope of `points` (none for no points).
    pub fn of(points: &[Point]) -> Option<Envelope> {
        points.iter().map(Envelope::of_point).reduce(Envelope::then)
    }

    /// The envelope of this run of points followed by `next`'s.
    pub fn then(self, next: Envelope) -> Envelope {
        Envelope {
            lo_step: self.lo_step.min(next.lo_step),
            hi_step: self.hi_step.max(next.hi_step),
            us: match (self.us, next.us) {
                (Some((a_lo, a_hi)), Some((b_lo, b_hi))) => Some((a_lo.min(b_lo), a_hi.max(b_hi))),
                (one, other) => one.or(other),
            },
            first: self.first,
            min: self.min.min(next.min),
            max: self.max.max(next.max),
            last: next.last,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let (lo_us, hi_us) = self.us.unwrap_or((i64::MAX, i64::MIN));
        for int in [self.lo_step, self.hi_step, lo_us, hi_us] {
            out.extend_from_slice(&int.to_le_bytes());
        }
        for float in [self.first, self.min, self.max, self.last] {
            out.extend_from_slice(&float.to_le_bytes());
        }
    }

    fn decode(bytes: &[u8; ENVELOPE_BYTES]) -> Envelope {
        let word = |i: usize| {
            let mut eight = [0; 8];
            eight.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            eight
        };
        let int = |i| i64::from_le_bytes(word(i));
        let float = |i| f64::from_le_bytes(word(i));
        let (lo_us, hi_us) = (int(2), int(3));
        Envelope {
            lo_step: int(0),
            hi_step: int(1),
            us: (lo_us <= hi_us).then_some((lo_us, hi_us)),
            first: float(4),
            min: float(5),
            max: float(6),
            last: float(7),
        }
    }
}

/// The envelopes of a chunk's sub-buckets, encoded: [`ENVELOPE_BYTES`] each, in order.
pub(crate) fn encode_envelopes(points: &[Point]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len().div_ceil(SUB_POINTS) * ENVELOPE_BYTES);
    for sub in points.chunks(SUB_POINTS) {
        if let Some(envelope) = Envelope::of(sub) {
            envelope.encode(&mut out);
        }
    }
    out
}

/// A chunk's envelopes with the number of points each summarizes, read back; an envelope
/// column that is not whole envelopes, or that disagrees with the chunk's point count, is an
/// error naming `chunk`.
pub(crate) fn decode_envelopes(bytes: &[u8], points: usize, chunk: &str) -> Result<Vec<(Envelope, usize)>> {
    let envelopes: Vec<Envelope> = bytes
        .chunks(ENVELOPE_BYTES)
        .filter_map(|b| <&[u8; ENVELOPE_BYTES]>::try_from(b).ok())
        .map(Envelope::decode)
        .collect();
    if !bytes.len().is_multiple_of(ENVELOPE_BYTES) || envelopes.len() != points.div_ceil(SUB_POINTS) {
        return Err(damaged(chunk, "its envelope does not match its point count"));
    }
    Ok(envelopes
        .into_iter()
        .enumerate()
        .map(|(i, envelope)| (envelope, (points - i * SUB_POINTS).min(SUB_POINTS)))
        .collect())
}

/// The body of a chunk holding `points` (at most [`CHUNK_POINTS`]).
pub(crate) fn encode_body(points: &[Point]) -> Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(16 + points.len() * 12);
    put_varint(&mut raw, points.len() as u64);
    let mut previous = 0_i64;
    for point in points {
        put_varint(&mut raw, zigzag(point.step.wrapping_sub(previous)));
        previous = point.step;
    }
    encode_times(points, &mut raw);
    for point in points {
        raw.extend_from_slice(&point.value.to_le_bytes());
    }
    zstd::bulk::compress(&raw, ZSTD_LEVEL).map_err(|e| {
        StoreError::new(
            crate::error::ErrorKind::Internal,
            format!("cannot compress a metric chunk: {e}"),
        )
    })
}

fn encode_times(points: &[Point], raw: &mut Vec<u8>) {
    let present = points.iter().filter(|p| p.us.is_some()).count();
    if present == 0 {
        raw.push(0);
        return;
    }
    if present == points.len() {
        raw.push(1);
    } else {
        raw.push(2);
        let mut bitmap = vec![0_u8; points.len().div_ceil(8)];
        for (i, point) in points.iter().enumerate() {
            if point.us.is_some() {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        raw.extend_from_slice(&bitmap);
    }
    let mut previous = 0_i64;
    for us in points.iter().filter_map(|p| p.us) {
        put_varint(raw, zigzag(us.wrapping_sub(previous)));
        previous = us;
    }
}

/// The points of a chunk's body; a body that does not decode is an error naming `chunk`.
pub(crate) fn decode_body(body: &[u8], chunk: &str) -> Result<Vec<Point>> {
    let raw = zstd::bulk::decompress(body, MAX_RAW_BODY).map_err(|_| damaged(chunk, "its body does not decompress"))?;
    let mut reader = Reader {
        bytes: &raw,
        at: 0,
        chunk,
    };
    let count = usize::try_from(reader.varint()?).unwrap_or(usize::MAX);
    if count > CHUNK_POINTS {
        return Err(damaged(chunk, "its body claims more points than a chunk holds"));
    }
    let mut steps = Vec::with_capacity(count);
    let mut previous = 0_i64;
    for _ in 0..count {
        previous = previous.wrapping_add(unzigzag(reader.varint()?));
        steps.push(previous);
    }
    let times = decode_times(&mut reader, count)?;
    let mut points = Vec::with_capacity(count);
    for (step, us) in steps.into_iter().zip(times) {
        let value = f64::from_le_bytes(reader.take::<8>()?);
        if !value.is_finite() {
            return Err(damaged(chunk, "its body holds a value that is not a finite number"));
        }
        points.push(Point { step, us, value });
    }
    if reader.at != raw.len() {
        return Err(damaged(chunk, "its body has bytes after its last point"));
    }
    Ok(points)
}

fn decode_times(reader: &mut Reader<'_>, count: usize) -> Result<Vec<Option<i64>>> {
    let flag = reader.take::<1>()?[0];
    let present: Vec<bool> = match flag {
        0 => vec![false; count],
        1 => vec![true; count],
        2 => {
            let bitmap = reader.slice(count.div_ceil(8))?;
            (0..count).map(|i| bitmap[i / 8] & (1 << (i % 8)) != 0).collect()
        }
        _ => return Err(damaged(reader.chunk, "its body has an unknown timestamp layout")),
    };
    let mut previous = 0_i64;
    present
        .into_iter()
        .map(|has| {
            if !has {
                return Ok(None);
            }
            previous = previous.wrapping_add(unzigzag(reader.varint()?));
            Ok(Some(previous))
        })
        .collect()
}

/// The hash that seals a chunk: SHA-256 of the previous sealed chunk's hash and the body.
pub(crate) fn seal_hash(previous: &[u8], body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(body);
    hasher.finalize().to_vec()
}

fn damaged(chunk: &str, what: &str) -> StoreError {
    StoreError::data_loss(format!("metric chunk {chunk} is damaged: {what}"))
        .with_hint("run `mlspec store verify`; the chunk was altered outside mlspec")
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a decompressed body, every read bounded.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    chunk: &'a str,
}

impl Reader<'_> {
    fn slice(&mut self, len: usize) -> Result<&[u8]> {
        let end = self.at.checked_add(len).filter(|end| *end <= self.bytes.len());
        let Some(end) = end else {
            return Err(damaged(self.chunk, "its body ends early"));
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.slice(N)?);
        Ok(out)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0_u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take::<1>()?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(damaged(self.chunk, "its body holds a number longer than 64 bits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn point() -> impl Strategy<Value = Point> {
        (any::<i64>(), proptest::option::of(any::<i64>()), -1e300_f64..1e300).prop_map(|(step, us, value)| Point {
            step,
            us,
            value,
        })
    }

    proptest! {
        #[test]
        fn bodies_round_trip(points in proptest::collection::vec(point(), 0..=CHUNK_POINTS)) {
            let body = encode_body(&points).unwrap();
            prop_assert_eq!(decode_body(&body, "t").unwrap(), points);
        }

        #[test]
        fn combined_envelopes_equal_the_envelope_of_all_points(
            points in proptest::collection::vec(point(), 1..300),
            cuts in proptest::collection::vec(1_usize..300, 0..6),
        ) {
            let mut edges: Vec<usize> = cuts.into_iter().filter(|c| *c < points.len()).collect();
            edges.push(0);
            edges.push(points.len());
            edges.sort_unstable();
            edges.dedup();
            let combined = edges
                .windows(2)
                .filter_map(|w| Envelope::of(&points[w[0]..w[1]]))
                .reduce(Envelope::then);
            let brute = Envelope {
                lo_step: points.iter().map(|p| p.step).min().unwrap(),
                hi_step: points.iter().map(|p| p.step).max().unwrap(),
                us: points.iter().filter_map(|p| p.us).min().zip(points.iter().filter_map(|p| p.us).max()),
                first: points[0].value,
                min: points.iter().map(|p| p.value).fold(f64::INFINITY, f64::min),
                max: points.iter().map(|p| p.value).fold(f64::NEG_INFINITY, f64::max),
                last: points[points.len() - 1].value,
            };
            prop_assert_eq!(combined, Some(brute));
        }

        #[test]
        fn envelopes_round_trip(points in proptest::collection::vec(point(), 0..=CHUNK_POINTS)) {
            let bytes = encode_envelopes(&points);
            let decoded = decode_envelopes(&bytes, points.len(), "t").unwrap();
            let expected: Vec<(Envelope, usize)> = points
                .chunks(SUB_POINTS)
                .map(|sub| (Envelope::of(sub).unwrap(), sub.len()))
                .collect();
            prop_assert_eq!(decoded, expected);
        }

        #[test]
        fn damaged_bodies_are_errors_not_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_body(&bytes, "t");
            if let Ok(compressed) = zstd::bulk::compress(&bytes, 1) {
                let _ = decode_body(&compressed, "t");
            }
        }
    }

    #[test]
    fn chunk_boundaries_keep_every_point() {
        for count in [
            0,
            1,
            SUB_POINTS - 1,
            SUB_POINTS,
            SUB_POINTS + 1,
            CHUNK_POINTS - 1,
            CHUNK_POINTS,
        ] {
            let points: Vec<Point> = (0..count)
                .map(|i| Point {
                    step: i as i64,
                    us: (i % 3 != 0).then_some(1_700_000_000_000_000 + i as i64 * 1000),
                    value: (i as f64).sin(),
                })
                .collect();
            let body = encode_body(&points).unwrap();
            assert_eq!(decode_body(&body, "t").unwrap(), points, "{count}");
            let envelopes = decode_envelopes(&encode_envelopes(&points), count, "t").unwrap();
            assert_eq!(envelopes.iter().map(|(_, n)| n).sum::<usize>(), count);
        }
    }

    #[test]
    fn a_step_counter_takes_about_eleven_bytes_a_point() {
        let points: Vec<Point> = (0..CHUNK_POINTS)
            .map(|i| Point {
                step: i as i64,
                us: Some(1_700_000_000_000_000 + i as i64 * 1500),
                value: 1.0 / (1.0 + i as f64) + (i as f64 * 0.37).sin() * 1e-3,
            })
            .collect();
        let body = encode_body(&points).unwrap();
        assert!(body.len() < CHUNK_POINTS * 12, "{} bytes", body.len());
    }

    #[test]
    fn envelopes_that_disagree_with_the_count_are_damage() {
        let points = [Point {
            step: 1,
            us: None,
            value: 1.0,
        }];
        let bytes = encode_envelopes(&points);
        assert!(decode_envelopes(&bytes, 65, "s/0").is_err());
        assert!(decode_envelopes(&bytes[..10], 1, "s/0").is_err());
        let error = decode_body(b"junk", "s/0").unwrap_err();
        assert!(error.message.contains("metric chunk s/0 is damaged"), "{error}");
    }
}
