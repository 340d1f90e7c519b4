//! Remote-write wire formats: the generated protobuf types, content negotiation, snappy, and
//! the label checks shared by both protocol versions.
//!
//! 1.0 requests are decoded by [`wire`], a zero-copy decoder that hands each series to the
//! write handler with its labels as slices of the request buffer (prost would allocate every
//! label name and value); 2.0 requests, whose strings are already de-duplicated in a symbol
//! table, are decoded with prost. Either way [`normalize_labels`] validates and sorts a series'
//! labels without allocating. Per-series problems (invalid UTF-8, duplicate names, bad symbol
//! references) are not fatal: the series is reported as rejected and the rest of the request is
//! stored, as the remote-write spec asks. The prost 1.0 types remain for clients and tests.

pub mod wire;

use prost::Message;

/// Remote-write 1.0 types (`prometheus.WriteRequest`).
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
}

/// Remote-write 2.0 types (`io.prometheus.write.v2.Request`).
pub mod v2 {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/io.prometheus.write.v2.rs"));
}

/// Which remote-write message the body holds (from the Content-Type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    V1,
    V2,
}

/// Why a Content-Type cannot be served (HTTP 415).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported content type {}; expected application/x-protobuf with proto=prometheus.WriteRequest or proto=io.prometheus.write.v2.Request",
    storage::labels::go_quote(.0)
)]
pub struct UnsupportedContentType(pub String);

/// Negotiates the protocol from a Content-Type header value, per the 2.0 spec: a missing header
/// or a bare `application/x-protobuf` means 1.0.
pub fn negotiate(content_type: Option<&str>) -> Result<Protocol, UnsupportedContentType> {
    let Some(ct) = content_type else { return Ok(Protocol::V1) };
    let mut parts = ct.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(UnsupportedContentType(ct.to_string()));
    }
    for p in parts {
        if let Some((k, v)) = p.split_once('=')
            && k.trim().eq_ignore_ascii_case("proto")
        {
            return match v.trim().trim_matches('"') {
                "prometheus.WriteRequest" => Ok(Protocol::V1),
                "io.prometheus.write.v2.Request" => Ok(Protocol::V2),
                _ => Err(UnsupportedContentType(ct.to_string())),
            };
        }
    }
    Ok(Protocol::V1)
}

/// A request body that could not be read at all (HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("snappy decompression failed: {0}")]
    Snappy(#[from] snap::Error),
    #[error("decompressed body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("protobuf decoding failed: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("protobuf decoding failed: {0}")]
    Wire(#[from] wire::WireError),
}

/// Decompresses a snappy block-format body into `buf` (reused across requests), refusing
/// bodies whose declared size is over `limit`.
pub fn decompress_into(body: &[u8], buf: &mut Vec<u8>, limit: usize) -> Result<(), DecodeError> {
    let size = snap::raw::decompress_len(body)?;
    if size > limit {
        return Err(DecodeError::TooLarge { size, limit });
    }
    buf.clear();
    buf.resize(size, 0);
    let n = snap::raw::Decoder::new().decompress(body, buf)?;
    buf.truncate(n);
    Ok(())
}

/// Decodes a decompressed body.
pub enum Decoded {
    V1(v1::WriteRequest),
    V2(v2::Request),
}

pub fn decode(proto: Protocol, bytes: &[u8]) -> Result<Decoded, DecodeError> {
    Ok(match proto {
        Protocol::V1 => Decoded::V1(v1::WriteRequest::decode(bytes)?),
        Protocol::V2 => Decoded::V2(v2::Request::decode(bytes)?),
    })
}

/// Why a series of a request was rejected before reaching storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    #[error("label {0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    #[error("duplicate label name {}", storage::labels::go_quote(.0))]
    DuplicateLabel(String),
    #[error("empty label name")]
    EmptyName,
    #[error("label name {name} longer than {max} bytes", name = storage::labels::go_quote(.0), max = .1)]
    NameTooLong(String, usize),
    #[error("value of label {name} longer than {max} bytes", name = storage::labels::go_quote(.0), max = .1)]
    ValueTooLong(String, usize),
    #[error("{0} labels, more than the limit of {1}")]
    TooManyLabels(usize, usize),
    #[error("symbol reference {0} out of range ({1} symbols)")]
    BadSymbolRef(u32, usize),
    #[error("odd number of label references")]
    OddLabelRefs,
    #[error("series has no metric name (__name__ label)")]
    NoMetricName,
}

