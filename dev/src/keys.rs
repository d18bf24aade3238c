//! Throwaway keys for the development stack: the diary system's GOST client
//! key and certificate, the emulator's RSA token key and certificate, and
//! the gateway's Ed25519 key for upstream assertions. Never use them anywhere
//! real.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509, X509NameBuilder};

/// Where [`ensure_dev_keys`] put the files (all PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevKeys {
    pub dir: PathBuf,
    /// GOST R 34.10-2012 (256 bit) private key of the relying party.
    pub client_key: PathBuf,
    /// Self-signed GOST certificate of `client_key` (registered at the emulator).
    pub client_cert: PathBuf,
    /// RSA 2048 PKCS#8 key the emulator signs its RS256 tokens with.
    pub esia_token_key: PathBuf,
    /// Self-signed X.509 certificate of `esia_token_key` (the gateway trusts it).
    pub esia_cert: PathBuf,
    /// Ed25519 PKCS#8 key the gateway signs upstream assertion JWTs with.
    pub assertion_key: PathBuf,
}

pub const CLIENT_KEY: &str = "client-key.pem";
pub const CLIENT_CERT: &str = "client-cert.pem";
pub const ESIA_TOKEN_KEY: &str = "esia-token-key.pem";
pub const ESIA_CERT: &str = "esia.pem";
pub const ASSERTION_KEY: &str = "assertion-key.pem";

/// Create the missing development keys in `dir` (existing files are kept).
///
/// The GOST pair is made with the `openssl` command line and its GOST
/// engine (Debian's `libengine-gost-openssl`); the RSA keys in-process.
pub fn ensure_dev_keys(dir: &Path) -> anyhow::Result<DevKeys> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the key directory {}", dir.display()))?;
    esia_gate::esia::gost::init_engine().context(
        "the GOST engine is needed for the development keys (apt-get install libengine-gost-openssl)",
    )?;
    let keys = DevKeys {
        dir: dir.to_path_buf(),
        client_key: dir.join(CLIENT_KEY),
        client_cert: dir.join(CLIENT_CERT),
        esia_token_key: dir.join(ESIA_TOKEN_KEY),
        esia_cert: dir.join(ESIA_CERT),
        assertion_key: dir.join(ASSERTION_KEY),
    };

    if !keys.client_key.exists() {
        gost_cli(
            &[
                "genpkey",
                "-engine",
                "gost",
                "-algorithm",
                "gost2012_256",
                "-pkeyopt",
                "paramset:A",
                "-out",
            ],
            &keys.client_key,
            "generate the GOST client key",
        )?;
        restrict(&keys.client_key)?;
        // A certificate of another key would be useless.
        let _ = std::fs::remove_file(&keys.client_cert);
    }
    if !keys.client_cert.exists() {
        let key = path_arg(&keys.client_key)?;
        gost_cli(
            &[
                "req",
                "-new",
                "-x509",
                "-engine",
                "gost",
                "-key",
                key,
                "-subj",
                "/CN=DIARY",
                "-days",
                "3650",
                "-md_gost12_256",
                "-out",
            ],
            &keys.client_cert,
            "make the GOST client certificate",
        )?;
    }

    if !keys.esia_token_key.exists() {
        let key = rsa_key()?;
        write_new(&keys.esia_token_key, &key.private_key_to_pem_pkcs8()?)?;
        restrict(&keys.esia_token_key)?;
        let _ = std::fs::remove_file(&keys.esia_cert);
    }
    if !keys.esia_cert.exists() {
        let pem = std::fs::read(&keys.esia_token_key)
            .with_context(|| format!("cannot read {}", keys.esia_token_key.display()))?;
        let key = PKey::private_key_from_pem(&pem)
            .with_context(|| format!("{} is not a PEM key", keys.esia_token_key.display()))?;
        let cert = self_signed(&key, "ESIA emulator (development only)")?;
        write_new(&keys.esia_cert, &cert.to_pem()?)?;
    }

    // An RSA key written by an older demo is replaced: assertions are EdDSA.
    let is_ed25519 = std::fs::read(&keys.assertion_key)
        .ok()
        .and_then(|pem| PKey::private_key_from_pem(&pem).ok())
        .is_some_and(|k| k.id() == openssl::pkey::Id::ED25519);
    if !is_ed25519 {
        let _ = std::fs::remove_file(&keys.assertion_key);
        let key = PKey::generate_ed25519()?;
        write_new(&keys.assertion_key, &key.private_key_to_pem_pkcs8()?)?;
        restrict(&keys.assertion_key)?;
    }
    Ok(keys)
}

