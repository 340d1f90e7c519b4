//! Tests of the index writer and reader: round trips, exact bytes, corruption.

use std::path::Path;

use roaring::RoaringBitmap;

use super::*;
use crate::error::Error;
use crate::labels::Labels;
use crate::reader::{ChunkMeta, IndexReader};

fn meta(chunk_ref: u64, min_time: i64, max_time: i64) -> ChunkMeta {
    ChunkMeta { chunk_ref, min_time, max_time }
}

type Input = Vec<(Labels, Vec<ChunkMeta>)>;

fn sample_input() -> Input {
    vec![
        (
            Labels::from_pairs([("__name__", "a"), ("job", "x")]),
            vec![meta(8, -5, 10), meta(40, 11, 11), meta(90, 20, 1 << 40)],
        ),
        (Labels::from_pairs([("__name__", "a"), ("job", "y")]), vec![meta(200, 0, 0)]),
        (Labels::from_pairs([("__name__", "b"), ("instance", "i:1"), ("job", "x")]), vec![]),
        (Labels::from_pairs([("__name__", "b"), ("instance", "ü€"), ("job", "x")]), vec![meta(300, 1, 2)]),
    ]
}

/// Writes `input` (symbols computed from it) to `dir/index`.
fn write_index(dir: &Path, input: &Input) -> std::path::PathBuf {
    let path = dir.join("index");
    let mut syms = std::collections::BTreeSet::new();
    for (l, _) in input {
        for x in l.iter() {
            syms.insert(x.name.to_string());
            syms.insert(x.value.to_string());
        }
    }
    let mut w = IndexWriter::create(&path).unwrap();
    for s in &syms {
        w.add_symbol(s).unwrap();
    }
    for (l, c) in input {
        w.add_series(l, c).unwrap();
    }
    w.finish().unwrap();
    path
}

/// Reads everything back: (labels, chunks) of every series of all_postings.
fn read_all(r: &IndexFileReader) -> crate::Result<Input> {
    let mut out = Vec::new();
    let mut chunks = Vec::new();
    for id in r.all_postings()? {
        let l = r.series(id, &mut chunks)?;
        out.push((l, chunks.clone()));
    }
    Ok(out)
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample_input();
    let path = write_index(dir.path(), &input);
    let r = IndexFileReader::open(&path).unwrap();
    assert_eq!(r.version(), 2);
    assert_eq!(read_all(&r).unwrap(), input);
    assert_eq!(r.label_names().unwrap(), ["__name__", "instance", "job"]);
    assert_eq!(r.label_values("job").unwrap(), ["x", "y"]);
    assert_eq!(r.label_values("instance").unwrap(), ["i:1", "ü€"]);
    assert_eq!(r.label_values("nope").unwrap(), Vec::<String>::new());
    assert_eq!(r.label_values("").unwrap(), Vec::<String>::new());
    assert_eq!(r.symbols().unwrap(), ["__name__", "a", "b", "i:1", "instance", "job", "x", "y", "ü€"]);
    let ids: Vec<u32> = r.all_postings().unwrap().iter().collect();
    assert_eq!(ids.len(), 4);
    let job_x: Vec<u32> = r.postings("job", "x").unwrap().iter().collect();
    assert_eq!(job_x, [ids[0], ids[2], ids[3]]);
    assert!(r.postings("job", "z").unwrap().is_empty());
    assert!(r.postings("zzz", "x").unwrap().is_empty());
    let sorted = r.sorted_ids(&r.postings("job", "x").unwrap()).unwrap();
    assert_eq!(sorted, job_x);
    // Ids are offsets / 16 inside the series section.
    let toc = r.toc();
    assert_eq!(toc.symbols, 5);
    for id in &ids {
        assert!(*id as u64 * 16 >= toc.series && (*id as u64 * 16) < toc.label_indices);
    }
    assert_eq!(toc.label_indices, toc.postings);
    assert_eq!(toc.label_indices_table, toc.postings_table);
}

#[test]
fn empty_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_index(dir.path(), &vec![]);
    let r = IndexFileReader::open(&path).unwrap();
    assert!(r.all_postings().unwrap().is_empty());
    assert!(r.label_names().unwrap().is_empty());
    assert!(r.symbols().unwrap().is_empty());
}

