//! [`postings_for_matchers`]: which series ids satisfy a set of label matchers.
//!
//! Semantics are Prometheus's (`tsdb/querier.go` `PostingsForMatchers`). An absent label has the
//! value `""`, so a matcher either requires its label to be set or not:
//! - a matcher that does **not** match `""` (`a="x"`, `a=~"x|y"`, `a!=""`, `a=~".+"`) selects the
//!   series whose label is set to a matching value; these sets are intersected;
//! - a matcher that **does** match `""` (`a!="x"`, `a=""`, `a!~"x"`, `a=~"x|"`) selects the series
//!   lacking the label plus those whose value matches; it is applied by subtracting the series
//!   whose label is set to a value it does *not* match;
//! - if no matcher intersects, the subtraction starts from all postings.
//!
//! Lookups are direct for `=` and for regexes that are a set of literals
//! ([`Matcher::set_matches`]); other regexes scan the label's values. As in Prometheus, a single
//! matcher with an empty name and empty value selects all series, and an empty matcher list
//! selects nothing (callers wanting "everything" use [`IndexReader::all_postings`]).

use roaring::RoaringBitmap;

use crate::error::Result;
use crate::matcher::{MatchType, Matcher};
use crate::reader::IndexReader;

/// The ids of the series of `ix` matching all `matchers`.
pub fn postings_for_matchers(ix: &dyn IndexReader, matchers: &[Matcher]) -> Result<RoaringBitmap> {
    if let [m] = matchers
        && m.name.is_empty()
        && m.value.is_empty()
    {
        return ix.all_postings();
    }
    if matchers.is_empty() {
        return Ok(RoaringBitmap::new());
    }
    let mut intersect: Vec<RoaringBitmap> = Vec::new();
    let mut subtract: Vec<&Matcher> = Vec::new();
    for m in matchers {
        if m.matches_empty() {
            subtract.push(m);
            continue;
        }
        let p = matching_postings(ix, m)?;
        if p.is_empty() {
            return Ok(p);
        }
        intersect.push(p);
    }
    // Smallest first keeps the running intersection small.
    intersect.sort_by_key(|p| p.len());
    let mut it = intersect.into_iter();
    let mut result = match it.next() {
        Some(first) => first,
        None => ix.all_postings()?,
    };
    for p in it {
        result &= p;
        if result.is_empty() {
            return Ok(result);
        }
    }
    for m in subtract {
        if result.is_empty() {
            break;
        }
        result -= inverse_postings(ix, m)?;
    }
    Ok(result)
}

/// Series whose label `m.name` is set to a value `m` matches.
fn matching_postings(ix: &dyn IndexReader, m: &Matcher) -> Result<RoaringBitmap> {
    match m.kind {
        MatchType::Equal => postings_of(ix, &m.name, [m.value.as_str()]),
        MatchType::Regex if m.set_matches().is_some() => {
            postings_of(ix, &m.name, m.set_matches().unwrap_or_default().iter().map(String::as_str))
        }
        _ => scan(ix, m, true),
    }
}

/// Series whose label `m.name` is set to a value `m` does not match.
fn inverse_postings(ix: &dyn IndexReader, m: &Matcher) -> Result<RoaringBitmap> {
    let inv = m.inverse();
    match m.kind {
        MatchType::NotEqual => postings_of(ix, &m.name, [m.value.as_str()]),
        MatchType::NotRegex if inv.set_matches().is_some() => {
            postings_of(ix, &m.name, inv.set_matches().unwrap_or_default().iter().map(String::as_str))
        }
        MatchType::Equal | MatchType::Regex if m.value.is_empty() => {
            // Only "" matches: every set value is a non-match.
            let mut out = RoaringBitmap::new();
            for v in ix.label_values(&m.name)? {
                out |= ix.postings(&m.name, &v)?;
            }
            Ok(out)
        }
        _ => scan(ix, m, false),
    }
}

