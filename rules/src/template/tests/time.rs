//! Time: `humanizeTimestamp`, `toTime`, `toDuration`, `parseDuration`, `now`, and the methods
//! and layouts of times and durations.
//!
//! Expectations are Go's output for the same template and context.

use super::*;

#[test]
fn time_base() {
    check(
        &base(),
        &[
            (
                "{{ humanize (toDuration 2) }}",
                exec_err(
                    r#"1:115: executing "t" at <humanize (toDuration 2)>: error calling humanize: can't convert *time.Duration to float"#,
                ),
            ),
            (
                "{{ humanize (toTime 1) }}",
                exec_err(
                    r#"1:115: executing "t" at <humanize (toTime 1)>: error calling humanize: can't convert *time.Time to float"#,
                ),
            ),
            ("{{ humanize ((now | toTime).Sub (0 | toTime)) }}", ok("1.354G")),
            (
                "{{ humanize1024 (toDuration 2) }}",
                exec_err(
                    r#"1:115: executing "t" at <humanize1024 (toDuration 2)>: error calling humanize1024: can't convert *time.Duration to float"#,
                ),
            ),
            (
                "{{ humanize1024 (toTime 1) }}",
                exec_err(
                    r#"1:115: executing "t" at <humanize1024 (toTime 1)>: error calling humanize1024: can't convert *time.Time to float"#,
                ),
            ),
            ("{{ humanize1024 ((now | toTime).Sub (0 | toTime)) }}", ok("1.261Gi")),
            (
                "{{ humanizeDuration (toDuration 2) }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeDuration (toDuration 2)>: error calling humanizeDuration: can't convert *time.Duration to float"#,
                ),
            ),
            (
                "{{ humanizeDuration (toTime 1) }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeDuration (toTime 1)>: error calling humanizeDuration: can't convert *time.Time to float"#,
                ),
            ),
            ("{{ humanizeDuration ((now | toTime).Sub (0 | toTime)) }}", ok("15668d 11h 14m 12s")),
            (
                "{{ humanizePercentage (toDuration 2) }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizePercentage (toDuration 2)>: error calling humanizePercentage: can't convert *time.Duration to float"#,
                ),
            ),
            (
                "{{ humanizePercentage (toTime 1) }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizePercentage (toTime 1)>: error calling humanizePercentage: can't convert *time.Time to float"#,
                ),
            ),
            ("{{ humanizePercentage ((now | toTime).Sub (0 | toTime)) }}", ok("1.354e+11%")),
            ("{{ humanizeTimestamp 0 }}", ok("1970-01-01 00:00:00 +0000 UTC")),
            ("{{ humanizeTimestamp 1 }}", ok("1970-01-01 00:00:01 +0000 UTC")),
            ("{{ humanizeTimestamp 1234567 }}", ok("1970-01-15 06:56:07 +0000 UTC")),
            ("{{ humanizeTimestamp 1234567.0 }}", ok("1970-01-15 06:56:07 +0000 UTC")),
            ("{{ humanizeTimestamp 0.001234 }}", ok("1970-01-01 00:00:00.001 +0000 UTC")),
            ("{{ humanizeTimestamp -1234 }}", ok("1969-12-31 23:39:26 +0000 UTC")),
            ("{{ humanizeTimestamp 0.12 }}", ok("1970-01-01 00:00:00.12 +0000 UTC")),
            ("{{ humanizeTimestamp 1e-9 }}", ok("1970-01-01 00:00:00 +0000 UTC")),
            (
                "{{ humanizeTimestamp 1e27 }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp 1e27>: error calling humanizeTimestamp: 1e+27 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            (
                "{{ humanizeTimestamp 1e30 }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp 1e30>: error calling humanizeTimestamp: 1e+30 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            ("{{ humanizeTimestamp 999.95 }}", ok("1970-01-01 00:16:39.95 +0000 UTC")),
            ("{{ humanizeTimestamp 999999 }}", ok("1970-01-12 13:46:39 +0000 UTC")),
            ("{{ humanizeTimestamp -0.0005 }}", ok("1970-01-01 00:00:00 +0000 UTC")),
            (r#"{{ humanizeTimestamp "0.0" }}"#, ok("1970-01-01 00:00:00 +0000 UTC")),
            (r#"{{ humanizeTimestamp "1234567.0" }}"#, ok("1970-01-15 06:56:07 +0000 UTC")),
            (r#"{{ humanizeTimestamp ".12" }}"#, ok("1970-01-01 00:00:00.12 +0000 UTC")),
            (
                r#"{{ humanizeTimestamp "one" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp "one">: error calling humanizeTimestamp: strconv.ParseFloat: parsing "one": invalid syntax"#,
                ),
            ),
            (r#"{{ humanizeTimestamp "+Inf" }}"#, ok("+Inf")),
            (r#"{{ humanizeTimestamp "-Inf" }}"#, ok("-Inf")),
            (r#"{{ humanizeTimestamp "NaN" }}"#, ok("NaN")),
            (
                r#"{{ humanizeTimestamp "1e400" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp "1e400">: error calling humanizeTimestamp: strconv.ParseFloat: parsing "1e400": value out of range"#,
                ),
            ),
            (r#"{{ humanizeTimestamp "inf" }}"#, ok("+Inf")),
            (
                r#"{{ humanizeTimestamp "0x10" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp "0x10">: error calling humanizeTimestamp: strconv.ParseFloat: parsing "0x10": invalid syntax"#,
                ),
            ),
            (r#"{{ humanizeTimestamp "1_000" }}"#, ok("1970-01-01 00:16:40 +0000 UTC")),
            (
                r#"{{ humanizeTimestamp " 1" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp " 1">: error calling humanizeTimestamp: strconv.ParseFloat: parsing " 1": invalid syntax"#,
                ),
            ),
            (
                r#"{{ humanizeTimestamp "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp "">: error calling humanizeTimestamp: strconv.ParseFloat: parsing "": invalid syntax"#,
                ),
            ),
            (
                "{{ humanizeTimestamp true }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp true>: error calling humanizeTimestamp: can't convert bool to float"#,
                ),
            ),
            (
                "{{ humanizeTimestamp nil }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp nil>: error calling humanizeTimestamp: can't convert <nil> to float"#,
                ),
            ),
            (
                r#"{{ humanizeTimestamp (safeHtml "1") }}"#,
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp (safeHtml "1")>: error calling humanizeTimestamp: can't convert template.HTML to float"#,
                ),
            ),
            ("{{ humanizeTimestamp $value }}", ok("1970-01-01 00:00:00.873 +0000 UTC")),
            ("{{ humanizeTimestamp .Value }}", ok("1970-01-01 00:00:00.873 +0000 UTC")),
            (
                "{{ humanizeTimestamp $labels.job }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp $labels.job>: error calling humanizeTimestamp: strconv.ParseFloat: parsing "node": invalid syntax"#,
                ),
            ),
            (
                "{{ humanizeTimestamp (toDuration 2) }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp (toDuration 2)>: error calling humanizeTimestamp: can't convert *time.Duration to float"#,
                ),
            ),
            (
                "{{ humanizeTimestamp (toTime 1) }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp (toTime 1)>: error calling humanizeTimestamp: can't convert *time.Time to float"#,
                ),
            ),
            ("{{ humanizeTimestamp ((now | toTime).Sub (0 | toTime)) }}", ok("2012-11-24 11:14:12 +0000 UTC")),
            ("{{ toTime 0 }}", ok("1970-01-01 00:00:00 +0000 UTC")),
            ("{{ toTime 1 }}", ok("1970-01-01 00:00:01 +0000 UTC")),
            ("{{ toTime 1234567 }}", ok("1970-01-15 06:56:07 +0000 UTC")),
            ("{{ toTime 1234567.0 }}", ok("1970-01-15 06:56:07 +0000 UTC")),
            ("{{ toTime 0.001234 }}", ok("1970-01-01 00:00:00.001 +0000 UTC")),
            ("{{ toTime -1234 }}", ok("1969-12-31 23:39:26 +0000 UTC")),
            ("{{ toTime 0.12 }}", ok("1970-01-01 00:00:00.12 +0000 UTC")),
            ("{{ toTime 1e-9 }}", ok("1970-01-01 00:00:00 +0000 UTC")),
            (
                "{{ toTime 1e27 }}",
                exec_err(
                    r#"1:115: executing "t" at <toTime 1e27>: error calling toTime: 1e+27 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            (
                "{{ toTime 1e30 }}",
                exec_err(
                    r#"1:115: executing "t" at <toTime 1e30>: error calling toTime: 1e+30 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            ("{{ toTime 999.95 }}", ok("1970-01-01 00:16:39.95 +0000 UTC")),
            ("{{ toTime 999999 }}", ok("1970-01-12 13:46:39 +0000 UTC")),
            ("{{ toTime -0.0005 }}", ok("1970-01-01 00:00:00 +0000 UTC")),
            (r#"{{ toTime "0.0" }}"#, ok("1970-01-01 00:00:00 +0000 UTC")),
            (r#"{{ toTime "1234567.0" }}"#, ok("1970-01-15 06:56:07 +0000 UTC")),
            (r#"{{ toTime ".12" }}"#, ok("1970-01-01 00:00:00.12 +0000 UTC")),
            (
                r#"{{ toTime "one" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toTime "one">: error calling toTime: strconv.ParseFloat: parsing "one": invalid syntax"#,
                ),
            ),
            (
                r#"{{ toTime "+Inf" }}"#,
                exec_err(r#"1:115: executing "t" at <toTime "+Inf">: error calling toTime: value is NaN or Inf"#),
            ),
            (
                r#"{{ toTime "-Inf" }}"#,
                exec_err(r#"1:115: executing "t" at <toTime "-Inf">: error calling toTime: value is NaN or Inf"#),
            ),
            (
                r#"{{ toTime "NaN" }}"#,
                exec_err(r#"1:115: executing "t" at <toTime "NaN">: error calling toTime: value is NaN or Inf"#),
            ),
            (
                r#"{{ toTime "1e400" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toTime "1e400">: error calling toTime: strconv.ParseFloat: parsing "1e400": value out of range"#,
                ),
            ),
            (
                r#"{{ toTime "inf" }}"#,
                exec_err(r#"1:115: executing "t" at <toTime "inf">: error calling toTime: value is NaN or Inf"#),
            ),
            (
                r#"{{ toTime "0x10" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toTime "0x10">: error calling toTime: strconv.ParseFloat: parsing "0x10": invalid syntax"#,
                ),
            ),
            (r#"{{ toTime "1_000" }}"#, ok("1970-01-01 00:16:40 +0000 UTC")),
            (
                r#"{{ toTime " 1" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toTime " 1">: error calling toTime: strconv.ParseFloat: parsing " 1": invalid syntax"#,
                ),
            ),
            (
                r#"{{ toTime "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toTime "">: error calling toTime: strconv.ParseFloat: parsing "": invalid syntax"#,
                ),
            ),
            (
                "{{ toTime true }}",
                exec_err(r#"1:115: executing "t" at <toTime true>: error calling toTime: can't convert bool to float"#),
            ),
            (
                "{{ toTime nil }}",
                exec_err(r#"1:115: executing "t" at <toTime nil>: error calling toTime: can't convert <nil> to float"#),
            ),
            (
                r#"{{ toTime (safeHtml "1") }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toTime (safeHtml "1")>: error calling toTime: can't convert template.HTML to float"#,
                ),
            ),
            ("{{ toTime $value }}", ok("1970-01-01 00:00:00.873 +0000 UTC")),
            ("{{ toTime .Value }}", ok("1970-01-01 00:00:00.873 +0000 UTC")),
            (
                "{{ toTime $labels.job }}",
                exec_err(
                    r#"1:115: executing "t" at <toTime $labels.job>: error calling toTime: strconv.ParseFloat: parsing "node": invalid syntax"#,
                ),
            ),
            (
                "{{ toTime (toDuration 2) }}",
                exec_err(
                    r#"1:115: executing "t" at <toTime (toDuration 2)>: error calling toTime: can't convert *time.Duration to float"#,
                ),
            ),
            (
                "{{ toTime (toTime 1) }}",
                exec_err(
                    r#"1:115: executing "t" at <toTime (toTime 1)>: error calling toTime: can't convert *time.Time to float"#,
                ),
            ),
            ("{{ toTime ((now | toTime).Sub (0 | toTime)) }}", ok("2012-11-24 11:14:12 +0000 UTC")),
            ("{{ toDuration 0 }}", ok("0s")),
            ("{{ toDuration 1 }}", ok("1s")),
            ("{{ toDuration 1234567 }}", ok("342h56m7s")),
            ("{{ toDuration 1234567.0 }}", ok("342h56m7s")),
            ("{{ toDuration 0.001234 }}", ok("1.234ms")),
            ("{{ toDuration -1234 }}", ok("-20m34s")),
            ("{{ toDuration 0.12 }}", ok("120ms")),
            ("{{ toDuration 1e-9 }}", ok("1ns")),
            ("{{ toDuration 1e27 }}", ok("-2562047h47m16.854775808s")),
            ("{{ toDuration 1e30 }}", ok("-2562047h47m16.854775808s")),
            ("{{ toDuration 999.95 }}", ok("16m39.95s")),
            ("{{ toDuration 999999 }}", ok("277h46m39s")),
            ("{{ toDuration -0.0005 }}", ok("-500µs")),
            (r#"{{ toDuration "0.0" }}"#, ok("0s")),
            (r#"{{ toDuration "1234567.0" }}"#, ok("342h56m7s")),
            (r#"{{ toDuration ".12" }}"#, ok("120ms")),
            (
                r#"{{ toDuration "one" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toDuration "one">: error calling toDuration: strconv.ParseFloat: parsing "one": invalid syntax"#,
                ),
            ),
            (r#"{{ toDuration "+Inf" }}"#, ok("-2562047h47m16.854775808s")),
            (r#"{{ toDuration "-Inf" }}"#, ok("-2562047h47m16.854775808s")),
            (r#"{{ toDuration "NaN" }}"#, ok("-2562047h47m16.854775808s")),
            (
                r#"{{ toDuration "1e400" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toDuration "1e400">: error calling toDuration: strconv.ParseFloat: parsing "1e400": value out of range"#,
                ),
            ),
            (r#"{{ toDuration "inf" }}"#, ok("-2562047h47m16.854775808s")),
            (
                r#"{{ toDuration "0x10" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toDuration "0x10">: error calling toDuration: strconv.ParseFloat: parsing "0x10": invalid syntax"#,
                ),
            ),
            (r#"{{ toDuration "1_000" }}"#, ok("16m40s")),
            (
                r#"{{ toDuration " 1" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toDuration " 1">: error calling toDuration: strconv.ParseFloat: parsing " 1": invalid syntax"#,
                ),
            ),
            (
                r#"{{ toDuration "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toDuration "">: error calling toDuration: strconv.ParseFloat: parsing "": invalid syntax"#,
                ),
            ),
            (
                "{{ toDuration true }}",
                exec_err(
                    r#"1:115: executing "t" at <toDuration true>: error calling toDuration: can't convert bool to float"#,
                ),
            ),
            (
                "{{ toDuration nil }}",
                exec_err(
                    r#"1:115: executing "t" at <toDuration nil>: error calling toDuration: can't convert <nil> to float"#,
                ),
            ),
            (
                r#"{{ toDuration (safeHtml "1") }}"#,
                exec_err(
                    r#"1:115: executing "t" at <toDuration (safeHtml "1")>: error calling toDuration: can't convert template.HTML to float"#,
                ),
            ),
            ("{{ toDuration $value }}", ok("873.4ms")),
            ("{{ toDuration .Value }}", ok("873.4ms")),
            (
                "{{ toDuration $labels.job }}",
                exec_err(
                    r#"1:115: executing "t" at <toDuration $labels.job>: error calling toDuration: strconv.ParseFloat: parsing "node": invalid syntax"#,
                ),
            ),
            (
                "{{ toDuration (toDuration 2) }}",
                exec_err(
                    r#"1:115: executing "t" at <toDuration (toDuration 2)>: error calling toDuration: can't convert *time.Duration to float"#,
                ),
            ),
            (
                "{{ toDuration (toTime 1) }}",
                exec_err(
                    r#"1:115: executing "t" at <toDuration (toTime 1)>: error calling toDuration: can't convert *time.Time to float"#,
                ),
            ),
            ("{{ toDuration ((now | toTime).Sub (0 | toTime)) }}", ok("376043h14m12s")),
            ("{{ humanizeTimestamp 0 }}", ok("1970-01-01 00:00:00 +0000 UTC")),
            ("{{ humanizeTimestamp -1 }}", ok("1969-12-31 23:59:59 +0000 UTC")),
            ("{{ humanizeTimestamp 1 }}", ok("1970-01-01 00:00:01 +0000 UTC")),
            ("{{ humanizeTimestamp 1234567 }}", ok("1970-01-15 06:56:07 +0000 UTC")),
            ("{{ humanizeTimestamp 9223372036 }}", ok("2262-04-11 23:47:16 +0000 UTC")),
            ("{{ humanizeTimestamp 1435065584.128 }}", ok("2015-06-23 13:19:44.128 +0000 UTC")),
            ("{{ humanizeTimestamp -0.5 }}", ok("1969-12-31 23:59:59.5 +0000 UTC")),
            (
                "{{ humanizeTimestamp 1e10 }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp 1e10>: error calling humanizeTimestamp: 1e+10 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            (
                "{{ humanizeTimestamp 9.3e9 }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp 9.3e9>: error calling humanizeTimestamp: 9.3e+09 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            (
                "{{ humanizeTimestamp -9.3e9 }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp -9.3e9>: error calling humanizeTimestamp: -9.3e+09 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            ("{{ humanizeTimestamp 1435065584.1239 }}", ok("2015-06-23 13:19:44.123 +0000 UTC")),
            (r#"{{ humanizeTimestamp "1435065584.128" }}"#, ok("2015-06-23 13:19:44.128 +0000 UTC")),
            ("{{ now }}", ok("1.353755652e+09")),
            (r#"{{ (now | toTime).Format "Mon Jan 2 15:04:05 2006" }}"#, ok("Sat Nov 24 11:14:12 2012")),
            (r#"{{ (1435065584.128 | toTime).Format "2006" }}"#, ok("2015")),
            (
                r#"{{ ("1435065584.128" | toTime).Format "2006-01-02T15:04:05.000Z07:00" }}"#,
                ok("2015-06-23T13:19:44.128Z"),
            ),
            ("{{ (1800 | toDuration).String }}", ok("30m0s")),
            (r#"{{ ("1800" | toDuration).String }}"#, ok("30m0s")),
            (r#"{{ ("-30m" | parseDuration | toDuration | (now | toTime).Add).UnixMilli }}"#, ok("1353753852000")),
            (r#"{{ parseDuration "1y2w3d" }}"#, ok("3.30048e+07")),
            (
                r#"{{ parseDuration "5x" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <parseDuration "5x">: error calling parseDuration: unknown unit "x" in duration "5x""#,
                ),
            ),
            (
                r#"{{ parseDuration "1m1h" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <parseDuration "1m1h">: error calling parseDuration: not a valid duration string: "1m1h""#,
                ),
            ),
            (
                r#"{{ parseDuration "" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <parseDuration "">: error calling parseDuration: empty duration string"#,
                ),
            ),
            (r#"{{ parseDuration "0" }}"#, ok("0")),
            (
                r#"{{ parseDuration "1.5h" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <parseDuration "1.5h">: error calling parseDuration: unknown unit "." in duration "1.5h""#,
                ),
            ),
            (
                r#"{{ parseDuration "9999999999999y" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <parseDuration "9999999999999y">: error calling parseDuration: duration out of range"#,
                ),
            ),
            (
                r#"{{ parseDuration "300y" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <parseDuration "300y">: error calling parseDuration: duration out of range"#,
                ),
            ),
            ("{{ toDuration 1.5 }}", ok("1.5s")),
            ("{{ toDuration 0.0000005 }}", ok("500ns")),
            ("{{ toDuration -90061.5 }}", ok("-25h1m1.5s")),
            ("{{ toDuration 1e300 }}", ok("-2562047h47m16.854775808s")),
            ("{{ toTime 0 }}", ok("1970-01-01 00:00:00 +0000 UTC")),
            ("{{ toTime -1.5 }}", ok("1969-12-31 23:59:58.5 +0000 UTC")),
            (
                "{{ toTime 1e300 }}",
                exec_err(
                    r#"1:115: executing "t" at <toTime 1e300>: error calling toTime: 1e+300 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            ("{{ (toTime 0).Unix }} {{ (toTime 1.5).UnixMilli }} {{ (toTime 1.5).UnixNano }}", ok("0 1500 1500000000")),
            (
                "{{ (toTime 1435065584.128).Year }} {{ (toTime 1435065584.128).YearDay }} {{ (toTime 1435065584.128).Hour }}",
                ok("2015 174 13"),
            ),
            (
                r#"{{ (toTime 0).Format "Jan January Mon Monday 1 01 2 02 _2 __2 002 3 03 15 4 04 5 05 06 2006 PM pm MST -0700 -07:00 -07 Z07:00 Z0700 .000 .999 ,000 Janx Monx" }}"#,
                ok(
                    "Jan January Thu Thursday 1 01 1 01  1   1 001 12 12 00 0 00 0 00 70 1970 AM am UTC +0000 +00:00 +00 Z Z .000  ,000 Janx Monx",
                ),
            ),
            (
                r#"{{ (toTime 1435065584.128).Format "15:04:05.000000 .9 .99 .999999999" }}"#,
                ok("13:19:44.128000 .1 .12 .128"),
            ),
            (r#"{{ (toTime -86401).Format "2006-01-02 15:04:05" }}"#, ok("1969-12-30 23:59:59")),
            ("{{ ((toTime 100).Sub (toTime 1)).String }}", ok("1m39s")),
            ("{{ (toTime 100).Sub (toTime 1) }}", ok("1m39s")),
            (
                "{{ (toTime 1).Before (toTime 2) }} {{ (toTime 1).After (toTime 2) }} {{ (toTime 1).Equal (toTime 1) }}",
                ok("true false true"),
            ),
            ("{{ (toTime 0).Add 1000000000 }}", ok("1970-01-01 00:00:01 +0000 UTC")),
            (
                "{{ (toTime 0).Add $value }}",
                exec_err(
                    r#"1:130: executing "t" at <$value>: wrong type for value; expected time.Duration; got float64"#,
                ),
            ),
            ("{{ (toTime 0).UTC }}", ok("1970-01-01 00:00:00 +0000 UTC")),
            ("{{ (toTime 0).IsZero }}", ok("false")),
            (
                "{{ (toDuration 5400).Hours }} {{ (toDuration 90).Minutes }} {{ (toDuration 1.5).Seconds }} {{ (toDuration 1.5).Milliseconds }}",
                ok("1.5 1.5 1.5 1500"),
            ),
            ("{{ ((toDuration 1.5).Round 1000000000).String }}", ok("2s")),
            (
                "{{ (toDuration 1).Foo }}",
                exec_err(r#"1:127: executing "t" at <1>: can't evaluate field Foo in type *time.Duration"#),
            ),
            (
                "{{ (toTime 0).Foo }}",
                exec_err(r#"1:123: executing "t" at <0>: can't evaluate field Foo in type *time.Time"#),
            ),
            (
                "{{ toTime 0 | humanize }}",
                exec_err(
                    r#"1:126: executing "t" at <humanize>: error calling humanize: can't convert *time.Time to float"#,
                ),
            ),
            (
                "{{ (toTime 0).Format }}",
                exec_err(r#"1:123: executing "t" at <0>: wrong number of args for Format: want 1 got 0"#),
            ),
            ("{{ (toTime 0).Format 1 }}", exec_err(r#"1:133: executing "t" at <1>: expected string; found 1"#)),
            ("{{ (toDuration 1.5).Truncate 1000000000 }}", ok("1s")),
            ("{{ ((toTime 1).Sub (toTime 2)) | humanizeDuration }}", ok("-1s")),
            ("{{ (toDuration -1.5).Abs }}", ok("1.5s")),
            ("{{ (toDuration 0).String }}", ok("0s")),
            ("{{ toDuration 0.000001 }}", ok("1µs")),
            ("{{ toDuration 0.001 }}", ok("1ms")),
            ("{{ toDuration 3600 }}", ok("1h0m0s")),
            ("{{ toDuration 86400.001 }}", ok("24h0m0.001s")),
        ],
    );
}

#[test]
fn time_other() {
    check(
        &other(),
        &[
            (
                "{{ now }} {{ now | humanizeTimestamp }} {{ (now | toTime).Nanosecond }}",
                ok("1.353755652123e+09 2012-11-24 11:14:12.122 +0000 UTC 122000000"),
            ),
            (
                "{{ humanizeTimestamp 1435065584.1231 }} {{ humanizeTimestamp 1435065584.0001 }} {{ humanizeTimestamp -1435065584.5 }} {{ humanizeTimestamp 253402300800 }}",
                exec_err(
                    r#"1:233: executing "t" at <humanizeTimestamp 253402300800>: error calling humanizeTimestamp: 2.534023008e+11 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            (
                "{{ humanizeTimestamp 1e12 }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp 1e12>: error calling humanizeTimestamp: 1e+12 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            (
                "{{ humanizeTimestamp -62135596800 }} {{ humanizeTimestamp -62135596801 }}",
                exec_err(
                    r#"1:115: executing "t" at <humanizeTimestamp -62135596800>: error calling humanizeTimestamp: -6.21355968e+10 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            (
                "{{ (toTime -62135596800).IsZero }}",
                exec_err(
                    r#"1:116: executing "t" at <toTime -62135596800>: error calling toTime: -6.21355968e+10 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
                ),
            ),
            (r#"{{ (toTime 1e9).Format "Monday, 02-Jan-06 15:04:05 MST" }}"#, ok("Sunday, 09-Sep-01 01:46:40 UTC")),
            (
                r#"{{ (toTime 1e9).Format "2006-01-02T15:04:05Z07:00" }} {{ (toTime 1e9).Format "3:04PM" }} {{ (toTime 1e9).Format "Jan _2 15:04:05.000000" }}"#,
                ok("2001-09-09T01:46:40Z 1:46AM Sep  9 01:46:40.000000"),
            ),
            (r#"{{ (toTime 1.000001).Format "05.999999999|05.000000000|05,999" }}"#, ok("01|01.000000000|01")),
            (r#"{{ (toTime 1e9).Format "" }}"#, ok("")),
            (
                r#"{{ (toTime 1e9).Format "Janu 2006x 002 __2 _2006 1 15 3 03 pm PM" }}"#,
                ok("Janu 2001x 252 252 _2001 9 01 1 01 am AM"),
            ),
            (
                r#"{{ (toTime 1e9).Format "Mon Monday Mond MST -07 -0700 -07:00 -07:00:00 -070000 Z07 Z0700 Z07:00 Z07:00:00 Z070000" }}"#,
                ok("Sun Sunday Mond UTC +00 +0000 +00:00 +00:00:00 +000000 Z Z Z Z Z"),
            ),
            (r#"{{ (toTime 1e9).Format ".0 .00 .9 .99 ,0 .0x .1 ..0" }}"#, ok(".0 .00   ,0 .0x .9 ..0")),
            (
                r#"{{ (toTime 1435065584.128).Format ".000000000 .999999999 .9999999999 .0000000000" }}"#,
                ok(".128000000 .128 .128 .128000000"),
            ),
            (
                "{{ toDuration 0.0000000015 }} {{ toDuration 0.0000015 }} {{ toDuration 0.0015 }} {{ toDuration 1.5 }} {{ toDuration 61.5 }} {{ toDuration 3661.001 }} {{ toDuration -0.5 }}",
                ok("1ns 1.5µs 1.5ms 1.5s 1m1.5s 1h1m1.001s -500ms"),
            ),
            (
                r#"{{ (toDuration 1e10).String }} {{ toDuration "x" }}"#,
                exec_err(
                    r#"1:146: executing "t" at <toDuration "x">: error calling toDuration: strconv.ParseFloat: parsing "x": invalid syntax"#,
                ),
            ),
            ("{{ toDuration 1e-10 }}", ok("0s")),
            (
                "{{ (toDuration 3661).Round 60000000000 }} {{ (toDuration -3661).Round 60000000000 }} {{ (toDuration 90).Round 0 }}",
                ok("1h1m0s -1h1m0s 1m30s"),
            ),
            (
                "{{ (toDuration 5400).Minutes }} {{ (toDuration 5400.5).Hours }} {{ (toDuration -1.25).Seconds }} {{ (toDuration 1.25).Microseconds }} {{ (toDuration 1.25).Nanoseconds }}",
                ok("90 1.500138888888889 -1.25 1250000 1250000000"),
            ),
            (
                r#"{{ parseDuration "1ms" }} {{ parseDuration "1d1ms" }} {{ parseDuration "1w" }} {{ parseDuration "-0" }} {{ parseDuration "-" }} {{ parseDuration "1s1s" }} {{ parseDuration "01s" }} {{ parseDuration "1us" }}"#,
                exec_err(
                    r#"1:219: executing "t" at <parseDuration "-">: error calling parseDuration: empty duration string"#,
                ),
            ),
            (
                r#"{{ parseDuration "1h30m" | humanizeDuration }} {{ parseDuration "292y" }} {{ parseDuration "293y" }}"#,
                exec_err(
                    r#"1:189: executing "t" at <parseDuration "293y">: error calling parseDuration: duration out of range"#,
                ),
            ),
            (
                r#"{{ parseDuration " 1s" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <parseDuration " 1s">: error calling parseDuration: not a valid duration string: " 1s""#,
                ),
            ),
            (
                r#"{{ parseDuration "1S" }}"#,
                exec_err(
                    r#"1:115: executing "t" at <parseDuration "1S">: error calling parseDuration: unknown unit "S" in duration "1S""#,
                ),
            ),
            ("{{ eq (toTime 1) (toTime 1) }}", ok("false")),
            ("{{ eq ((toTime 1).UTC) ((toTime 1).UTC) }}", ok("true")),
            ("{{ eq ((toTime 2).Sub (toTime 1)) 1000000000 }}", ok("true")),
            ("{{ lt ((toTime 2).Sub (toTime 1)) 5 }}", ok("false")),
            (
                "{{ index (toTime 1) 0 }}",
                exec_err(
                    r#"1:115: executing "t" at <index (toTime 1) 0>: error calling index: can't index item of type time.Time"#,
                ),
            ),
            (
                "{{ len (toTime 1) }}",
                exec_err(r#"1:115: executing "t" at <len (toTime 1)>: error calling len: len of type time.Time"#),
            ),
            (
                "{{ len (toDuration 1) }}",
                exec_err(
                    r#"1:115: executing "t" at <len (toDuration 1)>: error calling len: len of type time.Duration"#,
                ),
            ),
            ("{{ with toTime 1 }}{{ .Unix }}{{ end }}", ok("1")),
            (r#"{{ with $t := toTime 1 }}{{ $t.Format "15:04" }}{{ end }}"#, ok("00:00")),
            (
                r#"{{ (toTime 1).Format "a" "b" }}"#,
                exec_err(r#"1:123: executing "t" at <1>: wrong number of args for Format: want 1 got 2"#),
            ),
            (
                "{{ toTime 1 | .Unix }}",
                exec_err(
                    r#"1:126: executing "t" at <.Unix>: can't evaluate field Unix in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }"#,
                ),
            ),
        ],
    );
}

#[test]
fn time_other_contexts() {
    check(
        &Ctx { now_ms: -1, ..other() },
        &[("{{ now | humanizeTimestamp }}", ok("1969-12-31 23:59:59.999 +0000 UTC"))],
    );
    check(&Ctx { now_ms: 1600000000000, ..other() }, &[("{{ now }} {{ now | humanize }}", ok("1.6e+09 1.6G"))]);
    check(&Ctx { now_ms: 0, ..other() }, &[("{{ now }}", ok("0"))]);
}