impl SeriesError {
    /// The reason bucket the 400 body counts by.
    pub fn reason(&self) -> &'static str {
        match self {
            SeriesError::BadSymbolRef(..) | SeriesError::OddLabelRefs => "malformed",
            _ => "invalid_labels",
        }
    }
}

/// Limits applied to each series' labels.
#[derive(Clone, Debug)]
pub struct LabelRules {
    pub max_name_len: usize,
    pub max_value_len: usize,
    pub max_labels: usize,
}

/// Collects `(name, value)` pairs, validates and sorts them into `out` (cleared first).
/// Pairs with an empty value are dropped (an empty value means "absent").
///
/// The rules are Prometheus 3's remote-write receiver's (`model.UTF8Validation`): names and
/// values must be valid UTF-8, names non-empty and unique, and the series must have a
/// non-empty `__name__`. Names outside `[a-zA-Z_][a-zA-Z0-9_]*` are allowed (PromQL selects
/// them with quoted names: `{"my.metric", "host.name"="a"}`); names starting with `__` are
/// not refused either. On top of that tickdb applies its configured length limits.
pub fn normalize_labels<'a>(
    pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    rules: &LabelRules,
    out: &mut Vec<(&'a str, &'a str)>,
) -> Result<(), SeriesError> {
    out.clear();
    for (n, v) in pairs {
        let n = std::str::from_utf8(n).map_err(|_| SeriesError::InvalidUtf8("name"))?;
        let v = std::str::from_utf8(v).map_err(|_| SeriesError::InvalidUtf8("value"))?;
        if n.is_empty() {
            return Err(SeriesError::EmptyName);
        }
        if n.len() > rules.max_name_len {
            return Err(SeriesError::NameTooLong(n.chars().take(64).collect(), rules.max_name_len));
        }
        if v.len() > rules.max_value_len {
            return Err(SeriesError::ValueTooLong(n.to_string(), rules.max_value_len));
        }
        if !v.is_empty() {
            out.push((n, v));
        }
    }
    if !out.iter().any(|(n, _)| *n == storage::METRIC_NAME) {
        return Err(SeriesError::NoMetricName);
    }
    if out.len() > rules.max_labels {
        return Err(SeriesError::TooManyLabels(out.len(), rules.max_labels));
    }
    if !out.windows(2).all(|w| w[0].0 < w[1].0) {
        out.sort_by(|a, b| a.0.cmp(b.0));
        if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(SeriesError::DuplicateLabel(w[0].0.to_string()));
        }
    }
    Ok(())
}

/// Prometheus 3's label-name rule under UTF-8 validation (its default): any non-empty string
/// (a `&str` is valid UTF-8 already).
pub fn valid_label_name(n: &str) -> bool {
    !n.is_empty()
}

/// Prometheus 2's legacy label-name rule, `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_legacy_label_name(n: &str) -> bool {
    let mut b = n.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Undoes Prometheus's "values" escaping of a name (`model.UnescapeName` with
/// `ValueEncodingEscaping`), used in URL paths such as `/api/v1/label/U__http_2e_method/values`:
/// after the `U__` prefix, `__` is `_` and `_<hex>_` is the code point `<hex>`. A name without
/// the prefix, or not validly escaped, is returned unchanged.
pub fn unescape_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("U__") else { return name.to_string() };
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            if !(c.is_ascii_alphanumeric()) {
                return name.to_string();
            }
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next() {
                Some('_') => break,
                Some(h) if h.is_ascii_hexdigit() && hex.len() < 8 => hex.push(h),
                _ => return name.to_string(),
            }
        }
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(c) => out.push(c),
            None => return name.to_string(),
        }
    }
    out
}

