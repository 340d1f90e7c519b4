//! Parse error messages and positions, compared with Prometheus's API.
//!
//! The expected strings were recorded from Prometheus 2.42's `/api/v1/query` (its `error`
//! field without the API's `invalid parameter "query": ` prefix); where our text differs the
//! line says why. The test does not need Prometheus.

use query::{QueryError, parse};

#[test]
fn messages_match_prometheus() {
    let cases: &[(&str, &str)] = &[
        ("", "1:1: parse error: no expression found in input"),
        ("sum(up", "1:7: parse error: unclosed left parenthesis"),
        ("sum(up))", "1:9: parse error: unexpected right parenthesis ')'"),
        ("up{job=\"a\"", "1:11: parse error: unexpected end of input inside braces"),
        ("up{job=~}", "1:9: parse error: unexpected \"}\" in label matching, expected string"),
        ("up{job~\"a\"}", "1:7: parse error: unexpected character inside braces: '~'"),
        ("up{job=\"a\",,}", "1:12: parse error: unexpected \",\" in label matching, expected identifier or \"}\""),
        ("up{=\"a\"}", "1:4: parse error: unexpected \"=\" in label matching, expected identifier or \"}\""),
        ("up[5x]", "1:4: parse error: bad number or duration syntax: \"5x\""), // 2.42: bad duration syntax: "5"; 3.x lexes number-or-duration
        ("up[5m", "1:6: parse error: unclosed left bracket"),
        ("up[]", "1:4: parse error: missing unit character in duration"),
        ("rate(up[5m)", "1:11: parse error: unexpected \")\" in subquery or range, expected \":\" or \"]\""),
        ("foo(up)", "1:1: parse error: unknown function with name \"foo\""),
        ("unknown_func(up[5m])", "1:1: parse error: unknown function with name \"unknown_func\""),
        ("up ~ 1", "1:4: parse error: unexpected character: '~'"),
        ("1 +", "1:4: parse error: unexpected end of input"),
        ("+", "1:2: parse error: unexpected end of input"),
        (
            "sum by (job up)",
            "1:13: parse error: unexpected identifier \"up\" in grouping opts, expected \",\" or \")\"",
        ),
        ("sum(up) by", "1:11: parse error: unexpected end of input in grouping opts, expected \"(\""),
        ("up offset", "1:10: parse error: unexpected end of input in offset, expected duration"),
        ("up @", "1:5: parse error: unexpected end of input in @, expected timestamp"),
        ("rate(up[5m:1m:1m])", "1:14: parse error: unexpected colon ':'"),
        ("up[5m] offset", "1:14: parse error: unexpected end of input in offset, expected duration"),
        ("sum(rate(up[5m]))) by (job)", "1:19: parse error: unexpected right parenthesis ')'"),
        ("up and", "1:7: parse error: unexpected end of input"),
        ("up{job=\"a\"}}", "1:12: parse error: unexpected character: '}'"),
        ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        ("up ==", "1:6: parse error: unexpected end of input"),
        ("\"abc", "1:1: parse error: unterminated quoted string"),
        ("up{job='a}", "1:8: parse error: unterminated quoted string"),
        (
            "topk(up)",
            "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1",
        ),
        ("rate(up)", "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"),
        ("up[5m][5m]", "1:7: parse error: ranges only allowed for vector selectors"),
        ("1 + foo bar", "1:9: parse error: unexpected identifier \"bar\""),
        ("up == bool", "1:11: parse error: unexpected end of input"),
        (
            "up{job=\"a\" foo=\"b\"}",
            "1:12: parse error: unexpected identifier \"foo\" in label matching, expected \",\" or \"}\"",
        ),
        ("sum without(", "1:13: parse error: unclosed left parenthesis"),
        ("histogram_quantile(0.9, rate(x[5m])", "1:36: parse error: unclosed left parenthesis"),
        ("up}", "1:3: parse error: unexpected character: '}'"),
        ("up]", "1:3: parse error: unexpected right bracket ']'"),
        ("up @ foo", "1:6: parse error: unexpected identifier \"foo\" in @, expected timestamp"),
        ("count_over_time(up[1m]", "1:23: parse error: unclosed left parenthesis"),
        ("sum up", "1:5: parse error: unexpected identifier \"up\""),
        ("up + +", "1:7: parse error: unexpected end of input"),
        ("rate(up[5m] up)", "1:13: parse error: unexpected identifier \"up\""),
        ("sum(up) by (job) (x)", "1:18: parse error: unexpected \"(\""),
        ("up{job!}", "1:7: parse error: unexpected character after '!' inside braces: '}'"),
        ("up[5m:1m", "1:9: parse error: unclosed left bracket"),
        ("sum without (a,,b) (x)", "1:16: parse error: unexpected \",\" in grouping opts, expected label"),
        ("abs()", "1:1: parse error: expected 1 argument(s) in call to \"abs\", got 0"),
        (
            "up + on(job group_left up",
            "1:13: parse error: unexpected <group_left> in grouping opts, expected \",\" or \")\"",
        ),
        ("1 2", "1:3: parse error: unexpected number \"2\""),
        ("(up", "1:4: parse error: unclosed left parenthesis"),
        ("sum by job (up)", "1:8: parse error: unexpected identifier \"job\" in grouping opts, expected \"(\""),
        ("up{job=\"a\"} offset -", "1:21: parse error: unexpected end of input in offset, expected duration"),
        ("up * on", "1:8: parse error: unexpected end of input in grouping opts, expected \"(\""),
        (
            "up{job=\"a\" or}",
            "1:12: parse error: unexpected identifier \"or\" in label matching, expected \",\" or \"}\"",
        ),
        ("rate(up[5m],)", "1:12: parse error: trailing commas not allowed in function call args"),
        ("min_over_time(up[5m) ", "1:20: parse error: unexpected \")\" in subquery or range, expected \":\" or \"]\""),
        ("abs(up, up)", "1:1: parse error: expected 1 argument(s) in call to \"abs\", got 2"),
        ("up @ end(", "1:10: parse error: unclosed left parenthesis"),
        ("sum(up) without", "1:16: parse error: unexpected end of input in grouping opts, expected \"(\""),
        ("up{job=~\"(\"}", "parse error: illegal regex for ("), // 2.42: 1:4: ...error parsing regexp (Go regexp wording; no position yet)
    ];
    let mut bad = Vec::new();
    for (q, want) in cases {
        let err = match parse(q) {
            Ok(_) => {
                bad.push(format!("{q:?}: parsed, want {want:?}"));
                continue;
            }
            Err(e) => e,
        };
        assert!(matches!(err, QueryError::Parse { .. }), "{q}: {err:?}");
        assert_eq!(err.error_type(), "bad_data");
        if err.to_string() != *want {
            bad.push(format!("{q:?}:\n   got  {}\n   want {want}", err));
        }
    }
    assert!(bad.is_empty(), "{} of {} differ:\n{}", bad.len(), cases.len(), bad.join("\n"));
}

/// Prometheus 3 accepts a number of seconds after `offset` (2.42 did not).
#[test]
fn numeric_offset_is_accepted() {
    assert!(parse("up offset 5").is_ok());
}
