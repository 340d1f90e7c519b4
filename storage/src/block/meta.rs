//! `meta.json`: a block's identity, time range, statistics and compaction lineage.
//!
//! Field names, order, omissions and the tab-indented layout are Prometheus's
//! (`tsdb/block.go` `BlockMeta`, written with `json.MarshalIndent(meta, "", "\t")`), so a file we
//! write is byte-identical to one Prometheus would write for the same values. `maxTime` is
//! exclusive. Unknown fields are ignored on read; any `version` other than 1 is rejected.

use std::path::Path;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::error::{Error, Result};
use crate::storage::Timestamp;

/// File name inside a block directory.
pub const META_FILENAME: &str = "meta.json";
/// The only meta.json version.
pub const META_VERSION_1: u32 = 1;

/// A block's `meta.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    #[serde(with = "ulid_str")]
    pub ulid: Ulid,
    /// Inclusive.
    pub min_time: Timestamp,
    /// Exclusive.
    pub max_time: Timestamp,
    #[serde(default)]
    pub stats: BlockStats,
    pub compaction: BlockMetaCompaction,
    pub version: u32,
}

/// Counts of what a block holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_float_samples: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_histogram_samples: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_series: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

/// Where a block came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMetaCompaction {
    /// 1 for a block cut from the head, +1 per compaction.
    pub level: u32,
    /// The level-1 blocks this one was compacted from (itself for a level-1 block).
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "ulid_vec")]
    pub sources: Vec<Ulid>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deletable: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

/// A parent block of a compaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDesc {
    #[serde(with = "ulid_str")]
    pub ulid: Ulid,
    pub min_time: Timestamp,
    pub max_time: Timestamp,
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

fn is_false(x: &bool) -> bool {
    !*x
}

mod ulid_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use ulid::Ulid;

    pub fn serialize<S: Serializer>(u: &Ulid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&u.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ulid, D::Error> {
        let s = String::deserialize(d)?;
        Ulid::from_string(&s).map_err(|e| serde::de::Error::custom(format!("invalid ULID {s:?}: {e}")))
    }
}

mod ulid_vec {
    use serde::{Deserialize, Deserializer, Serializer};
    use ulid::Ulid;

    pub fn serialize<S: Serializer>(v: &[Ulid], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|u| u.to_string()))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Ulid>, D::Error> {
        let v = Option::<Vec<String>>::deserialize(d)?.unwrap_or_default();
        v.iter()
            .map(|s| Ulid::from_string(s).map_err(|e| serde::de::Error::custom(format!("invalid ULID {s:?}: {e}"))))
            .collect()
    }
}

impl BlockMeta {
    /// A level-1 meta for a new block `ulid` covering `[min_time, max_time)`, its own source.
    pub fn new(ulid: Ulid, min_time: Timestamp, max_time: Timestamp) -> Self {
        BlockMeta {
            ulid,
            min_time,
            max_time,
            stats: BlockStats::default(),
            compaction: BlockMetaCompaction { level: 1, sources: vec![ulid], ..Default::default() },
            version: META_VERSION_1,
        }
    }

    /// The JSON exactly as Prometheus writes it (tab-indented, no trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        // Serializing plain structs of strings and integers into a Vec cannot fail.
        if self.serialize(&mut ser).is_err() {
            out.clear();
        }
        out
    }

    /// Parses and validates a meta.json; `path` is for error reports.
    pub fn from_json(b: &[u8], path: &Path) -> Result<Self> {
        let m: BlockMeta = serde_json::from_slice(b).map_err(|e| {
            // serde_json reports line/column; give the byte offset of the line start as offset.
            Error::corruption(path, 0, format!("invalid meta.json: {e}"))
        })?;
        if m.version != META_VERSION_1 {
            return Err(Error::corruption(path, 0, format!("unexpected meta file version {}", m.version)));
        }
        Ok(m)
    }
}

/// Reads `dir/meta.json`. Returns the meta and the file size.
pub fn read_meta(dir: &Path) -> Result<(BlockMeta, u64)> {
    let path = dir.join(META_FILENAME);
    let b = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    Ok((BlockMeta::from_json(&b, &path)?, b.len() as u64))
}

