//! Tests of whole blocks: write, open, read back, delete, corruption.

use super::*;
use crate::chunkenc::{ENCODING_XOR, XorEncoder, decode_all};
use crate::labels::Labels;
use crate::reader::{ChunkData, ChunkMeta};
use crate::storage::Sample;

/// Encodes samples into XOR chunks of at most `per_chunk` samples.
pub(crate) fn xor_chunks(samples: &[Sample], per_chunk: usize) -> Vec<(ChunkMeta, ChunkData)> {
    samples
        .chunks(per_chunk)
        .map(|part| {
            let mut e = XorEncoder::new();
            for s in part {
                e.append(s.t, s.v);
            }
            let meta = ChunkMeta { chunk_ref: 0, min_time: part[0].t, max_time: part[part.len() - 1].t };
            (meta, ChunkData { encoding: ENCODING_XOR, bytes: e.into_bytes() })
        })
        .collect()
}

pub(crate) type Data = Vec<(Labels, Vec<Sample>)>;

fn test_data() -> Data {
    let mut d: Data = Vec::new();
    for job in ["api", "db"] {
        for inst in 0..3 {
            let l = Labels::from_pairs([("__name__", "up"), ("job", job), ("instance", &format!("h{inst}:9100"))]);
            let samples = (0..300).map(|i| Sample::new(1000 + i * 15_000, (i * (inst + 1)) as f64 * 0.5)).collect();
            d.push((l, samples));
        }
    }
    d.push((
        Labels::from_pairs([("__name__", "stale")]),
        vec![Sample::new(1000, f64::from_bits(crate::STALE_NAN_BITS))],
    ));
    d.sort_by(|a, b| a.0.cmp(&b.0));
    d
}

fn write_block(parent: &Path, data: &Data, mint: i64, maxt: i64) -> BlockMeta {
    let mut w = BlockWriter::new(parent, BlockMeta::new(Ulid::new(), mint, maxt)).unwrap();
    for (l, s) in data {
        w.add_series(l.clone(), xor_chunks(s, 120)).unwrap();
    }
    w.finish().unwrap()
}

/// Every series and sample of a block, through the BlockReader traits only.
pub(crate) fn read_block(b: &dyn BlockReader) -> crate::Result<Data> {
    let ix = b.index()?;
    let cr = b.chunks()?;
    let mut out = Vec::new();
    let mut metas = Vec::new();
    for id in ix.sorted_ids(&ix.all_postings()?)? {
        let l = ix.series(id, &mut metas)?;
        let mut samples = Vec::new();
        for m in &metas {
            let c = cr.chunk(m)?;
            assert_eq!(c.encoding, ENCODING_XOR);
            let s = decode_all(&c.bytes)?;
            assert_eq!((s[0].t, s[s.len() - 1].t), (m.min_time, m.max_time));
            samples.extend(s);
        }
        out.push((l, samples));
    }
    Ok(out)
}

fn same(a: &Data, b: &Data) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((la, sa), (lb, sb))| {
            la == lb
                && sa.len() == sb.len()
                && sa.iter().zip(sb).all(|(x, y)| x.t == y.t && x.v.to_bits() == y.v.to_bits())
        })
}

#[test]
fn write_open_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = test_data();
    let meta = write_block(dir.path(), &data, 0, 7_200_000);
    assert_eq!(meta.stats.num_series, 7);
    assert_eq!(meta.stats.num_samples, 6 * 300 + 1);
    assert_eq!(meta.stats.num_float_samples, 6 * 300 + 1);
    assert_eq!(meta.stats.num_chunks, 6 * 3 + 1);
    let bdir = dir.path().join(meta.ulid.to_string());
    assert!(!dir.path().join(format!("{}.tmp", meta.ulid)).exists());
    for f in ["meta.json", "index", "tombstones", "chunks/000001"] {
        assert!(bdir.join(f).exists(), "{f}");
    }
    let b = Block::open(&bdir).unwrap();
    assert_eq!(b.meta(), meta);
    assert_eq!((b.min_time(), BlockReader::max_time(&b)), (0, 7_199_999));
    assert!(same(&read_block(&b).unwrap(), &data));
    let disk: u64 = ["meta.json", "index", "tombstones", "chunks/000001"]
        .iter()
        .map(|f| std::fs::metadata(bdir.join(f)).unwrap().len())
        .sum();
    assert_eq!(b.size(), disk);
    assert_eq!(b.tombstones().unwrap().total(), 0);
    let ix = b.index().unwrap();
    assert_eq!(ix.label_values("job").unwrap(), ["api", "db"]);
    let m = [Matcher::equal("job", "db"), Matcher::regex("instance", "h[01]:.*").unwrap()];
    assert_eq!(postings_for_matchers(ix.as_ref(), &m).unwrap().len(), 2);
}

