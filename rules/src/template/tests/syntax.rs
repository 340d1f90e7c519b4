//! Lexing and parsing: literals, trim markers, comments, and the parse errors Go reports.
//!
//! Expectations are Go's output for the same template and context.

use super::*;

#[test]
fn syntax_base() {
    check(
        &base(),
        &[
            ("{{/* unclosed", parse_err("1: unclosed comment")),
            ("{{/* c */ }}", parse_err("1: comment ends before closing delimiter")),
            ("{{3-}}", parse_err(r#"1: bad number syntax: "3-""#)),
            ("{{", parse_err("1: unclosed action")),
            ("{{ }}", parse_err("1: missing value for command")),
            ("{{ 1 }", parse_err(r#"1: unexpected "}" in operand"#)),
            ("{{ $x := }}", parse_err("1: missing value for command")),
            ("{{ foo }}", parse_err(r#"1: function "foo" not defined"#)),
            ("{{ $nope }}", parse_err(r#"1: undefined variable "$nope""#)),
            ("{{ 08 }}", parse_err(r#"1: integer overflow: "08""#)),
            ("{{ 'ab' }}", parse_err("1: malformed character constant: 'ab'")),
            ("{{ '' }}", parse_err("1: invalid syntax")),
            ("{{ 99999999999999999999 }}", parse_err(r#"1: integer overflow: "99999999999999999999""#)),
            ("{{ 1e }}", parse_err(r#"1: illegal number syntax: "1e""#)),
            ("{{ 0x }}", parse_err(r#"1: illegal number syntax: "0x""#)),
            ("{{ 1.2.3 }}", parse_err(r#"1: unexpected ".3" in operand"#)),
            ("{{ 3abc }}", parse_err(r#"1: bad number syntax: "3a""#)),
            (r#"{{ "\q" }}"#, parse_err("1: invalid syntax")),
            (r#"{{ "unterminated }}"#, parse_err("1: unterminated quoted string")),
            ("{{ `unterminated }}", parse_err("1: unterminated raw quoted string")),
            ("{{ 1 | 2 }}", parse_err("1: non executable command in pipeline stage 2")),
            (r#"{{ printf "%s" | 1 }}"#, parse_err("1: non executable command in pipeline stage 2")),
            ("{{ (1 }}", parse_err("1: unclosed left paren")),
            ("{{ 1) }}", parse_err("1: unexpected right paren")),
            ("{{ $x, $y := 1 }}", parse_err("1: too many declarations in command")),
            ("{{ if true }}{{ $z := 3 }}{{ end }}{{ $z }}", parse_err(r#"1: undefined variable "$z""#)),
            ("{{ 3 | 4 }}", parse_err("1: non executable command in pipeline stage 2")),
            ("{{ now | 3 }}", parse_err("1: non executable command in pipeline stage 2")),
            ("{{ if }}x{{ end }}", parse_err("1: missing value for if")),
            ("{{ if 1 }}x", parse_err("1: unexpected EOF")),
            ("{{ if 1 }}x{{ else }}y{{ else }}z{{ end }}", parse_err("1: expected end; found {{else}}")),
            ("{{ end }}", parse_err("1: unexpected {{end}}")),
            ("{{ else }}", parse_err("1: unexpected {{else}}")),
            ("{{ if 1 }}{{ end }}{{ end }}", parse_err("1: unexpected {{end}}")),
            ("{{ with $x := $labels.job }}{{ end }}{{ $x }}", parse_err(r#"1: undefined variable "$x""#)),
            ("{{ range $a, $b, $c := . }}{{ end }}", parse_err("1: too many declarations in range")),
            ("{{ range $a, 1 := . }}{{ end }}", parse_err("1: range can only initialize variables")),
            ("{{ break }}", parse_err("1: {{break}} outside {{range}}")),
            ("{{ range . }}{{ break 1 }}{{ end }}", parse_err(r#"1: unexpected "1" in {{break}}"#)),
            ("{{ continue }}", parse_err("1: {{continue}} outside {{range}}")),
            ("{{ range $i, $e := $labels }}{{ $i }}{{ end }}{{ $i }}", parse_err(r#"1: undefined variable "$i""#)),
            ("{{ with 1 }}{{ else if 2 }}{{ end }}", parse_err("1: unexpected <if> in input")),
            ("{{ range 1 }}{{ else with 2 }}{{ end }}", parse_err("1: unexpected <with> in input")),
            ("{{ if true }}\n{{ if }}\n{{ end }}", parse_err("2: missing value for if")),
            ("x\n{{ if 1 }}\n{{ 1 +}}\n{{ end }}", parse_err(r#"3: illegal number syntax: "+""#)),
            ("{{ 1\n", parse_err("2: unclosed action started at t:1")),
            ("a\nb\n{{ \"x\n\" }}", parse_err("3: unterminated quoted string")),
            ("{{ .Labels.\n }}", parse_err("1: unexpected <.> in operand")),
            (r#"{{ define "x" }}{{ $labels }}{{ end }}"#, parse_err(r#"1: undefined variable "$labels""#)),
            (
                r#"{{ define "b" }}D{{ end }}{{ block "b" . }}B{{ end }}"#,
                parse_err(r#"1: template: multiple definition of template "b""#),
            ),
            (
                r#"{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}"#,
                parse_err(r#"1: template: multiple definition of template "x""#),
            ),
            (r#"{{ define "t" }}a{{ end }}"#, parse_err(r#"1: template: multiple definition of template "t""#)),
            ("{{ define 1 }}{{ end }}", parse_err(r#"1: unexpected "1" in define clause"#)),
            (r#"{{ define "x" }}"#, parse_err("1: unexpected EOF")),
            (r#"{{ define "x" }}{{ else }}{{ end }}"#, parse_err("1: unexpected {{else}} in define clause")),
            ("{{ template 1 }}", parse_err(r#"1: unexpected "1" in template clause"#)),
            (r#"{{ block "x" }}{{ end }}"#, parse_err("1: missing value for block clause")),
            (r#"{{ define "x" }}{{ break }}{{ end }}"#, parse_err("1: {{break}} outside {{range}}")),
            (r#"{{ printf "%.3e" NaN }}"#, parse_err(r#"1: function "NaN" not defined"#)),
            (r#"{{ printf "%06.2f" +Inf }}"#, parse_err(r#"1: bad number syntax: "+I""#)),
        ],
    );
}

#[test]
fn syntax_other() {
    check(
        &other(),
        &[
            ("{{/* a\nb */}}{{ foo }}", parse_err(r#"2: function "foo" not defined"#)),
            ("{{ if 1 }}\n{{ else }}\n{{ else }}\n{{ end }}", parse_err("3: expected end; found {{else}}")),
            ("{{ block \"b\" 1 }}\n{{ else }}{{ end }}", parse_err("1: unexpected {{else}} in block clause")),
            ("{{ define \"x\" }}\n{{ else }}{{ end }}", parse_err("2: unexpected {{else}} in define clause")),
            (r#"{{ printf "%06.2f|%-6.1f|" NaN 1.0 }}"#, parse_err(r#"1: function "NaN" not defined"#)),
            (r#"{{ printf "%+f % f %f" +Inf -Inf NaN }}"#, parse_err(r#"1: bad number syntax: "+I""#)),
            (r#"{{ printf "%5.1f|%-7.2e|" +Inf 1.0 }}"#, parse_err(r#"1: bad number syntax: "+I""#)),
        ],
    );
}