fn path_arg(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("the path {} is not valid UTF-8", p.display()))
}

/// Run `openssl <args> <out>.tmp`, then move the result into place.
fn gost_cli(args: &[&str], out: &Path, what: &str) -> anyhow::Result<()> {
    let tmp = out.with_extension("pem.tmp");
    let tmp_arg = path_arg(&tmp)?;
    let result = Command::new("openssl").args(args).arg(tmp_arg).output();
    let output = match result {
        Ok(o) => o,
        Err(e) => bail!(
            "cannot {what}: running `openssl` failed ({e}); install the `openssl` command and \
             the GOST engine package `libengine-gost-openssl`"
        ),
    };
    if !output.status.success() || !tmp.exists() {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "cannot {what}: `openssl {}` failed ({}): {}; is the GOST engine package \
             `libengine-gost-openssl` installed?",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    std::fs::rename(&tmp, out)
        .with_context(|| format!("cannot move {} into place", tmp.display()))?;
    Ok(())
}

fn rsa_key() -> anyhow::Result<PKey<Private>> {
    Ok(PKey::from_rsa(Rsa::generate(2048)?)?)
}

fn self_signed(key: &PKey<Private>, cn: &str) -> anyhow::Result<X509> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", cn)?;
    name.append_entry_by_text("O", "esia-gate dev stack")?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(key)?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(3650)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    b.append_extension(BasicConstraints::new().critical().build()?)?;
    b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    b.sign(key, MessageDigest::sha256())?;
    Ok(b.build())
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("pem.tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Private keys readable by the owner only.
fn restrict(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use esia_gate::esia::gost;

    #[test]
    fn keys_are_made_once_and_usable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = ensure_dev_keys(dir.path()).expect("keys");
        let before = std::fs::read(&keys.client_key).expect("read");
        let again = ensure_dev_keys(dir.path()).expect("keys again");
        assert_eq!(keys, again);
        assert_eq!(before, std::fs::read(&keys.client_key).expect("read"));

        // The GOST pair signs and verifies; the hash is 64 upper-case hex.
        let key = gost::read_private_key(&keys.client_key).expect("gost key");
        let cert = gost::read_certificate(&keys.client_cert).expect("gost cert");
        let sig = gost::sign(&key, b"DIARY").expect("sign");
        assert_eq!(sig.len(), 64);
        let public = cert.public_key().expect("public key");
        assert!(gost::verify(&public, b"DIARY", &sig).expect("verify"));
        let h = gost::certificate_hash(&cert).expect("hash");
        assert_eq!(h.len(), 64);
        assert_eq!(h, h.to_uppercase());

        // The keys are PKCS#8, the certificate matches its key, and the
        // assertion key is the Ed25519 key the gateway accepts.
        let assertion =
            PKey::private_key_from_pem(&std::fs::read(&keys.assertion_key).expect("read"))
                .expect("assertion key");
        assert_eq!(assertion.id(), openssl::pkey::Id::ED25519);
        for p in [&keys.esia_token_key, &keys.assertion_key] {
            let pem = std::fs::read_to_string(p).expect("read");
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        }
        let rsa = PKey::private_key_from_pem(&std::fs::read(&keys.esia_token_key).expect("read"))
            .expect("rsa");
        let esia = X509::from_pem(&std::fs::read(&keys.esia_cert).expect("read")).expect("cert");
        assert!(esia.public_key().expect("pk").public_eq(&rsa));
    }
}
