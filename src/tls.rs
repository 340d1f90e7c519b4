//! The one TLS crypto provider of the process.
//!
//! reqwest is built with `rustls-no-provider` and lettre with `ring`, so rustls has no default
//! provider until one is installed: building an HTTPS-capable client before that panics. Every
//! place that makes an outgoing client calls [`install_crypto_provider`] first (it is cheap and
//! idempotent), as does `main`.

/// Installs rustls's ring provider as the process default, once. Later calls, and a provider
/// installed by someone else first, are fine.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already the default: that one is used, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A reqwest client builder with the crypto provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_client_builds_after_install() {
        super::client_builder().build().expect("client builds");
        super::install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