/// The exact bytes of a one-series index, worked out by hand from Prometheus's writer.
#[test]
fn exact_bytes_of_a_tiny_index() {
    let dir = tempfile::tempdir().unwrap();
    let input = vec![(Labels::from_pairs([("a", "b")]), vec![meta(8, 1, 3)])];
    let path = write_index(dir.path(), &input);
    let got = std::fs::read(&path).unwrap();
    let mut want: Vec<u8> = vec![0xBA, 0xAA, 0xD7, 0x00, 2];
    // Symbol table at 5: len=8 (count + 2 entries of 2 bytes), count=2, "a", "b", CRC.
    let body = [0, 0, 0, 2, 1, b'a', 1, b'b'];
    want.extend_from_slice(&8u32.to_be_bytes());
    want.extend_from_slice(&body);
    want.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    // Series at 32 (id 2): padding from 21.
    want.resize(32, 0);
    let series = [1, 0, 1, 1, 2, 2, 8];
    want.push(series.len() as u8);
    want.extend_from_slice(&series);
    want.extend_from_slice(&crc32c::crc32c(&series).to_be_bytes());
    let postings_toc = want.len() as u64; // 44
    want.resize(want.len().next_multiple_of(4), 0);
    let postings = |want: &mut Vec<u8>, ids: &[u32]| {
        let at = want.len() as u64;
        let mut b: Vec<u8> = (ids.len() as u32).to_be_bytes().to_vec();
        for id in ids {
            b.extend_from_slice(&id.to_be_bytes());
        }
        want.extend_from_slice(&(b.len() as u32).to_be_bytes());
        want.extend_from_slice(&b);
        want.extend_from_slice(&crc32c::crc32c(&b).to_be_bytes());
        at
    };
    let all_at = postings(&mut want, &[2]);
    let ab_at = postings(&mut want, &[2]);
    let table_at = want.len() as u64;
    let mut table = vec![0, 0, 0, 2];
    table.extend_from_slice(&[2, 0, 0, all_at as u8]);
    table.extend_from_slice(&[2, 1, b'a', 1, b'b', ab_at as u8]);
    want.extend_from_slice(&(table.len() as u32).to_be_bytes());
    want.extend_from_slice(&table);
    want.extend_from_slice(&crc32c::crc32c(&table).to_be_bytes());
    let toc = Toc {
        symbols: 5,
        series: 21,
        label_indices: postings_toc,
        label_indices_table: table_at,
        postings: postings_toc,
        postings_table: table_at,
    };
    want.extend_from_slice(&toc.encode());
    assert_eq!(got, want);
}

#[test]
fn writer_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = IndexWriter::create(&dir.path().join("index")).unwrap();
    w.add_symbol("b").unwrap();
    assert!(matches!(w.add_symbol("a"), Err(Error::InvalidArgument(_))));
    assert!(matches!(w.add_symbol("b"), Err(Error::InvalidArgument(_))));
    w.add_symbol("c").unwrap();
    let l1 = Labels::from_pairs([("b", "c")]);
    let l0 = Labels::from_pairs([("b", "b")]);
    // Unknown symbol.
    assert!(matches!(w.add_series(&Labels::from_pairs([("b", "x")]), &[]), Err(Error::InvalidArgument(_))));
    w.add_series(&l1, &[meta(8, 0, 10)]).unwrap();
    assert!(w.add_symbol("d").is_err());
    // Out of order / duplicate series.
    assert!(w.add_series(&l0, &[]).is_err());
    assert!(w.add_series(&l1, &[]).is_err());
    let l2 = Labels::from_pairs([("c", "b")]);
    // Chunk ref going backwards, overlapping chunks, inverted chunk.
    assert!(w.add_series(&l2, &[meta(7, 20, 30)]).is_err());
    assert!(w.add_series(&l2, &[meta(8, 0, 5), meta(9, 5, 6)]).is_err());
    assert!(w.add_series(&l2, &[meta(8, 5, 4)]).is_err());
    w.add_series(&l2, &[meta(8, 0, 5), meta(9, 6, 6)]).unwrap();
    w.finish().unwrap();
}

fn expect_corruption<T: std::fmt::Debug>(r: crate::Result<T>, what: &str) {
    match r {
        Err(Error::Corruption { .. }) => {}
        other => panic!("{what}: expected corruption, got {other:?}"),
    }
}

fn open_bytes(dir: &Path, bytes: &[u8]) -> crate::Result<IndexFileReader> {
    let p = dir.join("corrupt");
    std::fs::write(&p, bytes).unwrap();
    IndexFileReader::open(&p)
}

#[test]
fn corrupt_headers() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_index(dir.path(), &sample_input());
    let good = std::fs::read(&path).unwrap();
    let mut b = good.clone();
    b[0] ^= 0xff;
    expect_corruption(open_bytes(dir.path(), &b), "bad magic");
    let mut b = good.clone();
    b[4] = 9;
    expect_corruption(open_bytes(dir.path(), &b), "bad version");
    expect_corruption(open_bytes(dir.path(), &good[..good.len() - 1]), "truncated");
    expect_corruption(open_bytes(dir.path(), &good[..20]), "tiny");
    expect_corruption(open_bytes(dir.path(), &[]), "empty");
    let mut b = good.clone();
    let n = b.len();
    b[n - 10] ^= 1;
    expect_corruption(open_bytes(dir.path(), &b), "TOC");
    let mut b = good.clone();
    b[12] ^= 1;
    expect_corruption(open_bytes(dir.path(), &b), "symbol table");
}

