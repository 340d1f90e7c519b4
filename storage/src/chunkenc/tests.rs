//! Tests of the XOR chunk encoding: hand-derived byte vectors, round trips, truncation and
//! corruption, and property tests over arbitrary value bit patterns and timestamps.

use proptest::prelude::*;

use super::*;
use crate::storage::STALE_NAN_BITS;

fn encode(samples: &[(i64, u64)]) -> XorEncoder {
    let mut e = XorEncoder::new();
    for &(t, v) in samples {
        e.append(t, f64::from_bits(v));
    }
    e
}

fn decode_bits(bytes: &[u8]) -> Result<Vec<(i64, u64)>> {
    Ok(decode_all(bytes)?.into_iter().map(|s| (s.t, s.v.to_bits())).collect())
}

/// Encodes `samples` (values as bits), compares with `expected`, and decodes back.
fn check(samples: &[(i64, u64)], expected: &[u8]) {
    let e = encode(samples);
    assert_eq!(e.bytes(), expected, "encoding of {samples:x?}");
    assert_eq!(decode_bits(expected).unwrap(), samples);
}

fn round_trip(samples: &[(i64, u64)]) {
    let e = encode(samples);
    let bytes = e.bytes().to_vec();
    assert_eq!(decode_bits(&bytes).unwrap(), samples);
    // The borrowing decoder and the owning iterator agree.
    let mut d = XorDecoder::new(&bytes).unwrap();
    let got: Vec<(i64, u64)> = d.by_ref().map(|(t, v)| (t, v.to_bits())).collect();
    assert!(d.err().is_none());
    assert_eq!(got, samples);
    let mut it = XorIterator::new(bytes.clone()).unwrap();
    let mut got = Vec::new();
    while let Some(s) = SampleIterator::next(&mut it) {
        got.push((s.t, s.v.to_bits()));
    }
    assert!(SampleIterator::err(&it).is_none());
    assert_eq!(got, samples);
    // Resuming from bytes at every split point yields the same bytes as one encoder.
    for split in 0..=samples.len() {
        let mut r = XorEncoder::from_bytes(encode(&samples[..split]).into_bytes()).unwrap();
        for &(t, v) in &samples[split..] {
            r.append(t, f64::from_bits(v));
        }
        assert_eq!(r.bytes(), &bytes[..], "resumed after {split} samples");
    }
}

const ONE: u64 = 0x3ff0_0000_0000_0000; // 1.0
const TWO: u64 = 0x4000_0000_0000_0000; // 2.0

