//! The client secret signer plug-ins: in-process with OpenSSL's GOST
//! engine, an external command (`openssl … -engine gost`, CryptoPro's
//! `csptest`), or an HTTP signing service. Signing is async and never
//! blocks a runtime thread: the in-process signature runs on the blocking
//! pool, the command is a `tokio::process` child under a deadline, the
//! service is asked through an async HTTP client. A slow or hung signer
//! delays only the logins waiting for it.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::pkey::{PKey, Private};

use super::gost::{self, GostError};

#[async_trait::async_trait]
pub trait Signer: Send + Sync {
    /// Raw signature bytes over `data`.
    async fn sign(&self, data: &[u8]) -> Result<Vec<u8>, GostError>;
    /// `client_certificate_hash` of the certificate registered with ESIA.
    fn certificate_hash(&self) -> &str;

    /// The signature as ESIA wants it in `client_secret`: base64url, no padding.
    async fn client_secret(&self, data: &str) -> Result<String, GostError> {
        Ok(URL_SAFE_NO_PAD.encode(self.sign(data.as_bytes()).await?))
    }
}

/// Run a CPU-bound signature on the blocking pool.
pub(crate) async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, GostError> + Send + 'static,
) -> Result<T, GostError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| command_error(format!("the signing task failed: {e}")))?
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

#[async_trait::async_trait]
impl Signer for OpensslGostSigner {
    async fn sign(&self, data: &[u8]) -> Result<Vec<u8>, GostError> {
        let (key, data) = (self.key.clone(), data.to_vec());
        off_the_runtime(move || gost::sign(&key, &data)).await
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

#[async_trait::async_trait]
impl Signer for CommandSigner {
    async fn sign(&self, data: &[u8]) -> Result<Vec<u8>, GostError> {
        use std::process::Stdio;
        use tokio::io::AsyncWriteExt as _;
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| command_error("no program configured".into()))?;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A signer that outlives its deadline is killed, not left behind.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| command_error(format!("cannot start {program}: {e}")))?;
        let run = async {
            if let Some(mut stdin) = child.stdin.take() {
                stdin
                    .write_all(data)
                    .await
                    .map_err(|e| command_error(format!("cannot write to {program}: {e}")))?;
            }
            child
                .wait_with_output()
                .await
                .map_err(|e| command_error(format!("{program}: {e}")))
        };
        // A hung signer must not hold a login forever.
        let out = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| command_error(format!("{program} did not finish in time")))??;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(command_error(format!(
                "{program} failed ({}): {}",
                out.status,
                err.lines().next().unwrap_or("")
            )));
        }
        decode_signature(out.stdout, self.base64_output, self.reverse, program)
    }

    fn certificate_hash(&self) -> &str {
        &self.certificate_hash
    }
}

/// Output as a signer printed it: raw bytes, or base64 text (padding and
/// line breaks allowed); reversed for CryptoPro when asked.
fn decode_signature(
    out: Vec<u8>,
    base64_output: bool,
    reverse: bool,
    who: &str,
) -> Result<Vec<u8>, GostError> {
    let mut sig = if base64_output {
        let text = String::from_utf8_lossy(&out);
        let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let clean = clean.trim_end_matches('=');
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(clean)
            .or_else(|_| URL_SAFE_NO_PAD.decode(clean))
            .map_err(|e| command_error(format!("{who} gave no base64: {e}")))?
    } else {
        out
    };
    if sig.is_empty() {
        return Err(command_error(format!("{who} gave no signature")));
    }
    if reverse {
        sig.reverse();
    }
    Ok(sig)
}

/// An HTTP signing service: the bytes to sign are `POST`ed as the body
/// (`application/octet-stream`, with a bearer token when configured), the
/// answer's body is the signature.
pub struct HttpSigner {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    base64_output: bool,
    reverse: bool,
    certificate_hash: String,
}

/// Where an HTTP signer sends its requests.
pub struct HttpSignerTarget {
    pub url: String,
    pub token: Option<String>,
    /// The CAs an https service is checked against.
    pub trust: crate::config::tls::Trust,
}

impl HttpSigner {
    pub fn new(
        target: HttpSignerTarget,
        base64_output: bool,
        reverse: bool,
        timeout: std::time::Duration,
        certificate: &Path,
    ) -> Result<Self, GostError> {
        gost::init_engine()?;
        let cert = gost::read_certificate(certificate)?;
        let tls = target
            .trust
            .client_config()
            .map_err(|e| command_error(format!("the signing service's CA file: {e}")))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| command_error(format!("cannot set up the signing service client: {e}")))?;
        Ok(Self {
            client,
            url: target.url,
            token: target.token,
            base64_output,
            reverse,
            certificate_hash: gost::certificate_hash(&cert)?,
        })
    }
}

