//! GOST R 34.10-2012 / 34.11-2012 (Streebog) through OpenSSL's GOST engine.
//!
//! No mature pure-Rust GOST signer exists, so the signature and its
//! verification go through OpenSSL with Debian's `libengine-gost-openssl`.
//! [`init_engine`] loads the engine into the running OpenSSL through its
//! `dynamic` engine, so it works whatever touched OpenSSL before (an
//! `OPENSSL_CONF` that already loads it is respected).

use std::ffi::{CString, c_char, c_int, c_uint, c_void};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;

#[derive(Debug, thiserror::Error)]
pub enum GostError {
    #[error(
        "the OpenSSL GOST engine is not available ({0}); install Debian's libengine-gost-openssl"
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

// The ENGINE API is deprecated in OpenSSL 3 but still exported, and it is
// the only way to reach the GOST engine; openssl-sys does not bind it.
unsafe extern "C" {
    fn ENGINE_by_id(id: *const c_char) -> *mut c_void;
    fn ENGINE_ctrl_cmd_string(
        e: *mut c_void,
        cmd: *const c_char,
        arg: *const c_char,
        optional: c_int,
    ) -> c_int;
    fn ENGINE_init(e: *mut c_void) -> c_int;
    fn ENGINE_set_default(e: *mut c_void, flags: c_uint) -> c_int;
}

const ENGINE_METHOD_ALL: c_uint = 0xFFFF;

fn load_dynamic(path: &Path) -> Result<(), String> {
    let c = |s: &str| CString::new(s).map_err(|e| e.to_string());
    let (dynamic, so_path, id, gost, load) = (
        c("dynamic")?,
        c("SO_PATH")?,
        c("ID")?,
        c("gost")?,
        c("LOAD")?,
    );
    let lib = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: plain calls into libcrypto with valid NUL-terminated strings;
    // the engine handle stays referenced for the life of the process, as
    // the engine must.
    unsafe {
        let e = ENGINE_by_id(dynamic.as_ptr());
        if e.is_null() {
            return Err("OpenSSL has no dynamic engine loader".into());
        }
        let ok = ENGINE_ctrl_cmd_string(e, so_path.as_ptr(), lib.as_ptr(), 0) == 1
            && ENGINE_ctrl_cmd_string(e, id.as_ptr(), gost.as_ptr(), 0) == 1
            && ENGINE_ctrl_cmd_string(e, load.as_ptr(), std::ptr::null(), 0) == 1
            && ENGINE_init(e) == 1
            && ENGINE_set_default(e, ENGINE_METHOD_ALL) == 1;
        if !ok {
            return Err(format!(
                "OpenSSL could not load the GOST engine from {}",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Load the GOST engine into this process's OpenSSL. Idempotent and cheap
/// after the first call; call it before using any other function here.
pub fn init_engine() -> Result<(), GostError> {
    let r = INIT.get_or_init(|| {
        openssl::init();
        if MessageDigest::from_name("md_gost12_256").is_some() {
            return Ok(());
        }
        let engine = engine_path()
            .ok_or_else(|| format!("not found at {}", ENGINE_CANDIDATES.join(", ")))?;
        load_dynamic(&engine)
    });
    match r {
        Ok(()) if MessageDigest::from_name("md_gost12_256").is_some() => Ok(()),
        Ok(()) => Err(GostError::NoStreebog),
        Err(e) => Err(GostError::EngineMissing(e.clone())),
    }
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