#[test]
fn writer_validates() {
    let dir = tempfile::tempdir().unwrap();
    assert!(BlockWriter::new(dir.path(), BlockMeta::new(Ulid::new(), 10, 10)).is_err());
    let mut w = BlockWriter::new(dir.path(), BlockMeta::new(Ulid::new(), 0, 100)).unwrap();
    let tmp = w.tmp_dir().to_path_buf();
    let s = |t: i64| vec![Sample::new(t, 1.0)];
    let l = |v: &str| Labels::from_pairs([("a", v)]);
    w.add_series(l("b"), xor_chunks(&s(5), 1)).unwrap();
    assert!(w.add_series(l("a"), xor_chunks(&s(5), 1)).is_err(), "out of order");
    assert!(w.add_series(l("b"), xor_chunks(&s(5), 1)).is_err(), "duplicate");
    assert!(w.add_series(l("c"), xor_chunks(&s(100), 1)).is_err(), "at exclusive max");
    assert!(w.add_series(l("c"), xor_chunks(&s(-1), 1)).is_err(), "before min");
    let overlapping = [xor_chunks(&s(5), 1), xor_chunks(&s(5), 1)].concat();
    assert!(w.add_series(l("c"), overlapping).is_err(), "overlap");
    w.add_series(l("c"), vec![]).unwrap();
    w.add_series(l("d"), xor_chunks(&[Sample::new(1, 1.0), Sample::new(99, 2.0)], 1)).unwrap();
    drop(w);
    assert!(!tmp.exists(), "an abandoned writer removes its tmp dir");
}

#[test]
fn empty_block() {
    let dir = tempfile::tempdir().unwrap();
    let meta = write_block(dir.path(), &vec![], 0, 1000);
    let b = Block::open(&dir.path().join(meta.ulid.to_string())).unwrap();
    assert!(read_block(&b).unwrap().is_empty());
}

#[test]
fn delete_writes_tombstones_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let data = test_data();
    let meta = write_block(dir.path(), &data, 0, 7_200_000);
    let bdir = dir.path().join(meta.ulid.to_string());
    let b = Block::open(&bdir).unwrap();
    let ts_before = b.tombstones().unwrap();
    let n = b.delete(&[Matcher::equal("job", "api")], 0, 100_000).unwrap();
    assert_eq!(n, 3);
    // Outside every chunk: no tombstone.
    assert_eq!(b.delete(&[Matcher::equal("job", "db")], 10_000_000, 20_000_000).unwrap(), 0);
    assert!(b.delete(&[Matcher::equal("job", "db")], 5, 4).is_err());
    let ts = b.tombstones().unwrap();
    assert_eq!(ts.total(), 3);
    assert_eq!(ts_before.total(), 0, "readers keep their snapshot");
    let ix = b.index().unwrap();
    for id in ix.postings("job", "api").unwrap() {
        assert_eq!(ts.intervals(id), [Interval { mint: 1000, maxt: 100_000 }]);
    }
    assert_eq!(b.meta().stats.num_tombstones, 3);
    // Durable: a reopened block sees the same.
    drop(b);
    let b = Block::open(&bdir).unwrap();
    assert_eq!(b.tombstones().unwrap().total(), 3);
    assert_eq!(b.meta().stats.num_tombstones, 3);
    // Merging with existing intervals.
    b.delete(&[Matcher::equal("job", "api")], 100_001, 200_000).unwrap();
    let ts = b.tombstones().unwrap();
    for id in ix.postings("job", "api").unwrap() {
        assert_eq!(ts.intervals(id), [Interval { mint: 1000, maxt: 200_000 }]);
    }
}

#[test]
fn open_reports_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let meta = write_block(dir.path(), &test_data(), 0, 7_200_000);
    let bdir = dir.path().join(meta.ulid.to_string());
    let corrupt = |file: &str, at: usize| {
        let p = bdir.join(file);
        let mut b = std::fs::read(&p).unwrap();
        b[at] ^= 0xff;
        std::fs::write(&p, &b).unwrap();
        let r = Block::open(&bdir);
        b[at] ^= 0xff;
        std::fs::write(&p, &b).unwrap();
        r
    };
    assert!(matches!(corrupt("index", 0), Err(Error::Corruption { .. })));
    assert!(matches!(corrupt("chunks/000001", 1), Err(Error::Corruption { .. })));
    assert!(matches!(corrupt("tombstones", 2), Err(Error::Corruption { .. })));
    assert!(matches!(corrupt("meta.json", 0), Err(Error::Corruption { .. })));
    assert!(Block::open(&bdir).is_ok());
    // A chunk byte flipped: open succeeds, reading that chunk fails.
    let p = bdir.join("chunks/000001");
    let mut b = std::fs::read(&p).unwrap();
    b[20] ^= 1;
    std::fs::write(&p, &b).unwrap();
    let blk = Block::open(&bdir).unwrap();
    assert!(matches!(read_block(&blk), Err(Error::Corruption { .. })));
    // Missing files are I/O errors.
    std::fs::remove_file(bdir.join("index")).unwrap();
    assert!(matches!(Block::open(&bdir), Err(Error::Io { .. })));
}
