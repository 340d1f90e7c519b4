//! `humanize`, `humanize1024`, `humanizeDuration`, `humanizePercentage`, their argument
//! conversion (`ConvertToFloat`), and how `$value` prints.
//!
//! Expectations are Go's output for the same template and context.

use super::*;

#[test]
fn humanize_base() {
    check(
        &base(),
        &[
            ("{{ .Value }}", ok("0.8734")),
            ("{{ $value }}", ok("0.8734")),
            (
                "{{ .Value.Foo }}",
                exec_err(r#"1:121: executing "t" at <.Value.Foo>: can't evaluate field Foo in type interface {}"#),
            ),
            (
                "{{ $value.Foo }}",
                exec_err(r#"1:121: executing "t" at <$value.Foo>: can't evaluate field Foo in type float64"#),
            ),
            (
                "{{ index $value 1 }}",
                exec_err(
                    r#"1:115: executing "t" at <index $value 1>: error calling index: can't index item of type float64"#,
                ),
            ),
            (
                "{{ .Value 1 }}",
                exec_err(r#"1:115: executing "t" at <.Value>: Value has arguments but cannot be invoked as function"#),
            ),
            ("{{ eq .Value 0.8734 }}", ok("true")),
            (
                "{{ eq $value 1 }}",
                exec_err(
                    r#"1:115: executing "t" at <eq $value 1>: error calling eq: incompatible types for comparison"#,
                ),
            ),
            (
                "{{ gt $value 0 }}",
                exec_err(
                    r#"1:115: executing "t" at <gt $value 0>: error calling gt: incompatible types for comparison"#,
                ),
            ),
            ("{{ gt $value 0.5 }}", ok("true")),
            (r#"{{ range $i, $e := query "x" }}{{ $i }}:{{ $e.Value }} {{ end }}"#, ok("0:21 1:1.5 ")),
            (
                r#"{{ range query "x" | sortByLabel "instance" }}{{ .Labels.instance }}:{{ .Value }} {{ end }}"#,
                ok("a:9:1.5 b:9:21 "),
            ),
            (r#"{{ range $x := query "x" }}{{ $x.Value }}{{ end }}"#, ok("211.5")),
            (r#"{{ $x := 0 }}{{ range $x = query "x" }}{{ end }}{{ $x.Value }}"#, ok("1.5")),
            (r#"{{ block "b" . }}B{{ .Value }}{{ end }}"#, ok("B0.8734")),
            (
                r#"{{ define "x" }}{{ humanize "q" }}{{ end }}{{ template "x" }}"#,
                exec_err(
                    r#"1:131: executing "x" at <humanize "q">: error calling humanize: strconv.ParseFloat: parsing "q": invalid syntax"#,
                ),
            ),
            ("{{ humanize 0 }}", ok("0")),
            ("{{ humanize 1 }}", ok("1")),
            ("{{ humanize 1234567 }}", ok("1.235M")),
            ("{{ humanize 1234567.0 }}", ok("1.235M")),
            ("{{ humanize 0.001234 }}", ok("1.234m")),
            ("{{ humanize -1234 }}", ok("-1.234k")),
            ("{{ humanize 0.12 }}", ok("120m")),
            ("{{ humanize 1e-9 }}", ok("1n")),
            ("{{ humanize 1e27 }}", ok("1000Y")),
            ("{{ humanize 1e30 }}", ok("1e+06Y")),
            ("{{ humanize 999.95 }}", ok("1000")),
            ("{{ humanize 999999 }}", ok("1000k")),
            ("{{ humanize -0.0005 }}", ok("-500u")),
            (r#"{{ humanize "0.0" }}"#, ok("0")),
            (r#"{{ humanize "1234567.0" }}"#, ok("1.235M")),
            (r#"{{ humanize ".12" }}"#, ok("120m")),
            (
                r#"{{ humanize "one" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize "one">: error calling humanize: strconv.ParseFloat: parsing "one": invalid syntax"#,
                ),
            ),
            (r#"{{ humanize "+Inf" }}"#, ok("+Inf")),
            (r#"{{ humanize "-Inf" }}"#, ok("-Inf")),
            (r#"{{ humanize "NaN" }}"#, ok("NaN")),
            (
                r#"{{ humanize "1e400" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize "1e400">: error calling humanize: strconv.ParseFloat: parsing "1e400": value out of range"#,
                ),
            ),
            (r#"{{ humanize "inf" }}"#, ok("+Inf")),
            (
                r#"{{ humanize "0x10" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize "0x10">: error calling humanize: strconv.ParseFloat: parsing "0x10": invalid syntax"#,
                ),
            ),
            (r#"{{ humanize "1_000" }}"#, ok("1k")),
            (
                r#"{{ humanize " 1" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize " 1">: error calling humanize: strconv.ParseFloat: parsing " 1": invalid syntax"#,
                ),
            ),
            (
                r#"{{ humanize "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize "">: error calling humanize: strconv.ParseFloat: parsing "": invalid syntax"#,
                ),
            ),
            (
                "{{ humanize true }}",
                exec_err(
                    r#"1:115: executing "t" at <humanize true>: error calling humanize: can't convert bool to float"#,
                ),
            ),
            (
                "{{ humanize nil }}",
                exec_err(
                    r#"1:115: executing "t" at <humanize nil>: error calling humanize: can't convert <nil> to float"#,
                ),
            ),
            (
                r#"{{ humanize (safeHtml "1") }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize (safeHtml "1")>: error calling humanize: can't convert template.HTML to float"#,
                ),
            ),
            ("{{ humanize $value }}", ok("873.4m")),
            ("{{ humanize .Value }}", ok("873.4m")),
            (
                "{{ humanize $labels.job }}",
                exec_err(
                    r#"1:115: executing "t" at <humanize $labels.job>: error calling humanize: strconv.ParseFloat: parsing "node": invalid syntax"#,
                ),
            ),
            ("{{ humanize1024 0 }}", ok("0")),
            ("{{ humanize1024 1 }}", ok("1")),
            ("{{ humanize1024 1234567 }}", ok("1.177Mi")),
            ("{{ humanize1024 1234567.0 }}", ok("1.177Mi")),
            ("{{ humanize1024 0.001234 }}", ok("0.001234")),
            ("{{ humanize1024 -1234 }}", ok("-1.205ki")),
            ("{{ humanize1024 0.12 }}", ok("0.12")),
            ("{{ humanize1024 1e-9 }}", ok("1e-09")),
            ("{{ humanize1024 1e27 }}", ok("827.2Yi")),
            ("{{ humanize1024 1e30 }}", ok("8.272e+05Yi")),
            ("{{ humanize1024 999.95 }}", ok("1000")),
            ("{{ humanize1024 999999 }}", ok("976.6ki")),
            ("{{ humanize1024 -0.0005 }}", ok("-0.0005")),
            (r#"{{ humanize1024 "0.0" }}"#, ok("0")),
            (r#"{{ humanize1024 "1234567.0" }}"#, ok("1.177Mi")),
            (r#"{{ humanize1024 ".12" }}"#, ok("0.12")),
            (
                r#"{{ humanize1024 "one" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize1024 "one">: error calling humanize1024: strconv.ParseFloat: parsing "one": invalid syntax"#,
                ),
            ),
            (r#"{{ humanize1024 "+Inf" }}"#, ok("+Inf")),
            (r#"{{ humanize1024 "-Inf" }}"#, ok("-Inf")),
            (r#"{{ humanize1024 "NaN" }}"#, ok("NaN")),
            (
                r#"{{ humanize1024 "1e400" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize1024 "1e400">: error calling humanize1024: strconv.ParseFloat: parsing "1e400": value out of range"#,
                ),
            ),
            (r#"{{ humanize1024 "inf" }}"#, ok("+Inf")),
            (
                r#"{{ humanize1024 "0x10" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize1024 "0x10">: error calling humanize1024: strconv.ParseFloat: parsing "0x10": invalid syntax"#,
                ),
            ),
            (r#"{{ humanize1024 "1_000" }}"#, ok("1000")),
            (
                r#"{{ humanize1024 " 1" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize1024 " 1">: error calling humanize1024: strconv.ParseFloat: parsing " 1": invalid syntax"#,
                ),
            ),
            (
                r#"{{ humanize1024 "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize1024 "">: error calling humanize1024: strconv.ParseFloat: parsing "": invalid syntax"#,
                ),
            ),
            (
                "{{ humanize1024 true }}",
                exec_err(
                    r#"1:115: executing "t" at <humanize1024 true>: error calling humanize1024: can't convert bool to float"#,
                ),
            ),
            (
                "{{ humanize1024 nil }}",
                exec_err(
                    r#"1:115: executing "t" at <humanize1024 nil>: error calling humanize1024: can't convert <nil> to float"#,
                ),
            ),
            (
                r#"{{ humanize1024 (safeHtml "1") }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanize1024 (safeHtml "1")>: error calling humanize1024: can't convert template.HTML to float"#,
                ),
            ),
            ("{{ humanize1024 $value }}", ok("0.8734")),
            ("{{ humanize1024 .Value }}", ok("0.8734")),
            (
                "{{ humanize1024 $labels.job }}",
                exec_err(
                    r#"1:115: executing "t" at <humanize1024 $labels.job>: error calling humanize1024: strconv.ParseFloat: parsing "node": invalid syntax"#,
                ),
            ),
            ("{{ humanizeDuration 0 }}", ok("0s")),
            ("{{ humanizeDuration 1 }}", ok("1s")),
            ("{{ humanizeDuration 1234567 }}", ok("14d 6h 56m 7s")),
            ("{{ humanizeDuration 1234567.0 }}", ok("14d 6h 56m 7s")),
            ("{{ humanizeDuration 0.001234 }}", ok("1.234ms")),
            ("{{ humanizeDuration -1234 }}", ok("-20m 34s")),
            ("{{ humanizeDuration 0.12 }}", ok("120ms")),
            ("{{ humanizeDuration 1e-9 }}", ok("1ns")),
            ("{{ humanizeDuration 1e27 }}", ok("-106751991167300d -15h -30m -8s")),
            ("{{ humanizeDuration 1e30 }}", ok("-106751991167300d -15h -30m -8s")),
            ("{{ humanizeDuration 999.95 }}", ok("16m 39s")),
            ("{{ humanizeDuration 999999 }}", ok("11d 13h 46m 39s")),
            ("{{ humanizeDuration -0.0005 }}", ok("-500us")),
            (r#"{{ humanizeDuration "0.0" }}"#, ok("0s")),
            (r#"{{ humanizeDuration "1234567.0" }}"#, ok("14d 6h 56m 7s")),
            (r#"{{ humanizeDuration ".12" }}"#, ok("120ms")),
            (
                r#"{{ humanizeDuration "one" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeDuration "one">: error calling humanizeDuration: strconv.ParseFloat: parsing "one": invalid syntax"#,
                ),
            ),
            (r#"{{ humanizeDuration "+Inf" }}"#, ok("+Inf")),
            (r#"{{ humanizeDuration "-Inf" }}"#, ok("-Inf")),
            (r#"{{ humanizeDuration "NaN" }}"#, ok("NaN")),
            (
                r#"{{ humanizeDuration "1e400" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeDuration "1e400">: error calling humanizeDuration: strconv.ParseFloat: parsing "1e400": value out of range"#,
                ),
            ),
            (r#"{{ humanizeDuration "inf" }}"#, ok("+Inf")),
            (
                r#"{{ humanizeDuration "0x10" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeDuration "0x10">: error calling humanizeDuration: strconv.ParseFloat: parsing "0x10": invalid syntax"#,
                ),
            ),
            (r#"{{ humanizeDuration "1_000" }}"#, ok("16m 40s")),
            (
                r#"{{ humanizeDuration " 1" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeDuration " 1">: error calling humanizeDuration: strconv.ParseFloat: parsing " 1": invalid syntax"#,
                ),
            ),
            (
                r#"{{ humanizeDuration "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeDuration "">: error calling humanizeDuration: strconv.ParseFloat: parsing "": invalid syntax"#,
                ),
            ),
            (
                "{{ humanizeDuration true }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeDuration true>: error calling humanizeDuration: can't convert bool to float"#,
                ),
            ),
            (
                "{{ humanizeDuration nil }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeDuration nil>: error calling humanizeDuration: can't convert <nil> to float"#,
                ),
            ),
            (
                r#"{{ humanizeDuration (safeHtml "1") }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeDuration (safeHtml "1")>: error calling humanizeDuration: can't convert template.HTML to float"#,
                ),
            ),
            ("{{ humanizeDuration $value }}", ok("873.4ms")),
            ("{{ humanizeDuration .Value }}", ok("873.4ms")),
            (
                "{{ humanizeDuration $labels.job }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeDuration $labels.job>: error calling humanizeDuration: strconv.ParseFloat: parsing "node": invalid syntax"#,
                ),
            ),
            ("{{ humanizePercentage 0 }}", ok("0%")),
            ("{{ humanizePercentage 1 }}", ok("100%")),
            ("{{ humanizePercentage 1234567 }}", ok("1.235e+08%")),
            ("{{ humanizePercentage 1234567.0 }}", ok("1.235e+08%")),
            ("{{ humanizePercentage 0.001234 }}", ok("0.1234%")),
            ("{{ humanizePercentage -1234 }}", ok("-1.234e+05%")),
            ("{{ humanizePercentage 0.12 }}", ok("12%")),
            ("{{ humanizePercentage 1e-9 }}", ok("1e-07%")),
            ("{{ humanizePercentage 1e27 }}", ok("1e+29%")),
            ("{{ humanizePercentage 1e30 }}", ok("1e+32%")),
            ("{{ humanizePercentage 999.95 }}", ok("1e+05%")),
            ("{{ humanizePercentage 999999 }}", ok("1e+08%")),
            ("{{ humanizePercentage -0.0005 }}", ok("-0.05%")),
            (r#"{{ humanizePercentage "0.0" }}"#, ok("0%")),
            (r#"{{ humanizePercentage "1234567.0" }}"#, ok("1.235e+08%")),
            (r#"{{ humanizePercentage ".12" }}"#, ok("12%")),
            (
                r#"{{ humanizePercentage "one" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizePercentage "one">: error calling humanizePercentage: strconv.ParseFloat: parsing "one": invalid syntax"#,
                ),
            ),
            (r#"{{ humanizePercentage "+Inf" }}"#, ok("+Inf%")),
            (r#"{{ humanizePercentage "-Inf" }}"#, ok("-Inf%")),
            (r#"{{ humanizePercentage "NaN" }}"#, ok("NaN%")),
            (
                r#"{{ humanizePercentage "1e400" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizePercentage "1e400">: error calling humanizePercentage: strconv.ParseFloat: parsing "1e400": value out of range"#,
                ),
            ),
            (r#"{{ humanizePercentage "inf" }}"#, ok("+Inf%")),
            (
                r#"{{ humanizePercentage "0x10" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizePercentage "0x10">: error calling humanizePercentage: strconv.ParseFloat: parsing "0x10": invalid syntax"#,
                ),
            ),
            (r#"{{ humanizePercentage "1_000" }}"#, ok("1e+05%")),
            (
                r#"{{ humanizePercentage " 1" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizePercentage " 1">: error calling humanizePercentage: strconv.ParseFloat: parsing " 1": invalid syntax"#,
                ),
            ),
            (
                r#"{{ humanizePercentage "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizePercentage "">: error calling humanizePercentage: strconv.ParseFloat: parsing "": invalid syntax"#,
                ),
            ),
            (
                "{{ humanizePercentage true }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizePercentage true>: error calling humanizePercentage: can't convert bool to float"#,
                ),
            ),
            (
                "{{ humanizePercentage nil }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizePercentage nil>: error calling humanizePercentage: can't convert <nil> to float"#,
                ),
            ),
            (
                r#"{{ humanizePercentage (safeHtml "1") }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizePercentage (safeHtml "1")>: error calling humanizePercentage: can't convert template.HTML to float"#,
                ),
            ),
            ("{{ humanizePercentage $value }}", ok("87.34%")),
            ("{{ humanizePercentage .Value }}", ok("87.34%")),
            (
                "{{ humanizePercentage $labels.job }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizePercentage $labels.job>: error calling humanizePercentage: strconv.ParseFloat: parsing "node": invalid syntax"#,
                ),
            ),
            ("{{ humanizeDuration 0.1 }}", ok("100ms")),
            ("{{ humanizeDuration .0001 }}", ok("100us")),
            ("{{ humanizeDuration .12345 }}", ok("123.5ms")),
            ("{{ humanizeDuration 60.1 }}", ok("1m 0s")),
            ("{{ humanizeDuration 60.5 }}", ok("1m 0s")),
            ("{{ humanizeDuration 1.2345 }}", ok("1.234s")),
            ("{{ humanizeDuration 12.345 }}", ok("12.35s")),
            ("{{ humanizeDuration 3661 }}", ok("1h 1m 1s")),
            ("{{ humanizeDuration 0.5 }}", ok("500ms")),
            ("{{ humanizeDuration 86400 }}", ok("1d 0h 0m 0s")),
            ("{{ humanizeDuration 90061 }}", ok("1d 1h 1m 1s")),
            ("{{ humanizeDuration -90061 }}", ok("-1d 1h 1m 1s")),
            ("{{ humanizeDuration 899.99 }}", ok("14m 59s")),
            ("{{ humanizeDuration 1234567 }}", ok("14d 6h 56m 7s")),
            ("{{ humanizeDuration -1 }}", ok("-1s")),
            ("{{ humanizeDuration 1e-20 }}", ok("10zs")),
            ("{{ humanizeDuration 1e-30 }}", ok("1e-06ys")),
            ("{{ humanizeDuration 9.3e18 }}", ok("-106751991167300d -15h -30m -8s")),
            ("{{ humanizeDuration 1e19 }}", ok("-106751991167300d -15h -30m -8s")),
            ("{{ -0.22222 | humanizePercentage }}", ok("-22.22%")),
            ("{{ 0.0 | humanizePercentage }}", ok("0%")),
            ("{{ 0.1234567 | humanizePercentage }}", ok("12.35%")),
            ("{{ 1.23456 | humanizePercentage }}", ok("123.5%")),
            ("{{ 0.1234 | humanizePercentage }}", ok("12.34%")),
            ("{{ 1 | humanizePercentage }}", ok("100%")),
            (r#"{{ with query "up" }}{{ . | first | value | humanize }}{{ end }}"#, ok("21")),
            (r#"{{ range sortByLabel "nope" (query "x") }}{{ .Value }}{{ end }}"#, ok("211.5")),
            (
                "{{ $labels.instance }} CPU at {{ $value | humanizePercentage }}",
                ok("host1.example.com:9100 CPU at 87.34%"),
            ),
            ("{{ $labels.instance }}: {{ $value | humanize1024 }}B free", ok("host1.example.com:9100: 0.8734B free")),
            ("{{ if gt $value 0.8 }}high{{ else }}ok{{ end }}", ok("high")),
            (
                "Value: {{ $value }}\nLabels: {{ $labels }}\n",
                ok(
                    "Value: 0.8734\nLabels: map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical]\n",
                ),
            ),
        ],
    );
}

#[test]
fn humanize_other() {
    check(
        &other(),
        &[
            (
                "{{ humanize 1000 }} {{ humanize 999999 }} {{ humanize 1e24 }} {{ humanize 1e25 }} {{ humanize 1e-25 }} {{ humanize 1e-30 }} {{ humanize -0.000001 }} {{ humanize 0.999999 }}",
                ok("1k 1000k 1Y 10Y 0.1y 1e-06y -1u 1000m"),
            ),
            (
                "{{ humanize1024 1024 }} {{ humanize1024 1023 }} {{ humanize1024 -2048 }} {{ humanize1024 1e30 }} {{ humanize1024 0.5 }} {{ humanize1024 -1 }}",
                ok("1ki 1023 -2ki 8.272e+05Yi 0.5 -1"),
            ),
            (
                "{{ humanizeDuration 59.999 }} {{ humanizeDuration 0.0009999 }} {{ humanizeDuration -0.5 }} {{ humanizeDuration 1e-27 }} {{ humanizeDuration 9.999e-25 }}",
                ok("60s 999.9us -500ms 0.001ys 0.9999ys"),
            ),
            (
                r#"{{ humanizePercentage 0.00001234 }} {{ humanizePercentage 12345 }} {{ humanizePercentage -1e-10 }} {{ humanizePercentage "NaN" }}"#,
                ok("0.001234% 1.234e+06% -1e-08% NaN%"),
            ),
            ("{{ humanizePercentage 1e20 }}", ok("1e+22%")),
            ("{{ $value | humanize }} {{ .Value | humanize }} {{ humanize .Value }}", ok("873.4m 873.4m 873.4m")),
            (r#"{{ range $i := query "x" }}{{ $i.Value }} {{ end }}"#, ok("21 NaN ")),
            ("{{ range $labels }}{{ $.Value }}{{ end }}", ok("0.87340.87340.87340.8734")),
            (
                r#"{{ (query "x" | first).Value 1 }}"#,
                exec_err(r#"1:128: executing "t" at <first>: Value has arguments but cannot be invoked as function"#),
            ),
            (
                r#"{{ .Value | (query "x" | first).Labels }}"#,
                exec_err(r#"1:137: executing "t" at <first>: Labels has arguments but cannot be invoked as function"#),
            ),
        ],
    );
}

#[test]
fn humanize_other_contexts() {
    check(
        &Ctx {
            samples: vec![(LabelMap::new(), 1e-09), (LabelMap::new(), -1234567.0), (LabelMap::new(), f64::NAN)],
            ..other()
        },
        &[(
            r#"{{ range query "x" }}{{ .Value }} {{ . | value | humanize }} {{ end }}"#,
            ok("1e-09 1n -1.234567e+06 -1.235M NaN NaN "),
        )],
    );
}