// Byte vectors derived by hand from the format description (docs/format/chunk-xor.md).
#[test]
fn known_vectors() {
    check(&[], &[0x00, 0x00]);
    // One sample: varint(1000), 1.0, and the empty byte Go's writeByte leaves behind.
    check(&[(1000, ONE)], &[0x00, 0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x00]);
    // Two samples, same value: the uvarint again leaves the empty byte, the `0` bit fills it.
    check(&[(1000, ONE), (2000, ONE)], &[0x00, 0x02, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xe8, 0x07, 0x00]);
    // varint(1000) = d0 0f; 1.0; uvarint(1000) = e8 07; then bits: 0 (same value), 0 (dod 0),
    // 11 00001 001011 11111111111 (new window, lead 1, 11 sig bits) -> 30 97 ff c0.
    check(
        &[(1000, ONE), (2000, ONE), (3000, TWO)],
        &[0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xe8, 0x07, 0x30, 0x97, 0xff, 0xc0],
    );
    // Window reuse: 11 00001 001011 1x11 | 0 | 10 1x11.
    check(
        &[(1000, ONE), (2000, TWO), (3000, ONE)],
        &[0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xe8, 0x07, 0xc2, 0x5f, 0xff, 0x5f, 0xfc],
    );
    // dod -50 in the 14-bit bucket: 0 | 10 11111111001110 | 0.
    check(&[(0, 0), (100, 0), (150, 0)], &[0x00, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x64, 0x5f, 0xe7, 0x00]);
    // dod +8192 still fits 14 bits (Prometheus's asymmetric bitRange): 0 | 10 10000000000000 | 0.
    check(&[(0, 0), (1, 0), (8194, 0)], &[0x00, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x50, 0x00, 0x00]);
    // dod -8191 fits 14 bits: 0 | 10 10000000000001 | 0.
    check(&[(0, 0), (10000, 0), (11809, 0)], &[0x00, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x90, 0x4e, 0x50, 0x00, 0x80]);
    // dod -8192 needs 17 bits: 0 | 110 11110000000000000 (= -8192 + 2^17 = 0x1e000) | 0.
    // 0 110 1111 | 0000 0000 | 0000 0 0 pad -> 6f 00 00.
    check(&[(0, 0), (10000, 0), (11808, 0)], &[0x00, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x90, 0x4e, 0x6f, 0x00, 0x00]);
    // 64 significant bits are written as 0: 11 00000 000000 1 (62 zeros) 1.
    check(
        &[(0, 0), (1, 0x8000_0000_0000_0001)],
        &[0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xc0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0x08],
    );
    // 63 leading zeros are capped at 31: 11 11111 100001 (33 sig bits) 0..01.
    check(
        &[(0, ONE), (1, ONE + 1)],
        &[0x00, 0x02, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x08, 0, 0, 0, 0x04],
    );
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Oracle: chunks Prometheus wrote decode, and re-encoding their samples gives the same bytes.
#[test]
fn prometheus_chunks_reencode_bit_exact() {
    let mut total = 0;
    let mut seen_nan = false;
    for (i, hex) in super::golden::PROMETHEUS_CHUNKS.iter().enumerate() {
        let bytes = unhex(hex);
        let samples = decode_all(&bytes).unwrap_or_else(|e| panic!("chunk {i}: {e}"));
        assert!(samples.windows(2).all(|w| w[0].t < w[1].t), "chunk {i}");
        seen_nan |= samples.iter().any(|s| s.v.is_nan());
        let mut e = XorEncoder::new();
        for s in &samples {
            e.append(s.t, s.v);
        }
        assert_eq!(e.bytes(), &bytes[..], "chunk {i} re-encoded differently");
        total += samples.len();
    }
    assert_eq!(total, 800);
    assert!(seen_nan);
}

#[test]
fn reuse_before_any_window_reads_64_bits_like_go() {
    // A reader starts with the window (0, 0), as Go's iterator does, so `10` before any `11`
    // reads 64 bits. (Go's appender resumed on a 1-sample chunk writes this.)
    let mut bytes = vec![0x00, 0x02, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x01];
    bytes.extend_from_slice(&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0x40]);
    assert_eq!(decode_bits(&bytes).unwrap(), vec![(0, ONE), (1, ONE ^ 0x8000_0000_0000_0001)]);
}

#[test]
fn dod_bucket_boundaries_round_trip() {
    for dod in [
        1i64,
        -1,
        8191,
        8192,
        -8191,
        -8192,
        8193,
        65535,
        65536,
        -65535,
        -65536,
        65537,
        524287,
        524288,
        -524287,
        -524288,
        524289,
        1 << 40,
        -(1 << 40),
    ] {
        let base = 1_000_000_000_000i64;
        let d1 = 1 << 42;
        round_trip(&[(base, 0), (base + d1, ONE), (base + d1 + d1 + dod, TWO)]);
    }
}

#[test]
fn special_values_round_trip() {
    let specials = [
        STALE_NAN_BITS,
        f64::NAN.to_bits(),
        0x7ff8_0000_0000_0001,
        0xfff0_0000_0000_0001,
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        (-0.0f64).to_bits(),
        0,
        1,
        0x000f_ffff_ffff_ffff,
        u64::MAX,
        ONE,
        ONE + 1,
    ];
    let samples: Vec<(i64, u64)> = specials.iter().enumerate().map(|(i, &v)| (i as i64 * 15_000, v)).collect();
    round_trip(&samples);
    let rev: Vec<(i64, u64)> = samples.iter().rev().enumerate().map(|(i, &(_, v))| (i as i64 - 5, v)).collect();
    round_trip(&rev);
}

