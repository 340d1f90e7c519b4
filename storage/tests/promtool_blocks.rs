//! Real compatibility with Prometheus: blocks we write (and tombstones we add) are read by
//! `promtool tsdb`, and blocks `promtool tsdb create-blocks-from openmetrics` writes are read by
//! us, sample for sample, also through `Db` on a data dir of promtool blocks with new head data.
//! With identical series and chunks, our index and chunk files are byte-identical to
//! promtool's.
//!
//! Skipped (with a printed reason) when `promtool` is not on PATH. Run with `--nocapture` to
//! see the size figures (bytes per sample, index size).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, SeedableRng};
use storage::block::{Block, BlockMeta, BlockWriter};
use storage::chunkenc::{ENCODING_XOR, XorEncoder, decode_all};
use storage::db::{Db, DbOptions};
use storage::reader::{BlockReader, ChunkData, ChunkMeta};
use storage::{Appendable, Labels, Matcher, Queryable, STALE_NAN_BITS, Sample};
use ulid::Ulid;

type Data = BTreeMap<Labels, Vec<Sample>>;

fn promtool() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path).map(|d| d.join("promtool")).find(|p| p.is_file());
    if found.is_none() {
        eprintln!("SKIP: promtool not found on PATH; install the Debian package `prometheus` to run this test");
    }
    found
}

fn run(promtool: &Path, args: &[&str]) -> String {
    let out = Command::new(promtool).args(args).output().expect("run promtool");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "promtool {args:?} failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Deterministic test data: several metric shapes, `n` samples per series from `t0` on.
fn gen_data(series: usize, n: usize, t0: i64, step: i64) -> Data {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut d = Data::new();
    for s in 0..series {
        let job = ["api", "db", "cache"][s % 3];
        let inst = format!("10.0.{}.{}:9100", s / 7, s % 7);
        let name = ["up", "http_requests_total", "cpu_seconds", "temp"][s % 4];
        let labels = Labels::from_pairs([("__name__", name), ("job", job), ("instance", inst.as_str())]);
        let mut t = t0 + (s as i64 % 5) * 1000;
        let mut counter = 0.0f64;
        let samples = (0..n)
            .map(|i| {
                // Mostly regular scrapes with some jitter.
                t += step + if rng.random_bool(0.2) { rng.random_range(-500..500) } else { 0 };
                let v = match s % 4 {
                    0 => 1.0,
                    1 => {
                        counter += rng.random_range(0..100) as f64;
                        counter
                    }
                    2 => (i as f64 * 0.25).round() * 0.5,
                    _ => 20.0 + rng.random_range(-5.0..5.0f64),
                };
                Sample::new(t, v)
            })
            .collect();
        d.insert(labels, samples);
    }
    d
}

fn xor_chunks(samples: &[Sample], per_chunk: usize) -> Vec<(ChunkMeta, ChunkData)> {
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

fn write_ours(parent: &Path, data: &Data, mint: i64, maxt: i64) -> BlockMeta {
    let mut w = BlockWriter::new(parent, BlockMeta::new(Ulid::new(), mint, maxt)).unwrap();
    for (l, s) in data {
        w.add_series(l.clone(), xor_chunks(s, 120)).unwrap();
    }
    w.finish().unwrap()
}

/// Reads every series and sample of a block through the BlockReader traits.
fn read_block(b: &Block, into: &mut Data) {
    let ix = b.index().unwrap();
    let cr = b.chunks().unwrap();
    let mut metas = Vec::new();
    for id in ix.sorted_ids(&ix.all_postings().unwrap()).unwrap() {
        let l = ix.series(id, &mut metas).unwrap();
        let out = into.entry(l).or_default();
        for m in &metas {
            let c = cr.chunk(m).unwrap();
            assert_eq!(c.encoding, ENCODING_XOR);
            out.extend(decode_all(&c.bytes).unwrap());
        }
    }
}

fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("meta.json").exists()).collect();
    v.sort();
    v
}

fn dir_size(p: &Path) -> u64 {
    if p.is_dir() {
        std::fs::read_dir(p).unwrap().map(|e| dir_size(&e.unwrap().path())).sum()
    } else {
        std::fs::metadata(p).unwrap().len()
    }
}

