//! Prometheus's XOR chunk encoding (encoding byte 1), bit for bit.
//!
//! Layout (see `docs/format/chunk-xor.md` and Prometheus's `tsdb/chunkenc/xor.go`): a 2-byte
//! big-endian sample count, then a bit stream (MSB first): sample 0 as `varint(t)` + 64 raw value
//! bits; sample 1 as `uvarint(t1 - t0)` + value XOR; later samples as a timestamp
//! delta-of-delta in the buckets `0` / `10`+14 / `110`+17 / `1110`+20 / `1111`+64 bits, then the
//! value XOR (`0` same value, `10` reuse the previous leading/trailing-zero window, `11` + 5-bit
//! leading (capped at 31) + 6-bit significant-bit count (64 written as 0) + the bits).
//!
//! Values are stored by their bit pattern, so every NaN payload (including Prometheus's stale
//! marker `0x7ff0000000000002`), `-0.0` and subnormals come back exactly.
//!
//! - [`XorEncoder`] owns the bytes and the appender state (the head appends without re-scanning);
//!   [`XorEncoder::from_bytes`] recovers that state from existing chunk bytes.
//! - [`XorDecoder`] borrows bytes; [`XorIterator`] owns them and implements
//!   [`crate::SampleIterator`]. Both end with an error value on truncated or corrupt input:
//!   decoding never panics and always terminates (each sample consumes at least two bits).

mod bstream;
#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;

use bstream::{BitReader, BitWriter, write_uvarint, write_varint};

use crate::error::{Error, Result};
use crate::reader::ChunkData;
use crate::storage::{Sample, SampleIterator, Timestamp};

/// The encoding byte of XOR chunks in block chunk files and head chunk files.
pub const ENCODING_XOR: u8 = 1;
/// Samples per head chunk before a new one is cut (Prometheus's `DefaultSamplesPerChunk`).
pub const SAMPLES_PER_CHUNK: usize = 120;
/// Hard cap on an XOR chunk's size in Prometheus (`MaxBytesPerXORChunk`).
pub const MAX_BYTES_PER_XOR_CHUNK: usize = 1024;
/// The most a single append can add to a chunk: 4 + 64 dod bits + 2 + 5 + 6 + 64 value bits,
/// rounded up (Prometheus cuts a chunk when `len > 1024 - 19`).
pub const MAX_BYTES_PER_APPEND: usize = 19;

/// Size of the sample-count header.
const HEADER_BYTES: usize = 2;
/// "No window yet": forces a new leading/trailing window on the first XOR.
const NO_WINDOW: u8 = 0xff;
/// The path shown in corruption errors of chunk bytes (they carry no file of their own).
const CHUNK_PATH: &str = "<xor chunk>";

/// Does `x` fit Prometheus's `bitRange(x, nbits)`: `-(2^(n-1) - 1) ..= 2^(n-1)`?
/// (Asymmetric on purpose: the reader treats the pattern `1 << (n-1)` as positive.)
#[inline]
fn bit_range(x: i64, nbits: u32) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= x && x <= 1i64 << (nbits - 1)
}

/// Builds an XOR chunk sample by sample, keeping the state needed for the next append.
///
/// It is the open chunk of every head series, so it is kept at 48 bytes: a boxed byte buffer
/// with the length beside it as a `u16` (not a `Vec`'s word), the bit writer's and the XOR
/// window's state in bytes, and the first timestamp read back from the chunk bytes.
#[derive(Clone, Debug)]
pub struct XorEncoder {
    /// The chunk bytes `..len`; the rest is zeroed spare capacity (see [`BitWriter`]).
    buf: Box<[u8]>,
    t: i64,
    /// Bits of the last value.
    v: u64,
    /// Last timestamp delta (as Go's `uint64`; arithmetic wraps like Go's).
    t_delta: u64,
    len: u16,
    num: u16,
    /// Free bits in the last byte (the bit writer's state).
    free: u8,
    leading: u8,
    trailing: u8,
}