/// Atomically writes `dir/meta.json` (version forced to 1). Returns the file size.
pub fn write_meta(dir: &Path, meta: &BlockMeta) -> Result<u64> {
    let mut m = meta.clone();
    m.version = META_VERSION_1;
    let b = m.to_json();
    let path = dir.join(META_FILENAME);
    let tmp = dir.join(format!("{META_FILENAME}.tmp"));
    crate::tombstones::write_file_atomic(&tmp, &path, &b)?;
    Ok(b.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "01BKGV7JBM69T2G1BGBGM6KB12";
    const U2: &str = "01BKGTZQ1SYQJTR4PB43C8PD98";

    fn ulid(s: &str) -> Ulid {
        Ulid::from_string(s).unwrap()
    }

    #[test]
    fn json_is_prometheus_byte_for_byte() {
        let mut m = BlockMeta::new(ulid(U1), 0, 7200000);
        m.stats = BlockStats { num_samples: 10, num_series: 2, num_chunks: 3, ..Default::default() };
        let want = format!(
            "{{\n\t\"ulid\": \"{U1}\",\n\t\"minTime\": 0,\n\t\"maxTime\": 7200000,\n\t\"stats\": {{\n\t\t\"numSamples\": 10,\n\t\t\"numSeries\": 2,\n\t\t\"numChunks\": 3\n\t}},\n\t\"compaction\": {{\n\t\t\"level\": 1,\n\t\t\"sources\": [\n\t\t\t\"{U1}\"\n\t\t]\n\t}},\n\t\"version\": 1\n}}"
        );
        assert_eq!(String::from_utf8(m.to_json()).unwrap(), want);
    }

    #[test]
    fn empty_stats_and_full_compaction() {
        let m = BlockMeta {
            ulid: ulid(U1),
            min_time: -5,
            max_time: 5,
            stats: BlockStats::default(),
            compaction: BlockMetaCompaction {
                level: 2,
                sources: vec![ulid(U1), ulid(U2)],
                deletable: true,
                parents: vec![BlockDesc { ulid: ulid(U2), min_time: -5, max_time: 0 }],
                failed: true,
                hints: vec!["from-out-of-order".into()],
            },
            version: 1,
        };
        let s = String::from_utf8(m.to_json()).unwrap();
        assert!(s.contains("\"stats\": {},"), "{s}");
        assert!(s.contains("\"deletable\": true,\n\t\t\"parents\": ["), "{s}");
        let back = BlockMeta::from_json(s.as_bytes(), Path::new("m")).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn reads_prometheus_meta_with_unknown_fields() {
        let s = format!(
            r#"{{"ulid":"{U1}","minTime":1,"maxTime":2,"stats":{{"numSamples":3}},"compaction":{{"level":1,"sources":["{U1}"]}},"version":1,"thanos":{{"x":1}}}}"#
        );
        let m = BlockMeta::from_json(s.as_bytes(), Path::new("m")).unwrap();
        assert_eq!(m.stats.num_samples, 3);
        assert_eq!(m.compaction.sources, [ulid(U1)]);
    }

    #[test]
    fn rejects_bad_meta() {
        for bad in [
            format!(r#"{{"ulid":"{U1}","minTime":1,"maxTime":2,"compaction":{{"level":1}},"version":2}}"#),
            r#"{"ulid":"nope","minTime":1,"maxTime":2,"compaction":{"level":1},"version":1}"#.to_string(),
            "{".to_string(),
            String::new(),
        ] {
            assert!(
                matches!(BlockMeta::from_json(bad.as_bytes(), Path::new("m")), Err(Error::Corruption { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn write_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let m = BlockMeta::new(ulid(U2), 10, 20);
        let n = write_meta(dir.path(), &m).unwrap();
        let (back, size) = read_meta(dir.path()).unwrap();
        assert_eq!(back, m);
        assert_eq!(n, size);
        assert!(!dir.path().join("meta.json.tmp").exists());
    }
}
