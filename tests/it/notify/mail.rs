//! Email through a real SMTP server: Python's `aiosmtpd` started on 127.0.0.1 with a port it
//! picks, AUTH required (after STARTTLS in the TLS test); each received message is parsed by
//! Python's `email` package and written as JSON for the test to check.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use storage::metrics::Registry;
use tickdb::notifier::{DeliveryOptions, Notifier};

use super::*;

const SMTP_SERVER: &str = r#"
import asyncio, email, email.policy, json, os, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

outdir = sys.argv[1]
count = 0

class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        login = getattr(session, "auth_data", None)
        out = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": login.decode() if isinstance(login, bytes) else str(login),
            "headers": {k: str(v) for k, v in msg.items()},
            "content_type": msg.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        path = os.path.join(outdir, "%04d.json" % count)
        with open(path + ".tmp", "w") as f:
            json.dump(out, f)
        os.rename(path + ".tmp", path)
        return "250 OK"

def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"alerts" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

async def main():
    handler = Handler()
    tls = {}
    if len(sys.argv) > 3:
        import ssl
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        tls = {"tls_context": ctx, "require_starttls": True, "auth_require_tls": True}
    else:
        tls = {"auth_require_tls": False}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp.test", authenticator=authenticate, auth_required=True, **tls),
        "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

