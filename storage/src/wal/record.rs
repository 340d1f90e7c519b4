//! WAL record payloads, byte-compatible with Prometheus's `tsdb/record` for the three types the
//! head writes: series (1), samples (2, the "V1" layout) and tombstones (3).
//!
//! ```text
//! Series:     0x01 { ref<8b BE> #labels<uvarint> { len<uvarint> name len<uvarint> value }* }*
//! Samples:    0x02 [ first_ref<8b BE> first_t<8b BE> { Δref<varint> Δt<varint> value<8b BE bits> }* ]
//!             (Δ relative to the first sample, which is repeated as (0, 0, v); empty list = type byte only)
//! Tombstones: 0x03 { ref<8b BE> mint<varint> maxt<varint> }*   (one entry per interval)
//! ```
//!
//! Decoding never panics: short input, bad varints, non-UTF-8 labels, trailing bytes and unknown
//! types are [`Error::Corruption`] values (offsets are within the record; the WAL reader adds
//! the segment and the record's position).

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::reader::Interval;

pub const TYPE_SERIES: u8 = 1;
pub const TYPE_SAMPLES: u8 = 2;
pub const TYPE_TOMBSTONES: u8 = 3;

const RECORD_PATH: &str = "<wal record>";

/// A series reference and its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct RefSeries {
    pub ref_: u64,
    pub labels: Labels,
}

/// A float sample of a series reference. `PartialEq` compares `v` as a float; compare
/// `v.to_bits()` when NaN payloads matter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefSample {
    pub ref_: u64,
    pub t: i64,
    pub v: f64,
}

/// Deleted intervals of a series reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Stone {
    pub ref_: u64,
    pub intervals: Vec<Interval>,
}

/// One decoded WAL record.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Series(Vec<RefSeries>),
    Samples(Vec<RefSample>),
    /// Decoding yields one [`Stone`] per interval (as Prometheus does); encoding accepts several
    /// intervals per stone.
    Tombstones(Vec<Stone>),
}

impl Record {
    /// The record type byte.
    pub fn type_byte(&self) -> u8 {
        match self {
            Record::Series(_) => TYPE_SERIES,
            Record::Samples(_) => TYPE_SAMPLES,
            Record::Tombstones(_) => TYPE_TOMBSTONES,
        }
    }

    /// Appends the encoded record to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            Record::Series(s) => encode_series(s, buf),
            Record::Samples(s) => encode_samples(s, buf),
            Record::Tombstones(s) => encode_tombstones(s, buf),
        }
    }

    /// The encoded record in a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.encode(&mut buf);
        buf
    }

    pub fn decode(rec: &[u8]) -> Result<Record> {
        let mut d = Dec { b: rec, pos: 0 };
        let typ = d.byte()?;
        let r = match typ {
            TYPE_SERIES => {
                let mut out = Vec::new();
                while !d.done() {
                    let ref_ = d.be64()?;
                    let labels = d.labels()?;
                    out.push(RefSeries { ref_, labels });
                }
                Record::Series(out)
            }
            TYPE_SAMPLES => {
                let mut out = Vec::new();
                if !d.done() {
                    let base_ref = d.be64()?;
                    let base_t = d.be64()? as i64;
                    out.reserve(d.remaining() / 10);
                    while !d.done() {
                        let dref = d.varint()?;
                        let dt = d.varint()?;
                        let v = f64::from_bits(d.be64()?);
                        out.push(RefSample {
                            ref_: (base_ref as i64).wrapping_add(dref) as u64,
                            t: base_t.wrapping_add(dt),
                            v,
                        });
                    }
                }
                Record::Samples(out)
            }
            TYPE_TOMBSTONES => {
                let mut out = Vec::new();
                while !d.done() {
                    let ref_ = d.be64()?;
                    let mint = d.varint()?;
                    let maxt = d.varint()?;
                    out.push(Stone { ref_, intervals: vec![Interval { mint, maxt }] });
                }
                Record::Tombstones(out)
            }
            other => return Err(Error::corruption(RECORD_PATH, 0, format!("unknown record type {other}"))),
        };
        Ok(r)
    }
}