fn assert_same(got: &Data, want: &Data) {
    assert_eq!(got.len(), want.len(), "series count");
    for ((lg, sg), (lw, sw)) in got.iter().zip(want) {
        assert_eq!(lg, lw);
        assert_eq!(sg.len(), sw.len(), "samples of {lg}");
        for (a, b) in sg.iter().zip(sw) {
            assert!(a.t == b.t && a.v.to_bits() == b.v.to_bits(), "{lg}: got {a:?}, want {b:?}");
        }
    }
}

/// Parses `promtool tsdb dump` lines: `{labels} value timestamp`.
fn parse_dump(out: &str) -> BTreeMap<String, Vec<(i64, String)>> {
    let mut m: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let (rest, ts) = line.rsplit_once(' ').unwrap();
        let (labels, v) = rest.rsplit_once(' ').unwrap();
        m.entry(labels.to_string()).or_default().push((ts.parse().unwrap(), v.to_string()));
    }
    m
}

/// Go's `%g` for a float64 (shortest representation, exponent for large/small magnitudes).
fn go_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let e = format!("{v:e}"); // shortest digits, e.g. 1.2345e6
    let (mant, exp) = e.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    // Go's %g with the shortest precision switches to an exponent outside [-4, 6).
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{v}")
    }
}

#[test]
fn promtool_reads_our_blocks() {
    let Some(promtool) = promtool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path();
    let mut data = gen_data(20, 400, 0, 15_000);
    // A stale marker, a negative zero and special values survive.
    let special = Labels::from_pairs([("__name__", "special"), ("path", "/a\"b\\c ü")]);
    data.insert(
        special,
        vec![
            Sample::new(5, 1e-300),
            Sample::new(10, -0.0),
            Sample::new(20, f64::INFINITY),
            Sample::new(30, 123456789012345680000.0),
            Sample::new(40, f64::from_bits(STALE_NAN_BITS)),
        ],
    );
    let maxt = data.values().flatten().map(|s| s.t).max().unwrap() + 1;
    let meta = write_ours(db, &data, 0, maxt.max(7_200_000));
    let ulid = meta.ulid.to_string();

    let list = run(&promtool, &["tsdb", "list", db.to_str().unwrap()]);
    assert!(list.contains(&ulid), "{list}");
    let samples: usize = data.values().map(Vec::len).sum();
    assert!(list.contains(&samples.to_string()), "{list}");
    let analyze = run(&promtool, &["tsdb", "analyze", db.to_str().unwrap(), &ulid]);
    assert!(analyze.contains(&format!("Series: {}", data.len())), "{analyze}");

    std::fs::create_dir_all(db.join("wal")).unwrap(); // dump opens the DB, which wants a WAL dir
    let dump = parse_dump(&run(&promtool, &["tsdb", "dump", db.to_str().unwrap()]));
    assert_eq!(dump.len(), data.len());
    for (l, samples) in &data {
        let got = dump.get(&l.to_string()).unwrap_or_else(|| panic!("{l} missing from dump"));
        let want: Vec<(i64, String)> = samples.iter().map(|s| (s.t, go_g(s.v))).collect();
        assert_eq!(got, &want, "{l}");
    }

    // Tombstones we write are honoured by promtool.
    let block = Block::open(&db.join(&ulid)).unwrap();
    let (mint, maxt) = (0, 1_000_000);
    let hit = block.delete(&[storage::Matcher::equal("job", "api")], mint, maxt).unwrap();
    assert!(hit > 0);
    let dump = parse_dump(&run(&promtool, &["tsdb", "dump", db.to_str().unwrap()]));
    for (l, samples) in &data {
        let deleted = |s: &Sample| l.get("job") == "api" && s.t >= mint && s.t <= maxt;
        let want: Vec<(i64, String)> = samples.iter().filter(|s| !deleted(s)).map(|s| (s.t, go_g(s.v))).collect();
        assert_eq!(dump.get(&l.to_string()).cloned().unwrap_or_default(), want, "{l} after delete");
    }
    let analyze = run(&promtool, &["tsdb", "list", db.to_str().unwrap()]);
    assert!(analyze.contains(&ulid), "{analyze}");
}