impl Default for XorEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl XorEncoder {
    /// An empty chunk (just the zero sample count).
    pub fn new() -> Self {
        Self::with_capacity(128)
    }

    /// An empty chunk with room for `bytes` bytes before reallocating.
    pub fn with_capacity(bytes: usize) -> Self {
        XorEncoder {
            buf: vec![0u8; bytes.max(HEADER_BYTES)].into_boxed_slice(),
            t: 0,
            v: 0,
            t_delta: 0,
            len: HEADER_BYTES as u16,
            num: 0,
            free: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Appends a sample. The caller guarantees `t` is greater than the previous timestamp.
    ///
    /// # Panics
    /// If the chunk already holds `u16::MAX` samples (the count header cannot say more).
    /// Chunks are cut at [`SAMPLES_PER_CHUNK`] / [`MAX_BYTES_PER_XOR_CHUNK`], far below that;
    /// use [`XorEncoder::is_full`] when in doubt.
    pub fn append(&mut self, t: i64, v: f64) {
        assert!(!self.is_full(), "XOR chunk holds {} samples already", self.num);
        let vbits = v.to_bits();
        let mut t_delta = 0u64;
        let mut w = BitWriter::new(&mut self.buf, self.len, self.free);
        match self.num {
            0 => {
                write_varint(&mut w, t);
                w.write_bits(vbits, 64);
            }
            1 => {
                t_delta = t.wrapping_sub(self.t) as u64;
                write_uvarint(&mut w, t_delta);
                write_value(&mut w, &mut self.leading, &mut self.trailing, vbits ^ self.v);
            }
            _ => {
                t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                if dod == 0 {
                    w.write_bit(false);
                } else if bit_range(dod, 14) {
                    w.write_bits(0b10, 2);
                    w.write_bits(dod as u64, 14);
                } else if bit_range(dod, 17) {
                    w.write_bits(0b110, 3);
                    w.write_bits(dod as u64, 17);
                } else if bit_range(dod, 20) {
                    w.write_bits(0b1110, 4);
                    w.write_bits(dod as u64, 20);
                } else {
                    w.write_bits(0b1111, 4);
                    w.write_bits(dod as u64, 64);
                }
                write_value(&mut w, &mut self.leading, &mut self.trailing, vbits ^ self.v);
            }
        }
        (self.len, self.free) = w.finish();
        self.t = t;
        self.v = vbits;
        self.t_delta = t_delta;
        self.num += 1;
        self.buf[..HEADER_BYTES].copy_from_slice(&self.num.to_be_bytes());
    }

    /// Whether the sample-count header is at its maximum.
    pub fn is_full(&self) -> bool {
        self.num == u16::MAX
    }

    pub fn num_samples(&self) -> usize {
        usize::from(self.num)
    }

    /// The full Prometheus chunk bytes, including the 2-byte sample count.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The chunk bytes as a vector (its capacity is the encoder's).
    pub fn into_bytes(self) -> Vec<u8> {
        let mut v = self.buf.into_vec();
        v.truncate(usize::from(self.len));
        v
    }

    /// Resumes appending to existing chunk bytes. The samples are decoded and re-encoded, which
    /// recovers the appender state and gives exactly the bytes an uninterrupted encoder would
    /// have (trailing garbage and padding bits are dropped).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let samples = decode_all(&bytes)?;
        let mut e = XorEncoder::with_capacity(bytes.capacity());
        for s in samples {
            e.append(s.t, s.v);
        }
        Ok(e)
    }

    /// Timestamp of the first sample.
    pub fn min_time(&self) -> Option<i64> {
        if self.num == 0 {
            return None;
        }
        // Our own bytes: the first sample starts with the varint timestamp after the header.
        BitReader::new(self.bytes(), HEADER_BYTES * 8).read_varint().ok()
    }

    /// Timestamp of the last sample.
    pub fn max_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.t)
    }

    /// The last sample appended.
    pub fn last(&self) -> Option<(i64, f64)> {
        (self.num > 0).then(|| (self.t, f64::from_bits(self.v)))
    }

    /// A borrowing decoder over the chunk as it is now.
    pub fn iter(&self) -> XorDecoder<'_> {
        XorDecoder { bytes: self.bytes(), st: DecodeState::valid(self.bytes()), err: None }
    }

    /// Bits used so far (header included); the chunk is `ceil(bits / 8)` bytes.
    pub fn bit_len(&self) -> usize {
        usize::from(self.len) * 8 - usize::from(self.free)
    }

    pub fn shrink_to_fit(&mut self) {
        if self.buf.len() != usize::from(self.len) {
            self.buf = self.bytes().into();
        }
    }

    /// Heap memory held (the byte buffer's capacity).
    pub fn heap_bytes(&self) -> usize {
        self.buf.len()
    }
}

