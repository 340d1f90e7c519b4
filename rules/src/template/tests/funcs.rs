//! Prometheus's template functions other than the numeric and time ones: `query`, `first`,
//! `label`, `value`, `args`, regular expressions, case mapping, links, host names.
//!
//! Expectations are Go's output for the same template and context.

use super::*;

#[test]
fn funcs_base() {
    check(
        &base(),
        &[
            ("{{ $externalURL }}", ok("http://prom.example.com:9090/path/prefix")),
            (r#"{{ index (query "x") 1 }}"#, ok("{map[__name__:up __value__:sv instance:a:9 job:x] 1.5}")),
            (
                r#"{{ index (query "x") 2 }}"#,
                exec_err(
                    r#"1:115: executing "t" at <index (query "x") 2>: error calling index: reflect: slice index out of range"#,
                ),
            ),
            (r#"{{ (index (query "x") 0).Labels.instance }}"#, ok("b:9")),
            (r#"{{ len (query "x") }}"#, ok("2")),
            (r#"{{ eq (safeHtml "a") "a" }}"#, ok("true")),
            (r#"{{ range query "x" }}{{ .Labels.instance }} {{ end }}"#, ok("b:9 a:9 ")),
            (
                r#"{{ range (query "x" | first) }}{{ end }}"#,
                exec_err(
                    r#"1:134: executing "t" at <first>: range can't iterate over {map[__name__:up instance:b:9 job:x] 21}"#,
                ),
            ),
            ("{{ range (args 1 2 3) }}{{ . }}{{ end }}", ok("123")),
            (r#"{{ range $k, $v := args 1 "b" }}{{ $k }}={{ $v }} {{ end }}"#, ok("arg0=1 arg1=b ")),
            (r#"{{ define "x" }}{{ .arg0 }} {{ .arg1 }}{{ end }}{{ template "x" (args 1 "2") }}"#, ok("1 2")),
            ("{{ (args).x }}", ok("<no value>")),
            (r#"{{ len (slice (query "x") 1 2 2) }}"#, ok("1")),
            (r#"{{ query "up" | first }}"#, ok("{map[__name__:up instance:b:9 job:x] 21}")),
            (r#"{{ query "up" | first | value }}"#, ok("21")),
            (r#"{{ query "up" | first | label "instance" }}"#, ok("b:9")),
            (r#"{{ query "up" | first | label "foo" }}"#, ok("")),
            (r#"{{ query "up" | first | strvalue }}"#, ok("")),
            (r#"{{ (query "up" | first).Labels.instance }}"#, ok("b:9")),
            (r#"{{ $x := query "metric" | first }}{{ $x.Labels.foo }}"#, ok("")),
            (
                r#"{{ range query "x" }}{{ .Labels }}{{ end }}"#,
                ok("map[__name__:up instance:b:9 job:x]map[__name__:up __value__:sv instance:a:9 job:x]"),
            ),
            (
                "{{ first }}",
                exec_err(r#"1:115: executing "t" at <first>: wrong number of args for first: want 1 got 0"#),
            ),
            (
                r#"{{ label "x" }}"#,
                exec_err(r#"1:115: executing "t" at <label>: wrong number of args for label: want 2 got 1"#),
            ),
            (
                r#"{{ label 1 (query "x" | first) }}"#,
                exec_err(r#"1:121: executing "t" at <1>: expected string; found 1"#),
            ),
            (
                r#"{{ label "x" nil }}"#,
                exec_err(
                    r#"1:115: executing "t" at <label "x" nil>: error calling label: runtime error: invalid memory address or nil pointer dereference"#,
                ),
            ),
            (
                "{{ value nil }}",
                exec_err(
                    r#"1:115: executing "t" at <value nil>: error calling value: runtime error: invalid memory address or nil pointer dereference"#,
                ),
            ),
            (
                r#"{{ (query "x" | first).Labels.instance.x }}"#,
                exec_err(r#"1:128: executing "t" at <first>: can't evaluate field x in type string"#),
            ),
            ("{{ args }}", ok("map[]")),
            (r#"{{ args 1 "2" 3.5 }}"#, ok("map[arg0:1 arg1:2 arg2:3.5]")),
            ("{{ (args 1 2).arg1 }}", ok("2")),
            ("{{ (args 1).arg5 }}", ok("<no value>")),
            (r#"{{ index (args 1) "arg0" }}"#, ok("1")),
            (r#"{{ index (args 1) "nope" }}"#, ok("<no value>")),
            (r#"{{ reReplaceAll "(a)b" "x$1" "ab" }}"#, ok("xa")),
            (r#"{{ reReplaceAll "(.*):.*" "$1" $labels.instance }}"#, ok("host1.example.com")),
            (r#"{{ reReplaceAll "(?P<h>[^.]+)\\..*" "${h}!" $labels.instance }}"#, ok("host1!")),
            (r#"{{ reReplaceAll "a" "$$" "aa" }}"#, ok("$$")),
            (r#"{{ reReplaceAll "a" "$1x" "aa" }}"#, ok("")),
            (
                r#"{{ reReplaceAll "(" "" "a" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "(" "" "a">: error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`"#,
                ),
            ),
            (r#"{{ reReplaceAll "\\d+" "N" "a12b٣" }}"#, ok("aNb٣")),
            (r#"{{ reReplaceAll "\\w+" "W" "héllo wörld" }}"#, ok("WéW WöW")),
            (r#"{{ reReplaceAll "[a[]" "X" "a[b" }}"#, ok("XXb")),
            (r#"{{ reReplaceAll "a{" "X" "a{b" }}"#, ok("Xb")),
            (r#"{{ reReplaceAll "a{2}" "X" "aaa" }}"#, ok("Xa")),
            (r#"{{ reReplaceAll "\\s" "_" "a b\tc" }}"#, ok("a_b_c")),
            (r#"{{ reReplaceAll "x*" "-" "abc" }}"#, ok("-a-b-c-")),
            (
                r#"{{ reReplaceAll ")" "" "a" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll ")" "" "a">: error calling reReplaceAll: regexp: Compile(`)`): error parsing regexp: unexpected ): `)`"#,
                ),
            ),
            (
                r#"{{ reReplaceAll "[a" "" "a" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "[a" "" "a">: error calling reReplaceAll: regexp: Compile(`[a`): error parsing regexp: missing closing ]: `[a`"#,
                ),
            ),
            (
                r#"{{ reReplaceAll "*" "" "a" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "*" "" "a">: error calling reReplaceAll: regexp: Compile(`*`): error parsing regexp: missing argument to repetition operator: `*`"#,
                ),
            ),
            (
                r#"{{ reReplaceAll "a**" "" "a" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "a**" "" "a">: error calling reReplaceAll: regexp: Compile(`a**`): error parsing regexp: invalid nested repetition operator: `**`"#,
                ),
            ),
            (
                r#"{{ reReplaceAll "\\q" "" "a" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "\\q" "" "a">: error calling reReplaceAll: regexp: Compile(`\q`): error parsing regexp: invalid escape sequence: `\q`"#,
                ),
            ),
            (
                r#"{{ reReplaceAll "[z-a]" "" "a" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "[z-a]" "" "a">: error calling reReplaceAll: regexp: Compile(`[z-a]`): error parsing regexp: invalid character class range: `z-a`"#,
                ),
            ),
            (
                r#"{{ reReplaceAll "\\" "" "a" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "\\" "" "a">: error calling reReplaceAll: regexp: Compile(`\`): error parsing regexp: trailing backslash at end of expression: ``"#,
                ),
            ),
            (r#"{{ reReplaceAll "(?i)ABC" "x" "abc" }}"#, ok("x")),
            (r#"{{ reReplaceAll "^" ">" "a\nb" }}"#, ok(">a\nb")),
            (r#"{{ reReplaceAll "(?m)^" ">" "a\nb" }}"#, ok(">a\n>b")),
            (r#"{{ reReplaceAll "\\bx" "y" "x éx" }}"#, ok("y éy")),
            (r#"{{ match "a+" "aa" }} {{ match "a+" "b" }}"#, ok("true false")),
            (r#"{{ match "^node$" $labels.job }}"#, ok("true")),
            (
                r#"{{ match "(" "a" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <match "(" "a">: error calling match: error parsing regexp: missing closing ): `(`"#,
                ),
            ),
            (r#"{{ if match "^host1" .Labels.instance }}yes{{ end }}"#, ok("yes")),
            (r#"{{ "aa bb CC" | title }}"#, ok("Aa Bb CC")),
            (
                r#"{{ title "hello-world foo_bar it's x.y 1st a..b éa ßa" }}"#,
                ok("Hello-World Foo_bar It's X.y 1St A..B Éa Ssa"),
            ),
            (r#"{{ title "http://foo.bar:baz" }}"#, ok("Http://Foo.bar:baz")),
            (r#"{{ "aa bb CC" | toUpper }}"#, ok("AA BB CC")),
            (r#"{{ "aA bB CC" | toLower }}"#, ok("aa bb cc")),
            (r#"{{ toUpper "straße ǆ" }}"#, ok("STRAßE Ǆ")),
            (r#"{{ toLower "İSTANBUL ΣΑΣ" }}"#, ok("istanbul σασ")),
            (r#"{{ graphLink "up" }}"#, ok("/graph?g0.expr=up&g0.tab=0")),
            (
                r#"{{ tableLink "rate(x{a=\"b c\"}[5m])" }}"#,
                ok("/graph?g0.expr=rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29&g0.tab=1"),
            ),
            ("{{ graphLink $labels.path }}", ok("/graph?g0.expr=%2Fa+b%3Fc%3Dd%26e&g0.tab=0")),
            (r#"{{ urlQueryEscape "a b&c" }}"#, ok("a+b%26c")),
            (r#"{{ safeHtml "<b>" }}"#, ok("<b>")),
            (r#"{{ safeHtml "<b>" | len }}"#, ok("3")),
            ("{{ safeHtml 1 }}", exec_err(r#"1:124: executing "t" at <1>: expected string; found 1"#)),
            (
                r#"{{ toUpper (safeHtml "a") }}"#,
                exec_err(r#"1:133: executing "t" at <"a">: wrong type for value; expected string; got template.HTML"#),
            ),
            (r#"{{ "foo.example.com" | stripPort }}"#, ok("foo.example.com")),
            (r#"{{ "foo.example.com:12345" | stripPort }}"#, ok("foo.example.com")),
            (r#"{{ "192.0.2.1" | stripPort }}"#, ok("192.0.2.1")),
            (r#"{{ "192.0.2.1:12345" | stripPort }}"#, ok("192.0.2.1")),
            (r#"{{ "2001:0DB8::1" | stripPort }}"#, ok("2001:0DB8::1")),
            (r#"{{ "[2001:0DB8::1]:12345" | stripPort }}"#, ok("2001:0DB8::1")),
            (r#"{{ "[2001:0DB8::1]::12345" | stripPort }}"#, ok("[2001:0DB8::1]::12345")),
            (r#"{{ "foo.example.com" | stripDomain }}"#, ok("foo")),
            (r#"{{ "foo.example.com:12345" | stripDomain }}"#, ok("foo:12345")),
            (r#"{{ "192.0.2.1" | stripDomain }}"#, ok("192.0.2.1")),
            (r#"{{ "192.0.2.1:12345" | stripDomain }}"#, ok("192.0.2.1:12345")),
            (r#"{{ "2001:0DB8::1" | stripDomain }}"#, ok("2001:0DB8::1")),
            (r#"{{ "[2001:0DB8::1]:12345" | stripDomain }}"#, ok("[2001:0DB8::1]:12345")),
            (r#"{{ "[2001:0DB8::1]::12345" | stripDomain }}"#, ok("[2001:0DB8::1]::12345")),
            (r#"{{ ":80" | stripPort }}"#, ok("")),
            (r#"{{ "a:b:c" | stripDomain }}"#, ok("a:b:c")),
            (r#"{{ "[fe80::1%eth0]:80" | stripDomain }}"#, ok("[fe80::1%eth0]:80")),
            (r#"{{ "[::1]" | stripPort }}"#, ok("[::1]")),
            (r#"{{ "host.:9" | stripDomain }}"#, ok("host:9")),
            (r#"{{ stripDomain "01.2.3.4" }}"#, ok("01")),
            ("{{ $labels.instance | stripPort }}", ok("host1.example.com")),
            ("{{ pathPrefix }}", ok("/path/prefix")),
            ("{{ externalURL }}", ok("http://prom.example.com:9090/path/prefix")),
            (r#"{{ sortByLabel "job" (query "x") | len }}"#, ok("2")),
            (
                "{{ sortByLabel }}",
                exec_err(
                    r#"1:115: executing "t" at <sortByLabel>: wrong number of args for sortByLabel: want 2 got 0"#,
                ),
            ),
            (
                "See {{ $externalURL }}/alerts?search={{ $labels.alertname }}",
                ok("See http://prom.example.com:9090/path/prefix/alerts?search="),
            ),
            (
                r#"{{ range $i, $s := query "up" }}{{ if $i }}, {{ end }}{{ $s.Labels.instance }}{{ end }}"#,
                ok("b:9, a:9"),
            ),
        ],
    );
}

#[test]
fn funcs_other() {
    check(
        &other(),
        &[
            (
                r#"{{ graphLink "sum(rate(http_requests_total{job=\"api\"}[5m])) by (code) > 0.5" }}"#,
                ok(
                    "/graph?g0.expr=sum%28rate%28http_requests_total%7Bjob%3D%22api%22%7D%5B5m%5D%29%29+by+%28code%29+%3E+0.5&g0.tab=0",
                ),
            ),
            (
                "{{ pathPrefix }}|{{ externalURL }}",
                ok("/path x/prefix|http://prom.example.com:9090/path%20x/prefix?x=1"),
            ),
            ("{{ reReplaceAll \"[[:digit:]]+\" \"#\" \"a12b3\" }}", ok("a#b#")),
            (r#"{{ reReplaceAll "[^[:alpha:]]" "" "a1-b" }}"#, ok("ab")),
            (r#"{{ reReplaceAll "[\\d.]+" "N" "v1.2.3-x" }}"#, ok("vN-x")),
            (r#"{{ reReplaceAll "[\\w]" "" "ab_é" }}"#, ok("é")),
            (r#"{{ reReplaceAll "[\\D]" "" "a1b2" }}"#, ok("12")),
            (r#"{{ reReplaceAll "a&&b" "X" "a&&b" }}"#, ok("X")),
            (r#"{{ reReplaceAll "[&]" "X" "a&b" }}"#, ok("aXb")),
            (r#"{{ reReplaceAll "\\Qa.b\\E" "X" "a.b axb" }}"#, ok("X axb")),
            (r#"{{ reReplaceAll "}" "X" "a}" }}"#, ok("aX")),
            (r#"{{ reReplaceAll "a{1,2}" "X" "aaa" }}"#, ok("XX")),
            (r#"{{ reReplaceAll "a{,2}" "X" "a{,2}" }}"#, ok("X")),
            (
                r#"{{ reReplaceAll "a{2}{3}" "X" "a" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "a{2}{3}" "X" "a">: error calling reReplaceAll: regexp: Compile(`a{2}{3}`): error parsing regexp: invalid nested repetition operator: `{2}{3}`"#,
                ),
            ),
            (r#"{{ reReplaceAll "(?P<x>a)" "[$x][${x}][$1][$2][$}]" "a" }}"#, ok("[a][a][a][][$}]")),
            (r#"{{ reReplaceAll "(a)" "$1a" "a" }}"#, ok("")),
            (r#"{{ reReplaceAll "" "-" "abc" }}"#, ok("-a-b-c-")),
            (r#"{{ reReplaceAll "é" "e" "café" }}"#, ok("cafe")),
            (r#"{{ reReplaceAll "(?s)." "x" "a\nb" }}"#, ok("xxx")),
            (r#"{{ reReplaceAll "a+?" "X" "aaa" }}"#, ok("XXX")),
            (r#"{{ reReplaceAll "a*?" "X" "baaa" }}"#, ok("XbXaXaXaX")),
            (r#"{{ reReplaceAll "(?U)a+" "X" "aaa" }}"#, ok("XXX")),
            (
                r#"{{ reReplaceAll "a++" "X" "aaa" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "a++" "X" "aaa">: error calling reReplaceAll: regexp: Compile(`a++`): error parsing regexp: invalid nested repetition operator: `++`"#,
                ),
            ),
            (
                r#"{{ reReplaceAll "a?+" "X" "aaa" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "a?+" "X" "aaa">: error calling reReplaceAll: regexp: Compile(`a?+`): error parsing regexp: invalid nested repetition operator: `?+`"#,
                ),
            ),
            (r#"{{ reReplaceAll "\\pL+" "L" "héllo 123" }}"#, ok("L 123")),
            (r#"{{ reReplaceAll "\\p{Greek}" "G" "αβc" }}"#, ok("GGc")),
            (r#"{{ reReplaceAll "(?i)É" "e" "é" }}"#, ok("e")),
            (r#"{{ reReplaceAll "\\x41" "b" "A" }}"#, ok("b")),
            (r#"{{ reReplaceAll "\\z" "!" "a" }}"#, ok("a!")),
            (r#"{{ reReplaceAll "(?<n>a)" "${n}${n}" "a" }}"#, ok("aa")),
            (
                r#"{{ reReplaceAll "(" "" "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "(" "" "">: error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`"#,
                ),
            ),
            (
                r#"{{ reReplaceAll "a{1001}" "" "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "a{1001}" "" "">: error calling reReplaceAll: regexp: Compile(`a{1001}`): error parsing regexp: invalid repeat count: `{1001}`"#,
                ),
            ),
            (
                r#"{{ reReplaceAll "(?P<>a)" "" "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "(?P<>a)" "" "">: error calling reReplaceAll: regexp: Compile(`(?P<>a)`): error parsing regexp: invalid named capture: `(?P<>`"#,
                ),
            ),
            (
                r#"{{ reReplaceAll "\\8" "" "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <reReplaceAll "\\8" "" "">: error calling reReplaceAll: regexp: Compile(`\8`): error parsing regexp: invalid escape sequence: `\8`"#,
                ),
            ),
            (r#"{{ match "" "" }} {{ match "^$" "x" }} {{ match "(?i)NODE" .Labels.job }}"#, ok("true false true")),
            (
                r#"{{ match "[" "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <match "[" "">: error calling match: error parsing regexp: missing closing ]: `[`"#,
                ),
            ),
            (
                r#"{{ title "" }}|{{ title " a" }}|{{ title "ÉCOLE école" }}|{{ title "o'neil d'arc" }}|{{ title "a-b_c.d:e/f" }}"#,
                ok("| A|ÉCOLE École|O'neil D'arc|A-B_c.d:e/F"),
            ),
            (
                r#"{{ title "foo...bar" }} {{ title "x1y" }} {{ title "3d" }} {{ title "αβγ δ" }} {{ title "ǳabc" }} {{ title "ﬁsh" }}"#,
                ok("Foo...Bar X1y 3D Αβγ Δ ǲabc Fish"),
            ),
            (r#"{{ toUpper "ﬁsh ŉ ǰ" }} {{ toLower "ẞ Ω K" }}"#, ok("ﬁSH ŉ ǰ ß ω k")),
            (
                r#"{{ stripPort "[::1]:80" }} {{ stripPort "::1" }} {{ stripPort "a:" }} {{ stripPort "[a]:b:c" }} {{ stripPort "[a]b:c" }} {{ stripPort "a]:b" }} {{ stripPort "a[:b" }}"#,
                ok("::1 ::1 a [a]:b:c [a]b:c a]:b a[:b"),
            ),
            (
                r#"{{ stripDomain "localhost" }} {{ stripDomain "localhost:9090" }} {{ stripDomain "a.b.c:" }} {{ stripDomain "[a.b]:1" }} {{ stripDomain "::ffff:1.2.3.4" }} {{ stripDomain "1.2.3.4.5" }} {{ stripDomain "256.1.1.1" }}"#,
                ok("localhost localhost:9090 a a:1 ::ffff:1.2.3.4 1 256"),
            ),
            (
                r#"{{ stripDomain ".a" }} {{ stripDomain "" }} {{ stripDomain "[fe80::1%25en0]:80" }} {{ stripDomain "fe80::1%en0" }}"#,
                ok("  [fe80::1%25en0]:80 fe80::1%en0"),
            ),
            (
                r#"{{ $x := query "x" }}{{ $y := sortByLabel "instance" $x }}{{ range $x }}{{ .Labels.instance }}{{ end }}"#,
                ok("a:9b:9"),
            ),
            (r#"{{ index (query "x" | sortByLabel "instance") 0 | value }}"#, ok("NaN")),
            (r#"{{ index (args (args 1)) "arg0" "arg0" }}"#, ok("1")),
            ("{{ (args 1 2).arg0 }}{{ (args).arg0 }}", ok("1<no value>")),
            ("{{ len (args 1 2) }}", ok("2")),
            (
                "{{ range $k, $v := args 1 2 3 4 5 6 7 8 9 10 11 }}{{ $k }} {{ end }}",
                ok("arg0 arg1 arg10 arg2 arg3 arg4 arg5 arg6 arg7 arg8 arg9 "),
            ),
            ("{{ (args $labels).arg0.job }}", ok("node")),
            (
                "{{ (args 1).arg0.foo }}",
                exec_err(r#"1:121: executing "t" at <1>: can't evaluate field foo in type interface {}"#),
            ),
            (r#"{{ eq (query "x" | first) (query "x" | first) }}"#, ok("false")),
            (r#"{{ $s := query "x" | first }}{{ eq $s $s }}"#, ok("true")),
            (r#"{{ eq nil (query "x" | first) }}"#, ok("false")),
            (
                r#"{{ slice (query "x") 1 0 }}"#,
                exec_err(
                    r#"1:115: executing "t" at <slice (query "x") 1 0>: error calling slice: invalid slice index: 1 > 0"#,
                ),
            ),
            (
                r#"{{ slice (query "x") 0 2 1 }}"#,
                exec_err(
                    r#"1:115: executing "t" at <slice (query "x") 0 2 1>: error calling slice: invalid slice index: 2 > 1"#,
                ),
            ),
            (r#"{{ index (slice (query "x") 1) 0 | value }}"#, ok("NaN")),
            (
                r#"{{ index $labels (safeHtml "job") }}"#,
                exec_err(
                    r#"1:115: executing "t" at <index $labels (safeHtml "job")>: error calling index: value has type template.HTML; should be string"#,
                ),
            ),
            (
                "{{ index (args 1) 0 }}",
                exec_err(
                    r#"1:115: executing "t" at <index (args 1) 0>: error calling index: value has type int; should be string"#,
                ),
            ),
        ],
    );
}

#[test]
fn funcs_other_contexts() {
    check(
        &Ctx { query_err: Some("bad query: boom".into()), ..base() },
        &[(
            r#"{{ query "x" }}"#,
            exec_err(r#"1:115: executing "t" at <query "x">: error calling query: bad query: boom"#),
        )],
    );
    check(
        &Ctx { samples: vec![], ..base() },
        &[
            (r#"{{ range query "x" }}x{{ else }}none{{ end }}"#, ok("none")),
            (
                r#"{{ query "missing" | first }}"#,
                exec_err(
                    r#"1:133: executing "t" at <first>: error calling first: first() called on vector with no elements"#,
                ),
            ),
            (r#"{{ with query "missing" }}{{ . | first }}{{ else }}nothing{{ end }}"#, ok("nothing")),
        ],
    );
    check(
        &Ctx { samples: vec![(LabelMap::new(), f64::INFINITY)], ..other() },
        &[(r#"{{ query "x" | first | value }}"#, ok("+Inf"))],
    );
    check(&Ctx { url: "".into(), ..other() }, &[("{{ externalURL }}|{{ pathPrefix }}", ok("|"))]);
    check(
        &Ctx { url: "https://a.b/".into(), ..other() },
        &[("{{ externalURL }}|{{ pathPrefix }}", ok("https://a.b/|/"))],
    );
    check(
        &Ctx { url: "http://user:pw@host:1/p%2Fq/r?s#t".into(), ..other() },
        &[("{{ externalURL }}|{{ pathPrefix }}", ok("http://user:pw@host:1/p%2Fq/r?s#t|/p/q/r"))],
    );
}