#[test]
fn corrupt_series_and_postings_fail_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_index(dir.path(), &sample_input());
    let good = std::fs::read(&path).unwrap();
    let r = IndexFileReader::open(&path).unwrap();
    let toc = r.toc();
    let first = r.all_postings().unwrap().min().unwrap();
    // A byte inside the first series.
    let mut b = good.clone();
    b[first as usize * 16 + 3] ^= 0x40;
    let r2 = open_bytes(dir.path(), &b).unwrap();
    expect_corruption(r2.series(first, &mut Vec::new()), "series CRC");
    // A byte inside the first postings list (the all-postings list).
    let mut b = good.clone();
    let all_at = toc.postings.next_multiple_of(4) as usize;
    b[all_at + 9] ^= 1;
    let r2 = open_bytes(dir.path(), &b).unwrap();
    expect_corruption(r2.all_postings(), "postings CRC");
    // Ids that are not series.
    expect_corruption(r.series(0, &mut Vec::new()), "id 0");
    expect_corruption(r.series(u32::MAX, &mut Vec::new()), "huge id");
    expect_corruption(r.series(first + 1, &mut Vec::new()), "misaligned id");
}

/// Flipping any single bit must never panic, and anything read back either errors or, if the
/// flip hit padding, equals the input.
#[test]
fn every_bit_flip_is_detected_or_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample_input();
    let path = write_index(dir.path(), &input);
    let good = std::fs::read(&path).unwrap();
    let p = dir.path().join("flip");
    let mut undetected = 0;
    for i in 0..good.len() {
        for bit in [0u8, 3, 7] {
            let mut b = good.clone();
            b[i] ^= 1 << bit;
            std::fs::write(&p, &b).unwrap();
            let res = IndexFileReader::open(&p).and_then(|r| {
                let all = read_all(&r)?;
                for n in r.label_names()? {
                    for v in r.label_values(&n)? {
                        r.postings(&n, &v)?;
                    }
                }
                Ok(all)
            });
            match res {
                Err(Error::Corruption { .. }) => {}
                Err(e) => panic!("byte {i}: unexpected error {e}"),
                Ok(all) => {
                    assert_eq!(all, input, "byte {i} bit {bit}: silently wrong data");
                    undetected += 1;
                }
            }
        }
    }
    // Only padding bytes (between series and before postings) can flip harmlessly.
    assert!(undetected < 3 * 64, "{undetected} undetected flips");
}

#[test]
fn many_series_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut input: Input = Vec::new();
    let mut names: Vec<String> = (0..300).map(|i| format!("v{i:04}")).collect();
    names.sort();
    for v in &names {
        for job in ["j1", "j2"] {
            input.push((Labels::from_pairs([("__name__", "m"), ("job", job), ("val", v.as_str())]), vec![]));
        }
    }
    input.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (_, c)) in input.iter_mut().enumerate() {
        c.push(meta(8 + 10 * i as u64, 0, 1));
    }
    let path = write_index(dir.path(), &input);
    let rd = IndexFileReader::open(&path).unwrap();
    assert_eq!(read_all(&rd).unwrap(), input);
    assert_eq!(rd.label_values("val").unwrap(), names);
    let ids: Vec<u32> = rd.all_postings().unwrap().iter().collect();
    for (i, v) in names.iter().enumerate() {
        let got = rd.postings("val", v).unwrap();
        let want: RoaringBitmap = [ids[i], ids[300 + i]].into_iter().collect();
        assert_eq!(got, want, "{v}");
    }
    assert_eq!(rd.postings("job", "j2").unwrap().len(), 300);
    let m = [crate::Matcher::regex("val", "v00[0-4].").unwrap(), crate::Matcher::equal("job", "j1")];
    assert_eq!(postings_for_matchers(&rd, &m).unwrap().len(), 50);
}