async fn sign_over_http(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    data: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let mut req = client
        .post(url)
        .header("Content-Type", "application/octet-stream")
        .body(data);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    // The URL is the operator's; the error names the kind, never the token.
    let answer = req
        .send()
        .await
        .map_err(|e| format!("cannot reach the signing service: {}", e.without_url()))?;
    let status = answer.status();
    if !status.is_success() {
        return Err(format!("the signing service answered {status}"));
    }
    answer.bytes().await.map(|b| b.to_vec()).map_err(|e| {
        format!(
            "the signing service's answer broke off: {}",
            e.without_url()
        )
    })
}

#[async_trait::async_trait]
impl Signer for HttpSigner {
    async fn sign(&self, data: &[u8]) -> Result<Vec<u8>, GostError> {
        // The client's own timeout ends a request the service never answers.
        let out = sign_over_http(
            &self.client,
            &self.url,
            self.token.as_deref(),
            data.to_vec(),
        )
        .await
        .map_err(command_error)?;
        decode_signature(out, self.base64_output, self.reverse, "the signing service")
    }

    fn certificate_hash(&self) -> &str {
        &self.certificate_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_openssl_command_signs_what_the_engine_verifies() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = esia_gate_dev::keys::ensure_dev_keys(dir.path()).expect("keys");
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
        let sig = s.sign(b"DIARYopenid").await.expect("signature");
        assert_eq!(sig.len(), 64);
        let cert = gost::read_certificate(&keys.client_cert).expect("cert");
        let key = cert.public_key().expect("key");
        assert!(gost::verify(&key, b"DIARYopenid", &sig).expect("verify"));
        let engine = OpensslGostSigner::from_files(&keys.client_cert, &keys.client_key)
            .expect("engine signer");
        assert_eq!(engine.certificate_hash(), s.certificate_hash());
    }

    /// A signing service on loopback with the dev key, on this test's
    /// runtime; the tempdir lives as long as the test needs it.
    async fn service(
        token: Option<&str>,
    ) -> (
        tempfile::TempDir,
        esia_gate_dev::keys::DevKeys,
        String,
        std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = esia_gate_dev::keys::ensure_dev_keys(dir.path()).expect("keys");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/sign", listener.local_addr().expect("addr"));
        let signed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        tokio::spawn(esia_gate_dev::signing_service::serve(
            listener,
            keys.client_cert.clone(),
            keys.client_key.clone(),
            token.map(str::to_string),
            signed.clone(),
        ));
        (dir, keys, url, signed)
    }

    fn http_signer(
        url: &str,
        token: Option<&str>,
        keys: &esia_gate_dev::keys::DevKeys,
    ) -> HttpSigner {
        HttpSigner::new(
            HttpSignerTarget {
                url: url.to_string(),
                token: token.map(str::to_string),
                trust: Default::default(),
            },
            true,
            false,
            std::time::Duration::from_secs(5),
            &keys.client_cert,
        )
        .expect("signer")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_signing_service_signs_what_the_engine_verifies() {
        let (_dir, keys, url, signed) = service(Some("s3cret")).await;
        let s = http_signer(&url, Some("s3cret"), &keys);
        let sig = s.sign(b"DIARYopenid").await.expect("signature");
        assert_eq!(sig.len(), 64);
        let cert = gost::read_certificate(&keys.client_cert).expect("cert");
        let key = cert.public_key().expect("key");
        assert!(gost::verify(&key, b"DIARYopenid", &sig).expect("verify"));
        assert_eq!(signed.load(std::sync::atomic::Ordering::Relaxed), 1);
        // Many logins at once: every one gets its signature.
        let s = std::sync::Arc::new(s);
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.sign(format!("login {i}").as_bytes()).await.is_ok() })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap_or(false));
        }
    }

    #[tokio::test]
    async fn a_refusing_or_absent_signing_service_is_an_error_not_a_panic() {
        let (_dir, keys, url, _) = service(Some("s3cret")).await;
        // Wrong token: 401, said without the token.
        let e = http_signer(&url, Some("wrong"), &keys)
            .sign(b"x")
            .await
            .expect_err("refused");
        assert!(e.to_string().contains("401"), "{e}");
        assert!(!e.to_string().contains("wrong"), "{e}");
        // Nobody listening.
        let closed = format!(
            "http://127.0.0.1:{}/sign",
            esia_gate_dev::ports::free_port().expect("port")
        );
        let e = http_signer(&closed, None, &keys)
            .sign(b"x")
            .await
            .expect_err("absent");
        assert!(e.to_string().contains("cannot reach"), "{e}");
    }

    #[tokio::test]
    async fn a_failing_or_missing_command_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = esia_gate_dev::keys::ensure_dev_keys(dir.path()).expect("keys");
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
            assert!(s.sign(b"x").await.is_err());
        }
    }

    #[tokio::test]
    async fn a_hung_command_ends_at_its_deadline() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = esia_gate_dev::keys::ensure_dev_keys(dir.path()).expect("keys");
        let s = CommandSigner::new(
            vec!["sleep".into(), "30".into()],
            false,
            false,
            std::time::Duration::from_millis(300),
            &keys.client_cert,
        )
        .expect("signer");
        let started = std::time::Instant::now();
        let e = s.sign(b"x").await.expect_err("timed out");
        assert!(e.to_string().contains("did not finish in time"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
