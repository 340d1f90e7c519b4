//! What the HTTP transports share: the `http_config` block (basic auth, authorization header,
//! TLS, proxy) as Alertmanager spells it, one reqwest client per integration, and the
//! classification of an outcome into delivered / retry later / give up.
//!
//! Retry rules (Alertmanager's `Retrier`, plus 408 and 429 as retryable): 2xx is delivered;
//! 5xx, 408, 429 and network errors or timeouts are retried (honouring `Retry-After` seconds);
//! every other status is permanent, since sending the same request again cannot succeed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::secret::{self, Secret};

/// Why a send did not succeed.
#[derive(Clone, Debug, PartialEq)]
pub struct SendError {
    /// Worth trying again later.
    pub retryable: bool,
    /// The receiver asked to wait this long (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// For logs and the status view; never contains a secret (URLs are left out).
    pub msg: String,
}

impl SendError {
    pub fn retry(msg: impl Into<String>) -> SendError {
        SendError { retryable: true, retry_after: None, msg: msg.into() }
    }
    pub fn permanent(msg: impl Into<String>) -> SendError {
        SendError { retryable: false, retry_after: None, msg: msg.into() }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

/// What a transport may need besides the notification.
#[derive(Clone, Copy, Debug)]
pub struct SendContext<'a> {
    /// tickdb's external URL (Alertmanager's `externalURL`).
    pub external_url: &'a str,
    /// The delivery job's id: stable across retries and restarts, an idempotency key.
    pub job_id: &'a str,
    /// Timeout of one attempt.
    pub timeout: Duration,
}

/// `http_config` of a webhook, Discord or Slack integration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// An HTTP(S) proxy; unset: none (the environment's proxy variables are not used).
    #[serde(default)]
    pub proxy_url: Option<Secret>,
    #[serde(default = "yes")]
    pub follow_redirects: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// `Authorization: <type> <credentials>` (type `Bearer` unless set).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default = "bearer", rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub credentials: Option<Secret>,
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

fn bearer() -> String {
    "Bearer".to_string()
}

/// TLS options of an HTTP or SMTP connection.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// PEM file of extra CA certificates.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// SMTP only: the name to verify the server's certificate against (default: the host).
    #[serde(default)]
    pub server_name: Option<String>,
}

impl TlsConfig {
    /// Reads `ca_file` (relative to `base_dir`).
    pub(crate) fn ca_pem(&self, base_dir: &Path) -> Result<Option<Vec<u8>>, (String, String)> {
        let Some(p) = &self.ca_file else { return Ok(None) };
        let path = if p.is_absolute() { p.clone() } else { base_dir.join(p) };
        std::fs::read(&path)
            .map(Some)
            .map_err(|e| ("tls_config.ca_file".to_string(), format!("cannot read {}: {e}", path.display())))
    }
}

#[derive(Clone)]
enum Auth {
    Basic { user: String, password: Secret },
    Header(Secret),
}

/// A client for one integration, with its auth applied to every request.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    auth: Option<Auth>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            None => "none",
            Some(Auth::Basic { .. }) => "basic",
            Some(Auth::Header(_)) => "authorization",
        };
        f.debug_struct("HttpClient").field("auth", &auth).finish()
    }
}

pub(crate) fn user_agent() -> String {
    format!("tickdb/{}", env!("CARGO_PKG_VERSION"))
}