/// Encodes a series record from borrowed parts (saves building a [`Record`] on the hot path).
pub fn encode_series(series: &[RefSeries], buf: &mut Vec<u8>) {
    buf.push(TYPE_SERIES);
    for s in series {
        buf.extend_from_slice(&s.ref_.to_be_bytes());
        put_uvarint(buf, s.labels.len() as u64);
        for l in s.labels.iter() {
            put_uvarint(buf, l.name.len() as u64);
            buf.extend_from_slice(l.name.as_bytes());
            put_uvarint(buf, l.value.len() as u64);
            buf.extend_from_slice(l.value.as_bytes());
        }
    }
}

/// Encodes a samples record (Prometheus's `samplesV1` layout).
pub fn encode_samples(samples: &[RefSample], buf: &mut Vec<u8>) {
    buf.push(TYPE_SAMPLES);
    let Some(first) = samples.first() else {
        return;
    };
    buf.reserve(16 + samples.len() * 12);
    buf.extend_from_slice(&first.ref_.to_be_bytes());
    buf.extend_from_slice(&first.t.to_be_bytes());
    for s in samples {
        put_varint(buf, (s.ref_ as i64).wrapping_sub(first.ref_ as i64));
        put_varint(buf, s.t.wrapping_sub(first.t));
        buf.extend_from_slice(&s.v.to_bits().to_be_bytes());
    }
}

/// Encodes a tombstones record: one entry per (stone, interval).
pub fn encode_tombstones(stones: &[Stone], buf: &mut Vec<u8>) {
    buf.push(TYPE_TOMBSTONES);
    for s in stones {
        for iv in &s.intervals {
            buf.extend_from_slice(&s.ref_.to_be_bytes());
            put_varint(buf, iv.mint);
            put_varint(buf, iv.maxt);
        }
    }
}

pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

pub(crate) fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, ((x << 1) ^ (x >> 63)) as u64);
}

