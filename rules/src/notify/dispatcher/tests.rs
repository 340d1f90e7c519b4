//! Dispatcher timelines, driven by `now_ms` only. A script is `<time> <command> <args>` lines;
//! the driver ticks at every event time and at every `next_due_ms`, and prints one line per
//! notification: `t=<time> <receiver> [L<level>] <status> <alerts>`.

use expect_test::{Expect, expect};

use super::*;
use crate::notify::Route;
use crate::notify::duration::{Duration, parse as dur};

fn labels(s: &str) -> LabelMap {
    s.split(',').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn firing(ls: &str, starts_ms: i64) -> Alert {
    Alert {
        labels: labels(ls),
        annotations: LabelMap::new(),
        starts_at_ms: starts_ms,
        ends_at_ms: 0,
        resolved: false,
        generator_url: String::new(),
    }
}

fn fmt_labels(l: &LabelMap) -> String {
    l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn line(n: &Notification) -> String {
    let level = if n.escalation_level > 0 { format!(" L{}", n.escalation_level) } else { String::new() };
    let alerts: Vec<String> = n
        .alerts
        .iter()
        .map(|a| {
            let s = match a.status {
                Status::Firing => "",
                Status::Resolved => "(resolved)",
            };
            format!("{}{s}", fmt_labels(&a.alert.labels))
        })
        .collect();
    format!("t={} {}{level} {:?} [{}]", Duration(n.created_ms), n.receiver, n.status, alerts.join(" "))
}

fn t(s: &str) -> i64 {
    dur(s).unwrap().ms()
}

/// Runs `script` against `config` and returns the transcript.
fn run(config: &str, script: &str) -> String {
    let cfg = NotifyConfig::from_yaml(config).unwrap();
    let mut d = Dispatcher::new(cfg.clone()).unwrap();
    let mut events: Vec<(i64, Vec<&str>)> = Vec::new();
    let mut end = 0;
    for l in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let words: Vec<&str> = l.split_whitespace().collect();
        if words[0] == "end" {
            end = t(words[1]);
        } else {
            events.push((t(words[0]), words[1..].to_vec()));
        }
    }
    let mut out = Vec::new();
    let mut now = 0;
    let mut ei = 0;
    loop {
        let next_event = events.get(ei).map(|e| e.0);
        let next_due = d.next_due_ms().map(|x| x.max(now));
        let next = match (next_event, next_due) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(x) => x,
                None => break,
            },
        };
        if next > end {
            break;
        }
        now = next;
        while ei < events.len() && events[ei].0 == now {
            let w = &events[ei].1;
            let arg = w.get(1).copied().unwrap_or("");
            let fp = crate::alert::fingerprint(&labels(arg));
            match w[0] {
                "fire" => {
                    let since = w.get(3).map_or(now, |s| t(s));
                    d.receive(vec![firing(arg, since)], now);
                }
                "resolved" => {
                    let mut a = d.st.alerts.get(&fp).map_or_else(|| firing(arg, 0), |s| s.alert.clone());
                    a.resolved = true;
                    a.ends_at_ms = now;
                    d.receive(vec![a], now);
                }
                "ack" => out.push(format!("t={} ack {arg}: {:?}", Duration(now), d.ack(fp, "op", "on it", now))),
                "manual-resolve" => match d.resolve(fp, "op", "fixed", now) {
                    Ok(ns) => out.extend(ns.iter().map(|n| format!("{} (manual)", line(n)))),
                    Err(e) => out.push(format!("t={} manual-resolve: {e}", Duration(now))),
                },
                "silence" => {
                    let (from, to) = w[2].split_once("..").unwrap();
                    let def = SilenceDef {
                        matchers: vec![arg.to_string()],
                        starts_at_ms: t(from),
                        ends_at_ms: t(to),
                        created_by: "op".into(),
                        comment: String::new(),
                    };
                    out.push(format!("t={} silence: {:?}", Duration(now), d.add_silence(def, now)));
                }
                "expire" => out.push(format!("t={} expire {arg}: {:?}", Duration(now), d.expire_silence(arg, now))),
                "restart" => {
                    let json = serde_json::to_string(&d.snapshot()).unwrap();
                    let state: DispatcherState = serde_json::from_str(&json).unwrap();
                    assert_eq!(state, d.snapshot());
                    d = Dispatcher::restore(cfg.clone(), state).unwrap();
                    out.push(format!("t={} restarted", Duration(now)));
                }
                "reload" => {
                    let new_cfg = NotifyConfig::from_yaml(&arg.replace('~', " ").replace('|', "\n")).unwrap();
                    d.set_config(new_cfg).unwrap();
                    out.push(format!("t={} reloaded", Duration(now)));
                }
                "stats" => {
                    let s = d.stats();
                    out.push(format!(
                        "t={} stats sent={} dedup={} throttled={} {:?} escalations={} silenced={} inhibited={}",
                        Duration(now),
                        s.notifications_sent,
                        s.deduplicated,
                        s.throttled,
                        s.throttled_by,
                        s.escalations_sent,
                        s.silenced,
                        s.inhibited
                    ));
                }
                "alerts" => {
                    for v in d.alerts(now) {
                        out.push(format!(
                            "t={} alert {} {:?} silenced_by={:?} inhibited={} acked={} receivers={:?}",
                            Duration(now),
                            fmt_labels(&v.labels),
                            v.state,
                            v.silenced_by,
                            v.inhibited_by.len(),
                            v.ack.is_some(),
                            v.receivers
                        ));
                    }
                }
                other => panic!("unknown command {other}"),
            }
            ei += 1;
        }
        out.extend(d.tick(now).iter().map(line));
        if d.next_due_ms().is_some_and(|x| x <= now) && events.get(ei).is_none_or(|e| e.0 > now) {
            // Due again at once only after a reload; one more tick settles it.
            out.extend(d.tick(now).iter().map(line));
        }
    }
    out.join("\n")
}

