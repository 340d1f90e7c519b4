//! Go's printing: `printf` verbs, flags, widths and precisions, `print`, `println`, `html`,
//! `js`, `urlquery`, and how values of each type print.
//!
//! Expectations are Go's output for the same template and context.

use super::*;

#[test]
fn printf_base() {
    check(
        &base(),
        &[
            ("line1\nline2 {{ 1 | printf \"%d\" }}", ok("line1\nline2 1")),
            (r#"{{ "x" | printf "%s!" }}"#, ok("x!")),
            (r#"{{ .Labels.job | printf "%q" }}"#, ok(r#""node""#)),
            (r#"{{ printf "%d" 42 }}"#, ok("42")),
            (r#"{{ printf "%5d|%-5d|%05d" 42 42 42 }}"#, ok("   42|42   |00042")),
            (r#"{{ printf "%x %X %o %O %b" 255 255 8 8 5 }}"#, ok("ff FF 10 0o10 101")),
            (r#"{{ printf "%#x %#o %#b" 255 8 5 }}"#, ok("0xff 010 0b101")),
            (r#"{{ printf "%+d % d" 5 5 }}"#, ok("+5  5")),
            (r#"{{ printf "%c %q %U %#U" 65 65 233 233 }}"#, ok("A 'A' U+00E9 U+00E9 'é'")),
            (r#"{{ printf "%f" 3.14159 }}"#, ok("3.141590")),
            (r#"{{ printf "%.2f" $value }}"#, ok("0.87")),
            (r#"{{ printf "%.0f %.1f" 2.5 0.25 }}"#, ok("2 0.2")),
            (r#"{{ printf "%8.3f|%-8.3f|%08.3f" 3.14159 3.14159 -3.14159 }}"#, ok("   3.142|3.142   |-003.142")),
            (r#"{{ printf "%e %E" 123456.789 0.000123 }}"#, ok("1.234568e+05 1.230000E-04")),
            (r#"{{ printf "%g %G" 1e21 1e-7 }}"#, ok("1e+21 1E-07")),
            (r#"{{ printf "%.3g" 1234567.0 }}"#, ok("1.23e+06")),
            (r#"{{ printf "%v" $value }}"#, ok("0.8734")),
            (r#"{{ printf "%v %v" 1e6 100000.0 }}"#, ok("1e+06 100000")),
            (r#"{{ printf "%s" 1.5 }}"#, ok("%!s(float64=1.5)")),
            (r#"{{ printf "%d" 1.5 }}"#, ok("%!d(float64=1.5)")),
            (r#"{{ printf "%d" "x" }}"#, ok("%!d(string=x)")),
            (
                r#"{{ printf "%s" $labels }}"#,
                ok("map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical]"),
            ),
            (
                r#"{{ printf "%v" $labels }}"#,
                ok("map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical]"),
            ),
            (r#"{{ printf "%+v" (query "x" | first) }}"#, ok("&{Labels:map[__name__:up instance:b:9 job:x] Value:21}")),
            (r#"{{ printf "%v" (query "x" | first) }}"#, ok("&{map[__name__:up instance:b:9 job:x] 21}")),
            (
                r#"{{ printf "%#v" $labels }}"#,
                ok(
                    r#"map[string]string{"__name__":"up", "instance":"host1.example.com:9100", "job":"node", "path":"/a b?c=d&e", "severity":"critical"}"#,
                ),
            ),
            (r#"{{ printf "%#v" "x" }}"#, ok(r#""x""#)),
            (r#"{{ printf "%#v" 1.0 }}"#, ok("1")),
            (r#"{{ printf "%T %T %T %T" 1 1.0 "x" $labels }}"#, ok("int float64 string map[string]string")),
            (r#"{{ printf "%T" (toTime 0) }}"#, ok("*time.Time")),
            (r#"{{ printf "%T" nil }}"#, ok("<nil>")),
            (r#"{{ printf "%v" nil }}"#, ok("<nil>")),
            (r#"{{ printf "%d" nil }}"#, ok("%!d(<nil>)")),
            (r#"{{ printf "%s %s" "a" }}"#, ok("a %!s(MISSING)")),
            (r#"{{ printf "%s" "a" "b" }}"#, ok("a%!(EXTRA string=b)")),
            (r#"{{ printf "%!" }}"#, ok("%!!(MISSING)")),
            (r#"{{ printf "%" }}"#, ok("%!(NOVERB)")),
            (r#"{{ printf "%z" 1 }}"#, ok("%!z(int=1)")),
            (r#"{{ printf "%[2]d %[1]d" 1 2 }}"#, ok("2 1")),
            (r#"{{ printf "%[3]d" 1 }}"#, ok("%!d(BADINDEX)")),
            (r#"{{ printf "%*d|%-*d" 5 42 5 42 }}"#, ok("   42|42   ")),
            (r#"{{ printf "%.*f" 2 3.14159 }}"#, ok("3.14")),
            (r#"{{ printf "%*d" "x" 1 }}"#, ok("%!(BADWIDTH)1")),
            (r#"{{ printf "%t %t" true 1 }}"#, ok("true %!t(int=1)")),
            (r#"{{ printf "%q" "he said \"hi\"\n" }}"#, ok(r#""he said \"hi\"\n""#)),
            (r#"{{ printf "%x" "hello" }}"#, ok("68656c6c6f")),
            (r#"{{ printf "% x" "hi" }}"#, ok("68 69")),
            (r#"{{ printf "%#x" "hi" }}"#, ok("0x6869")),
            (r#"{{ printf "%X" "hi" }}"#, ok("6869")),
            (r#"{{ printf "%10s|%-10s|" "ab" "ab" }}"#, ok("        ab|ab        |")),
            (r#"{{ printf "%.2s" "héllo" }}"#, ok("hé")),
            (r#"{{ printf "%05s" "ab" }}"#, ok("000ab")),
            (r#"{{ printf "%q" "é\x01" }}"#, ok(r#""é\x01""#)),
            (r#"{{ printf "%+q" "é" }}"#, ok(r#""\u00e9""#)),
            (r#"{{ printf "%#q" "a`b" }}"#, ok(r#""a`b""#)),
            (r#"{{ printf "%#q" "ab" }}"#, ok("`ab`")),
            (r#"{{ printf "%v" (toTime 1435065584.128) }}"#, ok("2015-06-23 13:19:44.128 +0000 UTC")),
            (r#"{{ printf "%s" (toDuration 90) }}"#, ok("1m30s")),
            (r#"{{ printf "%v" (args 1 "x" nil) }}"#, ok("map[arg0:1 arg1:x arg2:<nil>]")),
            (r#"{{ printf "%6.2f%%" $value }}"#, ok("  0.87%")),
            (r#"{{ printf "%.2f" "1.5" }}"#, ok("%!f(string=1.)")),
            (r#"{{ printf "%.1f" (query "x" | first | value) }}"#, ok("21.0")),
            (r#"{{ printf "%x %X" 1.5 -1.0 }}"#, ok("0x1.8p+00 -0X1P+00")),
            (r#"{{ printf "%b" 1.0 }}"#, ok("4503599627370496p-52")),
            (r#"{{ printf "%v" 1i }}"#, ok("(0+1i)")),
            (r#"{{ printf "%.2f" 1+2i }}"#, ok("(1.00+2.00i)")),
            (r#"{{ printf "%08.3f" -1.5 }}"#, ok("-001.500")),
            (r#"{{ printf "%+.2e" 12345.678 }}"#, ok("+1.23e+04")),
            (r#"{{ printf "%#g" 1.0 }}"#, ok("1.00000")),
            (r#"{{ printf "%#.3g" 2.0 }}"#, ok("2.00")),
            (r#"{{ printf "% .2f" 1.5 }}"#, ok(" 1.50")),
            (r#"{{ printf "%+.0f" 0.5 }}"#, ok("+0")),
            (r#"{{ printf "%5t|" true }}"#, ok(" true|")),
            (r#"{{ printf "%-8v|" $value }}"#, ok("0.8734  |")),
            (r#"{{ printf "%08v" 1.5 }}"#, ok("000001.5")),
            (r#"{{ printf "%6.2v" 3.14159 }}"#, ok("   3.1")),
            (r#"{{ printf "%v" (safeHtml "<b>") }}"#, ok("<b>")),
            (
                r#"{{ printf "%v" . }}"#,
                ok(
                    "{map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical] map[cluster:prod region:eu-1] http://prom.example.com:9090/path/prefix 0.8734}",
                ),
            ),
            (
                r#"{{ printf "%+v" . }}"#,
                ok(
                    "{Labels:map[__name__:up instance:host1.example.com:9100 job:node path:/a b?c=d&e severity:critical] ExternalLabels:map[cluster:prod region:eu-1] ExternalURL:http://prom.example.com:9090/path/prefix Value:0.8734}",
                ),
            ),
            (r#"{{ printf "%x" -255 }}"#, ok("-ff")),
            (r#"{{ printf "%08d" -42 }}"#, ok("-0000042")),
            (r#"{{ printf "%+08d" 42 }}"#, ok("+0000042")),
            (r#"{{ printf "%.3d" 7 }}"#, ok("007")),
            (r#"{{ printf "%.0d" 0 }}"#, ok("")),
            (r#"{{ printf "%5.0d|" 0 }}"#, ok("     |")),
            (r#"{{ printf "%c" 1114112 }}"#, ok("�")),
            (r#"{{ printf "%U" -1 }}"#, ok("U+FFFFFFFFFFFFFFFF")),
            (r#"{{ printf "%e" 0.0 }}"#, ok("0.000000e+00")),
            (r#"{{ printf "%g" -0.0 }}"#, ok("-0")),
            (r#"{{ print 1 2 "a" "b" 3 }}"#, ok("1 2ab3")),
            (r#"{{ print "a" 1 "b" }}"#, ok("a1b")),
            (r#"{{ println 1 "a" }}"#, ok("1 a\n")),
            ("{{ print }}", ok("")),
            ("{{ print nil }}", ok("<nil>")),
            ("{{ print $labels.nope }}", ok("")),
            (r#"{{ print (query "x" | first) }}"#, ok("&{map[__name__:up instance:b:9 job:x] 21}")),
            (r#"{{ print (safeHtml "a") 1 }}"#, ok("a1")),
            (
                "{{ printf }}",
                exec_err(r#"1:115: executing "t" at <printf>: wrong number of args for printf: want at least 1 got 0"#),
            ),
            ("{{ printf 1 }}", exec_err(r#"1:122: executing "t" at <1>: expected string; found 1"#)),
            (
                "{{ printf $value }}",
                exec_err(r#"1:122: executing "t" at <$value>: wrong type for value; expected string; got float64"#),
            ),
            (
                "{{ print .Foo }}",
                exec_err(
                    r#"1:121: executing "t" at <.Foo>: can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }"#,
                ),
            ),
            (r#"{{ html "<a href='x'>&\"</a>" }}"#, ok("&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;")),
            ("{{ html 1 2 }}", ok("1 2")),
            (r#"{{ html (safeHtml "<") }}"#, ok("&lt;")),
            (r#"{{ js "a'b\"c<d>&=\\" }}"#, ok(r#"a\'b\"c\u003Cd\u003E\u0026\u003D\\"#)),
            (r#"{{ js "é\t" }}"#, ok(r#"é\u0009"#)),
            (r#"{{ urlquery "a b&c=d/é" }}"#, ok("a+b%26c%3Dd%2F%C3%A9")),
            (r#"{{ urlquery 1 "a" }}"#, ok("1a")),
            ("{{ html nil }}", ok("&lt;no value&gt;")),
            ("{{ html (args).x }}", ok("&lt;no value&gt;")),
            ("{{ print (args).x }}", ok("<nil>")),
            (r#"{{ query "x" | first | value | printf "%.1f" }}"#, ok("21.0")),
            (r#"{{ printf "%0.2f" (parseDuration "1h2m10ms") }}"#, ok("3720.01")),
            (r#"{{ printf "%0.2f" (parseDuration "-1h2m10ms") }}"#, ok("-3720.01")),
            (
                r#"{{ printf "%.2f" $value }}% disk used on {{ $labels.instance }}"#,
                ok("0.87% disk used on host1.example.com:9100"),
            ),
            (r#"{{ $labels.job | toUpper | printf "[%s]" }}"#, ok("[NODE]")),
        ],
    );
}

#[test]
fn printf_other() {
    check(
        &other(),
        &[
            (
                r#"{{ printf "%v|%+v|%#v" . . . }}"#,
                ok(
                    "{map[a b:c\td instance:host1.example.com:9100 job:node é:ü\u{1}] map[cluster:prod] http://prom.example.com:9090/path%20x/prefix?x=1 0.8734}|{Labels:map[a b:c\td instance:host1.example.com:9100 job:node é:ü\u{1}] ExternalLabels:map[cluster:prod] ExternalURL:http://prom.example.com:9090/path%20x/prefix?x=1 Value:0.8734}|struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }{Labels:map[string]string{\"a b\":\"c\\td\", \"instance\":\"host1.example.com:9100\", \"job\":\"node\", \"é\":\"ü\\x01\"}, ExternalLabels:map[string]string{\"cluster\":\"prod\"}, ExternalURL:\"http://prom.example.com:9090/path%20x/prefix?x=1\", Value:0.8734}",
                ),
            ),
            (
                r#"{{ printf "%q" $labels }}"#,
                ok(r#"map["a b":"c\td" "instance":"host1.example.com:9100" "job":"node" "é":"ü\x01"]"#),
            ),
            (
                r#"{{ printf "%x" $labels }}"#,
                ok(
                    "map[612062:630964 696e7374616e6365:686f7374312e6578616d706c652e636f6d3a39313030 6a6f62:6e6f6465 c3a9:c3bc01]",
                ),
            ),
            (
                r#"{{ printf "%d" $labels }}"#,
                ok(
                    "map[%!d(string=a b):%!d(string=c\td) %!d(string=instance):%!d(string=host1.example.com:9100) %!d(string=job):%!d(string=node) %!d(string=é):%!d(string=ü\u{1})]",
                ),
            ),
            (r#"{{ printf "%+v" (query "x" | first) }}"#, ok("&{Labels:map[__name__:up instance:b:9] Value:21}")),
            (
                r#"{{ printf "%#v" (toTime 1.5) }}"#,
                ok("time.Date(1970, time.January, 1, 0, 0, 1, 500000000, time.UTC)"),
            ),
            (r#"{{ printf "%#v" 1.5 }}"#, ok("1.5")),
            (r#"{{ printf "%#v" 1e21 }}"#, ok("1e+21")),
            (r#"{{ printf "%#v" 1 }}"#, ok("1")),
            (r#"{{ printf "%#v" (safeHtml "x") }}"#, ok(r#""x""#)),
            (r#"{{ printf "%#v" (args 1) }}"#, ok(r#"map[string]interface {}{"arg0":1}"#)),
            (r#"{{ printf "%#v" nil }}"#, ok("<nil>")),
            (r#"{{ printf "%v" (index "a" 0) }}"#, ok("97")),
            (r#"{{ printf "%#v" (index "a" 0) }}"#, ok("0x61")),
            (r#"{{ printf "%c" (index "a" 0) }}"#, ok("a")),
            (r#"{{ printf "%s" (toTime 0) }}"#, ok("1970-01-01 00:00:00 +0000 UTC")),
            (r#"{{ printf "%q" (toTime 0) }}"#, ok(r#""1970-01-01 00:00:00 +0000 UTC""#)),
            (r#"{{ printf "%x" (toDuration 1) }}"#, ok("3173")),
            (r#"{{ printf "%10v|" (toDuration 1) }}"#, ok("        1s|")),
            (r#"{{ printf "%-10s|" (toTime 0) }}"#, ok("1970-01-01 00:00:00 +0000 UTC|")),
            (
                r#"{{ printf "%v %v" (toTime 0).UTC ((toTime 0).Add 1) }}"#,
                ok("1970-01-01 00:00:00 +0000 UTC 1970-01-01 00:00:00.000000001 +0000 UTC"),
            ),
            (r#"{{ printf "%v" ((toTime 2).Sub (toTime 1)) }}"#, ok("1s")),
            (r#"{{ printf "%d" ((toTime 2).Sub (toTime 1)) }}"#, ok("1000000000")),
            (
                "{{ $labels.instance }}\n{{ 1 | printf \"%d\" }}\n{{ index nil 1 }}",
                exec_err(r#"3:3: executing "t" at <index nil 1>: error calling index: index of untyped nil"#),
            ),
            (
                r#"{{ printf "%s" "a" "b" 1 nil (safeHtml "h") }}"#,
                ok("a%!(EXTRA string=b, int=1, <nil>, template.HTML=h)"),
            ),
            (r#"{{ printf "%[1]s %[1]s" "a" "b" }}"#, ok("a a")),
            (r#"{{ printf "%[2]*[1]d" 12 5 }}"#, ok("   12")),
            (r#"{{ printf "%[5]d" 1 }}"#, ok("%!d(BADINDEX)")),
            (r#"{{ printf "%[0]d" 1 }}"#, ok("%!d(BADINDEX)")),
            (r#"{{ printf "%[x]d" 1 }}"#, ok("%!d(BADINDEX)")),
            (r#"{{ printf "%.[2]d" 1 2 }}"#, ok("2")),
            (r#"{{ printf "%3.[2]d" 1 2 }}"#, ok("  2")),
            (r#"{{ printf "%-010d|" 5 }}"#, ok("5         |")),
            (r#"{{ printf "%+-5d|" 5 }}"#, ok("+5   |")),
            (r#"{{ printf "%.3s|%.0s|%.10s" "abcdef" "x" "ab" }}"#, ok("abc||ab")),
            (r#"{{ printf "%5.1q" "abc" }}"#, ok(r#"  "a""#)),
            (r#"{{ printf "%.1000d" 1 | len }}"#, ok("1000")),
            (r#"{{ printf "%1000000000d" 1 | len }}"#, ok("25")),
            (r#"{{ printf "%*d" 2000000 1 | len }}"#, ok("13")),
            (r#"{{ printf "%-*d|" -3 1 }}"#, ok("1  |")),
            (r#"{{ printf "%.*d|" -3 1 }}"#, ok("%!(BADPREC)1|")),
            (r#"{{ printf "%e %.0e %#.0e %#e" 1.0 5.5 5.5 1.0 }}"#, ok("1.000000e+00 6e+00 6.e+00 1.000000e+00")),
            (r#"{{ printf "%g %g %g %g" 100000.0 1000000.0 0.0001 0.00001 }}"#, ok("100000 1e+06 0.0001 1e-05")),
            (r#"{{ printf "%.2g %.10g %.20g" 123.456 123.456 0.1 }}"#, ok("1.2e+02 123.456 0.10000000000000000555")),
            (r#"{{ printf "%f %.3f %.10f" 1e21 1e-7 0.1 }}"#, ok("1000000000000000000000.000000 0.000 0.1000000000")),
            (r#"{{ printf "%G %E" 1e-10 1e10 }}"#, ok("1E-10 1.000000E+10")),
            (r#"{{ printf "%x %X %#x %.3x" 3.5 3.5 3.5 3.5 }}"#, ok("0x1.cp+01 0X1.CP+01 0x1.c000p+01 0x1.c00p+01")),
            (r#"{{ printf "%b" 0.1 }}"#, ok("7205759403792794p-56")),
            (
                r#"{{ printf "%08.2f|%-8.2f|%+.2f|% .2f" 3.14159 3.14159 3.14159 3.14159 }}"#,
                ok("00003.14|3.14    |+3.14| 3.14"),
            ),
            (r#"{{ printf "%8.2f|%08.2f" -3.14159 -3.14159 }}"#, ok("   -3.14|-0003.14")),
            (r#"{{ printf "%v %.3v %10.4v|" 3.14159 3.14159 3.14159 }}"#, ok("3.14159 3.14      3.142|")),
            (
                r#"{{ printf "%d %5d %-5d %05d %x %X %o %b %c %U" -7 -7 -7 -7 -7 -7 -7 -7 65 65 }}"#,
                ok("-7    -7 -7    -0007 -7 -7 -7 -111 A U+0041"),
            ),
            (r#"{{ printf "%#o %#b %#X %O" 8 5 255 -8 }}"#, ok("010 0b101 0XFF -0o10")),
            (r#"{{ printf "%q %+q %#q %#+q" 'é' 'é' 'é' 10 }}"#, ok(r#"'é' '\u00e9' 'é' '\n'"#)),
            (r#"{{ printf "%U %#U %#U" 0x1F600 0x1F600 10 }}"#, ok("U+1F600 U+1F600 '😀' U+000A")),
            (r#"{{ printf "%c%c%c" 72 105 0x1F600 }}"#, ok("Hi😀")),
            (r#"{{ printf "%t %v %5t|%-6t|" false true true false }}"#, ok("false true  true|false |")),
            (r#"{{ printf "%s %v %d" true true true }}"#, ok("%!s(bool=true) true %!d(bool=true)")),
            (r#"{{ printf "%s" 1i }}"#, ok("%!s(complex128=(0+1i))")),
            (r#"{{ printf "%v %.1f %+.2e" 1+2i -1-2i 0+1i }}"#, ok("(1+2i) (-1.0-2.0i) (+0.00e+00+1.00e+00i)")),
            (
                r#"{{ printf "%q" "\a\b\f\n\r\t\v\x00\x7f\u2028\U0001F600\"\\" }}"#,
                ok(r#""\a\b\f\n\r\t\v\x00\x7f\u2028😀\"\\""#),
            ),
            (r#"{{ printf "%+q" "日本" }}"#, ok(r#""\u65e5\u672c""#)),
            (r#"{{ printf "%#q" "a\tb" }}"#, ok("`a\tb`")),
            (r#"{{ printf "%#q" "a\nb" }}"#, ok(r#""a\nb""#)),
            (r#"{{ printf "%5s|%-5s|%05s|%.1s" "日本" "日本" "日本" "日本" }}"#, ok("   日本|日本   |000日本|日")),
            (r#"{{ printf "%v" "" }}{{ printf "" }}{{ printf "%%" }}{{ printf "%5%|" }}"#, ok("%%|")),
            (r#"{{ printf "%d %d" 1 }}"#, ok("1 %!d(MISSING)")),
            (r#"{{ printf "%d" 1 2 "x" nil }}"#, ok("1%!(EXTRA int=2, string=x, <nil>)")),
            (r#"{{ printf "%!" }}"#, ok("%!!(MISSING)")),
            (r#"{{ printf "%-" }}"#, ok("%!(NOVERB)")),
            (r#"{{ printf "%." 1 }}"#, ok("%!.(int=1)")),
            (r#"{{ printf "%.5" 1 }}"#, ok("%!(NOVERB)%!(EXTRA int=1)")),
            (r#"{{ printf "%5" }}"#, ok("%!(NOVERB)")),
            (r#"{{ printf "%é" 1 }}"#, ok("%!é(int=1)")),
            (r#"{{ printf "%w" 1 }}"#, ok("%!w(int=1)")),
            (r#"{{ printf "%v" }}"#, ok("%!v(MISSING)")),
            (r#"{{ printf "%s %s" (index $labels "a b") (index $labels "é") }}"#, ok("c\td ü\u{1}")),
            ("{{ println }}", ok("\n")),
            (r#"{{ println "a" "b" nil }}"#, ok("a b <nil>\n")),
            (
                r#"{{ print 1 2 }}{{ print "a" "b" }}{{ print 1 "a" 2 }}{{ print (safeHtml "x") (safeHtml "y") 3 }}"#,
                ok("1 2ab1a2xy3"),
            ),
            ("{{ print 1.0 2.5 true nil (toTime 0) }}", ok("1 2.5 true <nil> 1970-01-01 00:00:00 +0000 UTC")),
            (r#"{{ html "a" 1 }}"#, ok("a1")),
            (r#"{{ html "\x00" }}"#, ok("�")),
            (r#"{{ js "\x00\x1f\u2028é€\U0001F600" }}"#, ok(r#"\u0000\u001F\u2028é€😀"#)),
            ("{{ js 1 nil }}", ok(r#"1\u003Cno value\u003E"#)),
            (r#"{{ urlquery "~-_.!*'()" }}"#, ok("~-_.%21%2A%27%28%29")),
            ("{{ urlquery nil }}", ok("%3Cno+value%3E")),
            (r#"{{ html (query "x" | first) }}"#, ok("{map[__name__:up instance:b:9] 21}")),
            (r#"{{ print (query "x" | first) }}"#, ok("&{map[__name__:up instance:b:9] 21}")),
        ],
    );
}

#[test]
fn printf_other_contexts() {
    check(
        &Ctx { value: 0.0, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("0 0 0 0% 0.00 0s"),
        )],
    );
    check(
        &Ctx { value: 1.0, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("1 1 1 100% 1.00 1s"),
        )],
    );
    check(
        &Ctx { value: -1.0, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("-1 -1 -1 -100% -1.00 -1s"),
        )],
    );
    check(
        &Ctx { value: 1000000.0, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("1e+06 1e+06 1M 1e+08% 1000000.00 11d 13h 46m 40s"),
        )],
    );
    check(
        &Ctx { value: 1e+21, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("1e+21 1e+21 1Z 1e+23% 1000000000000000000000.00 -106751991167300d -15h -30m -8s"),
        )],
    );
    check(
        &Ctx { value: 1e-05, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("1e-05 1e-05 10u 0.001% 0.00 10us"),
        )],
    );
    check(
        &Ctx { value: 0.1, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("0.1 0.1 100m 10% 0.10 100ms"),
        )],
    );
    check(
        &Ctx { value: 1.5e-07, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("1.5e-07 1.5e-07 150n 1.5e-05% 0.00 150ns"),
        )],
    );
    check(
        &Ctx { value: 123456.789, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("123456.789 123456.789 123.5k 1.235e+07% 123456.79 1d 10h 17m 36s"),
        )],
    );
    check(
        &Ctx { value: f64::NAN, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("NaN NaN NaN NaN% NaN NaN"),
        )],
    );
    check(
        &Ctx { value: f64::INFINITY, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("+Inf +Inf +Inf +Inf% +Inf +Inf"),
        )],
    );
    check(
        &Ctx { value: f64::NEG_INFINITY, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("-Inf -Inf -Inf -Inf% -Inf -Inf"),
        )],
    );
    check(
        &Ctx { value: 100.0, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("100 100 100 1e+04% 100.00 1m 40s"),
        )],
    );
    check(
        &Ctx { value: 0.30000000000000004, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("0.30000000000000004 0.30000000000000004 300m 30% 0.30 300ms"),
        )],
    );
    check(
        &Ctx { value: 5e-324, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok("5e-324 5e-324 4.941e-300y 4.941e-322% 0.00 4.941e-300ys"),
        )],
    );
    check(
        &Ctx { value: 1.7976931348623157e+308, ..base() },
        &[(
            r#"{{ $value }} {{ .Value }} {{ $value | humanize }} {{ humanizePercentage $value }} {{ printf "%.2f" $value }} {{ humanizeDuration $value }}"#,
            ok(
                "1.7976931348623157e+308 1.7976931348623157e+308 1.798e+284Y +Inf% 179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368.00 -106751991167300d -15h -30m -8s",
            ),
        )],
    );
}
