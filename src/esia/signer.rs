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