/// Resolves a v2 reference into the symbol table.
pub fn symbol(symbols: &[Vec<u8>], r: u32) -> Result<&[u8], SeriesError> {
    symbols.get(r as usize).map(Vec::as_slice).ok_or(SeriesError::BadSymbolRef(r, symbols.len()))
}

/// The `(name, value)` byte pairs of a v2 series.
pub fn v2_label_pairs<'a>(
    symbols: &'a [Vec<u8>],
    refs: &[u32],
    out: &mut Vec<(&'a [u8], &'a [u8])>,
) -> Result<(), SeriesError> {
    out.clear();
    if !refs.len().is_multiple_of(2) {
        return Err(SeriesError::OddLabelRefs);
    }
    for p in refs.chunks_exact(2) {
        out.push((symbol(symbols, p[0])?, symbol(symbols, p[1])?));
    }
    Ok(())
}

/// Lower-case metric type name as the metadata API reports it.
pub fn v1_metric_type(t: i32) -> &'static str {
    use v1::metric_metadata::MetricType as T;
    match T::try_from(t).unwrap_or(T::Unknown) {
        T::Unknown => "unknown",
        T::Counter => "counter",
        T::Gauge => "gauge",
        T::Histogram => "histogram",
        T::Gaugehistogram => "gaugehistogram",
        T::Summary => "summary",
        T::Info => "info",
        T::Stateset => "stateset",
    }
}

/// Lower-case metric type name of a v2 metadata type.
pub fn v2_metric_type(t: i32) -> &'static str {
    use v2::metadata::MetricType as T;
    match T::try_from(t).unwrap_or(T::Unspecified) {
        T::Unspecified => "unknown",
        T::Counter => "counter",
        T::Gauge => "gauge",
        T::Histogram => "histogram",
        T::Gaugehistogram => "gaugehistogram",
        T::Summary => "summary",
        T::Info => "info",
        T::Stateset => "stateset",
    }
}

