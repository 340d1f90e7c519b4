//! Bit streams written and read most-significant bit first, as Prometheus's `bstream.go`.
//!
//! [`BitWriter`] appends into a growing byte buffer its owner keeps, and tracks how many bits
//! of the last byte are still free, so an encoder can keep appending to a partially filled
//! byte. It reproduces one quirk of Go's `bstream` that shows in the bytes: a write of a whole
//! number of bytes that starts byte-aligned leaves an extra, still empty byte at the end of the
//! stream (Go's `writeByte` always appends the next byte). The next write fills it.
//! [`BitReader`] reads from a borrowed slice at a bit position and reports running off the end
//! as `None` (the caller turns that into a corruption error with the position).

/// The smallest of jemalloc's small size classes above `n`: multiples of 16 up to 128, then
/// four classes per doubling (160, 192, 224, 256, 320, ...).
pub(crate) fn next_size_class(n: usize) -> usize {
    if n < 128 {
        return (n + 16) & !15;
    }
    let g = 1usize << (n.ilog2() - 2);
    (n / g + 1) * g
}

/// Appends bits to a byte buffer, MSB first.
///
/// The writer borrows its buffer, and takes and gives back the stream length and the free bits
/// of the last byte by value ([`BitWriter::new`], [`BitWriter::finish`]). That lets its owner
/// keep them as small fields next to its own: the XOR encoder sits in every head series, and
/// a self-contained writer would cost a padded word per series. The buffer is a boxed slice
/// whose bytes from `len` on are zero (spare capacity); it grows a size class at a time.
#[derive(Debug)]
pub(crate) struct BitWriter<'a> {
    buf: &'a mut Box<[u8]>,
    len: u16,
    /// Free (unwritten) bits in the last byte of the stream (0..=8); 0 means a new byte is
    /// needed, 8 that the last byte is the empty byte Go's `writeByte` leaves.
    free: u8,
}

impl<'a> BitWriter<'a> {
    /// Resumes writing after `len` bytes of `buf`, `free` bits of the last one unused.
    /// `buf[len..]` must be zero.
    pub(crate) fn new(buf: &'a mut Box<[u8]>, len: u16, free: u8) -> Self {
        debug_assert!(free <= 8 && usize::from(len) <= buf.len());
        BitWriter { buf, len, free }
    }

    /// The stream length and free bits, for the next [`BitWriter::new`].
    pub(crate) fn finish(self) -> (u16, u8) {
        (self.len, self.free)
    }

    /// The bytes written so far.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// Total bits written, including whole bytes the stream started with.
    #[cfg(test)]
    pub(crate) fn bit_len(&self) -> usize {
        usize::from(self.len) * 8 - usize::from(self.free)
    }

    /// Appends a zero byte, growing the buffer when full.
    ///
    /// # Panics
    /// If the stream would reach 64 KiB (XOR chunks are cut near 1 KiB).
    #[inline]
    fn push_zero(&mut self) {
        if usize::from(self.len) == self.buf.len() {
            self.grow();
        }
        // Spare capacity is kept zeroed, so the new byte is already 0.
        self.len = self.len.checked_add(1).expect("bit stream shorter than 64 KiB");
    }

    /// Grows the buffer to the next of jemalloc's size classes (16 bytes apart up to 128, four
    /// per doubling above), not by half or double: a head series' open chunk starts small and
    /// grows sample by sample, and with every series growing at once the overshoot of larger
    /// steps is a large share of the head's memory (and makes all series of a scrape cross the
    /// same size at once). A chunk of 300 bytes reallocates about a dozen times.
    #[cold]
    fn grow(&mut self) {
        let cap = self.buf.len();
        let new_cap = next_size_class(cap);
        let mut v = std::mem::take(self.buf).into_vec();
        // Exact, so the boxed slice below needs no shrinking reallocation.
        v.reserve_exact(new_cap - cap);
        v.resize(new_cap, 0);
        *self.buf = v.into_boxed_slice();
    }