/// Writes one value as the XOR `delta` with the previous one, keeping the leading/trailing
/// zeros window in `window_leading`/`window_trailing`.
#[inline]
fn write_value(w: &mut BitWriter<'_>, window_leading: &mut u8, window_trailing: &mut u8, delta: u64) {
    if delta == 0 {
        w.write_bit(false);
        return;
    }
    w.write_bit(true);
    // Clamped so it fits the 5-bit field.
    let leading = (delta.leading_zeros() as u8).min(31);
    let trailing = delta.trailing_zeros() as u8;
    if *window_leading != NO_WINDOW && leading >= *window_leading && trailing >= *window_trailing {
        w.write_bit(false);
        let sig = 64 - u32::from(*window_leading) - u32::from(*window_trailing);
        w.write_bits(delta >> *window_trailing, sig);
    } else {
        *window_leading = leading;
        *window_trailing = trailing;
        w.write_bit(true);
        w.write_bits(u64::from(leading), 5);
        let sig = 64 - u32::from(leading) - u32::from(trailing);
        // 64 does not fit in 6 bits and 0 never occurs (delta != 0): 64 is written as 0.
        w.write_bits(u64::from(sig) & 0x3f, 6);
        w.write_bits(delta >> trailing, sig);
    }
}

/// Decoding state, separate from the bytes so borrowing and owning decoders share it.
#[derive(Clone, Debug)]
struct DecodeState {
    /// Bit position of the next sample.
    pos: usize,
    total: u16,
    read: u16,
    prev: Prev,
}

/// What the next sample is decoded against: the previous sample and the encoding state.
#[derive(Clone, Copy, Debug, Default)]
struct Prev {
    t: i64,
    v: u64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
}

const TRUNCATED: &str = "truncated chunk";

impl DecodeState {
    fn new(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < HEADER_BYTES {
            return Err(Error::corruption(
                CHUNK_PATH,
                0,
                format!("chunk of {} bytes has no sample count", bytes.len()),
            ));
        }
        Ok(Self::valid(bytes))
    }

    /// For bytes known to hold a header (our own encoder's).
    fn valid(bytes: &[u8]) -> Self {
        let total = match bytes {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        };
        DecodeState { pos: HEADER_BYTES * 8, total, read: 0, prev: Prev::default() }
    }

    fn corrupt(&self, what: &str) -> Error {
        Error::corruption(
            CHUNK_PATH,
            (self.pos / 8) as u64,
            format!("{what} in sample {} of {} (bit {})", self.read, self.total, self.pos),
        )
    }