/// Encodes and snappy-compresses a message (used by clients and tests).
pub fn encode_compressed(msg: &impl Message) -> Vec<u8> {
    let raw = msg.encode_to_vec();
    // Compression of an in-memory buffer only fails for inputs over ~4 GiB.
    snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> LabelRules {
        LabelRules { max_name_len: 16, max_value_len: 16, max_labels: 4 }
    }

    fn check(pairs: &[(&[u8], &[u8])], expected: Result<Vec<(&str, &str)>, SeriesError>) {
        let mut out = Vec::new();
        let got = normalize_labels(pairs.iter().copied(), &rules(), &mut out).map(|_| out.clone());
        assert_eq!(got, expected, "{pairs:?}");
    }

    #[test]
    fn normalizes_labels() {
        const N: &[u8] = b"__name__";
        check(&[(b"b", b"2"), (N, b"m"), (b"a", b"1")], Ok(vec![("__name__", "m"), ("a", "1"), ("b", "2")]));
        check(&[(N, b"m"), (b"a", b"1"), (b"e", b"")], Ok(vec![("__name__", "m"), ("a", "1")]));
        check(&[(N, b"m"), (b"a", b"1"), (b"a", b"2")], Err(SeriesError::DuplicateLabel("a".into())));
        check(&[(N, b"m"), (b"a", b"\xff")], Err(SeriesError::InvalidUtf8("value")));
        check(&[(N, b"m"), (b"\xfe", b"x")], Err(SeriesError::InvalidUtf8("name")));
        check(&[(N, b"m"), (b"", b"x")], Err(SeriesError::EmptyName));
        // UTF-8 names (Prometheus 3), including leading digits, dots, `__` prefixes.
        check(&[(N, b"m"), (b"1a", b"x")], Ok(vec![("1a", "x"), ("__name__", "m")]));
        check(
            &[(N, b"http.server"), ("h\u{f6}st.name".as_bytes(), b"x")],
            Ok(vec![("__name__", "http.server"), ("h\u{f6}st.name", "x")]),
        );
        check(&[(N, b"m"), (b"__meta", b"x")], Ok(vec![("__meta", "x"), ("__name__", "m")]));
        // A metric name is required.
        check(&[(b"a", b"1")], Err(SeriesError::NoMetricName));
        check(&[(N, b""), (b"a", b"1")], Err(SeriesError::NoMetricName));
        check(&[(N, b"m"), (b"a", b"01234567890123456")], Err(SeriesError::ValueTooLong("a".into(), 16)));
        check(
            &[(N, b"m"), (b"abcdefghijklmnopq", b"x")],
            Err(SeriesError::NameTooLong("abcdefghijklmnopq".into(), 16)),
        );
        check(
            &[(N, b"1"), (b"b", b"1"), (b"c", b"1"), (b"d", b"1"), (b"e", b"1")],
            Err(SeriesError::TooManyLabels(5, 4)),
        );
    }

    #[test]
    fn unescapes_names() {
        let check = |escaped: &str, expected: &str| assert_eq!(unescape_name(escaped), expected, "{escaped}");
        check("job", "job");
        check("U__http_2e_method", "http.method");
        check("U__a__b", "a_b");
        check("U__h_f6_st", "h\u{f6}st");
        check("U__bad_zz_", "U__bad_zz_");
        check("U__open_2e", "U__open_2e");
        check("U__x_110000_", "U__x_110000_");
        assert!(is_legacy_label_name("_a1") && !is_legacy_label_name("1a") && !is_legacy_label_name("a.b"));
        assert!(valid_label_name("a.b") && !valid_label_name(""));
    }

    #[test]
    fn negotiates_content_type() {
        let ok = |ct: Option<&str>, p| assert_eq!(negotiate(ct), Ok(p), "{ct:?}");
        ok(None, Protocol::V1);
        ok(Some("application/x-protobuf"), Protocol::V1);
        ok(Some("application/x-protobuf;proto=prometheus.WriteRequest"), Protocol::V1);
        ok(Some("application/x-protobuf; proto=io.prometheus.write.v2.Request"), Protocol::V2);
        assert!(negotiate(Some("application/x-protobuf;proto=foo.Bar")).is_err());
        assert!(negotiate(Some("application/json")).is_err());
    }

    #[test]
    fn round_trips_and_rejects_bad_snappy() {
        let req = v1::WriteRequest {
            timeseries: vec![v1::TimeSeries {
                labels: vec![v1::Label { name: b"__name__".to_vec(), value: b"up".to_vec() }],
                samples: vec![v1::Sample { value: 1.0, timestamp: 1000 }],
                ..Default::default()
            }],
            metadata: vec![],
        };
        let body = encode_compressed(&req);
        let mut buf = Vec::new();
        decompress_into(&body, &mut buf, 1 << 20).unwrap();
        match decode(Protocol::V1, &buf).unwrap() {
            Decoded::V1(r) => assert_eq!(r, req),
            Decoded::V2(_) => panic!("wrong protocol"),
        }
        assert!(matches!(decompress_into(b"\x0a\xff\xff", &mut buf, 1 << 20), Err(DecodeError::Snappy(_))));
        assert!(matches!(decompress_into(&body, &mut buf, 4), Err(DecodeError::TooLarge { .. })));
        assert!(matches!(decode(Protocol::V1, b"\x0a\xff"), Err(DecodeError::Protobuf(_))));
    }

    #[test]
    fn v2_symbol_refs() {
        let syms: Vec<Vec<u8>> = vec![b"".to_vec(), b"__name__".to_vec(), b"up".to_vec()];
        let mut out = Vec::new();
        v2_label_pairs(&syms, &[1, 2], &mut out).unwrap();
        assert_eq!(out, vec![(&b"__name__"[..], &b"up"[..])]);
        assert_eq!(v2_label_pairs(&syms, &[1], &mut out), Err(SeriesError::OddLabelRefs));
        assert_eq!(v2_label_pairs(&syms, &[1, 9], &mut out), Err(SeriesError::BadSymbolRef(9, 3)));
    }
}
