//! Execution: fields, variables and their scopes, `if`/`with`/`range`/`break`, templates,
//! the builtins `and or not len index slice eq ne lt le gt ge call`, and execution errors.
//!
//! Expectations are Go's output for the same template and context.

use super::*;

#[test]
fn exec_base() {
    check(
        &base(),
        &[
            ("plain text", ok("plain text")),
            ("", ok("")),
            ("{{ 1 }}", ok("1")),
            (r#"a {{- " b " -}} c"#, ok("a b c")),
            ("a  {{- 1 }}  b", ok("a1  b")),
            ("a {{ 1 -}}\n\n b", ok("a 1b")),
            ("{{/* c */}}x", ok("x")),
            ("x {{- /* c */ -}} y", ok("xy")),
            ("{{- /* c */}}", ok("")),
            ("{{-3}}", ok("-3")),
            ("{{- 3}}", ok("3")),
            ("{{ -3 }}", ok("-3")),
            ("{{3 -}}", ok("3")),
            (
                "a\n{{ .Foo }}",
                exec_err(
                    r#"2:3: executing "t" at <.Foo>: can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }"#,
                ),
            ),
            ("}}", ok("}}")),
            ("{{ .Labels.job }}", ok("node")),
            ("{{ $labels.job }}", ok("node")),
            ("{{ $labels.missing }}", ok("")),
            ("{{ .ExternalURL }}", ok("http://prom.example.com:9090/path/prefix")),
            ("{{ $externalLabels.cluster }}", ok("prod")),
            ("{{ .ExternalLabels }}", ok("map[cluster:prod region:eu-1]")),
            (
                "{{ . }}",
                ok(
                    "{map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical] map[cluster:prod region:eu-1] http://prom.example.com:9090/path/prefix 0.8734}",
                ),
            ),
            (
                "{{ $ }}",
                ok(
                    "{map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical] map[cluster:prod region:eu-1] http://prom.example.com:9090/path/prefix 0.8734}",
                ),
            ),
            (
                "{{ .Foo }}",
                exec_err(
                    r#"1:115: executing "t" at <.Foo>: can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }"#,
                ),
            ),
            (
                "{{ .Labels.job.foo }}",
                exec_err(r#"1:122: executing "t" at <.Labels.job.foo>: can't evaluate field foo in type string"#),
            ),
            (
                "{{ $labels }}",
                ok("map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical]"),
            ),
            (
                "{{ .labels }}",
                exec_err(
                    r#"1:115: executing "t" at <.labels>: can't evaluate field labels in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }"#,
                ),
            ),
            (r#"{{ index $labels "job" }}"#, ok("node")),
            (r#"{{ index $labels "nope" }}"#, ok("")),
            (
                "{{ index .Labels 1 }}",
                exec_err(
                    r#"1:115: executing "t" at <index .Labels 1>: error calling index: value has type int; should be string"#,
                ),
            ),
            (
                "{{ index $labels }}",
                ok("map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical]"),
            ),
            (r#"{{ index "abc" 1 }}"#, ok("98")),
            (
                r#"{{ index "abc" 3 }}"#,
                exec_err(
                    r#"1:115: executing "t" at <index "abc" 3>: error calling index: reflect: string index out of range"#,
                ),
            ),
            (
                r#"{{ index "abc" 4 }}"#,
                exec_err(r#"1:115: executing "t" at <index "abc" 4>: error calling index: index out of range: 4"#),
            ),
            (
                r#"{{ index "abc" -1 }}"#,
                exec_err(r#"1:115: executing "t" at <index "abc" -1>: error calling index: index out of range: -1"#),
            ),
            (
                "{{ index nil 1 }}",
                exec_err(r#"1:115: executing "t" at <index nil 1>: error calling index: index of untyped nil"#),
            ),
            ("{{ 1.5 }}", ok("1.5")),
            ("{{ 1e6 }}", ok("1e+06")),
            ("{{ 1e21 }}", ok("1e+21")),
            ("{{ 123456789.0 }}", ok("1.23456789e+08")),
            ("{{ 0.000001 }}", ok("1e-06")),
            ("{{ 0x1F }}", ok("31")),
            ("{{ 0o17 }}", ok("15")),
            ("{{ 017 }}", ok("15")),
            ("{{ 0b101 }}", ok("5")),
            ("{{ 1_000 }}", ok("1000")),
            ("{{ 'a' }}", ok("97")),
            (r#"{{ '\n' }}"#, ok("10")),
            (r#"{{ '\x41' }}"#, ok("65")),
            ("{{ 1i }}", ok("(0+1i)")),
            ("{{ 1+2i }}", ok("(1+2i)")),
            (
                "{{ 18446744073709551615 }}",
                exec_err(r#"1:115: executing "t" at <18446744073709551615>: 18446744073709551615 overflows int"#),
            ),
            ("{{ -0 }}", ok("0")),
            ("{{ +5 }}", ok("5")),
            ("{{ .5 }}", ok("0.5")),
            ("{{ 5. }}", ok("5")),
            ("{{ 0x1p-2 }}", ok("0.25")),
            ("{{ true }}", ok("true")),
            ("{{ false }}", ok("false")),
            ("{{ nil }}", exec_err(r#"1:115: executing "t" at <nil>: nil is not a command"#)),
            (r#"{{ "a\tb" }}"#, ok("a\tb")),
            (r#"{{ `raw\n` }}"#, ok(r#"raw\n"#)),
            (r#"{{ "\u00e9" }}"#, ok("é")),
            (r#"{{ "a" "b" }}"#, exec_err(r#"1:115: executing "t" at <"a">: can't give argument to non-function "a""#)),
            ("{{ (1) }}", ok("1")),
            ("{{ ((1)) }}", ok("1")),
            (r#"{{ ("a").b }}"#, exec_err(r#"1:116: executing "t" at <"a">: can't evaluate field b in type string"#)),
            ("{{ $x := 1 }}{{ $x }}", ok("1")),
            ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", ok("2")),
            ("{{ $y = 2 }}", exec_err(r#"1:120: executing "t" at <2>: undefined variable: $y"#)),
            (
                "{{ $x := 1 }}{{ $x 2 }}",
                exec_err(r#"1:128: executing "t" at <$x>: can't give argument to non-function $x"#),
            ),
            ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $z := 3 }}{{ end }}{{ $x }}", ok("2")),
            ("{{ 1 2 }}", exec_err(r#"1:115: executing "t" at <1>: can't give argument to non-function 1"#)),
            ("{{ . 1 }}", exec_err(r#"1:115: executing "t" at <.>: can't give argument to non-function ."#)),
            ("{{ nil 1 }}", exec_err(r#"1:115: executing "t" at <nil>: can't give argument to non-function nil"#)),
            (
                "{{ .Labels 1 }}",
                exec_err(
                    r#"1:115: executing "t" at <.Labels>: Labels has arguments but cannot be invoked as function"#,
                ),
            ),
            (
                "{{ $labels.job 1 }}",
                exec_err(r#"1:122: executing "t" at <$labels.job>: job is not a method but has arguments"#),
            ),
            (
                "{{ 1 | .Labels.job }}",
                exec_err(r#"1:126: executing "t" at <.Labels.job>: job is not a method but has arguments"#),
            ),
            (
                r#"{{ "a" | $labels.job }}"#,
                exec_err(r#"1:128: executing "t" at <$labels.job>: job is not a method but has arguments"#),
            ),
            ("{{ .Labels.job | len }}", ok("4")),
            ("{{ len }}", exec_err(r#"1:115: executing "t" at <len>: wrong number of args for len: want 1 got 0"#)),
            ("{{ len 1 2 }}", exec_err(r#"1:115: executing "t" at <len>: wrong number of args for len: want 1 got 2"#)),
            ("{{ len 3 }}", exec_err(r#"1:115: executing "t" at <len 3>: error calling len: len of type int"#)),
            (
                "{{ len nil }}",
                exec_err(
                    r#"1:115: executing "t" at <len nil>: error calling len: reflect: call of reflect.Value.Type on zero Value"#,
                ),
            ),
            (r#"{{ len "héllo" }}"#, ok("6")),
            ("{{ len $labels }}", ok("5")),
            ("{{ not 0 }}", ok("true")),
            (r#"{{ not "" }}"#, ok("true")),
            ("{{ not $labels }}", ok("false")),
            ("{{ not nil }}", ok("true")),
            ("{{ and 1 0 2 }}", ok("0")),
            ("{{ and 1 2 }}", ok("2")),
            (r#"{{ or 0 "" nil }}"#, ok("<no value>")),
            (r#"{{ or 0 "x" }}"#, ok("x")),
            (
                "{{ and }}",
                exec_err(r#"1:115: executing "t" at <and>: wrong number of args for and: want at least 1 got 0"#),
            ),
            ("{{ 0 | and 1 }}", ok("0")),
            ("{{ 5 | or 0 }}", ok("5")),
            ("{{ and 0 (index nil 1) }}", ok("0")),
            ("{{ or 1 (index nil 1) }}", ok("1")),
            ("{{ eq 1 1 }}", ok("true")),
            ("{{ eq 1 2 3 1 }}", ok("true")),
            (
                "{{ eq 1 1.0 }}",
                exec_err(r#"1:115: executing "t" at <eq 1 1.0>: error calling eq: incompatible types for comparison"#),
            ),
            (r#"{{ eq "a" "a" }}"#, ok("true")),
            (r#"{{ eq $labels.job "node" }}"#, ok("true")),
            ("{{ lt 1 2 }}", ok("true")),
            ("{{ le 2 2 }}", ok("true")),
            ("{{ ge 1 2 }}", ok("false")),
            ("{{ ne 1 2 }}", ok("true")),
            (r#"{{ lt "a" "b" }}"#, ok("true")),
            (
                "{{ lt true false }}",
                exec_err(r#"1:115: executing "t" at <lt true false>: error calling lt: invalid type for comparison"#),
            ),
            ("{{ eq true true }}", ok("true")),
            ("{{ eq nil nil }}", ok("true")),
            ("{{ eq .Labels nil }}", ok("false")),
            (
                "{{ eq .Labels .Labels }}",
                exec_err(
                    r#"1:115: executing "t" at <eq .Labels .Labels>: error calling eq: non-comparable type map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical]: map[string]string"#,
                ),
            ),
            (
                "{{ eq 1 }}",
                exec_err(r#"1:115: executing "t" at <eq 1>: error calling eq: missing argument for comparison"#),
            ),
            (
                "{{ lt nil 1 }}",
                exec_err(r#"1:115: executing "t" at <lt nil 1>: error calling lt: invalid type for comparison"#),
            ),
            (
                "{{ lt $labels 1 }}",
                exec_err(r#"1:115: executing "t" at <lt $labels 1>: error calling lt: invalid type for comparison"#),
            ),
            (
                r#"{{ eq "a" 1 }}"#,
                exec_err(r#"1:115: executing "t" at <eq "a" 1>: error calling eq: incompatible types for comparison"#),
            ),
            ("{{ eq 1i 1i }}", ok("true")),
            (
                "{{ lt 1i 2i }}",
                exec_err(r#"1:115: executing "t" at <lt 1i 2i>: error calling lt: invalid type for comparison"#),
            ),
            ("{{ eq 'a' 97 }}", ok("true")),
            (r#"{{ lt (index "a" 0) 98 }}"#, ok("true")),
            (r#"{{ eq (index "a" 0) 97 }}"#, ok("true")),
            ("{{ if gt (len $labels) 2 }}many{{ end }}", ok("many")),
            (r#"{{ eq $labels.severity "critical" "warning" }}"#, ok("true")),
            ("{{ if $labels.job }}y{{ else }}n{{ end }}", ok("y")),
            ("{{ if $labels.nope }}y{{ else if $labels.job }}job{{ else }}n{{ end }}", ok("job")),
            ("{{ if 0 }}a{{ else if 0 }}b{{ else }}c{{ end }}", ok("c")),
            ("{{ with $labels.job }}[{{ . }}]{{ end }}", ok("[node]")),
            ("{{ with $labels.nope }}[{{ . }}]{{ else }}none{{ end }}", ok("none")),
            ("{{ with $labels.nope }}a{{ else with $labels.job }}b{{ . }}{{ end }}", ok("bnode")),
            ("{{ with $x := $labels.job }}{{ $x }}{{ end }}", ok("node")),
            ("{{ range $labels }}{{ . }},{{ end }}", ok("up,host1.example.com:9100,node,/a b?c=d&e,critical,")),
            (
                "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
                ok("__name__=up;instance=host1.example.com:9100;job=node;path=/a b?c=d&e;severity=critical;"),
            ),
            (
                "{{ range .Foo }}x{{ end }}",
                exec_err(
                    r#"1:121: executing "t" at <.Foo>: can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }"#,
                ),
            ),
            (
                r#"{{ range "abc" }}x{{ end }}"#,
                exec_err(r#"1:121: executing "t" at <"abc">: range can't iterate over abc"#),
            ),
            ("{{ range 1.5 }}x{{ end }}", exec_err(r#"1:121: executing "t" at <1.5>: range can't iterate over 1.5"#)),
            ("{{ range 3 }}{{ . }}{{ end }}", ok("012")),
            (
                "{{ range $i, $e := 3 }}{{ . }}{{ end }}",
                exec_err(r#"1:131: executing "t" at <3>: can't use 3 to iterate over more than one variable"#),
            ),
            ("{{ range 0 }}x{{ else }}empty{{ end }}", ok("empty")),
            (
                "{{ range nil }}x{{ else }}none{{ end }}",
                exec_err(r#"1:121: executing "t" at <nil>: nil is not a command"#),
            ),
            (
                r#"{{ range $labels }}{{ if eq . "node" }}{{ break }}{{ end }}{{ . }},{{ end }}"#,
                ok("up,host1.example.com:9100,"),
            ),
            (
                r#"{{ range $labels }}{{ if eq . "node" }}{{ continue }}{{ end }}{{ . }},{{ end }}"#,
                ok("up,host1.example.com:9100,/a b?c=d&e,critical,"),
            ),
            ("{{ $i := 5 }}{{ range $i, $e := $labels }}{{ end }}{{ $i }}", ok("5")),
            (
                "{{ $i := 0 }}{{ range $i, $e = $labels }}{{ end }}{{ $i }}",
                exec_err(r#"1:143: executing "t" at <$labels>: undefined variable: $e"#),
            ),
            ("{{ range $labels }}{{ else }}{{ end }}", ok("")),
            ("{{ 1 \n }}", ok("1")),
            (r#"{{ define "x" }}X{{ . }}{{ end }}{{ template "x" 1 }}"#, ok("X1")),
            (
                r#"{{ template "nope" }}"#,
                exec_err(r#"1:124: executing "t" at <{{template "nope"}}>: template "nope" not defined"#),
            ),
            (
                r#"{{ define "x" }}{{ template "x" }}{{ end }}{{ template "x" }}"#,
                exec_err(r#"1:140: executing "x" at <{{template "x"}}>: exceeded maximum template depth (100000)"#),
            ),
            (r#"{{ define "x" }}{{ . }}{{ end }}{{ template "x" }}"#, ok("<no value>")),
            (r#"{{ define "x" }}a{{ end }}{{ define "x" }} {{ end }}{{ template "x" }}"#, ok("a")),
            (
                r#"{{ template "x" 1 2 }}"#,
                exec_err(r#"1:124: executing "t" at <{{template "x" 1 2}}>: template "x" not defined"#),
            ),
            (r#"{{ define "x" }}{{ range . }}{{ break }}{{ end }}{{ end }}{{ template "x" $labels }}ok"#, ok("ok")),
            (r#"{{ template "x" $y := 1 }}{{ $y }}{{ define "x" }}{{ end }}"#, ok("1")),
            ("{{ call nil }}", exec_err(r#"1:115: executing "t" at <call nil>: error calling call: call of nil"#)),
            (
                "{{ call }}",
                exec_err(r#"1:115: executing "t" at <call>: wrong number of args for call: want at least 1 got 0"#),
            ),
            (r#"{{ slice "abcdef" 1 3 }}"#, ok("bc")),
            (r#"{{ slice "abcdef" 2 }}"#, ok("cdef")),
            (r#"{{ slice "abcdef" }}"#, ok("abcdef")),
            (
                r#"{{ slice "abc" 2 1 }}"#,
                exec_err(
                    r#"1:115: executing "t" at <slice "abc" 2 1>: error calling slice: invalid slice index: 2 > 1"#,
                ),
            ),
            (
                r#"{{ slice "abc" 1 2 3 }}"#,
                exec_err(
                    r#"1:115: executing "t" at <slice "abc" 1 2 3>: error calling slice: cannot 3-index slice a string"#,
                ),
            ),
            (
                r#"{{ slice "abc" 5 }}"#,
                exec_err(r#"1:115: executing "t" at <slice "abc" 5>: error calling slice: index out of range: 5"#),
            ),
            (
                "{{ slice 1 1 }}",
                exec_err(r#"1:115: executing "t" at <slice 1 1>: error calling slice: can't slice item of type int"#),
            ),
            (
                "{{ slice nil }}",
                exec_err(r#"1:115: executing "t" at <slice nil>: error calling slice: slice of untyped nil"#),
            ),
            (r#"{{ slice "héllo" 1 2 }}"#, ok("�")),
            (
                r#"{{ slice "abc" 0 0 0 0 }}"#,
                exec_err(
                    r#"1:115: executing "t" at <slice "abc" 0 0 0 0>: error calling slice: too many slice indexes: 4"#,
                ),
            ),
            (
                "Instance {{ $labels.instance }} of job {{ $labels.job }} has been down for more than 5 minutes.",
                ok("Instance host1.example.com:9100 of job node has been down for more than 5 minutes."),
            ),
            ("Cluster {{ $externalLabels.cluster }}: {{ $labels.job }}", ok("Cluster prod: node")),
            ("{{- /* summary */ -}}\n  {{ $labels.job }} is {{ \"down\" }}\n", ok("node is down\n")),
            (
                r#"{{ template "t" . }}"#,
                exec_err(r#"1:124: executing "t" at <{{template "t" .}}>: exceeded maximum template depth (100000)"#),
            ),
            (r#"{{ with $labels.severity }}{{ if eq . "critical" }}PAGE{{ end }}{{ end }}"#, ok("PAGE")),
        ],
    );
}

#[test]
fn exec_other() {
    check(
        &other(),
        &[
            (
                "{{ . }}",
                ok(
                    "{map[a b:c\td instance:host1.example.com:9100 job:node é:ü\u{1}] map[cluster:prod] http://prom.example.com:9090/path%20x/prefix?x=1 0.8734}",
                ),
            ),
            ("{{ $labels }}", ok("map[a b:c\td instance:host1.example.com:9100 job:node é:ü\u{1}]")),
            (
                "a\n{{/* c\nc */}}\n{{ index nil 1 }}",
                exec_err(r#"4:3: executing "t" at <index nil 1>: error calling index: index of untyped nil"#),
            ),
            (
                "{{ \"x\" }}\n\n\n{{- index nil 1 }}",
                exec_err(r#"4:4: executing "t" at <index nil 1>: error calling index: index of untyped nil"#),
            ),
            (
                "x\n{{ if\n1 }}{{ index nil\n 1 }}{{ end }}",
                exec_err(r#"3:7: executing "t" at <index nil 1>: error calling index: index of untyped nil"#),
            ),
            (
                "{{\n.Foo\n}}",
                exec_err(
                    r#"2:0: executing "t" at <.Foo>: can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }"#,
                ),
            ),
            (
                "{{ 1 }}{{ 2 }}\n{{ (3) 4 }}",
                exec_err(r#"2:3: executing "t" at <(3) 4>: can't give argument to non-function 3"#),
            ),
            ("\n\n{{ range $x := 1 }}{{ end }}", ok("\n\n")),
            (
                "{{ define \"x\" }}\n{{ index nil 1 }}{{ end }}\n{{ template \"x\" }}",
                exec_err(r#"2:3: executing "x" at <index nil 1>: error calling index: index of untyped nil"#),
            ),
            ("{{ $x := 1 }}{{ $x := 2 }}{{ $x }}", ok("2")),
            ("{{ with $x := 1 }}{{ $x := 2 }}{{ $x }}{{ end }}", ok("2")),
            (r#"{{ $x := "a" }}{{ range $x := $labels }}{{ end }}{{ $x }}"#, ok("a")),
            (
                "{{ $ }}",
                ok(
                    "{map[a b:c\td instance:host1.example.com:9100 job:node é:ü\u{1}] map[cluster:prod] http://prom.example.com:9090/path%20x/prefix?x=1 0.8734}",
                ),
            ),
            ("{{ $.Labels.job }}", ok("node")),
            (r#"{{ define "d" }}{{ $ }}|{{ . }}{{ end }}{{ template "d" 5 }}"#, ok("5|5")),
            (
                "{{ with 5 }}{{ $ }}{{ end }}",
                ok(
                    "{map[a b:c\td instance:host1.example.com:9100 job:node é:ü\u{1}] map[cluster:prod] http://prom.example.com:9090/path%20x/prefix?x=1 0.8734}",
                ),
            ),
            (
                "{{ range $k, $v := . }}{{ end }}",
                exec_err(
                    "1:131: executing \"t\" at <.>: range can't iterate over {map[a b:c\td instance:host1.example.com:9100 job:node é:ü\u{1}] map[cluster:prod] http://prom.example.com:9090/path%20x/prefix?x=1 0.8734}",
                ),
            ),
            (
                "{{ range . }}{{ end }}",
                exec_err(
                    "1:121: executing \"t\" at <.>: range can't iterate over {map[a b:c\td instance:host1.example.com:9100 job:node é:ü\u{1}] map[cluster:prod] http://prom.example.com:9090/path%20x/prefix?x=1 0.8734}",
                ),
            ),
            (
                "{{ .Labels.instance.foo }}",
                exec_err(r#"1:122: executing "t" at <.Labels.instance.foo>: can't evaluate field foo in type string"#),
            ),
            (
                r#"{{ index $labels "instance" "x" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <index $labels "instance" "x">: error calling index: cannot index slice/array with type string"#,
                ),
            ),
            ("{{ not }}", exec_err(r#"1:115: executing "t" at <not>: wrong number of args for not: want 1 got 0"#)),
            ("{{ not 1 2 }}", exec_err(r#"1:115: executing "t" at <not>: wrong number of args for not: want 1 got 2"#)),
            (
                "{{ eq }}",
                exec_err(r#"1:115: executing "t" at <eq>: wrong number of args for eq: want at least 1 got 0"#),
            ),
            ("{{ ne 1 }}", exec_err(r#"1:115: executing "t" at <ne>: wrong number of args for ne: want 2 got 1"#)),
            ("{{ lt 1 2 3 }}", exec_err(r#"1:115: executing "t" at <lt>: wrong number of args for lt: want 2 got 3"#)),
            (r#"{{ eq 1 (index "a" 0) }}"#, ok("false")),
            (r#"{{ eq (index "a" 0) 97 98 }}"#, ok("true")),
            (r#"{{ lt -1 (index "a" 0) }}"#, ok("true")),
            (r#"{{ lt (index "a" 0) -1 }}"#, ok("false")),
            (
                "{{ eq . . }}",
                exec_err(
                    "1:115: executing \"t\" at <eq . .>: error calling eq: non-comparable type {map[a b:c\td instance:host1.example.com:9100 job:node é:ü\u{1}] map[cluster:prod] http://prom.example.com:9090/path%20x/prefix?x=1 %!s(float64=0.8734)}: struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }",
                ),
            ),
            (
                "{{ lt 1.5 2 }}",
                exec_err(r#"1:115: executing "t" at <lt 1.5 2>: error calling lt: incompatible types for comparison"#),
            ),
            ("{{ le 1.5 1.5 }}", ok("true")),
            (r#"{{ ge "b" "a" }}"#, ok("true")),
            (
                "{{ gt true false }}",
                exec_err(r#"1:115: executing "t" at <gt true false>: error calling gt: invalid type for comparison"#),
            ),
            ("{{ and (eq 1 1) (lt 1 2) }}", ok("true")),
            (r#"{{ or (eq 1 2) "fallback" }}"#, ok("fallback")),
            ("{{ if and $labels.job (not $labels.nope) }}ok{{ end }}", ok("ok")),
            ("{{ and 1 }}", ok("1")),
            ("{{ or nil }}", ok("<no value>")),
            ("{{ and nil 1 }}", ok("<no value>")),
            (r#"{{ len "" }} {{ len (slice "abc" 1 1) }} {{ slice "abc" 3 }} {{ slice "abc" 0 3 }}"#, ok("0 0  abc")),
            (
                r#"{{ slice "abc" nil }}"#,
                exec_err(
                    r#"1:115: executing "t" at <slice "abc" nil>: error calling slice: cannot index slice/array with nil"#,
                ),
            ),
            (
                r#"{{ slice "abc" "1" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <slice "abc" "1">: error calling slice: cannot index slice/array with type string"#,
                ),
            ),
            (
                r#"{{ index "abc" nil }}"#,
                exec_err(
                    r#"1:115: executing "t" at <index "abc" nil>: error calling index: cannot index slice/array with nil"#,
                ),
            ),
            (
                r#"{{ index "abc" 1.0 }}"#,
                exec_err(
                    r#"1:115: executing "t" at <index "abc" 1.0>: error calling index: cannot index slice/array with type float64"#,
                ),
            ),
            (
                "{{ index $labels nil }}",
                exec_err(
                    r#"1:115: executing "t" at <index $labels nil>: error calling index: value is nil; should be of type string"#,
                ),
            ),
            ("{{ index 1 }}", ok("1")),
            (
                "{{ index nil }}",
                exec_err(r#"1:115: executing "t" at <index nil>: error calling index: index of untyped nil"#),
            ),
            ("{{ len 1.5 }}", exec_err(r#"1:115: executing "t" at <len 1.5>: error calling len: len of type float64"#)),
            ("{{ len true }}", exec_err(r#"1:115: executing "t" at <len true>: error calling len: len of type bool"#)),
            (
                "{{ call }}",
                exec_err(r#"1:115: executing "t" at <call>: wrong number of args for call: want at least 1 got 0"#),
            ),
            ("{{ call nil 1 }}", exec_err(r#"1:115: executing "t" at <call nil 1>: error calling call: call of nil"#)),
            (
                r#"{{ range $i, $c := "ab" }}{{ end }}"#,
                exec_err(r#"1:131: executing "t" at <"ab">: range can't iterate over ab"#),
            ),
            (
                r#"{{ "x" | .Labels.job }}"#,
                exec_err(r#"1:128: executing "t" at <.Labels.job>: job is not a method but has arguments"#),
            ),
            (
                "{{ 1 | $labels.job }}",
                exec_err(r#"1:126: executing "t" at <$labels.job>: job is not a method but has arguments"#),
            ),
            (
                "{{ $labels.job | $labels.instance }}",
                exec_err(r#"1:136: executing "t" at <$labels.instance>: instance is not a method but has arguments"#),
            ),
        ],
    );
}

#[test]
fn exec_other_contexts() {
    check(
        &Ctx { labels: LabelMap::new(), ext: LabelMap::new(), ..other() },
        &[("{{ $labels }} {{ $externalLabels }} {{ len $labels }}", ok("map[] map[] 0"))],
    );
    check(&Ctx { labels: labels(&[("a", r#"<b>&amp;"'"#)]), ..other() }, &[("{{ $labels.a }}", ok(r#"<b>&amp;"'"#))]);
}