#[test]
fn extreme_timestamps_round_trip() {
    round_trip(&[(i64::MIN, 0)]);
    round_trip(&[(i64::MIN, 0), (i64::MAX, 1)]);
    round_trip(&[(i64::MIN, 0), (-1, 1), (0, 2), (i64::MAX, 3)]);
    round_trip(&[(-5, 0), (-4, 0), (-2, 0), (1 << 62, 0)]);
}

#[test]
fn realistic_chunk_is_small() {
    // A counter scraped every 15s with small jitter: ~1.4 bytes/sample or so in Prometheus.
    let mut e = XorEncoder::new();
    let mut v = 0.0;
    for i in 0..SAMPLES_PER_CHUNK as i64 {
        v += (i % 7) as f64;
        e.append(1_700_000_000_000 + i * 15_000 + (i % 3), v);
    }
    assert_eq!(e.num_samples(), 120);
    assert!(e.bytes().len() < 400, "{} bytes", e.bytes().len());
    assert_eq!(e.min_time(), Some(1_700_000_000_000));
    assert_eq!(e.max_time(), Some(1_700_000_000_000 + 119 * 15_000 + 2));
    assert_eq!(e.last().map(|(_, v)| v), Some(v));
    assert_eq!(e.iter().count(), 120);
    e.shrink_to_fit();
    assert_eq!(e.heap_bytes(), e.bytes().len());
}

#[test]
fn every_truncation_is_an_error() {
    let mut samples = vec![(1000, ONE), (2000, TWO), (3000, ONE), (4000, STALE_NAN_BITS), (4001, 0)];
    samples.push((1 << 50, u64::MAX));
    let e = encode(&samples);
    let used = e.bit_len().div_ceil(8);
    let bytes = e.into_bytes();
    for len in 0..used {
        let cut = &bytes[..len];
        assert!(decode_all(cut).is_err(), "prefix of {len} bytes decoded");
        if let Ok(mut d) = XorDecoder::new(cut) {
            let n = d.by_ref().count();
            assert!(n < samples.len());
            assert!(d.err().is_some(), "prefix of {len} bytes: no error after {n} samples");
        }
        assert!(XorEncoder::from_bytes(cut.to_vec()).is_err());
    }
}

