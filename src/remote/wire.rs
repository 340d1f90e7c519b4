//! A zero-copy decoder for remote-write 1.0 requests (`prometheus.WriteRequest`).
//!
//! prost decodes every label name and value into its own `Vec<u8>`, which made allocation the
//! largest cost of ingestion. This decoder walks the protobuf wire format directly and hands
//! each series to a callback with its labels as slices of the request buffer and its samples in
//! a reused vector: no allocation per label or sample. Unknown fields are skipped as the
//! protobuf rules require; malformed input (bad varints, lengths past the end, group wire
//! types) is an error with the offset where it was found, never a panic.

/// One series of a request, borrowing from the request buffer.
#[derive(Debug, Default, PartialEq)]
pub struct RawSeries<'a> {
    /// `(name, value)` pairs as sent (unsorted, unvalidated bytes).
    pub labels: Vec<(&'a [u8], &'a [u8])>,
    /// `(timestamp ms, value)`.
    pub samples: Vec<(i64, f64)>,
    pub exemplars: usize,
    pub histograms: usize,
}

impl RawSeries<'_> {
    fn clear(&mut self) {
        self.labels.clear();
        self.samples.clear();
        self.exemplars = 0;
        self.histograms = 0;
    }
}

/// One metadata entry of a request.
#[derive(Debug, Default, PartialEq)]
pub struct RawMetadata<'a> {
    pub kind: i32,
    pub family: &'a [u8],
    pub help: &'a [u8],
    pub unit: &'a [u8],
}

/// Malformed protobuf, with the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf at offset {offset}: {what}")]
pub struct WireError {
    pub offset: usize,
    pub what: &'static str,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the whole request (for error messages).
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }
    fn err(&self, what: &'static str) -> WireError {
        WireError { offset: self.base + self.pos, what }
    }
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
    fn varint(&mut self) -> Result<u64, WireError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else { return Err(self.err("truncated varint")) };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }
    fn fixed64(&mut self) -> Result<u64, WireError> {
        let end = self.pos + 8;
        let b = self.buf.get(self.pos..end).ok_or_else(|| self.err("truncated fixed64"))?;
        self.pos = end;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn bytes(&mut self) -> Result<(&'a [u8], usize), WireError> {
        let len = self.varint()?;
        let start = self.pos;
        let end = usize::try_from(len).ok().and_then(|l| start.checked_add(l)).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| self.err("length past the end of the message"))?;
        self.pos = end;
        Ok((&self.buf[start..end], self.base + start))
    }
    /// The next field's number and wire type.
    fn key(&mut self) -> Result<(u64, u8), WireError> {
        let k = self.varint()?;
        Ok((k >> 3, (k & 7) as u8))
    }
    fn skip(&mut self, wire: u8) -> Result<(), WireError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.fixed64().map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => {
                let end = self.pos + 4;
                if end > self.buf.len() {
                    return Err(self.err("truncated fixed32"));
                }
                self.pos = end;
                Ok(())
            }
            _ => Err(self.err("unsupported wire type")),
        }
    }
    /// Checks the wire type of a known field.
    fn expect(&self, got: u8, want: u8) -> Result<(), WireError> {
        if got == want { Ok(()) } else { Err(self.err("wrong wire type for field")) }
    }
}

