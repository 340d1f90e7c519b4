//! Byte encoding helpers shared by the block formats (index, chunks, tombstones).
//!
//! Go's `encoding/binary` conventions, which Prometheus uses everywhere: fixed-width integers
//! are big-endian; `uvarint` is unsigned LEB128 (1–10 bytes); `varint` is zig-zag then uvarint.
//! [`Decbuf`] never panics: every read is bounds-checked and an exhausted or malformed buffer
//! reports a [`DecodeError`] that callers turn into [`crate::Error::Corruption`] with the file
//! path and the absolute offset ([`Decbuf::pos`]).

use std::fmt;

/// Why decoding stopped. The position is absolute (the `base` the buffer was created with plus
/// the bytes consumed), so it can be reported as a file offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub pos: u64,
    pub what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.what, self.pos)
    }
}

impl DecodeError {
    /// Converts into the crate's corruption error for file `path`.
    pub fn corruption(self, path: &std::path::Path) -> crate::Error {
        crate::Error::corruption(path, self.pos, self.what)
    }
}

/// An append-only encoding buffer.
#[derive(Default, Debug)]
pub(crate) struct Encbuf {
    pub b: Vec<u8>,
}

impl Encbuf {
    pub fn new() -> Self {
        Encbuf { b: Vec::new() }
    }
    pub fn len(&self) -> usize {
        self.b.len()
    }
    pub fn reset(&mut self) {
        self.b.clear();
    }
    pub fn put_u8(&mut self, x: u8) {
        self.b.push(x);
    }
    pub fn put_be32(&mut self, x: u32) {
        self.b.extend_from_slice(&x.to_be_bytes());
    }
    pub fn put_uvarint(&mut self, x: u64) {
        put_uvarint(&mut self.b, x);
    }
    pub fn put_varint(&mut self, x: i64) {
        put_uvarint(&mut self.b, ((x << 1) ^ (x >> 63)) as u64);
    }
    /// A string as uvarint length + bytes.
    pub fn put_uvarint_str(&mut self, s: &str) {
        self.put_uvarint(s.len() as u64);
        self.b.extend_from_slice(s.as_bytes());
    }
    /// Appends the CRC-32C of `self.b[from..]` as BE u32.
    pub fn put_crc_from(&mut self, from: usize) {
        let crc = crc32c::crc32c(&self.b[from..]);
        self.put_be32(crc);
    }
}

/// Appends `x` as Go `binary.PutUvarint` does.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// Decodes a uvarint from the front of `b`: `(value, bytes used)`, or `None` if `b` ends first
/// or the value overflows 64 bits (Go's `binary.Uvarint` rules).
pub(crate) fn read_uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x: u64 = 0;
    let mut s: u32 = 0;
    for (i, &byte) in b.iter().enumerate() {
        if i == 10 {
            return None;
        }
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return None;
            }
            return Some((x | (byte as u64) << s, i + 1));
        }
        x |= ((byte & 0x7f) as u64) << s;
        s += 7;
    }
    None
}

/// A bounds-checked decoding cursor over a byte slice.
#[derive(Clone, Debug)]
pub(crate) struct Decbuf<'a> {
    b: &'a [u8],
    /// Absolute position of `b[0]` (for error offsets).
    pos: u64,
}

impl<'a> Decbuf<'a> {
    /// A cursor over `b`, whose first byte is at absolute offset `base`.
    pub fn new(b: &'a [u8], base: u64) -> Self {
        Decbuf { b, pos: base }
    }
    /// Absolute offset of the next unread byte.
    pub fn pos(&self) -> u64 {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.b.len()
    }
    pub fn is_empty(&self) -> bool {
        self.b.is_empty()
    }
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }
    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError { pos: self.pos, what }
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(self.err("unexpected end of data"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        self.pos += n as u64;
        Ok(h)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.bytes(1)?[0])
    }
    pub fn be32(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        match read_uvarint(self.b) {
            Some((v, n)) => {
                self.b = &self.b[n..];
                self.pos += n as u64;
                Ok(v)
            }
            None => Err(self.err("invalid uvarint")),
        }
    }
    /// A uvarint that must fit in 32 bits.
    pub fn uvarint32(&mut self) -> Result<u32, DecodeError> {
        let at = self.pos;
        let v = self.uvarint()?;
        u32::try_from(v).map_err(|_| DecodeError { pos: at, what: "uvarint overflows 32 bits" })
    }
    pub fn varint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    /// A uvarint-length-prefixed byte string.
    pub fn uvarint_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let at = self.pos;
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| DecodeError { pos: at, what: "string length too large" })?;
        if n > self.b.len() {
            return Err(DecodeError { pos: at, what: "string runs past the end of its section" });
        }
        self.bytes(n)
    }
    /// A uvarint-length-prefixed UTF-8 string.
    pub fn uvarint_str(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        let b = self.uvarint_bytes()?;
        std::str::from_utf8(b).map_err(|_| DecodeError { pos: at, what: "string is not valid UTF-8" })
    }
}

