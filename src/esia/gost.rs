//! GOST R 34.10-2012 / 34.11-2012 (Streebog) through OpenSSL's GOST engine.
//!
//! No mature pure-Rust GOST signer exists, so the signature and its
//! verification go through OpenSSL with Debian's `libengine-gost-openssl`.
//! OpenSSL only loads an engine from its configuration, read once when the
//! library initialises: [`init_engine`] points `OPENSSL_CONF` at a small
//! generated file before anything touches OpenSSL.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;

#[derive(Debug, thiserror::Error)]
pub enum GostError {
    #[error(
        "the OpenSSL GOST engine is not installed (looked for {0}); install Debian's libengine-gost-openssl"
    )]
    EngineMissing(String),
    #[error("OpenSSL does not offer Streebog-256 (md_gost12_256): is the GOST engine loaded?")]
    NoStreebog,
    #[error("cannot read {what}: {source}")]
    Read {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} is not a usable GOST key or certificate: {source}")]
    Parse {
        what: String,
        source: openssl::error::ErrorStack,
    },
    #[error("OpenSSL failed: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    #[error("cannot write the OpenSSL configuration for the GOST engine: {0}")]
    Config(std::io::Error),
}

/// Places the engine is installed by Debian's package on common architectures.
const ENGINE_CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/engines-3/gost.so",
    "/usr/lib/aarch64-linux-gnu/engines-3/gost.so",
    "/usr/lib/engines-3/gost.so",
    "/usr/lib64/engines-3/gost.so",
];

fn engine_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("ESIA_GATE_GOST_ENGINE") {
        return Some(PathBuf::from(p));
    }
    ENGINE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

static INIT: OnceLock<Result<(), String>> = OnceLock::new();

/// Make OpenSSL load the GOST engine. Must run before the first OpenSSL call
/// of the process (it is idempotent and cheap afterwards). An `OPENSSL_CONF`
/// set by the operator is respected as is.
pub fn init_engine() -> Result<(), GostError> {
    let r = INIT.get_or_init(|| {
        if std::env::var_os("OPENSSL_CONF").is_some() {
            return Ok(());
        }
        let engine = engine_path().ok_or_else(|| ENGINE_CANDIDATES.join(", "))?;
        let conf = write_config(&engine).map_err(|e| format!("config: {e}"))?;
        // SAFETY: called once, at start-up, before OpenSSL reads its
        // configuration and before the gateway starts its worker threads.
        unsafe { std::env::set_var("OPENSSL_CONF", conf) };
        Ok(())
    });
    match r {
        Ok(()) => {
            if MessageDigest::from_name("md_gost12_256").is_none() {
                return Err(GostError::NoStreebog);
            }
            Ok(())
        }
        Err(e) if e.starts_with("config: ") => Err(GostError::Config(std::io::Error::other(
            e.trim_start_matches("config: ").to_string(),
        ))),
        Err(e) => Err(GostError::EngineMissing(e.clone())),
    }
}

fn write_config(engine: &Path) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("esia-gate-openssl-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("openssl-gost.cnf");
    let text = format!(
        "openssl_conf = openssl_init\n\n[openssl_init]\nengines = engine_section\n\n\
         [engine_section]\ngost = gost_section\n\n[gost_section]\nengine_id = gost\n\
         dynamic_path = {}\ndefault_algorithms = ALL\n",
        engine.display()
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

fn streebog() -> Result<MessageDigest, GostError> {
    MessageDigest::from_name("md_gost12_256").ok_or(GostError::NoStreebog)
}

/// Streebog-256 (GOST R 34.11-2012, 256 bit) of `data`.
pub fn streebog256(data: &[u8]) -> Result<Vec<u8>, GostError> {
    Ok(hash(streebog()?, data)?.to_vec())
}

/// `client_certificate_hash`: upper-case hex Streebog-256 of the DER bytes.
pub fn certificate_hash(cert: &X509) -> Result<String, GostError> {
    Ok(hex::encode_upper(streebog256(&cert.to_der()?)?))
}

pub fn read_private_key(path: &Path) -> Result<PKey<Private>, GostError> {
    let pem = std::fs::read(path).map_err(|source| GostError::Read {
        what: path.display().to_string(),
        source,
    })?;
    PKey::private_key_from_pem(&pem).map_err(|source| GostError::Parse {
        what: path.display().to_string(),
        source,
    })
}

pub fn read_certificate(path: &Path) -> Result<X509, GostError> {
    let pem = std::fs::read(path).map_err(|source| GostError::Read {
        what: path.display().to_string(),
        source,
    })?;
    X509::from_pem(&pem).map_err(|source| GostError::Parse {
        what: path.display().to_string(),
        source,
    })
}

/// Raw GOST R 34.10-2012 signature over Streebog-256 of `data` (64 bytes for
/// a 256-bit key), exactly what `openssl dgst -md_gost12_256 -sign` writes.
pub fn sign(key: &PKey<Private>, data: &[u8]) -> Result<Vec<u8>, GostError> {
    let mut signer = Signer::new(streebog()?, key)?;
    signer.update(data)?;
    Ok(signer.sign_to_vec()?)
}

/// Verify a raw GOST signature made by [`sign`] against a public key.
pub fn verify(key: &PKey<Public>, data: &[u8], signature: &[u8]) -> Result<bool, GostError> {
    let mut verifier = Verifier::new(streebog()?, key)?;
    verifier.update(data)?;
    Ok(verifier.verify(signature).unwrap_or(false))
}