/// Decodes a `WriteRequest`, calling `on_series` for each series (the `RawSeries` is reused
/// between calls; returning `false` stops decoding) and returning the metadata entries seen.
pub fn decode_v1<'a>(
    buf: &'a [u8],
    mut on_series: impl FnMut(&RawSeries<'a>) -> bool,
) -> Result<Vec<RawMetadata<'a>>, WireError> {
    let mut r = Reader::new(buf, 0);
    let mut series = RawSeries::default();
    let mut metadata = Vec::new();
    while !r.done() {
        let (field, wire) = r.key()?;
        match field {
            1 => {
                r.expect(wire, 2)?;
                let (b, base) = r.bytes()?;
                series.clear();
                decode_series(b, base, &mut series)?;
                if !on_series(&series) {
                    break;
                }
            }
            3 => {
                r.expect(wire, 2)?;
                let (b, base) = r.bytes()?;
                metadata.push(decode_metadata(b, base)?);
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(metadata)
}

fn decode_series<'a>(buf: &'a [u8], base: usize, out: &mut RawSeries<'a>) -> Result<(), WireError> {
    let mut r = Reader::new(buf, base);
    while !r.done() {
        let (field, wire) = r.key()?;
        match field {
            1 => {
                r.expect(wire, 2)?;
                let (b, base) = r.bytes()?;
                out.labels.push(decode_label(b, base)?);
            }
            2 => {
                r.expect(wire, 2)?;
                let (b, base) = r.bytes()?;
                out.samples.push(decode_sample(b, base)?);
            }
            3 => {
                r.expect(wire, 2)?;
                r.bytes()?;
                out.exemplars += 1;
            }
            4 => {
                r.expect(wire, 2)?;
                r.bytes()?;
                out.histograms += 1;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

fn decode_label(buf: &[u8], base: usize) -> Result<(&[u8], &[u8]), WireError> {
    let mut r = Reader::new(buf, base);
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    while !r.done() {
        let (field, wire) = r.key()?;
        match field {
            1 => {
                r.expect(wire, 2)?;
                name = r.bytes()?.0;
            }
            2 => {
                r.expect(wire, 2)?;
                value = r.bytes()?.0;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok((name, value))
}

fn decode_sample(buf: &[u8], base: usize) -> Result<(i64, f64), WireError> {
    let mut r = Reader::new(buf, base);
    let (mut t, mut v) = (0i64, 0f64);
    while !r.done() {
        let (field, wire) = r.key()?;
        match field {
            1 => {
                r.expect(wire, 1)?;
                v = f64::from_bits(r.fixed64()?);
            }
            2 => {
                r.expect(wire, 0)?;
                t = r.varint()? as i64;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok((t, v))
}

fn decode_metadata(buf: &[u8], base: usize) -> Result<RawMetadata<'_>, WireError> {
    let mut r = Reader::new(buf, base);
    let mut m = RawMetadata::default();
    while !r.done() {
        let (field, wire) = r.key()?;
        match field {
            1 => {
                r.expect(wire, 0)?;
                m.kind = r.varint()? as i32;
            }
            2 => {
                r.expect(wire, 2)?;
                m.family = r.bytes()?.0;
            }
            4 => {
                r.expect(wire, 2)?;
                m.help = r.bytes()?.0;
            }
            5 => {
                r.expect(wire, 2)?;
                m.unit = r.bytes()?.0;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::remote::v1;

    fn request(seed: u64) -> v1::WriteRequest {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        let timeseries = (0..(next() % 5))
            .map(|i| v1::TimeSeries {
                labels: (0..(next() % 4))
                    .map(|j| v1::Label {
                        name: format!("l{j}").into_bytes(),
                        value: format!("v{i}{}", next()).into_bytes(),
                    })
                    .collect(),
                samples: (0..(next() % 4))
                    .map(|_| v1::Sample { timestamp: next() as i64 - 1_000_000_000, value: next() as f64 / 7.0 })
                    .collect(),
                exemplars: (0..(next() % 2)).map(|_| v1::Exemplar::default()).collect(),
                histograms: (0..(next() % 2)).map(|_| v1::Histogram::default()).collect(),
            })
            .collect();
        let metadata = (0..(next() % 3))
            .map(|i| v1::MetricMetadata {
                r#type: (i % 8) as i32,
                metric_family_name: format!("m{i}"),
                help: "h".into(),
                unit: String::new(),
            })
            .collect();
        v1::WriteRequest { timeseries, metadata }
    }

    /// Decodes with this decoder and converts back to prost types.
    fn via_wire(buf: &[u8]) -> Result<v1::WriteRequest, WireError> {
        let mut timeseries = Vec::new();
        let md = decode_v1(buf, |s| {
            timeseries.push(v1::TimeSeries {
                labels: s.labels.iter().map(|(n, v)| v1::Label { name: n.to_vec(), value: v.to_vec() }).collect(),
                samples: s.samples.iter().map(|(t, v)| v1::Sample { timestamp: *t, value: *v }).collect(),
                exemplars: (0..s.exemplars).map(|_| v1::Exemplar::default()).collect(),
                histograms: (0..s.histograms).map(|_| v1::Histogram::default()).collect(),
            });
            true
        })?;
        let metadata = md
            .iter()
            .map(|m| v1::MetricMetadata {
                r#type: m.kind,
                metric_family_name: String::from_utf8_lossy(m.family).into_owned(),
                help: String::from_utf8_lossy(m.help).into_owned(),
                unit: String::from_utf8_lossy(m.unit).into_owned(),
            })
            .collect();
        Ok(v1::WriteRequest { timeseries, metadata })
    }

    #[test]
    fn agrees_with_prost() {
        for seed in 0..200 {
            let req = request(seed);
            let buf = req.encode_to_vec();
            assert_eq!(via_wire(&buf).unwrap(), req, "seed {seed}");
        }
    }

    #[test]
    fn truncation_and_corruption_are_errors_not_panics() {
        for seed in 0..50 {
            let buf = request(seed).encode_to_vec();
            for cut in 0..buf.len() {
                let prost_ok = v1::WriteRequest::decode(&buf[..cut]).is_ok();
                assert_eq!(via_wire(&buf[..cut]).is_ok(), prost_ok, "seed {seed} cut {cut}");
            }
            for i in 0..buf.len() {
                let mut b = buf.clone();
                b[i] ^= 0xa5;
                let _ = via_wire(&b);
            }
        }
    }

    #[test]
    fn errors_name_the_offset() {
        let check = |buf: &[u8], expected: WireError| assert_eq!(via_wire(buf).unwrap_err(), expected, "{buf:?}");
        check(b"\x0a\x05\x0a", WireError { offset: 2, what: "length past the end of the message" });
        check(b"\x0a", WireError { offset: 1, what: "truncated varint" });
        check(b"\x23", WireError { offset: 1, what: "unsupported wire type" });
        check(b"\x0b", WireError { offset: 1, what: "wrong wire type for field" });
        check(b"\x08\x01", WireError { offset: 1, what: "wrong wire type for field" });
        check(
            b"\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
            WireError { offset: 11, what: "varint overflows 64 bits" },
        );
        // Unknown fields of every wire type are skipped.
        assert_eq!(
            via_wire(b"\x10\x01\x21\x01\x02\x03\x04\x05\x06\x07\x08\x2a\x00\x35\x01\x02\x03\x04").unwrap(),
            v1::WriteRequest::default()
        );
    }
}
