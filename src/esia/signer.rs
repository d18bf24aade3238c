//! The client secret signer plug-in. The first plug-in signs in-process with
//! OpenSSL's GOST engine; an external command or an HTTP signing service can
//! implement the same trait.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::pkey::{PKey, Private};

use super::gost::{self, GostError};

pub trait Signer: Send + Sync {
    /// Raw signature bytes over `data`.
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, GostError>;
    /// `client_certificate_hash` of the certificate registered with ESIA.
    fn certificate_hash(&self) -> &str;

    /// The signature as ESIA wants it in `client_secret`: base64url, no padding.
    fn client_secret(&self, data: &str) -> Result<String, GostError> {
        Ok(URL_SAFE_NO_PAD.encode(self.sign(data.as_bytes())?))
    }
}

/// In-process OpenSSL with the GOST engine.
pub struct OpensslGostSigner {
    key: PKey<Private>,
    certificate_hash: String,
}

impl OpensslGostSigner {
    pub fn from_files(certificate: &Path, private_key: &Path) -> Result<Self, GostError> {
        gost::init_engine()?;
        let cert = gost::read_certificate(certificate)?;
        let key = gost::read_private_key(private_key)?;
        let certificate_hash = gost::certificate_hash(&cert)?;
        // A key that does not belong to the certificate would make every
        // login fail with ESIA-007053: say so at start instead.
        let public = cert.public_key()?;
        if !key.public_eq(&public) {
            return Err(GostError::Parse {
                what: format!(
                    "{} (does not belong to the certificate {})",
                    private_key.display(),
                    certificate.display()
                ),
                source: openssl::error::ErrorStack::get(),
            });
        }
        Ok(Self {
            key,
            certificate_hash,
        })
    }
}

impl Signer for OpensslGostSigner {
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, GostError> {
        gost::sign(&self.key, data)
    }

    fn certificate_hash(&self) -> &str {
        &self.certificate_hash
    }
}

/// An external program signs: the bytes on its standard input, the raw
/// (or base64) signature on its standard output. It runs once per login
/// step, so a process per signature is affordable.
pub struct CommandSigner {
    command: Vec<String>,
    base64_output: bool,
    reverse: bool,
    timeout: std::time::Duration,
    certificate_hash: String,
}

impl CommandSigner {
    pub fn new(
        command: Vec<String>,
        base64_output: bool,
        reverse: bool,
        timeout: std::time::Duration,
        certificate: &Path,
    ) -> Result<Self, GostError> {
        gost::init_engine()?;
        let cert = gost::read_certificate(certificate)?;
        Ok(Self {
            command,
            base64_output,
            reverse,
            timeout,
            certificate_hash: gost::certificate_hash(&cert)?,
        })
    }
}

fn command_error(msg: String) -> GostError {
    GostError::Read {
        what: "the signing command".into(),
        source: std::io::Error::other(msg),
    }
}

impl Signer for CommandSigner {
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, GostError> {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| command_error("no program configured".into()))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| command_error(format!("cannot start {program}: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(data)
                .map_err(|e| command_error(format!("cannot write to {program}: {e}")))?;
        }
        // A hung signer must not hold a login forever.
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(command_error(format!("{program} did not finish in time")));
                }
                Err(e) => return Err(command_error(format!("{program}: {e}"))),
            }
        }
        let out = child
            .wait_with_output()
            .map_err(|e| command_error(format!("{program}: {e}")))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(command_error(format!(
                "{program} failed ({}): {}",
                out.status,
                err.lines().next().unwrap_or("")
            )));
        }
        let mut sig = if self.base64_output {
            let text = String::from_utf8_lossy(&out.stdout);
            let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean.trim_end_matches('='))
                .or_else(|_| {
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .decode(clean.trim_end_matches('='))
                })
                .map_err(|e| command_error(format!("{program} printed no base64: {e}")))?
        } else {
            out.stdout
        };
        if sig.is_empty() {
            return Err(command_error(format!("{program} printed no signature")));
        }
        if self.reverse {
            sig.reverse();
        }
        Ok(sig)
    }

    fn certificate_hash(&self) -> &str {
        &self.certificate_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openssl_command_signs_what_the_engine_verifies() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = crate::dev::keys::ensure_dev_keys(dir.path()).expect("keys");
        let s = CommandSigner::new(
            vec![
                "openssl".into(),
                "dgst".into(),
                "-engine".into(),
                "gost".into(),
                "-md_gost12_256".into(),
                "-sign".into(),
                keys.client_key.display().to_string(),
            ],
            false,
            false,
            std::time::Duration::from_secs(10),
            &keys.client_cert,
        )
        .expect("signer");
        let sig = s.sign(b"DIARYopenid").expect("signature");
        assert_eq!(sig.len(), 64);
        let cert = gost::read_certificate(&keys.client_cert).expect("cert");
        let key = cert.public_key().expect("key");
        assert!(gost::verify(&key, b"DIARYopenid", &sig).expect("verify"));
        let engine = OpensslGostSigner::from_files(&keys.client_cert, &keys.client_key)
            .expect("engine signer");
        assert_eq!(engine.certificate_hash(), s.certificate_hash());
    }

    #[test]
    fn a_failing_or_missing_command_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = crate::dev::keys::ensure_dev_keys(dir.path()).expect("keys");
        for cmd in [
            vec!["false".to_string()],
            vec!["/nonexistent/signer".to_string()],
        ] {
            let s = CommandSigner::new(
                cmd,
                false,
                false,
                std::time::Duration::from_secs(5),
                &keys.client_cert,
            )
            .expect("signer");
            assert!(s.sign(b"x").is_err());
        }
    }
}