/// Reads a BE u32 at `off` of `b`, if in bounds.
pub(crate) fn be32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The `len<4b> | body | CRC32<4b>` section at `off` of `file`: returns the body after checking
/// bounds and (if `verify`) the CRC-32C.
pub(crate) fn section_at(file: &[u8], off: u64, verify: bool) -> Result<Decbuf<'_>, DecodeError> {
    let bad = |what| DecodeError { pos: off, what };
    let o = usize::try_from(off).map_err(|_| bad("offset out of range"))?;
    let len = be32_at(file, o).ok_or(bad("section length past end of file"))? as usize;
    let start = o + 4;
    let end = start.checked_add(len).ok_or(bad("section length overflows"))?;
    let body = file.get(start..end).ok_or(bad("section runs past end of file"))?;
    let want = be32_at(file, end).ok_or(bad("section checksum past end of file"))?;
    if verify && crc32c::crc32c(body) != want {
        return Err(bad("checksum mismatch"));
    }
    Ok(Decbuf::new(body, start as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_uvarint(x: u64, bytes: &[u8]) {
        let mut e = Encbuf::new();
        e.put_uvarint(x);
        assert_eq!(e.b, bytes, "encode {x}");
        assert_eq!(read_uvarint(bytes), Some((x, bytes.len())), "decode {x}");
    }

    #[test]
    fn uvarint_matches_go() {
        check_uvarint(0, &[0]);
        check_uvarint(1, &[1]);
        check_uvarint(127, &[0x7f]);
        check_uvarint(128, &[0x80, 0x01]);
        check_uvarint(300, &[0xac, 0x02]);
        check_uvarint(u64::MAX, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    }

    #[test]
    fn varint_zigzag() {
        for (x, bytes) in [(0i64, vec![0u8]), (-1, vec![1]), (1, vec![2]), (-64, vec![0x7f]), (64, vec![0x80, 0x01])] {
            let mut e = Encbuf::new();
            e.put_varint(x);
            assert_eq!(e.b, bytes);
            assert_eq!(Decbuf::new(&bytes, 0).varint(), Ok(x));
        }
        for x in [i64::MIN, i64::MAX, -1234567, 987654321] {
            let mut e = Encbuf::new();
            e.put_varint(x);
            assert_eq!(Decbuf::new(&e.b, 0).varint(), Ok(x));
        }
    }

    #[test]
    fn bad_uvarints() {
        assert_eq!(read_uvarint(&[]), None);
        assert_eq!(read_uvarint(&[0x80]), None);
        assert_eq!(read_uvarint(&[0xff; 11]), None);
        assert_eq!(read_uvarint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]), None);
        let mut d = Decbuf::new(&[0x80, 0x80, 0x80, 0x80, 0x10], 7);
        assert_eq!(d.uvarint32(), Err(DecodeError { pos: 7, what: "uvarint overflows 32 bits" }));
    }

    #[test]
    fn decbuf_reports_absolute_positions() {
        let mut d = Decbuf::new(&[0, 0, 0, 1, 5, b'a'], 100);
        assert_eq!(d.be32(), Ok(1));
        assert_eq!(d.pos(), 104);
        assert_eq!(d.uvarint_bytes(), Err(DecodeError { pos: 104, what: "string runs past the end of its section" }));
    }

    #[test]
    fn sections() {
        let mut e = Encbuf::new();
        e.put_be32(3);
        e.b.extend_from_slice(b"abc");
        e.put_crc_from(4);
        let mut d = section_at(&e.b, 0, true).unwrap();
        assert_eq!(d.bytes(3).unwrap(), b"abc");
        e.b[5] ^= 1;
        assert_eq!(section_at(&e.b, 0, true).unwrap_err().what, "checksum mismatch");
        assert!(section_at(&e.b, 0, false).is_ok());
        assert!(section_at(&e.b[..9], 0, true).is_err());
        assert!(section_at(&e.b, 9, true).is_err());
    }
}