    /// Decodes the remaining samples in one pass (one bit reader for all of them), handing
    /// each to `f`; stops early when `f` returns false. After an error the state is unspecified.
    #[inline]
    fn for_each(&mut self, bytes: &[u8], mut f: impl FnMut(i64, f64) -> bool) -> Result<()> {
        let mut r = BitReader::new(bytes, self.pos);
        // The first two samples (varints).
        while self.read < self.total.min(2) {
            if let Err(what) = self.read_sample(&mut r) {
                return Err(self.corrupt(what));
            }
            self.pos = r.pos;
            self.read += 1;
            if !f(self.prev.t, f64::from_bits(self.prev.v)) {
                return Ok(());
            }
        }
        // The rest, the hot loop: the state lives in locals (registers) and is written back
        // once at the end.
        let mut prev = self.prev;
        let mut read = self.read;
        let mut start = r.pos;
        let mut res = Ok(());
        while read < self.total {
            start = r.pos;
            if let Err(what) = prev.read_later(&mut r) {
                res = Err(what);
                break;
            }
            read += 1;
            if !f(prev.t, f64::from_bits(prev.v)) {
                break;
            }
        }
        self.prev = prev;
        self.read = read;
        match res {
            Ok(()) => {
                self.pos = r.pos;
                Ok(())
            }
            Err(what) => {
                self.pos = start;
                Err(self.corrupt(what))
            }
        }
    }

    /// The next sample, `Ok(None)` at the end. After an error the state is unspecified.
    fn next(&mut self, bytes: &[u8]) -> Result<Option<(i64, f64)>> {
        if self.read >= self.total {
            return Ok(None);
        }
        let mut r = BitReader::new(bytes, self.pos);
        let res = self.read_sample(&mut r);
        match res {
            Ok(()) => {
                self.pos = r.pos;
                self.read += 1;
                Ok(Some((self.prev.t, f64::from_bits(self.prev.v))))
            }
            Err(what) => Err(self.corrupt(what)),
        }
    }

    fn read_sample(&mut self, r: &mut BitReader<'_>) -> Result<(), &'static str> {
        let varint_err = |overflow: bool| if overflow { "varint overflows 64 bits" } else { TRUNCATED };
        let p = &mut self.prev;
        match self.read {
            0 => {
                p.t = r.read_varint().map_err(varint_err)?;
                p.v = r.read_bits(64).ok_or(TRUNCATED)?;
                Ok(())
            }
            1 => {
                p.t_delta = r.read_uvarint().map_err(varint_err)?;
                p.t = p.t.wrapping_add(p.t_delta as i64);
                p.read_value(r)
            }
            _ => p.read_later(r),
        }
    }
}

impl Prev {
    /// Decodes a sample after the second: delta-of-delta timestamp, then the value.
    #[inline(always)]
    fn read_later(&mut self, r: &mut BitReader<'_>) -> Result<(), &'static str> {
        // The bucket prefix: up to four 1 bits ended by a 0 (`0`, `10`, `110`, `1110`,
        // `1111`), read in one go. Past the end the peek reads zeros, so a prefix the stream
        // cannot hold fails to be skipped.
        let prefix = (!(r.peek(4) << 60)).leading_zeros().min(4);
        r.skip(if prefix == 4 { 4 } else { prefix + 1 }).ok_or(TRUNCATED)?;
        let dod = match prefix {
            0 => 0,
            4 => r.read_bits(64).ok_or(TRUNCATED)? as i64,
            _ => {
                let sz = [0, 14, 17, 20][prefix as usize];
                let mut b = r.read_bits(sz).ok_or(TRUNCATED)?;
                // Negative numbers come back as high unsigned numbers.
                if b > 1 << (sz - 1) {
                    b = b.wrapping_sub(1 << sz);
                }
                b as i64
            }
        };
        self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
        self.t = self.t.wrapping_add(self.t_delta as i64);
        self.read_value(r)
    }

    #[inline(always)]
    fn read_value(&mut self, r: &mut BitReader<'_>) -> Result<(), &'static str> {
        // `0` = same value, `10` = reuse the window, `11` = new window; peeked together.
        let ctrl = r.peek(2);
        if ctrl < 0b10 {
            r.skip(1).ok_or(TRUNCATED)?;
            return Ok(());
        }
        r.skip(2).ok_or(TRUNCATED)?;
        if ctrl == 0b11 {
            let window = r.read_bits(11).ok_or(TRUNCATED)?;
            let leading = (window >> 6) as u8;
            let mut sig = (window & 0x3f) as u8;
            if sig == 0 {
                sig = 64;
            }
            if u32::from(leading) + u32::from(sig) > 64 {
                return Err("value window exceeds 64 bits");
            }
            self.leading = leading;
            self.trailing = 64 - leading - sig;
        }
        let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
        let bits = r.read_bits(sig).ok_or(TRUNCATED)?;
        // sig >= 1 here: a window always has at least one significant bit.
        self.v ^= bits.checked_shl(u32::from(self.trailing)).unwrap_or(0);
        Ok(())
    }
}

/// Decodes a chunk from borrowed bytes. Iterate with `next()`; check [`XorDecoder::err`] at
/// the end.
pub struct XorDecoder<'a> {
    bytes: &'a [u8],
    st: DecodeState,
    err: Option<Error>,
}

impl<'a> XorDecoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        Ok(XorDecoder { bytes, st: DecodeState::new(bytes)?, err: None })
    }