fn openmetrics(data: &Data) -> String {
    let mut out = String::new();
    let mut last_name = "";
    for (l, samples) in data {
        if l.metric_name() != last_name {
            last_name = l.metric_name();
            out.push_str(&format!("# TYPE {last_name} gauge\n"));
        }
        let labels: Vec<String> = l
            .iter()
            .filter(|x| &*x.name != "__name__")
            .map(|x| {
                format!("{}=\"{}\"", x.name, x.value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
            })
            .collect();
        for s in samples {
            // Timestamps are seconds; thousandths are exact only as multiples of 1/8 s, so the
            // generator is asked for whole or half seconds only.
            assert_eq!(s.t % 500, 0);
            out.push_str(&format!("{}{{{}}} {:?} {}\n", last_name, labels.join(","), s.v, s.t as f64 / 1000.0));
        }
    }
    out.push_str("# EOF\n");
    out
}

#[test]
fn we_read_promtool_blocks_and_write_identical_files() {
    let Some(promtool) = promtool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // 3 h of 15 s scrapes (timestamps rounded to 500 ms) across two 2 h block ranges.
    let mut data = gen_data(60, 720, 1_600_000_000_000, 15_000);
    for s in data.values_mut() {
        for x in s.iter_mut() {
            x.t -= x.t.rem_euclid(500);
        }
        s.dedup_by_key(|x| x.t);
    }
    data.insert(
        Labels::from_pairs([("__name__", "weird"), ("v", "quote\" back\\slash\nnewline ü")]),
        vec![Sample::new(1_600_000_000_500, -2.5), Sample::new(1_600_000_001_000, 1e-7)],
    );
    let om = tmp.path().join("input.om");
    std::fs::write(&om, openmetrics(&data)).unwrap();
    let out = tmp.path().join("promtool");
    run(&promtool, &["tsdb", "create-blocks-from", "openmetrics", om.to_str().unwrap(), out.to_str().unwrap()]);

    let mut got = Data::new();
    let dirs = block_dirs(&out);
    assert!(dirs.len() >= 2, "expected several blocks, got {dirs:?}");
    for d in &dirs {
        read_block(&Block::open(d).unwrap(), &mut got);
    }
    assert_same(&got, &data);

    // Rewrite every promtool block with our writer, same series and chunk bytes: the index and
    // chunk files must be byte-identical.
    let ours = tmp.path().join("ours");
    std::fs::create_dir_all(&ours).unwrap();
    for d in &dirs {
        let b = Block::open(d).unwrap();
        let m = b.meta();
        let mut w = BlockWriter::new(&ours, BlockMeta::new(m.ulid, m.min_time, m.max_time)).unwrap();
        // promtool 2.42 still writes the label index sections.
        w.set_legacy_label_indices(true);
        let ix = b.index().unwrap();
        let cr = b.chunks().unwrap();
        let mut metas = Vec::new();
        for id in ix.sorted_ids(&ix.all_postings().unwrap()).unwrap() {
            let l = ix.series(id, &mut metas).unwrap();
            let chunks = metas.iter().map(|m| (*m, cr.chunk(m).unwrap())).collect();
            w.add_series(l, chunks).unwrap();
        }
        let meta = w.finish().unwrap();
        assert_eq!(meta.stats.num_samples, m.stats.num_samples);
        assert_eq!(meta.stats.num_series, m.stats.num_series);
        assert_eq!(meta.stats.num_chunks, m.stats.num_chunks);
        let mine = ours.join(m.ulid.to_string());
        for f in ["index", "chunks/000001", "tombstones"] {
            let a = std::fs::read(d.join(f)).unwrap();
            let b = std::fs::read(mine.join(f)).unwrap();
            assert!(a == b, "{f} of block {} differs from promtool's ({} vs {} bytes)", m.ulid, a.len(), b.len());
        }
    }

    // Figures: our own chunking (120 samples per chunk, one block per 2 h range) vs promtool's.
    let samples: usize = data.values().map(Vec::len).sum();
    let ours2 = tmp.path().join("ours2");
    std::fs::create_dir_all(&ours2).unwrap();
    let range = 7_200_000i64;
    let mut starts: Vec<i64> = data.values().flatten().map(|s| s.t.div_euclid(range) * range).collect();
    starts.sort();
    starts.dedup();
    for start in starts {
        let part: Data = data
            .iter()
            .map(|(l, s)| {
                (l.clone(), s.iter().copied().filter(|x| x.t >= start && x.t < start + range).collect::<Vec<_>>())
            })
            .filter(|(_, s)| !s.is_empty())
            .collect();
        write_ours(&ours2, &part, start, start + range);
    }
    let mut check = Data::new();
    for d in block_dirs(&ours2) {
        read_block(&Block::open(&d).unwrap(), &mut check);
    }
    assert_same(&check, &data);
    let figures = |name: &str, dirs: &[PathBuf]| {
        let chunks: u64 = dirs.iter().map(|d| dir_size(&d.join("chunks"))).sum();
        let index: u64 = dirs.iter().map(|d| dir_size(&d.join("index"))).sum();
        let total: u64 = dirs.iter().map(|d| dir_size(d)).sum();
        println!(
            "{name}: {} blocks, {samples} samples, {} series: chunks {chunks} B ({:.3} B/sample), index {index} B, total {total} B ({:.3} B/sample)",
            dirs.len(),
            data.len(),
            chunks as f64 / samples as f64,
            total as f64 / samples as f64
        );
        total
    };
    let theirs = figures("promtool", &dirs);
    let mine = figures("tickdb", &block_dirs(&ours2));
    assert!(mine < theirs * 2, "our blocks are much larger than promtool's: {mine} vs {theirs}");
}

#[test]
fn db_opens_a_data_dir_of_promtool_blocks_and_adds_head_data() {
    let Some(promtool) = promtool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // 5 h of 30 s scrapes: three 2 h block ranges from promtool.
    let mut data = gen_data(20, 600, 1_600_000_000_000, 30_000);
    for s in data.values_mut() {
        for x in s.iter_mut() {
            x.t -= x.t.rem_euclid(500);
        }
        s.dedup_by_key(|x| x.t);
    }
    let om = tmp.path().join("input.om");
    std::fs::write(&om, openmetrics(&data)).unwrap();
    let dir = tmp.path().join("data");
    run(&promtool, &["tsdb", "create-blocks-from", "openmetrics", om.to_str().unwrap(), dir.to_str().unwrap()]);
    let n_blocks = block_dirs(&dir).len();
    assert!(n_blocks >= 3, "expected several promtool blocks, got {n_blocks}");

    let read = |db: &Db| -> Data {
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        let mut out = Data::new();
        for s in q.select(true, None, &[Matcher::regex("__name__", ".+").unwrap()]).unwrap() {
            let s = s.unwrap();
            let l = s.labels.clone();
            out.insert(l, s.collect_samples().unwrap());
        }
        out
    };
    let db = Db::open(&dir, DbOptions { retention_ms: 0, ..DbOptions::default() }).unwrap();
    assert_eq!(db.block_metas().len(), n_blocks);
    assert_same(&read(&db), &data);

    // New samples after the newest promtool block go to the head; queries merge both.
    let newest = db.block_metas().iter().map(|m| m.max_time).max().unwrap();
    let mut want = data.clone();
    let mut app = db.appender();
    for (l, s) in want.iter_mut() {
        for k in 0..4 {
            let t = newest + k * 60_000;
            app.append(None, l, t, k as f64).unwrap();
            s.push(Sample::new(t, k as f64));
        }
    }
    app.commit().unwrap();
    assert_same(&read(&db), &want);
    // Compaction of promtool's blocks (and a persisted head) keeps everything.
    db.persist_head_range(newest, newest + 4 * 60_000, None).unwrap().unwrap();
    db.head().truncate(newest + 4 * 60_000).unwrap();
    // Two later blocks: leveled planning merges a 6 h range once a newer block exists beyond it.
    let l0 = want.keys().next().unwrap().clone();
    for late in [newest + 3 * 3_600_000, newest + 6 * 3_600_000] {
        let mut app = db.appender();
        app.append(None, &l0, late, 7.0).unwrap();
        app.commit().unwrap();
        want.get_mut(&l0).unwrap().push(Sample::new(late, 7.0));
        db.persist_head_range(late, late + 1, None).unwrap().unwrap();
        db.head().truncate(late + 1).unwrap();
    }
    let metas: Vec<(i64, i64)> = db.block_metas().iter().map(|m| (m.min_time, m.max_time)).collect();
    assert!(db.compact_blocks().unwrap() >= 1, "{metas:?}");
    assert_eq!(db.block_metas().len(), 3, "promtool's blocks and the first head block merged");
    assert_same(&read(&db), &want);
    db.close().unwrap();
    drop(db);
    // And promtool reads the result.
    let dump = parse_dump(&run(&promtool, &["tsdb", "dump", dir.to_str().unwrap()]));
    assert_eq!(dump.len(), want.len());
    let samples: usize = dump.values().map(Vec::len).sum();
    assert_eq!(samples, want.values().map(Vec::len).sum::<usize>());
}