/// A bounds-checked cursor over a record.
struct Dec<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    fn err(&self, what: &str) -> Error {
        Error::corruption(RECORD_PATH, self.pos as u64, what.to_string())
    }
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
    fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.pos)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| self.err("record truncated"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn be64(&mut self) -> Result<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn uvarint(&mut self) -> Result<u64> {
        let mut x = 0u64;
        let mut shift = 0;
        for i in 0..10 {
            let b = self.byte()?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(self.err("varint overflows 64 bits"));
                }
                return Ok(x | (u64::from(b) << shift));
            }
            x |= u64::from(b & 0x7f) << shift;
            shift += 7;
        }
        Err(self.err("varint overflows 64 bits"))
    }
    fn varint(&mut self) -> Result<i64> {
        let ux = self.uvarint()?;
        let x = (ux >> 1) as i64;
        Ok(if ux & 1 != 0 { !x } else { x })
    }
    fn str(&mut self) -> Result<&'a str> {
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| self.err("string length overflows"))?;
        let at = self.pos;
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| Error::corruption(RECORD_PATH, at as u64, "label string is not UTF-8"))
    }
    fn labels(&mut self) -> Result<Labels> {
        let n = self.uvarint()?;
        // Each label takes at least two bytes: reject counts the record cannot hold.
        if n > (self.remaining() / 2) as u64 {
            return Err(self.err("label count exceeds record"));
        }
        let mut pairs = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let name = self.str()?;
            let value = self.str()?;
            pairs.push((name, value));
        }
        Ok(Labels::from_pairs(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lbls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    /// Encodes `rec`, compares with `expected`, decodes back.
    fn check(rec: Record, expected: &[u8]) {
        assert_eq!(rec.to_bytes(), expected, "encoding of {rec:?}");
        assert_eq!(Record::decode(expected).unwrap(), rec);
    }

    fn check_err(bytes: &[u8], what: &str) {
        let e = Record::decode(bytes).unwrap_err().to_string();
        assert!(e.contains(what), "{bytes:x?}: {e}");
    }

    #[test]
    fn known_encodings() {
        check(Record::Series(vec![]), &[1]);
        check(
            Record::Series(vec![RefSeries { ref_: 5, labels: lbls(&[("__name__", "up"), ("a", "b")]) }]),
            &[
                1, 0, 0, 0, 0, 0, 0, 0, 5, 2, 8, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 2, b'u', b'p', 1,
                b'a', 1, b'b',
            ],
        );
        check(Record::Samples(vec![]), &[2]);
        check(
            Record::Samples(vec![RefSample { ref_: 10, t: 1000, v: 1.0 }, RefSample { ref_: 9, t: 1500, v: 2.0 }]),
            &[
                2, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, // base ref, base t
                0, 0, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, // (0, 0, 1.0)
                1, 0xe8, 0x07, 0x40, 0, 0, 0, 0, 0, 0, 0, // (-1, +500, 2.0)
            ],
        );
        check(Record::Tombstones(vec![]), &[3]);
        check(
            Record::Tombstones(vec![Stone { ref_: 7, intervals: vec![Interval { mint: -1, maxt: 100 }] }]),
            &[3, 0, 0, 0, 0, 0, 0, 0, 7, 1, 0xc8, 0x01],
        );
    }

    #[test]
    fn multi_interval_stones_split_on_decode() {
        let rec = Record::Tombstones(vec![Stone {
            ref_: 1,
            intervals: vec![Interval { mint: 0, maxt: 1 }, Interval { mint: 5, maxt: 9 }],
        }]);
        let got = Record::decode(&rec.to_bytes()).unwrap();
        assert_eq!(
            got,
            Record::Tombstones(vec![
                Stone { ref_: 1, intervals: vec![Interval { mint: 0, maxt: 1 }] },
                Stone { ref_: 1, intervals: vec![Interval { mint: 5, maxt: 9 }] },
            ])
        );
    }

    #[test]
    fn samples_keep_nan_bits_and_extremes() {
        let vals = [crate::STALE_NAN_BITS, f64::NAN.to_bits(), (-0.0f64).to_bits(), 1, u64::MAX];
        let samples: Vec<RefSample> = vals
            .iter()
            .enumerate()
            .map(|(i, &b)| RefSample {
                ref_: if i % 2 == 0 { u64::MAX - i as u64 } else { i as u64 },
                t: [i64::MIN, i64::MAX][i % 2],
                v: f64::from_bits(b),
            })
            .collect();
        let Record::Samples(got) = Record::decode(&Record::Samples(samples.clone()).to_bytes()).unwrap() else {
            panic!("not samples")
        };
        let bits = |s: &[RefSample]| s.iter().map(|s| (s.ref_, s.t, s.v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&samples));
    }

    #[test]
    fn corrupt_records_are_errors() {
        check_err(&[], "truncated");
        check_err(&[0], "unknown record type 0");
        check_err(&[4], "unknown record type 4");
        check_err(&[255, 1, 2], "unknown record type 255");
        check_err(&[1, 0, 0, 0], "truncated");
        check_err(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f], "label count");
        check_err(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0xff, 1, b'x'], "UTF-8");
        check_err(&[2, 0, 0, 0, 0, 0, 0, 0, 1], "truncated");
        check_err(&[2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2], "truncated");
        check_err(
            &[3, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0],
            "overflow",
        );
        // Every strict prefix of a valid record with entries fails or decodes fewer entries.
        let full =
            Record::Samples(vec![RefSample { ref_: 1, t: 2, v: 3.0 }, RefSample { ref_: 2, t: 3, v: 4.0 }]).to_bytes();
        for len in 2..full.len() {
            match Record::decode(&full[..len]) {
                Err(_) => {}
                Ok(Record::Samples(s)) => assert!(s.len() < 2, "prefix {len}"),
                Ok(other) => panic!("prefix {len}: {other:?}"),
            }
        }
    }
}