#[test]
fn corrupt_inputs_are_errors() {
    fn check_err(bytes: &[u8], what: &str) {
        let err = decode_all(bytes).unwrap_err().to_string();
        assert!(err.contains(what), "{bytes:x?}: {err}");
    }
    check_err(&[], "no sample count");
    check_err(&[0x01], "no sample count");
    check_err(&[0xff, 0xff], "truncated");
    check_err(&[0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "overflow");
    // Sample 1 opens a window with leading 31 and 40 significant bits.
    check_err(
        &[0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0b1111_1111, 0b0100_0000, 0xff, 0xff, 0xff, 0xff, 0xff],
        "window",
    );
    // Wrong encoding byte.
    assert!(XorIterator::from_chunk(ChunkData { encoding: 2, bytes: vec![0, 0] }).is_err());
}

#[test]
fn seek_semantics() {
    let samples: Vec<(i64, u64)> = (0..10).map(|i| (i * 10, (i as f64).to_bits())).collect();
    let bytes = encode(&samples).into_bytes();
    let mut it = XorIterator::from_chunk(ChunkData { encoding: ENCODING_XOR, bytes }).unwrap();
    assert_eq!(it.seek(-5).map(|s| s.t), Some(0));
    assert_eq!(it.seek(0).map(|s| s.t), Some(0), "seek stays put");
    assert_eq!(it.seek(15).map(|s| s.t), Some(20));
    assert_eq!(SampleIterator::next(&mut it).map(|s| s.t), Some(30));
    assert_eq!(it.seek(30).map(|s| s.t), Some(30));
    assert_eq!(it.seek(90).map(|s| s.t), Some(90));
    assert_eq!(it.seek(91), None);
    assert_eq!(SampleIterator::next(&mut it), None);
}

#[test]
fn from_bytes_clears_padding_and_trailing_garbage() {
    let mut bytes = encode(&[(1000, ONE), (2000, ONE), (3000, TWO)]).into_bytes();
    let clean = bytes.clone();
    *bytes.last_mut().unwrap() |= 0x3f; // padding bits
    bytes.extend_from_slice(&[0xaa, 0xbb]);
    let e = XorEncoder::from_bytes(bytes).unwrap();
    assert_eq!(e.bytes(), &clean[..]);
    assert_eq!(e.min_time(), Some(1000));
    assert_eq!(e.max_time(), Some(3000));
    let e = XorEncoder::from_bytes(vec![0, 0, 9, 9]).unwrap();
    assert_eq!(e.bytes(), &[0, 0]);
    assert_eq!(e.min_time(), None);
}

fn increasing_timestamps() -> impl Strategy<Value = Vec<i64>> {
    let gap = prop_oneof![
        4 => 1i64..100_000,
        1 => 1i64..(1 << 40),
        1 => Just(1i64),
        1 => 1i64..i64::MAX,
    ];
    (any::<i64>(), prop::collection::vec(gap, 0..150)).prop_map(|(start, gaps)| {
        let mut out = vec![start];
        let mut t = start;
        for g in gaps {
            match t.checked_add(g) {
                Some(n) => {
                    t = n;
                    out.push(t);
                }
                None => break,
            }
        }
        out
    })
}

fn value_bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        2 => any::<f64>().prop_map(f64::to_bits),
        1 => (-1000i32..1000).prop_map(|i| f64::from(i).to_bits()),
        1 => prop::sample::select(vec![STALE_NAN_BITS, f64::NAN.to_bits(), (-0.0f64).to_bits(), 1, f64::INFINITY.to_bits()]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn prop_round_trip(ts in increasing_timestamps(), vs in prop::collection::vec(value_bits(), 151)) {
        let samples: Vec<(i64, u64)> = ts.iter().zip(&vs).map(|(&t, &v)| (t, v)).collect();
        let bytes = encode(&samples).into_bytes();
        prop_assert_eq!(decode_bits(&bytes).unwrap(), samples.clone());
        // Resume at a split point.
        let split = samples.len() / 2;
        let mut r = XorEncoder::from_bytes(encode(&samples[..split]).into_bytes()).unwrap();
        for &(t, v) in &samples[split..] {
            r.append(t, f64::from_bits(v));
        }
        prop_assert_eq!(r.bytes(), &bytes[..]);
    }

    #[test]
    fn prop_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_all(&bytes);
        let _ = XorEncoder::from_bytes(bytes.clone());
        if let Ok(mut it) = XorIterator::new(bytes) {
            let _ = it.seek(0);
            while SampleIterator::next(&mut it).is_some() {}
        }
    }
}

