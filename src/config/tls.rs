//! `[tls]` and each client's `ca_file`: which certificate authorities the
//! gateway's outgoing TLS connections trust. A region's broker, signing
//! service, database or diary often has a certificate of the region's own
//! CA (or of Минцифры's), which no public root list holds.
//!
//! Every client trusts the roots `tls.roots` names (Mozilla's list built
//! in, the operating system's store, or none) plus one PEM bundle: the
//! client's own `ca_file` when its section sets one, else `tls.ca_file`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::Deserialize;

use super::{ConfigError, Resolved};

/// `[tls]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// CA certificates (PEM, one or more) every outgoing TLS connection
    /// trusts besides `roots`, unless the client's section names its own.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The roots trusted besides the CA file.
    #[serde(default)]
    pub roots: Roots,
}

/// Which root certificates a client trusts besides its CA file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Roots {
    /// Mozilla's list, built into the binary (the same everywhere).
    #[default]
    Webpki,
    /// The operating system's store (`/etc/ssl/certs`, `SSL_CERT_FILE`):
    /// where a region's administrators install their CA.
    System,
    /// None: only the CA file (a private CA, nothing public).
    None,
}

/// The gateway's outgoing TLS clients, each with its own `ca_file` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// ESIA's back channel, or the broker's in `mode = "broker"`.
    Esia,
    /// The HTTP signing service.
    Signer,
    /// The diary's login form, for manual linking (the diary's key,
    /// `upstream.ca_file`).
    DiaryLogin,
    /// The diary itself, behind the proxy (`upstream.url` with https).
    Upstream,
    /// The directory's PostgreSQL (`sslmode=require`).
    Postgres,
}

impl Client {
    pub const ALL: [Client; 5] = [
        Client::Esia,
        Client::Signer,
        Client::DiaryLogin,
        Client::Upstream,
        Client::Postgres,
    ];

    /// The client's own `ca_file` key.
    pub fn key(self) -> &'static str {
        match self {
            Client::Esia => "esia.ca_file",
            Client::Signer => "esia.signer.ca_file",
            Client::DiaryLogin => "upstream.ca_file",
            Client::Upstream => "upstream.ca_file",
            Client::Postgres => "directory.postgres.ca_file",
        }
    }
}

/// What one client trusts, read and checked.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The CA file's certificates.
    pub extra: Vec<CertificateDer<'static>>,
    pub roots: Roots,
}

impl Default for Trust {
    /// Mozilla's roots and nothing else: what a client trusts without any
    /// `[tls]` or `ca_file`.
    fn default() -> Self {
        Self {
            extra: Vec::new(),
            roots: Roots::Webpki,
        }
    }
}

impl Trust {
    /// The roots and `ca_file`'s certificates; the error names the file
    /// and what is wrong with it.
    pub fn load(ca_file: Option<&Path>, roots: Roots) -> Result<Self, String> {
        let extra = match ca_file {
            Some(p) => read_bundle(p)?,
            None => Vec::new(),
        };
        if extra.is_empty() && roots == Roots::None {
            return Err("tls.roots = \"none\" needs a ca_file: nothing would be trusted".into());
        }
        let trust = Self { extra, roots };
        // A certificate that cannot be a trust anchor fails here, at start
        // (and in `check`), not at the first connection.
        trust.root_store()?;
        Ok(trust)
    }

    /// The certificates as rustls's root store.
    pub fn root_store(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match self.roots {
            Roots::Webpki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Roots::System => {
                store.add_parsable_certificates(system_roots()?);
            }
            Roots::None => {}
        }
        for (i, c) in self.extra.iter().enumerate() {
            store.add(c.clone()).map_err(|e| {
                format!(
                    "certificate {} of the CA file cannot be trusted: {e}",
                    i + 1
                )
            })?;
        }
        Ok(store)
    }