/// Builds a version-1 index by hand (symbol refs are offsets, series ids are offsets, postings
/// table unsorted) and reads it.
#[test]
fn reads_version_1() {
    use crate::index::encoding::Encbuf;
    let mut f = Encbuf::new();
    f.put_be32(MAGIC_INDEX);
    f.put_u8(1);
    // Symbols: "a", "b", "c".
    let sym_at = f.len();
    let mut body = Encbuf::new();
    body.put_be32(3);
    let mut sym_off = Vec::new();
    for s in ["a", "b", "c"] {
        sym_off.push(sym_at as u64 + 4 + body.len() as u64);
        body.put_uvarint_str(s);
    }
    f.put_be32(body.len() as u32);
    f.b.extend_from_slice(&body.b);
    f.put_crc_from(f.len() - body.len());
    // Two series, not aligned: {a="b"} and {a="c"}.
    let series_at = f.len() as u64;
    let mut ids = Vec::new();
    for v in [1usize, 2] {
        ids.push(f.len() as u32);
        let mut s = Encbuf::new();
        s.put_uvarint(1);
        s.put_uvarint(sym_off[0]);
        s.put_uvarint(sym_off[v]);
        s.put_uvarint(1);
        s.put_varint(100);
        s.put_uvarint(5);
        s.put_uvarint(8 + v as u64);
        f.put_uvarint(s.len() as u64);
        f.b.extend_from_slice(&s.b);
        f.put_crc_from(f.len() - s.len());
    }
    // Postings lists.
    let post = |f: &mut Encbuf, ids: &[u32]| {
        let at = f.len() as u64;
        f.put_be32(4 + 4 * ids.len() as u32);
        let start = f.len();
        f.put_be32(ids.len() as u32);
        for id in ids {
            f.put_be32(*id);
        }
        f.put_crc_from(start);
        at
    };
    let postings_at = f.len() as u64;
    let p_c = post(&mut f, &[ids[1]]);
    let p_b = post(&mut f, &[ids[0]]);
    let p_all = post(&mut f, &ids);
    // Unsorted table.
    let table_at = f.len() as u64;
    let mut t = Encbuf::new();
    t.put_be32(3);
    for (n, v, o) in [("a", "c", p_c), ("", "", p_all), ("a", "b", p_b)] {
        t.put_uvarint(2);
        t.put_uvarint_str(n);
        t.put_uvarint_str(v);
        t.put_uvarint(o);
    }
    f.put_be32(t.len() as u32);
    f.b.extend_from_slice(&t.b);
    f.put_crc_from(f.len() - t.len());
    let toc = Toc {
        symbols: sym_at as u64,
        series: series_at,
        label_indices: 0,
        label_indices_table: 0,
        postings: postings_at,
        postings_table: table_at,
    };
    f.b.extend_from_slice(&toc.encode());

    let dir = tempfile::tempdir().unwrap();
    let r = open_bytes(dir.path(), &f.b).unwrap();
    assert_eq!(r.version(), 1);
    let got = read_all(&r).unwrap();
    assert_eq!(
        got,
        vec![
            (Labels::from_pairs([("a", "b")]), vec![meta(9, 100, 105)]),
            (Labels::from_pairs([("a", "c")]), vec![meta(10, 100, 105)]),
        ]
    );
    assert_eq!(r.label_values("a").unwrap(), ["b", "c"]);
    assert_eq!(r.postings("a", "c").unwrap().iter().collect::<Vec<_>>(), [ids[1]]);
    // A ref that is not a symbol offset.
    let mut bad = f.b.clone();
    let at = series_at as usize + 2; // the name ref of the first series
    bad[at] = bad[at].wrapping_add(1);
    // Fix the CRC so the bad ref itself is what is found.
    let len = bad[series_at as usize] as usize;
    let crc = crc32c::crc32c(&bad[series_at as usize + 1..series_at as usize + 1 + len]);
    bad[series_at as usize + 1 + len..series_at as usize + 5 + len].copy_from_slice(&crc.to_be_bytes());
    let r = open_bytes(dir.path(), &bad).unwrap();
    expect_corruption(r.series(ids[0], &mut Vec::new()), "bad v1 symbol ref");
}

#[test]
fn legacy_label_indices_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample_input();
    let plain = write_index(dir.path(), &input);
    let plain_len = std::fs::metadata(&plain).unwrap().len();
    let path = dir.path().join("legacy");
    let mut w = IndexWriter::create(&path).unwrap();
    w.set_legacy_label_indices(true);
    let r0 = IndexFileReader::open(&plain).unwrap();
    for s in r0.symbols().unwrap() {
        w.add_symbol(&s).unwrap();
    }
    for (l, c) in &input {
        w.add_series(l, c).unwrap();
    }
    w.finish().unwrap();
    let r = IndexFileReader::open(&path).unwrap();
    let toc = r.toc();
    assert!(toc.label_indices < toc.postings && toc.label_indices_table < toc.postings_table, "{toc:?}");
    // 3 label indices (4-byte aligned, 12 + 4n + 4 bytes) and a label offset table.
    assert!(r.size() > plain_len);
    assert_eq!(read_all(&r).unwrap(), input);
    assert_eq!(r.label_values("instance").unwrap(), ["i:1", "ü€"]);
    // The first label index: names=1, values = refs of "a", "b" (the __name__ values).
    let b = std::fs::read(&path).unwrap();
    let at = toc.label_indices.next_multiple_of(4) as usize;
    assert_eq!(&b[at..at + 20], &[0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
}