/// The union of the postings of `name` for `values`; an empty value names no postings list
/// (a label is never set to "").
fn postings_of<'a>(
    ix: &dyn IndexReader,
    name: &str,
    values: impl IntoIterator<Item = &'a str>,
) -> Result<RoaringBitmap> {
    let mut out = RoaringBitmap::new();
    for v in values {
        if !v.is_empty() {
            out |= ix.postings(name, v)?;
        }
    }
    Ok(out)
}

/// The union of the postings of the values of `m.name` for which `m.matches(v) == want`.
fn scan(ix: &dyn IndexReader, m: &Matcher, want: bool) -> Result<RoaringBitmap> {
    let mut out = RoaringBitmap::new();
    for v in ix.label_values(&m.name)? {
        if m.matches(&v) == want {
            out |= ix.postings(&m.name, &v)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::labels::Labels;
    use crate::matcher::matches_all;
    use crate::reader::ChunkMeta;

    /// A tiny in-memory index over a list of label sets (id = position).
    struct MemIndex {
        series: Vec<Labels>,
        postings: BTreeMap<(String, String), RoaringBitmap>,
    }

    impl MemIndex {
        fn new(series: Vec<Labels>) -> Self {
            let mut postings: BTreeMap<(String, String), RoaringBitmap> = BTreeMap::new();
            for (i, s) in series.iter().enumerate() {
                for l in s.iter() {
                    postings.entry((l.name.to_string(), l.value.to_string())).or_default().insert(i as u32);
                }
            }
            MemIndex { series, postings }
        }
    }

    impl IndexReader for MemIndex {
        fn symbols(&self) -> Result<Vec<String>> {
            Ok(Vec::new())
        }
        fn postings(&self, name: &str, value: &str) -> Result<RoaringBitmap> {
            Ok(self.postings.get(&(name.to_owned(), value.to_owned())).cloned().unwrap_or_default())
        }
        fn all_postings(&self) -> Result<RoaringBitmap> {
            Ok((0..self.series.len() as u32).collect())
        }
        fn label_names(&self) -> Result<Vec<String>> {
            let mut v: Vec<String> = self.postings.keys().map(|k| k.0.clone()).collect();
            v.dedup();
            Ok(v)
        }
        fn label_values(&self, name: &str) -> Result<Vec<String>> {
            Ok(self.postings.keys().filter(|k| k.0 == name).map(|k| k.1.clone()).collect())
        }
        fn series(&self, id: u32, chunks: &mut Vec<ChunkMeta>) -> Result<Labels> {
            chunks.clear();
            Ok(self.series[id as usize].clone())
        }
        fn sorted_ids(&self, ids: &RoaringBitmap) -> Result<Vec<u32>> {
            Ok(ids.iter().collect())
        }
    }

    fn fixture() -> MemIndex {
        // ids:                0            1            2             3             4
        let series = [
            ("up", "a", "1", ""),
            ("up", "b", "", "x"),
            ("up", "a", "2", "y"),
            ("http", "a", "1", ""),
            ("http", "b\nc", "", ""),
        ];
        MemIndex::new(
            series
                .iter()
                .map(|(n, job, i, extra)| {
                    Labels::from_pairs([("__name__", *n), ("job", *job), ("i", *i), ("extra", *extra)])
                })
                .collect(),
        )
    }

    /// Parses `name<op>value` matchers separated by `,` (no commas inside values).
    fn parse(s: &str) -> Vec<Matcher> {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                for (op, kind) in [
                    ("!~", MatchType::NotRegex),
                    ("=~", MatchType::Regex),
                    ("!=", MatchType::NotEqual),
                    ("=", MatchType::Equal),
                ] {
                    if let Some((n, v)) = p.split_once(op) {
                        return Matcher::new(kind, n, v).unwrap();
                    }
                }
                panic!("bad matcher {p}")
            })
            .collect()
    }

    fn check(matchers: &str, expected: &[u32]) {
        let ix = fixture();
        let ms = parse(matchers);
        let got: Vec<u32> = postings_for_matchers(&ix, &ms).unwrap().iter().collect();
        assert_eq!(got, expected, "{matchers}");
        // The oracle: brute force over all series (except the special cases).
        let all_key = ms.len() == 1 && ms[0].name.is_empty() && ms[0].value.is_empty();
        if !ms.is_empty() && !all_key {
            let brute: Vec<u32> =
                (0..ix.series.len() as u32).filter(|&i| matches_all(&ms, &ix.series[i as usize])).collect();
            assert_eq!(got, brute, "{matchers} vs brute force");
        }
    }

    #[test]
    fn table() {
        check("", &[]);
        check("=", &[0, 1, 2, 3, 4]);
        check("__name__=up", &[0, 1, 2]);
        check("__name__=nope", &[]);
        check("__name__=up,job=a", &[0, 2]);
        check("__name__=up,job=a,i=2", &[2]);
        check("__name__!=up", &[3, 4]);
        check("job!=a", &[1, 4]);
        check("nope!=x", &[0, 1, 2, 3, 4]);
        check("nope=", &[0, 1, 2, 3, 4]);
        check("nope!=", &[]);
        check("i=", &[1, 4]);
        check("i!=", &[0, 2, 3]);
        check("i=,__name__=up", &[1]);
        check("i!=1", &[1, 2, 4]);
        check("i!=1,i!=", &[2]);
        check("extra=~.*", &[0, 1, 2, 3, 4]);
        check("extra=~.+", &[1, 2]);
        check("extra!~.+", &[0, 3, 4]);
        check("extra!~.*", &[]);
        check("extra=~x|y", &[1, 2]);
        check("extra=~x|", &[0, 1, 3, 4]);
        check("extra!~x|y", &[0, 3, 4]);
        check("extra!~x|", &[2]);
        check("extra=~", &[0, 3, 4]);
        check("extra!~", &[1, 2]);
        check("job=~a|b", &[0, 1, 2, 3]);
        check("job=~b.c", &[4]);
        check("job=~b", &[1]);
        check("job=~.*c", &[4]);
        check("job!~b.*", &[0, 2, 3]);
        check("__name__=~up|http,job!~a", &[1, 4]);
        check("__name__=~u.*,i!~1|", &[2]);
        check("__name__!=up,__name__!=http", &[]);
        check("i=~1,i=~2", &[]);
        check("i=~.+,i!=1", &[2]);
        check("=~x|", &[0, 1, 2, 3, 4]);
        check("!~.+", &[0, 1, 2, 3, 4]);
        check("=x", &[]);
    }

    #[test]
    fn random_matchers_agree_with_brute_force() {
        use rand::{Rng, SeedableRng};
        let ix = fixture();
        let names = ["__name__", "job", "i", "extra", "nope", ""];
        let values = ["", "up", "a", "1", "x", ".*", ".+", "a|b", "x|", "u.", "b.c", "2|y"];
        let kinds = [MatchType::Equal, MatchType::NotEqual, MatchType::Regex, MatchType::NotRegex];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..3000 {
            let n = rng.random_range(1..4);
            let ms: Vec<Matcher> = (0..n)
                .map(|_| {
                    let kind = kinds[rng.random_range(0..kinds.len())];
                    let name = names[rng.random_range(0..names.len())];
                    let value = values[rng.random_range(0..values.len())];
                    Matcher::new(kind, name, value).unwrap()
                })
                .collect();
            if ms.len() == 1 && ms[0].name.is_empty() && ms[0].value.is_empty() {
                continue;
            }
            let got: Vec<u32> = postings_for_matchers(&ix, &ms).unwrap().iter().collect();
            let brute: Vec<u32> =
                (0..ix.series.len() as u32).filter(|&i| matches_all(&ms, &ix.series[i as usize])).collect();
            assert_eq!(got, brute, "{ms:?}");
        }
    }
}