    /// The sample count from the header.
    pub fn num_samples(&self) -> usize {
        usize::from(self.st.total)
    }

    /// The error that ended decoding early, if any.
    pub fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }
}

impl Iterator for XorDecoder<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.err.is_some() {
            return None;
        }
        match self.st.next(self.bytes) {
            Ok(s) => s,
            Err(e) => {
                self.err = Some(e);
                None
            }
        }
    }
}

/// Owns chunk bytes and iterates their samples; a [`SampleIterator`].
pub struct XorIterator {
    bytes: Vec<u8>,
    st: DecodeState,
    /// The last sample returned (a seek may return it again).
    cur: Option<Sample>,
    err: Option<Error>,
}

impl XorIterator {
    pub fn new(bytes: Vec<u8>) -> Result<Self> {
        let st = DecodeState::new(&bytes)?;
        Ok(XorIterator { bytes, st, cur: None, err: None })
    }

    /// From a chunk read by a [`crate::reader::ChunkReader`]; rejects other encodings.
    pub fn from_chunk(chunk: ChunkData) -> Result<Self> {
        if chunk.encoding != ENCODING_XOR {
            return Err(Error::corruption(CHUNK_PATH, 0, format!("unsupported chunk encoding {}", chunk.encoding)));
        }
        Self::new(chunk.bytes)
    }

    pub fn num_samples(&self) -> usize {
        usize::from(self.st.total)
    }
}

impl SampleIterator for XorIterator {
    fn next(&mut self) -> Option<Sample> {
        if self.err.is_some() {
            return None;
        }
        match self.st.next(&self.bytes) {
            Ok(Some((t, v))) => {
                let s = Sample { t, v };
                self.cur = Some(s);
                Some(s)
            }
            Ok(None) => None,
            Err(e) => {
                self.err = Some(e);
                None
            }
        }
    }

    fn seek(&mut self, ts: Timestamp) -> Option<Sample> {
        if self.err.is_some() {
            return None;
        }
        if let Some(s) = self.cur
            && s.t >= ts
        {
            return Some(s);
        }
        loop {
            let s = self.next()?;
            if s.t >= ts {
                return Some(s);
            }
        }
    }

    fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }
}

/// Decodes a whole chunk into samples.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    decode_range_into(bytes, Timestamp::MIN, Timestamp::MAX, &mut out)?;
    Ok(out)
}

/// Appends the samples of a chunk with `mint <= t <= maxt` to `out`, decoding in place (no
/// allocation besides `out` growing). Samples before `mint` are decoded but not kept; decoding
/// stops at the first sample after `maxt`, as a chunk's timestamps increase. On error, the
/// samples decoded before the corrupt one stay in `out`.
pub fn decode_range_into(bytes: &[u8], mint: Timestamp, maxt: Timestamp, out: &mut Vec<Sample>) -> Result<()> {
    let mut st = DecodeState::new(bytes)?;
    out.reserve(usize::from(st.total));
    st.for_each(bytes, |t, v| {
        if t > maxt {
            return false;
        }
        if t >= mint {
            out.push(Sample { t, v });
        }
        true
    })
}