    /// A rustls client configuration trusting these certificates (for
    /// reqwest's `use_preconfigured_tls` and tokio-postgres).
    pub fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(self.root_store()?)
            .with_no_client_auth())
    }

    /// Every trusted certificate as a whole certificate (Pingora's per-peer
    /// CA list takes certificates, not trust anchors).
    pub fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, String> {
        let mut out = match self.roots {
            Roots::Webpki => webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec(),
            Roots::System => system_roots()?,
            Roots::None => Vec::new(),
        };
        out.extend(self.extra.iter().cloned());
        Ok(out)
    }
}

/// The operating system's CA certificates.
fn system_roots() -> Result<Vec<CertificateDer<'static>>, String> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        return Err(format!(
            "tls.roots = \"system\": no CA certificates in the system's store \
             (is ca-certificates installed?){why}"
        ));
    }
    Ok(found.certs)
}

/// The certificates of a PEM file; at least one.
pub fn read_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in it (PEM, -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// Check the trust of every client in use (or whose own `ca_file` is
/// set): an unreadable or invalid CA file fails `check` and the start.
pub fn check_trust(r: &Resolved) -> Result<(), ConfigError> {
    let s = &r.settings;
    for c in Client::ALL {
        let in_use = match c {
            Client::Esia => true,
            Client::Signer => s.esia.signer.as_ref().is_some_and(|g| g.url.is_some()),
            Client::DiaryLogin => s.diary_login.is_some(),
            Client::Upstream => r.upstream_url.scheme() == "https",
            Client::Postgres => s.directory.postgres.is_some(),
        };
        let own = r.ca_file(c).is_some_and(|(k, _)| k == c.key());
        if in_use || own {
            r.trust(c)?;
        }
    }
    Ok(())
}

impl Resolved {
    /// The client's own `ca_file`, else `tls.ca_file` (resolved against
    /// the configuration's folder), and the key that named it.
    pub fn ca_file(&self, client: Client) -> Option<(&'static str, PathBuf)> {
        let s = &self.settings;
        let own = match client {
            Client::Esia => s.esia.ca_file.as_ref(),
            Client::Signer => s.esia.signer.as_ref().and_then(|g| g.ca_file.as_ref()),
            Client::DiaryLogin | Client::Upstream => s.upstream.ca_file.as_ref(),
            Client::Postgres => s
                .directory
                .postgres
                .as_ref()
                .and_then(|p| p.ca_file.as_ref()),
        };
        match own {
            Some(p) => Some((client.key(), self.path(p))),
            None => s
                .tls
                .ca_file
                .as_ref()
                .map(|p| ("tls.ca_file", self.path(p))),
        }
    }

    /// What the client trusts; the error names the key at fault.
    pub fn trust(&self, client: Client) -> Result<Trust, ConfigError> {
        let file = self.ca_file(client);
        Trust::load(
            file.as_ref().map(|(_, p)| p.as_path()),
            self.settings.tls.roots,
        )
        .map_err(|message| ConfigError::Invalid {
            path: "configuration".into(),
            key: file.map_or("tls.roots", |(k, _)| k).into(),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_or_unreadable_is_refused_naming_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let e = Trust::load(Some(&empty), Roots::Webpki).expect_err("no certificate");
        assert!(
            e.contains("empty.pem") && e.contains("no certificate"),
            "{e}"
        );
        let e =
            Trust::load(Some(&dir.path().join("missing.pem")), Roots::Webpki).expect_err("missing");
        assert!(e.contains("cannot read"), "{e}");
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        assert!(Trust::load(Some(&broken), Roots::Webpki).is_err());
    }

    #[test]
    fn nothing_at_all_is_not_a_trust() {
        let e = Trust::load(None, Roots::None).expect_err("nothing");
        assert!(e.contains("ca_file"), "{e}");
    }

    #[test]
    fn the_built_in_roots_come_as_anchors_and_as_certificates() {
        let t = Trust::load(None, Roots::Webpki).expect("webpki");
        let n = t.root_store().expect("store").len();
        assert!(n > 100, "{n}");
        // The same Mozilla list (the two crates may be a release apart).
        let certs = t.certificates().expect("certs").len();
        assert!(certs.abs_diff(n) < 10, "{certs} certificates, {n} anchors");
        t.client_config().expect("a client configuration");
    }
}
