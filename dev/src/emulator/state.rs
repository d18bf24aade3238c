//! The emulator's state: the registered clients, the persons, the token
//! keys, the login screens waiting for consent, the issued codes and the
//! faults; and the `person_filter` of an `ac` request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::x509::X509;
use rand::RngCore;

use esia_gate::esia::gost;

use super::broker;
use super::config::EmulatorConfig;
use super::faults::{FaultMode, Faults};
use super::persons::{Person, load_persons};

pub(super) struct Client {
    pub(super) cert_hash: String,
    /// The registered certificate: the only signer a legacy (PKCS#7)
    /// `client_secret` may name.
    pub(super) cert: X509,
    pub(super) public_key: PKey<Public>,
    pub(super) redirect_uris: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PersonFilter {
    ConfirmedOnly,
    KidsOnly,
    NotKids,
}

impl PersonFilter {
    pub(super) fn parse(b64: &str) -> Option<Self> {
        let t = b64.trim_end_matches('=');
        let raw = URL_SAFE_NO_PAD
            .decode(t)
            .or_else(|_| STANDARD.decode(b64))
            .ok()?;
        match std::str::from_utf8(&raw).ok()?.trim() {
            "conf_acc" => Some(Self::ConfirmedOnly),
            "acc_kid" => Some(Self::KidsOnly),
            "acc_not_kid" => Some(Self::NotKids),
            _ => None,
        }
    }

    pub(super) fn admits(filter: Option<Self>, p: &Person) -> bool {
        match filter {
            None | Some(Self::NotKids) => true,
            Some(Self::ConfirmedOnly) => p.trusted,
            // The fixture has no child accounts of its own.
            Some(Self::KidsOnly) => false,
        }
    }
}

/// Between a valid `ac` request and the consent decision.
pub(super) struct Pending {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) scope: String,
    pub(super) scope_org: String,
    pub(super) state: String,
    pub(super) filter: Option<PersonFilter>,
    pub(super) oid: Option<u64>,
    pub(super) created: Instant,
    /// Which pair of endpoints started it (and must redeem its code).
    pub(super) flow: Flow,
}

/// An issued authorization code.
pub(super) struct Grant {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) scope: String,
    pub(super) scope_org: String,
    pub(super) ac_state: String,
    pub(super) oid: u64,
    pub(super) auth_time: i64,
    pub(super) expires: Instant,
    /// The flow the code was issued for; the other flow's `te` refuses it.
    pub(super) flow: Flow,
}

/// The two direct ways to ESIA the emulator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flow {
    /// `/aas/oauth2/v2/ac` + `/aas/oauth2/v3/te`: raw GOST signature and
    /// `client_certificate_hash`.
    V2,
    /// Deprecated `/aas/oauth2/ac` + `/aas/oauth2/te`: detached PKCS#7
    /// SignedData over `scope + timestamp + client_id + state`.
    Legacy,
}

pub(super) struct Emulator {
    pub(super) cfg: EmulatorConfig,
    pub(super) clients: HashMap<String, Client>,
    pub(super) persons: Vec<Person>,
    pub(super) token_key: PKey<Private>,
    /// Signs tokens under the `bad_signature` fault.
    pub(super) rogue_key: PKey<Private>,
    pub(super) pending: Mutex<HashMap<String, Pending>>,
    pub(super) grants: Mutex<HashMap<String, Grant>>,
    pub(super) faults: Mutex<Faults>,
    pub(super) broker: broker::Broker,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) type Shared = Arc<Emulator>;

impl Emulator {
    pub(super) fn new(cfg: EmulatorConfig) -> anyhow::Result<Self> {
        gost::init_engine().context(
            "the ESIA emulator checks GOST signatures (apt-get install libengine-gost-openssl)",
        )?;
        let mut clients = HashMap::new();
        for c in &cfg.clients {
            let cert = gost::read_certificate(&c.certificate)
                .with_context(|| format!("client {}", c.client_id))?;
            let cert_hash = gost::certificate_hash(&cert)?;
            let public_key = cert.public_key().with_context(|| {
                format!("client {}: no public key in the certificate", c.client_id)
            })?;
            if c.redirect_uris.is_empty() {
                bail!("client {}: no redirect_uris registered", c.client_id);
            }
            for r in &c.redirect_uris {
                url::Url::parse(r).with_context(|| {
                    format!("client {}: redirect_uri {r:?} is not a URL", c.client_id)
                })?;
            }
            let old = clients.insert(
                c.client_id.clone(),
                Client {
                    cert_hash,
                    cert,
                    public_key,
                    redirect_uris: c.redirect_uris.clone(),
                },
            );
            if old.is_some() {
                bail!("client {} is registered twice", c.client_id);
            }
        }
        let pem = std::fs::read(&cfg.token_key)
            .with_context(|| format!("cannot read the token key {}", cfg.token_key.display()))?;
        let token_key = PKey::private_key_from_pem(&pem)
            .with_context(|| format!("{} is not a PEM private key", cfg.token_key.display()))?;
        if token_key.id() != Id::RSA {
            bail!(
                "{} must be an RSA key (tokens are RS256)",
                cfg.token_key.display()
            );
        }
        let rogue_key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let persons = load_persons(&cfg.persons)?;
        let broker = broker::Broker::new(&cfg.broker_clients, token_key.clone())?;
        Ok(Emulator {
            cfg,
            clients,
            persons,
            token_key,
            rogue_key,
            pending: Mutex::new(HashMap::new()),
            grants: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            broker,
        })
    }

    pub(super) fn person(&self, oid: u64) -> Option<&Person> {
        self.persons.iter().find(|p| p.oid == oid)
    }

    pub(super) fn fault(&self, endpoint: &str) -> FaultMode {
        let f = lock(&self.faults);
        match endpoint {
            "ac" => f.ac,
            "te" => f.te,
            "broker_token" => f.broker_token,
            "broker_userinfo" => f.broker_userinfo,
            _ => f.prns,
        }
    }
}

pub(super) fn random_id(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}