#[test]
fn decode_range_into_trims_and_appends() {
    let samples: Vec<(i64, u64)> = (1..=10).map(|i| (i * 10, (i as f64).to_bits())).collect();
    let bytes = encode(&samples).into_bytes();
    let check = |mint: i64, maxt: i64, expected: &[i64]| {
        // Appends after what `out` already holds.
        let mut out = vec![Sample { t: -1, v: 0.0 }];
        decode_range_into(&bytes, mint, maxt, &mut out).unwrap();
        let got: Vec<i64> = out[1..].iter().map(|s| s.t).collect();
        assert_eq!(got, expected, "[{mint}, {maxt}]");
        assert!(out[1..].iter().all(|s| s.v == (s.t / 10) as f64));
    };
    check(i64::MIN, i64::MAX, &[10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    check(10, 100, &[10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    check(11, 99, &[20, 30, 40, 50, 60, 70, 80, 90]);
    check(50, 50, &[50]);
    check(51, 59, &[]);
    check(101, i64::MAX, &[]);
    check(i64::MIN, 9, &[]);
    check(i64::MIN, 10, &[10]);
    check(95, 90, &[]);
}

#[test]
fn decode_range_into_stops_before_corruption_past_maxt() {
    // A truncated chunk: the samples before the cut decode, the range stops before it.
    let samples: Vec<(i64, u64)> = (1..=10).map(|i| (i * 10, ONE + i as u64 * 12345)).collect();
    let bytes = encode(&samples).into_bytes();
    let cut = &bytes[..bytes.len() - 3];
    let mut out = Vec::new();
    assert!(decode_range_into(cut, i64::MIN, i64::MAX, &mut out).is_err());
    assert!(!out.is_empty() && out.len() < samples.len(), "{} samples before the error", out.len());
    let mut out = Vec::new();
    decode_range_into(cut, 0, 20, &mut out).unwrap();
    assert_eq!(out.iter().map(|s| s.t).collect::<Vec<_>>(), [10, 20]);
    assert!(decode_range_into(&[0x01], 0, 20, &mut out).is_err(), "no header");
}

#[test]
fn encoder_state_is_48_bytes() {
    // Every head series holds one open encoder: keep it small.
    assert_eq!(std::mem::size_of::<XorEncoder>(), 48);
    assert_eq!(std::mem::size_of::<Option<XorEncoder>>(), 48);
}

#[test]
fn min_time_read_back_from_bytes() {
    for t in [0, 1, -1, 63, 64, -65, 1_700_000_000_000, i64::MIN, i64::MAX] {
        let mut e = XorEncoder::new();
        assert_eq!(e.min_time(), None);
        e.append(t, 1.0);
        assert_eq!(e.min_time(), Some(t), "t {t}");
        if t < i64::MAX {
            e.append(t + 1, 2.0);
            assert_eq!((e.min_time(), e.max_time()), (Some(t), Some(t + 1)), "t {t}");
        }
    }
}

#[test]
fn growth_from_tiny_capacity_matches_roomy_encoder() {
    let samples: Vec<(i64, f64)> = (0..200).map(|i| (i * 15_000 + (i % 7) * 3, (i as f64).sqrt())).collect();
    let (mut small, mut big) = (XorEncoder::with_capacity(0), XorEncoder::with_capacity(4096));
    for &(t, v) in &samples {
        small.append(t, v);
        big.append(t, v);
        assert_eq!(small.bytes(), big.bytes());
        assert_eq!(small.bit_len(), big.bit_len());
    }
    assert!(small.heap_bytes() >= small.bytes().len());
    assert_eq!(small.into_bytes(), big.into_bytes());
}

#[test]
fn buffers_grow_one_allocator_size_class_at_a_time() {
    use bstream::next_size_class;
    let mut sizes = vec![0];
    while *sizes.last().unwrap() < 1024 {
        sizes.push(next_size_class(*sizes.last().unwrap()));
    }
    assert_eq!(
        sizes,
        [0, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024]
    );
    // From a size between classes: the next class above it.
    assert_eq!((next_size_class(300), next_size_class(129), next_size_class(7)), (320, 160, 16));
    // Growing from the first chunk's size reaches a full chunk in a dozen steps.
    let mut e = XorEncoder::with_capacity(32);
    let mut grows = 0;
    for i in 0..120i64 {
        let before = e.heap_bytes();
        e.append(i * 10_000, (i * i) as f64 * 0.25);
        grows += usize::from(e.heap_bytes() != before);
    }
    assert!(grows <= 14, "{grows} reallocations for {} bytes", e.bytes().len());
}