fn check(config: &str, script: &str, expected: Expect) {
    expected.assert_eq(&run(config, script));
}

const BASIC: &str = "
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
";

#[test]
fn group_wait_interval_repeat_and_resolved() {
    check(
        BASIC,
        "0s fire alertname=A,instance=i1
         10s fire alertname=A,instance=i2
         2m fire alertname=A,instance=i3
         1h20m resolved alertname=A,instance=i1
         1h40m resolved alertname=A,instance=i2
         1h40m resolved alertname=A,instance=i3
         end 3h",
        expect![[r#"
            t=30s team Firing [alertname=A,instance=i1 alertname=A,instance=i2]
            t=5m30s team Firing [alertname=A,instance=i1 alertname=A,instance=i2 alertname=A,instance=i3]
            t=1h5m30s team Firing [alertname=A,instance=i1 alertname=A,instance=i2 alertname=A,instance=i3]
            t=1h20m30s team Firing [alertname=A,instance=i1(resolved) alertname=A,instance=i2 alertname=A,instance=i3]
            t=1h40m30s team Resolved [alertname=A,instance=i2(resolved) alertname=A,instance=i3(resolved)]"#]],
    );
}

#[test]
fn group_by_instance_correlates_alerts_of_one_server() {
    check(
        "route: {receiver: ops, group_by: [instance], group_wait: 30s}",
        "0s fire alertname=HighCPU,instance=web1
         5s fire alertname=HighMem,instance=web1
         5s fire alertname=HighCPU,instance=web2
         end 1m",
        expect![[r#"
            t=30s ops Firing [alertname=HighCPU,instance=web1 alertname=HighMem,instance=web1]
            t=35s ops Firing [alertname=HighCPU,instance=web2]"#]],
    );
}

#[test]
fn old_alert_flushes_a_new_group_at_once() {
    check(BASIC, "1h fire alertname=A since 10m\nend 1h1m", expect!["t=1h team Firing [alertname=A]"]);
}

#[test]
fn dedup_same_set_to_same_receiver() {
    // Two routes with continue deliver the same alerts to the same receiver: sent once.
    check(
        "route:
           receiver: default
           group_by: [alertname]
           group_wait: 10s
           routes:
             - {matchers: ['team=db'], receiver: db, continue: true}
             - {matchers: ['severity=critical'], receiver: db}",
        "0s fire alertname=A,team=db,severity=critical
         1m stats
         end 2m",
        expect![[r#"
            t=10s db Firing [alertname=A,severity=critical,team=db]
            t=1m stats sent=1 dedup=1 throttled=0 {} escalations=0 silenced=0 inhibited=0"#]],
    );
}

#[test]
fn throttle_then_cooldown_counts_and_delivers_later() {
    check(
        "route:
           receiver: chat
           group_by: ['...']
           group_wait: 0s
           group_interval: 1m
           throttle: {max_notifications: 2, window: 1m, cooldown: 3m}",
        "0s fire alertname=A
         0s fire alertname=B
         0s fire alertname=C
         0s fire alertname=D
         30s stats
         5m stats
         end 5m",
        expect![[r#"
            t=0s chat Firing [alertname=A]
            t=0s chat Firing [alertname=B]
            t=30s stats sent=2 dedup=0 throttled=2 {"{} chat": 2} escalations=0 silenced=0 inhibited=0
            t=3m chat Firing [alertname=C]
            t=3m chat Firing [alertname=D]
            t=5m stats sent=4 dedup=0 throttled=6 {"{} chat": 6} escalations=0 silenced=0 inhibited=0"#]],
    );
}

#[test]
fn silences_with_time_windows() {
    check(
        "route: {receiver: team, group_by: [instance], group_wait: 30s, group_interval: 1m}
silences:
  - {matchers: ['instance=db1'], starts_at_ms: 0, ends_at_ms: 600000, comment: maintenance}",
        "0s silence instance=web1 1m..10m
         0s silence instance=web1 10m..5m
         0s silence instance=~.* 0s..1h
         2m fire alertname=A,instance=web1
         2m fire alertname=A,instance=db1
         2m fire alertname=A,instance=web2
         3m alerts
         4m expire config-0
         5m expire silence-9
         10m expire silence-1
         end 12m",
        expect![[r#"
            t=0s silence: Ok("silence-1")
            t=0s silence: Err(InvalidSilence("end time 300000 must be after start time 600000"))
            t=0s silence: Err(InvalidSilence("at least one matcher must not match the empty string"))
            t=2m30s team Firing [alertname=A,instance=web2]
            t=3m alert alertname=A,instance=web1 Suppressed silenced_by=["silence-1"] inhibited=0 acked=false receivers=["team"]
            t=3m alert alertname=A,instance=web2 Active silenced_by=[] inhibited=0 acked=false receivers=["team"]
            t=3m alert alertname=A,instance=db1 Suppressed silenced_by=["config-0"] inhibited=0 acked=false receivers=["team"]
            t=4m expire config-0: Err(StaticSilence("config-0"))
            t=5m expire silence-9: Err(UnknownSilence("silence-9"))
            t=10m expire silence-1: Err(SilenceExpired("silence-1"))
            t=10m30s team Firing [alertname=A,instance=db1]
            t=10m30s team Firing [alertname=A,instance=web1]"#]],
    );
}

#[test]
fn expiring_a_silence_early_unmutes() {
    check(
        "route: {receiver: team, group_wait: 30s, group_interval: 1m}",
        "0s silence alertname=A 0s..1h
         1m fire alertname=A
         3m expire silence-1
         4m expire silence-1
         end 5m",
        expect![[r#"
            t=0s silence: Ok("silence-1")
            t=3m expire silence-1: Ok(())
            t=3m30s team Firing [alertname=A]
            t=4m expire silence-1: Err(SilenceExpired("silence-1"))"#]],
    );
}

#[test]
fn inhibition_critical_mutes_warning_of_same_instance() {
    check(
        "route: {receiver: team, group_by: [instance], group_wait: 30s, group_interval: 1m}
inhibit_rules:
  - source_matchers: ['severity=critical']
    target_matchers: ['severity=warning']
    equal: [instance]",
        "0s fire alertname=Down,severity=critical,instance=a
         0s fire alertname=Slow,severity=warning,instance=a
         0s fire alertname=Slow,severity=warning,instance=b
         1m alerts
         3m resolved alertname=Down,severity=critical,instance=a
         end 5m",
        expect![[r#"
            t=30s team Firing [alertname=Down,instance=a,severity=critical]
            t=30s team Firing [alertname=Slow,instance=b,severity=warning]
            t=1m alert alertname=Slow,instance=b,severity=warning Active silenced_by=[] inhibited=0 acked=false receivers=["team"]
            t=1m alert alertname=Down,instance=a,severity=critical Active silenced_by=[] inhibited=0 acked=false receivers=["team"]
            t=1m alert alertname=Slow,instance=a,severity=warning Suppressed silenced_by=[] inhibited=1 acked=false receivers=["team"]
            t=3m30s team Firing [alertname=Down,instance=a,severity=critical(resolved) alertname=Slow,instance=a,severity=warning]"#]],
    );
}

const ESCALATING: &str = "
route:
  receiver: discord
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  escalation:
    - {after: 10m, receiver: email}
    - {after: 30m, receiver: sms}
";

#[test]
fn escalation_levels() {
    check(
        ESCALATING,
        "0s fire alertname=A\nend 45m",
        expect![[r#"
        t=30s discord Firing [alertname=A]
        t=10m30s email L1 Firing [alertname=A]
        t=30m30s sms L2 Firing [alertname=A]"#]],
    );
}

#[test]
fn ack_stops_escalation_and_repeats_until_it_fires_anew() {
    check(
        ESCALATING,
        "0s fire alertname=A
         20m ack alertname=A
         20m ack alertname=Nope
         2h alerts
         2h resolved alertname=A
         2h10m fire alertname=A
         end 2h25m",
        expect![[r#"
            t=30s discord Firing [alertname=A]
            t=10m30s email L1 Firing [alertname=A]
            t=20m ack alertname=A: Ok(())
            t=20m ack alertname=Nope: Err(UnknownAlert(Fingerprint(5310147508268738948)))
            t=2h alert alertname=A Acked silenced_by=[] inhibited=0 acked=true receivers=["discord", "email"]
            t=2h30s discord Resolved [alertname=A(resolved)]
            t=2h10m30s discord Firing [alertname=A]
            t=2h20m30s email L1 Firing [alertname=A]"#]],
    );
}

#[test]
fn manual_resolve_suppresses_until_a_new_firing() {
    check(
        BASIC,
        "0s fire alertname=A
         2m manual-resolve alertname=A
         2m manual-resolve alertname=B
         3m fire alertname=A since 0s
         20m resolved alertname=A
         30m fire alertname=A
         end 32m",
        expect![[r#"
            t=30s team Firing [alertname=A]
            t=2m team Resolved [alertname=A(resolved)] (manual)
            t=2m manual-resolve: unknown alert d2c2efc389db2050
            t=30m30s team Firing [alertname=A]"#]],
    );
}

#[test]
fn snapshot_restore_does_not_re_page() {
    check(
        ESCALATING,
        "0s fire alertname=A
         0s fire alertname=B
         12m restart
         12m fire alertname=A since 0s
         12m fire alertname=B since 0s
         13m fire alertname=C
         end 1h1m",
        expect![[r#"
            t=30s discord Firing [alertname=A alertname=B]
            t=10m30s email L1 Firing [alertname=A alertname=B]
            t=12m restarted
            t=15m30s discord Firing [alertname=A alertname=B alertname=C]
            t=25m30s email L1 Firing [alertname=C]
            t=30m30s sms L2 Firing [alertname=A alertname=B]
            t=45m30s sms L2 Firing [alertname=C]"#]],
    );
}

#[test]
fn reload_keeps_state_and_reroutes() {
    check(
        BASIC,
        "0s fire alertname=A,team=db
         2m reload route:|~receiver:~team|~group_by:~[alertname]|~group_wait:~30s|~group_interval:~5m|~repeat_interval:~1h
         3m reload route:|~receiver:~team|~group_by:~[alertname]|~routes:~[{matchers:~[team=db],~receiver:~dba}]
         end 10m",
        expect![[r#"
            t=30s team Firing [alertname=A,team=db]
            t=2m reloaded
            t=3m reloaded
            t=3m dba Firing [alertname=A,team=db]"#]],
    );
}

#[test]
fn routing_tree_continue_and_default() {
    let cfg = NotifyConfig::from_yaml(
        "route:
           receiver: default
           routes:
             - matchers: ['severity=~\"warning|critical\"', 'team!=\"x\"']
               receiver: oncall
               continue: true
               routes:
                 - {match: {service: db}, receiver: dba}
             - {match_re: {service: 'web.*'}, receiver: web}
             - {matchers: [team=x], receiver: x-team}
             - {matchers: [team=x], receiver: never}",
    )
    .unwrap();
    let c = cfg.compile().unwrap();
    let cases = [
        ("", "default"),
        ("severity=critical", "oncall"),
        ("severity=critical,service=db", "dba"),
        ("severity=warning,service=web1", "oncall web"),
        ("severity=info,service=web1", "web"),
        ("severity=critical,team=x", "x-team"),
        ("team=x,service=webapp", "web"),
        ("severity=critical,service=db,team=y", "dba"),
    ];
    for (ls, want) in cases {
        let mut nodes = Vec::new();
        c.root.match_routes(&labels(ls), &mut nodes);
        let got: Vec<&str> = nodes.iter().map(|n| n.opts.receiver.as_str()).collect();
        assert_eq!(got.join(" "), want, "labels {ls}");
    }
}

#[test]
fn api_errors_and_bad_config() {
    let mut d = Dispatcher::new(NotifyConfig::from_yaml(BASIC).unwrap()).unwrap();
    assert_eq!(d.ack(Fingerprint(1), "a", "b", 0), Err(NotifyError::UnknownAlert(Fingerprint(1))));
    let bad = SilenceDef {
        matchers: vec!["a=~(".into()],
        starts_at_ms: 0,
        ends_at_ms: 10,
        created_by: String::new(),
        comment: String::new(),
    };
    assert!(matches!(d.add_silence(bad, 0), Err(NotifyError::InvalidSilence(_))));
    let mut cfg = NotifyConfig::from_yaml(BASIC).unwrap();
    cfg.route.routes.push(Route { matchers: vec!["bad matcher".into()], ..Route::default() });
    let e = d.set_config(cfg.clone()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "notify config: route.routes[0].matchers[0]: expected one of '=', '!=', '=~', '!~' at offset 4 in \"bad matcher\""
    );
    assert!(Dispatcher::new(cfg).is_err());
    assert_eq!(d.next_due_ms(), None);
    assert!(d.tick(0).is_empty());
}