struct Smtp {
    child: Child,
    port: u16,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts aiosmtpd (AUTH required; with `tls` = (cert, key), STARTTLS required too).
fn start_smtp(dir: &Path, out: &Path, tls: Option<(&Path, &Path)>) -> Option<Smtp> {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: python3 with aiosmtpd is not installed (scripts/test.sh installs it)");
        return None;
    }
    let script = dir.join("smtp_server.py");
    std::fs::write(&script, SMTP_SERVER).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(out);
    if let Some((cert, key)) = tls {
        cmd.arg(cert).arg(key);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start aiosmtpd");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let port = line.trim().parse().unwrap_or_else(|_| panic!("aiosmtpd did not report a port: {line:?}"));
    Some(Smtp { child, port })
}

fn mails(out: &Path) -> Vec<Value> {
    job_files(out)
        .iter()
        .filter(|f| f.ends_with(".json"))
        .map(|f| serde_json::from_str(&std::fs::read_to_string(out.join(f)).unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn email_reaches_a_real_smtp_server_with_auth() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mail");
    std::fs::create_dir(&out).unwrap();
    let Some(smtp) = start_smtp(dir.path(), &out, None) else { return };
    std::fs::write(dir.path().join("smtp.pw"), "s3cret\n").unwrap();
    let yaml = format!(
        r#"
global:
  smtp_smarthost: '127.0.0.1:{port}'
  smtp_from: 'tickdb <tickdb@example.org>'
  smtp_require_tls: false
  smtp_hello: tickdb.test
route: {{receiver: ops}}
receivers:
  - name: ops
    email_configs:
      - to: 'ops@example.org, On Call <oncall@example.org>'
        auth_username: alerts
        auth_password_file: smtp.pw
        send_resolved: true
        headers: {{X-Team: api}}
  - name: wrong-password
    email_configs:
      - to: ops@example.org
        auth_username: alerts
        auth_password: nope
"#,
        port = smtp.port
    );
    let reg = Registry::new();
    let n = Notifier::start(&dir.path().join("q"), receivers(&yaml, dir.path()), &reg, fast_opts()).await.unwrap();
    n.enqueue(fixed_notification("ops")).await.unwrap();
    n.enqueue(fixed_notification("wrong-password")).await.unwrap();
    wait_for("the mail", 20, || mails(&out).len() == 1).await;
    let failed = "tickdb_notifications_failed_total{receiver=\"wrong-password\",integration=\"email\"}";
    let status = || serde_json::to_string(&n.status()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&reg, failed) != 1.0 {
        assert!(Instant::now() < deadline, "the rejected login never failed for good: {}", status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    n.stop().await;
    let m = &mails(&out)[0];
    assert_eq!(m["mail_from"], "tickdb@example.org");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["ops@example.org", "oncall@example.org"]));
    assert_eq!(m["login"], "alerts");
    let h = &m["headers"];
    assert_eq!(h["Subject"], "[FIRING:2] HighErrorRate (api)");
    assert_eq!(h["From"], "tickdb <tickdb@example.org>");
    assert_eq!(h["To"], "ops@example.org, On Call <oncall@example.org>");
    assert_eq!(h["X-Team"], "api");
    assert_eq!(h["Auto-Submitted"], "auto-generated");
    assert!(h["Message-ID"].as_str().is_some_and(|s| s.starts_with('<')), "{h}");
    assert_eq!(m["content_type"], "multipart/alternative");
    let text = m["text"].as_str().unwrap();
    for want in [
        "[FIRING:2] HighErrorRate (api)",
        "Receiver: ops (2 firing, 1 resolved)",
        "api-1 error rate is 12%",
        "Ended:       2023-11-14T22:18:20.25Z",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    let html = m["html"].as_str().unwrap();
    assert!(html.contains("api-2 error rate is 6% &lt;warning&gt;"), "{html}");
    let st = n.status();
    let wp = &st.receivers.iter().find(|r| r.name == "wrong-password").unwrap().integrations[0];
    assert!(wp.last_error.as_deref().unwrap().contains("535"), "{:?}", wp.last_error);
    assert!(!serde_json::to_string(&st).unwrap().contains("s3cret"));
}

/// STARTTLS (`require_tls`, the default) against aiosmtpd with a self-signed certificate that
/// the config trusts through `tls_config.ca_file`; AUTH only after TLS.
#[tokio::test]
async fn email_over_starttls_verifies_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mail");
    std::fs::create_dir(&out).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=smtp.test"])
        .args(["-addext", "subjectAltName=DNS:smtp.test", "-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("SKIPPED: openssl could not make a test certificate");
        return;
    }
    let Some(smtp) = start_smtp(dir.path(), &out, Some((&cert, &key))) else { return };
    let yaml = format!(
        r#"
route: {{receiver: ops}}
receivers:
  - name: ops
    email_configs:
      - to: ops@example.org
        from: tickdb@example.org
        smarthost: '127.0.0.1:{port}'
        auth_username: alerts
        auth_password: s3cret
        tls_config: {{ca_file: cert.pem, server_name: smtp.test}}
  - name: untrusted
    email_configs:
      - to: ops@example.org
        from: tickdb@example.org
        smarthost: '127.0.0.1:{port}'
        auth_username: alerts
        auth_password: s3cret
        tls_config: {{server_name: smtp.test}}
"#,
        port = smtp.port
    );
    let reg = Registry::new();
    let opts = DeliveryOptions { max_attempts: 2, ..fast_opts() };
    let n = Notifier::start(&dir.path().join("q"), receivers(&yaml, dir.path()), &reg, opts).await.unwrap();
    n.enqueue(simple_notification("ops", "OverTls")).await.unwrap();
    n.enqueue(simple_notification("untrusted", "Untrusted")).await.unwrap();
    wait_for("the mail", 20, || mails(&out).len() == 1).await;
    let failed = "tickdb_notifications_failed_total{receiver=\"untrusted\",integration=\"email\"}";
    wait_for("the untrusted certificate to fail", 20, || metric(&reg, failed) == 1.0).await;
    n.stop().await;
    let m = &mails(&out)[0];
    assert_eq!((m["login"].as_str(), m["headers"]["Subject"].as_str()), (Some("alerts"), Some("[FIRING:1] OverTls")));
    let st = n.status();
    let u = &st.receivers.iter().find(|r| r.name == "untrusted").unwrap().integrations[0];
    let err = u.last_error.as_deref().unwrap_or("");
    assert!(err.contains("certificate") || err.contains("UnknownIssuer"), "{err}");
}