    #[inline]
    fn or_last(&mut self, bits: u8) {
        // Invariant: called only with `free < 8` after `push_zero`, so the stream is not empty.
        self.buf[usize::from(self.len) - 1] |= bits;
    }

    #[inline]
    pub(crate) fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.push_zero();
            self.free = 8;
        }
        self.free -= 1;
        if bit {
            self.or_last(1 << self.free);
        }
    }

    /// Writes the low `n` bits of `v` (0 ≤ n ≤ 64), most significant first.
    #[inline]
    pub(crate) fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        let aligned = self.free.is_multiple_of(8);
        let whole_bytes = n > 0 && n.is_multiple_of(8);
        let mut n = n;
        while n > 0 {
            if self.free == 0 {
                self.push_zero();
                self.free = 8;
            }
            let free = u32::from(self.free);
            let k = n.min(free);
            // The top k of the remaining n low bits of v.
            let chunk = (v >> (n - k)) & ((1u64 << k) - 1);
            self.or_last((chunk << (free - k)) as u8);
            // k <= free <= 8.
            self.free -= k as u8;
            n -= k;
        }
        if aligned && whole_bytes {
            // Go's writeByte: the stream ends with an empty byte.
            self.push_zero();
            self.free = 8;
        }
    }

    #[inline]
    pub(crate) fn write_byte(&mut self, b: u8) {
        self.write_bits(u64::from(b), 8);
    }
}

/// Reads bits from a byte slice, MSB first, starting at a bit position.
///
/// The next bits are kept in a 64-bit window loaded 8 bytes at a time, so a sample's several
/// small fields cost one memory load, not one each. Every read is checked against the end of
/// the slice first (past the end the window holds zeros, which are never returned).
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Absolute bit position in `bytes` of the next unread bit.
    pub(crate) pos: usize,
    /// Total bits in `bytes`.
    nbits: usize,
    /// The bits from `pos` on, most significant first; the top `valid` of them are loaded.
    window: u64,
    valid: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8], pos: usize) -> Self {
        BitReader { bytes, pos, nbits: bytes.len() * 8, window: 0, valid: 0 }
    }

    /// Loads 8 bytes big-endian from `byte`, zero-filled past the end.
    #[inline(always)]
    fn load(&self, byte: usize) -> u64 {
        match self.bytes.get(byte..byte + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
            Some(a) => u64::from_be_bytes(a),
            None => {
                let mut a = [0u8; 8];
                let rest = self.bytes.get(byte..).unwrap_or(&[]);
                a[..rest.len()].copy_from_slice(rest);
                u64::from_be_bytes(a)
            }
        }
    }

    /// Reloads the window at `pos`: at least 57 bits become valid.
    #[inline(always)]
    fn fill(&mut self) {
        let shift = (self.pos % 8) as u32;
        self.window = self.load(self.pos / 8) << shift;
        self.valid = 64 - shift;
    }

    /// Are `n` more bits in the stream?
    #[inline(always)]
    fn has(&self, n: u32) -> bool {
        self.pos + n as usize <= self.nbits
    }

    /// Takes `n` bits (1 ≤ n ≤ 64) the caller checked are in the stream.
    #[inline(always)]
    fn take_wide(&mut self, n: u32) -> u64 {
        debug_assert!((1..=64).contains(&n));
        if n > 56 {
            // The window holds at least 57 bits: split wide reads.
            let hi = self.take(n - 32);
            let lo = self.take(32);
            return (hi << 32) | lo;
        }
        self.take(n)
    }

    /// Takes `n` bits (1 ≤ n ≤ 56) the caller checked are in the stream.
    #[inline(always)]
    fn take(&mut self, n: u32) -> u64 {
        debug_assert!((1..=56).contains(&n));
        if n > self.valid {
            self.fill();
        }
        let v = self.window >> (64 - n);
        self.window <<= n;
        self.valid -= n;
        self.pos += n as usize;
        v
    }

    /// Reads `n` bits (0 ≤ n ≤ 64); `None` if the stream ends first.
    #[inline(always)]
    pub(crate) fn read_bits(&mut self, n: u32) -> Option<u64> {
        debug_assert!(n <= 64);
        if !self.has(n) {
            return None;
        }
        if n == 0 {
            return Some(0);
        }
        Some(self.take_wide(n))
    }

    /// The next `n` bits (1 ≤ n ≤ 56) without consuming them, zero-filled past the end.
    #[inline(always)]
    pub(crate) fn peek(&mut self, n: u32) -> u64 {
        debug_assert!((1..=56).contains(&n));
        if n > self.valid {
            self.fill();
        }
        self.window >> (64 - n)
    }

    /// Consumes `n` bits (1 ≤ n ≤ 56); `None` (nothing consumed) if fewer are left.
    #[inline(always)]
    pub(crate) fn skip(&mut self, n: u32) -> Option<()> {
        if !self.has(n) {
            return None;
        }
        self.take(n);
        Some(())
    }

    #[cfg(test)]
    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        self.read_bits(1).map(|b| b == 1)
    }

    #[inline]
    pub(crate) fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|b| b as u8)
    }

    /// Go's `binary.ReadUvarint`: at most 10 bytes, the 10th at most 1.
    /// `Err(true)` = overflow, `Err(false)` = ran off the end.
    pub(crate) fn read_uvarint(&mut self) -> Result<u64, bool> {
        let mut x = 0u64;
        let mut shift = 0u32;
        for i in 0..10 {
            let b = self.read_byte().ok_or(false)?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(true);
                }
                return Ok(x | (u64::from(b) << shift));
            }
            x |= u64::from(b & 0x7f) << shift;
            shift += 7;
        }
        Err(true)
    }

    /// Go's `binary.ReadVarint` (zig-zag).
    pub(crate) fn read_varint(&mut self) -> Result<i64, bool> {
        let ux = self.read_uvarint()?;
        let x = (ux >> 1) as i64;
        Ok(if ux & 1 != 0 { !x } else { x })
    }
}

