//! The emulator's deprecated *legacy* direct flow (still accepted on the ESIA
//! test stand): `GET /aas/oauth2/ac` and `POST /aas/oauth2/te`.
//!
//! The same parameters, checks, login/consent screens and tokens as v2/v3
//! (the handlers share the emulator's `authorize` and `token`), except:
//!
//! * no `client_certificate_hash`;
//! * `client_secret` is a detached PKCS#7 SignedData (DER) over the UTF-8
//!   string `scope + timestamp + client_id + state`, with the signer's
//!   certificate included, encoded as base64url (padded or not; standard
//!   base64 is accepted too). The signer must be the certificate registered
//!   for the client; no chain is built (the certificate is trusted as is).
//! * a code issued here is redeemed only here (and a v2 code only at v3).
//!
//! A child module of the emulator. Nothing here logs a secret or a code.
//!
//! The tests (a real emulator on loopback) are in `legacy/tests.rs`.

#[cfg(test)]
mod tests;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;

use super::authorize::authorize;
use super::state::{Flow, Shared};
use super::token::token;

/// Parameters a legacy `ac` must carry (v2's without `client_certificate_hash`).
pub(super) const AC_REQUIRED: &[&str] = &[
    "client_id",
    "client_secret",
    "redirect_uri",
    "scope",
    "response_type",
    "state",
    "access_type",
    "timestamp",
];

/// Parameters a legacy `te` must carry (v3's without `client_certificate_hash`).
pub(super) const TE_REQUIRED: &[&str] = &[
    "client_id",
    "code",
    "grant_type",
    "client_secret",
    "state",
    "redirect_uri",
    "scope",
    "timestamp",
    "token_type",
];

/// `GET /aas/oauth2/ac`
pub(super) async fn ac(State(st): State<Shared>, RawQuery(q): RawQuery) -> Response {
    authorize(st, q, Flow::Legacy).await
}

/// `POST /aas/oauth2/te`
pub(super) async fn te(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    token(st, headers, body, Flow::Legacy).await
}

/// What the legacy `client_secret` signs (both at `ac` and at `te`, with
/// that request's own `state` and `timestamp`).
pub(super) fn secret_input(scope: &str, timestamp: &str, client_id: &str, state: &str) -> String {
    format!("{scope}{timestamp}{client_id}{state}")
}

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const URL_SAFE_ANY: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);
const STANDARD_ANY: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);

/// base64url or standard base64, padding optional.
fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let s = secret.trim();
    URL_SAFE_ANY
        .decode(s)
        .or_else(|_| STANDARD_ANY.decode(s))
        .ok()
}

/// `secret` is a detached PKCS#7 SignedData over `input`, signed by `cert`
/// (and by nobody else), with `cert` included in the structure.
pub(super) fn secret_ok(cert: &X509, input: &str, secret: &str) -> bool {
    match check_secret(cert, input, secret) {
        Ok(()) => true,
        Err(why) => {
            tracing::debug!(why, "legacy client_secret rejected");
            false
        }
    }
}

fn check_secret(cert: &X509, input: &str, secret: &str) -> Result<(), &'static str> {
    let der = decode_secret(secret).ok_or("not base64")?;
    let p7 = Pkcs7::from_der(&der).map_err(|_| "not a DER PKCS#7 structure")?;
    let registered = cert.to_der().map_err(|_| "registered certificate")?;
    let included = p7
        .signed()
        .and_then(|s| s.certificates())
        .is_some_and(|cs| cs.iter().any(|c| c.to_der().is_ok_and(|d| d == registered)));
    if !included {
        return Err("the signer certificate is not included");
    }
    let mut certs = Stack::new().map_err(|_| "stack")?;
    certs.push(cert.clone()).map_err(|_| "stack")?;
    let store = X509StoreBuilder::new().map_err(|_| "store")?.build();
    // Signers are looked up among the registered certificate only
    // (NOINTERN); the certificate itself is trusted as registered
    // (NOVERIFY: no chain).
    let flags = Pkcs7Flags::NOVERIFY | Pkcs7Flags::BINARY | Pkcs7Flags::NOINTERN;
    // A detached signature carries no content: it must not verify alone.
    if p7
        .verify(&certs, &store, None, Some(&mut Vec::new()), flags)
        .is_ok()
    {
        return Err("not detached (the content is embedded)");
    }
    p7.verify(&certs, &store, Some(input.as_bytes()), None, flags)
        .map_err(|_| "signature does not verify")?;
    let signers = p7.signers(&certs, flags).map_err(|_| "signer not found")?;
    if signers.len() != 1
        || !signers
            .iter()
            .all(|s| s.to_der().is_ok_and(|d| d == registered))
    {
        return Err("signed by someone other than the registered certificate");
    }
    Ok(())
}
