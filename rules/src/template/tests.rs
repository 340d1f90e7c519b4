//! Data-driven tests: each case is a template, the context it runs in, and what Prometheus
//! (Go 1.25's `text/template` with Prometheus's functions) gives for it: the output, the
//! parse error or the execution error. The expectations were produced by running the same
//! templates through Go and are kept byte for byte, error positions included. Positions count
//! the 112 bytes of [`PROMETHEUS_DEFS`] that Prometheus prepends, so `{{ x }}` starts at
//! column 115.
//!
//! Case tables live in `tests/` by area; this module has the helpers, the API tests, real rule
//! annotations, and the robustness tests (random input, deep nesting, recursion).

use super::*;

mod exec;
mod funcs;
mod humanize;
mod printf;
mod syntax;
mod time;

/// The data a case renders with (owned, so tables can vary one field).
pub(super) struct Ctx {
    pub(super) labels: LabelMap,
    pub(super) ext: LabelMap,
    pub(super) url: String,
    pub(super) value: f64,
    pub(super) samples: Vec<(LabelMap, f64)>,
    pub(super) query_err: Option<String>,
    pub(super) now_ms: i64,
}

pub(super) fn labels(pairs: &[(&str, &str)]) -> LabelMap {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The context of most cases: an alert on `up` with a two-sample `query` result.
pub(super) fn base() -> Ctx {
    Ctx {
        labels: labels(&[
            ("__name__", "up"),
            ("instance", "host1.example.com:9100"),
            ("job", "node"),
            ("path", "/a b?c=d&e"),
            ("severity", "critical"),
        ]),
        ext: labels(&[("cluster", "prod"), ("region", "eu-1")]),
        url: "http://prom.example.com:9090/path/prefix".into(),
        value: 0.8734,
        samples: vec![
            (labels(&[("__name__", "up"), ("instance", "b:9"), ("job", "x")]), 21.0),
            (labels(&[("__name__", "up"), ("__value__", "sv"), ("instance", "a:9"), ("job", "x")]), 1.5),
        ],
        query_err: None,
        now_ms: 1_353_755_652_000,
    }
}

/// A second context with awkward label names and values, an escaped URL path and a NaN
/// sample.
pub(super) fn other() -> Ctx {
    Ctx {
        labels: labels(&[("a b", "c\td"), ("instance", "host1.example.com:9100"), ("job", "node"), ("é", "ü\u{1}")]),
        ext: labels(&[("cluster", "prod")]),
        url: "http://prom.example.com:9090/path%20x/prefix?x=1".into(),
        value: 0.8734,
        samples: vec![
            (labels(&[("__name__", "up"), ("instance", "b:9")]), 21.0),
            (labels(&[("instance", "a:9")]), f64::NAN),
        ],
        query_err: None,
        now_ms: 1_353_755_652_123,
    }
}

/// What a case expects.
#[derive(Debug, PartialEq)]
pub(super) enum Want {
    /// The rendered text.
    Ok(&'static str),
    /// A parse error after `template: t:`.
    Parse(&'static str),
    /// An execution error after `error executing template t: template: t:`.
    Exec(&'static str),
}

pub(super) const fn ok(s: &'static str) -> Want {
    Want::Ok(s)
}

pub(super) const fn parse_err(s: &'static str) -> Want {
    Want::Parse(s)
}

pub(super) const fn exec_err(s: &'static str) -> Want {
    Want::Exec(s)
}

impl Ctx {
    pub(super) fn run(&self, text: &str) -> Result<String, TemplateError> {
        let q = |_: &str| match &self.query_err {
            Some(e) => Err(e.clone()),
            None => Ok(self.samples.clone()),
        };
        let ctx = TemplateContext {
            labels: &self.labels,
            value: self.value,
            external_labels: &self.ext,
            external_url: &self.url,
            query: Some(&q),
        };
        Template::parse("t", text)?.render_at(&ctx, self.now_ms)
    }
}

/// Runs every case and reports all that differ.
pub(super) fn check(ctx: &Ctx, cases: &[(&str, Want)]) {
    let mut failures = vec![];
    for (text, want) in cases {
        let got = match Template::parse("t", text) {
            Err(e) => match e.0.strip_prefix("template: t:") {
                Some(rest) => Want::Parse(leak(rest)),
                None => Want::Parse(leak(&format!("(unprefixed) {}", e.0))),
            },
            Ok(_) => match ctx.run(text) {
                Ok(s) => Want::Ok(leak(&s)),
                Err(e) => match e.0.strip_prefix("error executing template t: template: t:") {
                    Some(rest) => Want::Exec(leak(rest)),
                    None => Want::Exec(leak(&format!("(unprefixed) {}", e.0))),
                },
            },
        };
        if got != *want {
            failures.push(format!("{text:?}\n  want {want:?}\n   got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

#[test]
fn readme_example() {
    let labels = labels(&[("instance", "a:9")]);
    let ext = LabelMap::new();
    let ctx =
        TemplateContext { labels: &labels, value: 1234567.0, external_labels: &ext, external_url: "", query: None };
    let t = Template::parse("__alert_HighLoad", "{{ $labels.instance }} is at {{ $value | humanize }}").unwrap();
    assert_eq!(t.name(), "__alert_HighLoad");
    assert_eq!(t.render(&ctx).unwrap(), "a:9 is at 1.235M");
    // Rendering again reuses the parse.
    assert_eq!(t.render_at(&ctx, 0).unwrap(), "a:9 is at 1.235M");
}

#[test]
fn errors_are_worded_as_prometheus_reports_them() {
    // The rule loader shows parse errors after `annotation "summary": `.
    let e = Template::parse("__alert_HighCPU", "{{ humanize $value }").unwrap_err();
    assert_eq!(e.to_string(), r#"template: __alert_HighCPU:1: unexpected "}" in operand"#);
    // The alerting rule shows render errors as `<error expanding template: {e}>`.
    let labels = LabelMap::new();
    let ctx = TemplateContext { labels: &labels, value: 1.0, external_labels: &labels, external_url: "", query: None };
    let e = Template::parse("__alert_HighCPU", r#"{{ humanize "x" }}"#).unwrap().render(&ctx).unwrap_err();
    expect_test::expect![[r#"error executing template __alert_HighCPU: template: __alert_HighCPU:1:115: executing "__alert_HighCPU" at <humanize "x">: error calling humanize: strconv.ParseFloat: parsing "x": invalid syntax"#]]
    .assert_eq(&e.0);
    // Without a query function, `query` fails as a nil function would in Go.
    let e = Template::parse("__alert_X", r#"{{ query "up" }}"#).unwrap().render(&ctx).unwrap_err();
    assert!(
        e.0.ends_with("error calling query: runtime error: invalid memory address or nil pointer dereference"),
        "{e}"
    );
    // Lines count from the template's start; columns are 0-based bytes, as in Go.
    let e = Template::parse("__alert_X", "a\nb {{ index nil 1 }}").unwrap().render(&ctx).unwrap_err();
    assert!(e.0.contains("__alert_X:2:5: executing"), "{e}");
}

#[test]
fn templates_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Template>();
}

/// Annotations as real rule files write them.
#[test]
fn real_rule_annotations() {
    check(
        &base(),
        &[
            (
                "{{ $labels.instance }} CPU at {{ $value | humanizePercentage }}",
                ok("host1.example.com:9100 CPU at 87.34%"),
            ),
            (r#"{{ printf "%.2f" $value }}"#, ok("0.87")),
            (r#"{{ with query "up" }}{{ . | first | value | humanize }}{{ end }}"#, ok("21")),
            (r#"{{ range query "up" }}{{ .Labels.instance }} {{ end }}"#, ok("b:9 a:9 ")),
            ("{{ $externalLabels.cluster }}", ok("prod")),
            (
                "Instance {{ $labels.instance }} of job {{ $labels.job }} has been down for more than 5 minutes.",
                ok("Instance host1.example.com:9100 of job node has been down for more than 5 minutes."),
            ),
            (
                r#"{{ printf "%.1f" $value }}% of {{ $labels.instance | stripPort }} used"#,
                ok("0.9% of host1.example.com used"),
            ),
            ("{{ $value | humanize1024 }}B", ok("0.8734B")),
            ("{{ 1234567 | humanize1024 }}B", ok("1.177MiB")),
            (r#"{{ if gt $value 0.8 }}high{{ else }}ok{{ end }}"#, ok("high")),
            (
                r#"{{ if gt $value 0 }}x{{ end }}"#,
                exec_err(
                    r#"1:118: executing "t" at <gt $value 0>: error calling gt: incompatible types for comparison"#,
                ),
            ),
            (
                r#"{{ range $i, $s := query "up" | sortByLabel "instance" }}{{ if $i }}, {{ end }}{{ $s.Labels.instance }}={{ $s.Value }}{{ end }}"#,
                ok("a:9=1.5, b:9=21"),
            ),
            (
                "{{ $externalURL }}/graph?g0.expr={{ urlquery \"up == 0\" }}",
                ok("http://prom.example.com:9090/path/prefix/graph?g0.expr=up+%3D%3D+0"),
            ),
            ("{{ humanizeDuration 3661 }} {{ humanizeDuration 0.5 }}", ok("1h 1m 1s 500ms")),
            ("{{ 0.1234 | humanizePercentage }} {{ humanize 0.001234 }}", ok("12.34% 1.234m")),
            ("{{ humanizeTimestamp 1435065584.128 }}", ok("2015-06-23 13:19:44.128 +0000 UTC")),
            (r#"{{- /* summary */ -}}  {{ $labels.job }} is {{ "down" }}  "#, ok("node is down  ")),
        ],
    );
}

#[test]
fn multi_line_annotation() {
    let text = r#"{{ $labels.job }} on {{ $labels.instance }}:
{{- range query "up" }}
  - {{ .Labels.instance }}: {{ .Value | humanize }}
{{- end }}
Value: {{ $value }}, labels: {{ $labels }}"#;
    let got = base().run(text).unwrap();
    expect_test::expect![[r#"
        node on host1.example.com:9100:
          - b:9: 21
          - a:9: 1.5
        Value: 0.8734, labels: map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical]"#]]
    .assert_eq(&got);
}

#[test]
fn missing_labels_render_empty() {
    check(
        &Ctx { labels: LabelMap::new(), ext: LabelMap::new(), ..base() },
        &[
            ("[{{ $labels.instance }}][{{ .Labels.instance }}][{{ index $labels \"x\" }}]", ok("[][][]")),
            ("{{ $labels }} {{ $externalLabels }} {{ len $labels }}", ok("map[] map[] 0")),
            ("{{ range $labels }}x{{ else }}none{{ end }}", ok("none")),
        ],
    );
}

#[test]
fn now_is_the_evaluation_time() {
    check(
        &base(),
        &[
            ("{{ now }}", ok("1.353755652e+09")),
            (r#"{{ (now | toTime).Format "Mon Jan 2 15:04:05 2006" }}"#, ok("Sat Nov 24 11:14:12 2012")),
            (r#"{{ ("-30m" | parseDuration | toDuration | (now | toTime).Add).UnixMilli }}"#, ok("1353753852000")),
        ],
    );
}

/// A small deterministic generator for the robustness tests.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    "(",
    ")",
    "|",
    "$x",
    "$y",
    ":=",
    "=",
    ",",
    ".Labels",
    ".Value",
    "$labels",
    "$value",
    ".instance",
    ".job",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "\"a\"",
    "`b`",
    "'c'",
    "1",
    "1.5",
    "-2",
    "0x1",
    "3",
    "1e3",
    "nil",
    "true",
    "printf",
    "\"%d %s %v %.2f %x\"",
    "humanize",
    "humanizeDuration",
    "humanizeTimestamp",
    "index",
    "len",
    "slice",
    "eq",
    "lt",
    "and",
    "or",
    "not",
    "query",
    "first",
    "value",
    "label",
    "args",
    "toTime",
    "toDuration",
    "reReplaceAll",
    "\"(a)\"",
    "\"$1\"",
    "title",
    "sortByLabel",
    "print",
    "html",
    "js",
    "/*",
    "*/",
    " ",
    "\n",
    "x",
    "é",
    "\"\\x41\"",
    "call",
    ".Format",
    ".Add",
    ".String",
    "$",
    ".",
    "\"x\"",
    "match",
    "stripPort",
    "parseDuration",
    "\"1h\"",
    "now",
    "externalURL",
    "{{/*",
    "*/}}",
];

fn render_anything(text: &str) {
    let labels = labels(&[("instance", "a:1"), ("job", "j")]);
    let sample = labels.clone();
    let q = |_: &str| Ok(vec![(sample.clone(), 2.0), (LabelMap::new(), 0.5)]);
    let ctx = TemplateContext {
        labels: &labels,
        value: 0.25,
        external_labels: &labels,
        external_url: "http://x/y",
        query: Some(&q),
    };
    if let Ok(t) = Template::parse("fuzz", text) {
        let _ = t.render_at(&ctx, 1_000);
    }
}

#[test]
fn random_token_soup_never_panics() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let n = 1 + rng.below(30);
        let sep = if rng.below(2) == 0 { " " } else { "" };
        let text = (0..n).map(|_| TOKENS[rng.below(TOKENS.len())]).collect::<Vec<_>>().join(sep);
        render_anything(&text);
    }
}

#[test]
fn random_text_never_panics() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let alphabet: Vec<char> = "{}()|$.:=,-+ \t\n\"'`\\/*abcxyz019eEpPi_é€😀\u{a0}".chars().collect();
    for _ in 0..20_000 {
        let n = rng.below(40);
        let text: String = (0..n).map(|_| alphabet[rng.below(alphabet.len())]).collect();
        render_anything(&text);
        render_anything(&format!("{{{{{text}}}}}"));
    }
}

/// Deep nesting and runaway recursion end in errors, not stack overflows, even on a thread
/// with tokio's default 2 MiB stack in an unoptimised build.
#[test]
fn deep_nesting_and_recursion_are_bounded() {
    let run = || {
        let ctx = base();
        let deep_parens = format!("{{{{ {}1{} }}}}", "(".repeat(99), ")".repeat(99));
        assert_eq!(ctx.run(&deep_parens).unwrap(), "1");
        let too_deep = format!("{{{{ {}1{} }}}}", "(".repeat(150), ")".repeat(150));
        assert_eq!(ctx.run(&too_deep).unwrap_err().0, "template: t:1: max expression depth exceeded");
        let deep_ifs = format!("{}x{}", "{{if 1}}".repeat(99), "{{end}}".repeat(99));
        assert_eq!(ctx.run(&deep_ifs).unwrap(), "x");
        let too_deep = format!("{}x{}", "{{if 1}}".repeat(150), "{{end}}".repeat(150));
        assert!(ctx.run(&too_deep).is_err());
        let recursive = r#"{{define "x"}}{{template "x" .}}{{end}}{{template "x" .}}"#;
        let e = ctx.run(recursive).unwrap_err().0;
        assert!(e.ends_with("exceeded maximum template depth (100000)"), "{e}");
        let recursive_deep = format!(
            r#"{{{{define "x"}}}}{{{{print {}1{} }}}}{{{{template "x"}}}}{{{{end}}}}{{{{template "x"}}}}"#,
            "(print ".repeat(99),
            ")".repeat(99)
        );
        assert!(ctx.run(&recursive_deep).unwrap_err().0.ends_with("exceeded maximum template depth (100000)"));
        let nested = format!(
            r#"{{{{define "x"}}}}{}{{{{template "x"}}}}{}{{{{end}}}}{{{{template "x"}}}}"#,
            "{{if 1}}".repeat(99),
            "{{end}}".repeat(99)
        );
        assert!(ctx.run(&nested).is_err());
    };
    std::thread::Builder::new().stack_size(2 << 20).spawn(run).unwrap().join().unwrap();
}

#[test]
fn node_strings_match_go() {
    // Execution errors quote the failing node as Go's `Node.String` prints it.
    check(
        &base(),
        &[
            (
                r#"{{ (len (print "a" 1.5 `r` 'c' nil true . $ $labels.x .Labels.y)) | printf "%d" | index "x" }}"#,
                exec_err(
                    r#"1:194: executing "t" at <index "x">: error calling index: cannot index slice/array with type string"#,
                ),
            ),
            (
                r#"{{ range $i, $e := . }}{{ $i }}{{ else }}x{{ end }}"#,
                exec_err(
                    r#"1:131: executing "t" at <.>: range can't iterate over {map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical] map[cluster:prod region:eu-1] http://prom.example.com:9090/path/prefix 0.8734}"#,
                ),
            ),
        ],
    );
}