impl HttpClient {
    /// Builds the client of one `http_config` (errors as (field path, message)).
    pub(crate) fn build(cfg: &HttpConfig, base_dir: &Path) -> Result<HttpClient, (String, String)> {
        let prefix = |(p, m): (String, String)| (format!("http_config.{p}"), m);
        let mut b = crate::tls::client_builder().user_agent(user_agent()).redirect(if cfg.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        });
        b = match &cfg.proxy_url {
            None => b.no_proxy(),
            Some(p) => {
                let url = secret::expand_env(p.expose()).map_err(|e| ("http_config.proxy_url".to_string(), e))?;
                let proxy = reqwest::Proxy::all(&url).map_err(|e| {
                    ("http_config.proxy_url".to_string(), format!("invalid proxy URL: {}", e.without_url()))
                })?;
                b.proxy(proxy)
            }
        };
        if cfg.tls_config.server_name.is_some() {
            return Err(("http_config.tls_config.server_name".into(), "not supported for HTTP integrations".into()));
        }
        if cfg.tls_config.insecure_skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(pem) = cfg.tls_config.ca_pem(base_dir).map_err(prefix)? {
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ("http_config.tls_config.ca_file".to_string(), format!("invalid PEM: {e}")))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let client = b.build().map_err(|e| ("http_config".to_string(), format!("cannot build HTTP client: {e}")))?;
        let auth = match (&cfg.basic_auth, &cfg.authorization) {
            (Some(_), Some(_)) => {
                return Err((
                    "http_config".into(),
                    "at most one of basic_auth and authorization must be configured".into(),
                ));
            }
            (Some(ba), None) => {
                let pw = secret::resolve(ba.password.as_ref(), ba.password_file.as_deref(), base_dir, "password")
                    .map_err(|(p, m)| (format!("basic_auth.{p}"), m))
                    .map_err(prefix)?
                    .unwrap_or_default();
                Some(Auth::Basic { user: ba.username.clone(), password: pw })
            }
            (None, Some(a)) => {
                let cred =
                    secret::resolve(a.credentials.as_ref(), a.credentials_file.as_deref(), base_dir, "credentials")
                        .map_err(|(p, m)| (format!("authorization.{p}"), m))
                        .map_err(prefix)?
                        .ok_or_else(|| {
                            ("http_config.authorization.credentials".to_string(), "credentials must be set".to_string())
                        })?;
                if a.kind.eq_ignore_ascii_case("basic") {
                    return Err((
                        "http_config.authorization.type".into(),
                        "use basic_auth for basic authentication".into(),
                    ));
                }
                Some(Auth::Header(Secret::new(format!("{} {}", a.kind, cred.expose()))))
            }
            (None, None) => None,
        };
        Ok(HttpClient { client, auth })
    }

    /// POSTs a JSON body and classifies the outcome.
    pub(crate) async fn post_json(
        &self,
        url: &Secret,
        body: Vec<u8>,
        headers: &[(&str, String)],
        timeout: Duration,
    ) -> Result<(), SendError> {
        let mut req = self
            .client
            .post(url.expose())
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req = match &self.auth {
            None => req,
            Some(Auth::Basic { user, password }) => req.basic_auth(user, Some(password.expose())),
            Some(Auth::Header(h)) => req.header(reqwest::header::AUTHORIZATION, h.expose()),
        };
        let resp = req.send().await.map_err(request_error)?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        if status.is_success() {
            // Drain the body so the connection can be reused; its content does not matter.
            let _ = resp.bytes().await;
            return Ok(());
        }
        let body = resp
            .bytes()
            .await
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(1024)]).into_owned())
            .unwrap_or_default();
        Err(classify(status.as_u16(), retry_after, &body))
    }
}

/// A reqwest error without its URL (a webhook URL is a credential), with its causes
/// (connection refused, DNS, TLS) appended: reqwest's own message is only "error sending
/// request".
pub(crate) fn request_error(e: reqwest::Error) -> SendError {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let m = s.to_string();
        if !msg.contains(&m) {
            msg.push_str(": ");
            msg.push_str(&m);
        }
        src = s.source();
    }
    if timeout && !msg.contains("timed out") {
        msg.push_str(" (timed out)");
    }
    SendError::retry(msg)
}

/// The `Retry-After` delay in seconds, if given as a number.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

/// Classifies a non-2xx response. See the module docs.
pub(crate) fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> SendError {
    let (snippet, _) = super::render::truncate(body.trim(), 200);
    let msg = if snippet.is_empty() {
        format!("unexpected status code {status}")
    } else {
        format!("unexpected status code {status}: {snippet}")
    };
    let retryable = status >= 500 || status == 408 || status == 429;
    SendError { retryable, retry_after: if retryable { retry_after } else { None }, msg }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        let check = |code: u16, retryable: bool| {
            let e = classify(code, Some(Duration::from_secs(3)), " oops \n");
            assert_eq!(e.retryable, retryable, "{code}");
            assert_eq!(e.msg, format!("unexpected status code {code}: oops"));
            assert_eq!(e.retry_after.is_some(), retryable, "{code}");
        };
        for c in [500, 502, 503, 504, 408, 429] {
            check(c, true);
        }
        for c in [400, 401, 403, 404, 410, 413, 422, 301, 304] {
            check(c, false);
        }
        assert_eq!(classify(500, None, "").msg, "unexpected status code 500");
    }

    #[test]
    fn parses_retry_after_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(reqwest::header::RETRY_AFTER, "0.25".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        h.insert(reqwest::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn auth_settings_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let both: HttpConfig = serde_json::from_value(serde_json::json!({
            "basic_auth": {"username": "u", "password": "p"},
            "authorization": {"credentials": "t"}
        }))
        .unwrap();
        assert_eq!(
            HttpClient::build(&both, dir.path()).unwrap_err().1,
            "at most one of basic_auth and authorization must be configured"
        );
        let no_cred: HttpConfig =
            serde_json::from_value(serde_json::json!({"authorization": {"type": "Bearer"}})).unwrap();
        assert_eq!(HttpClient::build(&no_cred, dir.path()).unwrap_err().0, "http_config.authorization.credentials");
        let ok: HttpConfig =
            serde_json::from_value(serde_json::json!({"authorization": {"credentials": "t"}})).unwrap();
        let c = HttpClient::build(&ok, dir.path()).unwrap();
        assert_eq!(format!("{c:?}"), "HttpClient { auth: \"authorization\" }");
    }
}