/// Go's `binary.PutUvarint` into a bit writer.
pub(crate) fn write_uvarint(w: &mut BitWriter, mut x: u64) {
    while x >= 0x80 {
        w.write_byte((x as u8) | 0x80);
        x >>= 7;
    }
    w.write_byte(x as u8);
}

/// Go's `binary.PutVarint` (zig-zag) into a bit writer.
pub(crate) fn write_varint(w: &mut BitWriter, x: i64) {
    write_uvarint(w, ((x << 1) ^ (x >> 63)) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_bits(writes: &[(u64, u32)], expected: &[u8]) {
        let mut buf = Box::default();
        let mut w = BitWriter::new(&mut buf, 0, 0);
        for &(v, n) in writes {
            w.write_bits(v, n);
        }
        assert_eq!(w.bytes(), expected, "writes {writes:?}");
        let mut r = BitReader::new(w.bytes(), 0);
        for &(v, n) in writes {
            let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            assert_eq!(r.read_bits(n), Some(v & mask), "read {n} bits");
        }
    }

    #[test]
    fn bits_round_trip() {
        check_bits(&[(1, 1)], &[0x80]);
        check_bits(&[(0b101, 3), (0b11, 2)], &[0b1011_1000]);
        check_bits(&[(0xff, 8), (1, 1)], &[0xff, 0x80]);
        check_bits(&[(1, 1), (u64::MAX, 64)], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80]);
        // Whole bytes written aligned leave Go's trailing empty byte; the next bit fills it.
        check_bits(&[(0xab, 8)], &[0xab, 0x00]);
        check_bits(&[(0xab, 8), (0xcd, 8)], &[0xab, 0xcd, 0x00]);
        check_bits(&[(0xab, 8), (1, 1)], &[0xab, 0x80]);
        check_bits(&[(1, 1), (0xab, 8)], &[0xd5, 0x80]);
        check_bits(&[(0, 4), (0, 4), (0xab, 8)], &[0x00, 0xab, 0x00]);
        check_bits(&[(0, 3), (0x8000_0000_0000_0001, 64)], &[0x10, 0, 0, 0, 0, 0, 0, 0, 0x20]);
        // Only the low n bits are written (negative numbers as n-bit two's complement).
        check_bits(&[((-50i64) as u64, 14)], &[0xff, 0x38]);
    }

    #[test]
    fn read_past_end_is_none() {
        let mut r = BitReader::new(&[0xab], 0);
        assert_eq!(r.read_bits(4), Some(0xa));
        assert_eq!(r.read_bits(5), None);
        assert_eq!(r.read_bits(4), Some(0xb));
        assert_eq!(r.read_bit(), None);
        assert_eq!(BitReader::new(&[], 0).read_bits(64), None);
    }

    /// Bit `i` of `bytes`, MSB first: the reference the windowed reader must agree with.
    fn naive(bytes: &[u8], pos: usize, n: u32) -> Option<u64> {
        if pos + n as usize > bytes.len() * 8 {
            return None;
        }
        Some((pos..pos + n as usize).fold(0u64, |acc, i| (acc << 1) | u64::from((bytes[i / 8] >> (7 - i % 8)) & 1)))
    }

    #[test]
    fn window_reads_match_bit_by_bit() {
        let bytes: Vec<u8> = (0..37u32).map(|i| (i.wrapping_mul(0x9e) ^ (i >> 1) ^ 0x5a) as u8).collect();
        // Every width sequence of a few patterns, from every start position.
        for widths in [&[1u32, 7, 64, 3, 56, 57, 2][..], &[13, 0, 31, 64, 64, 1], &[5, 11, 20, 14, 17, 4]] {
            for start in 0..16 {
                let mut r = BitReader::new(&bytes, start);
                let mut pos = start;
                for &n in widths.iter().cycle().take(40) {
                    let want = naive(&bytes, pos, n);
                    if (1..=56).contains(&n) {
                        let peeked = r.peek(n);
                        if let Some(w) = want {
                            assert_eq!(peeked, w, "peek {n} at {pos}");
                        }
                    }
                    assert_eq!(r.read_bits(n), want, "read {n} at {pos} (start {start})");
                    if want.is_some() {
                        pos += n as usize;
                    }
                    assert_eq!(r.pos, pos);
                }
            }
        }
        // Skips past the end fail and consume nothing.
        let mut r = BitReader::new(&[0b1010_0000], 0);
        assert_eq!(r.skip(3), Some(()));
        assert_eq!(r.skip(6), None);
        assert_eq!(r.peek(2), 0b00);
        assert_eq!(r.read_bits(5), Some(0));
        assert_eq!(r.skip(1), None);
    }

    #[test]
    fn varints_match_go() {
        fn check(x: i64, expected: &[u8]) {
            let mut buf = Box::default();
            let mut w = BitWriter::new(&mut buf, 0, 0);
            write_varint(&mut w, x);
            assert_eq!(w.bytes()[..w.bytes().len() - 1], *expected, "varint {x}");
            assert_eq!(BitReader::new(w.bytes(), 0).read_varint(), Ok(x));
            assert_eq!(w.bit_len(), expected.len() * 8);
        }
        check(0, &[0]);
        check(-1, &[1]);
        check(1, &[2]);
        check(1000, &[0xd0, 0x0f]);
        check(i64::MAX, &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        check(i64::MIN, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        // Overflow and truncation.
        assert_eq!(BitReader::new(&[0xff; 10], 0).read_uvarint(), Err(true));
        assert_eq!(
            BitReader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], 0).read_uvarint(),
            Err(true)
        );
        assert_eq!(BitReader::new(&[0x80], 0).read_uvarint(), Err(false));
    }
}
