//! The broker's OpenID Connect metadata and signing keys (the `openidconnect`
//! crate's discovery and JWKS), on the gateway's one HTTP client. Found on
//! first use, not at start: a broker that is down must not keep the
//! gateway (and the diary behind it) from starting. Kept, and found again
//! when an id token names a key the kept set lacks — the broker rotated
//! its keys — at most once per [`REFRESH_GAP`], so a stream of unknown key
//! ids cannot make the gateway hammer the broker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthType, ClientId, ClientSecret, DiscoveryError, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, ProviderMetadata, RedirectUrl,
};
use serde::{Deserialize, Serialize};

use crate::esia::error::EsiaError;

/// The shortest time between two discoveries forced by an unknown key.
pub const REFRESH_GAP: Duration = Duration::from_secs(10);

/// The one metadata field beyond OpenID Connect Core the gateway reads:
/// where logout goes (RP-initiated logout).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct LogoutMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for LogoutMetadata {}

type Metadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A client built from the broker's metadata: authorization endpoint set,
/// token and userinfo endpoints as the metadata says.
pub type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What one discovery found.
pub struct Discovered {
    pub client: OidcClient,
    pub userinfo: Option<String>,
    pub end_session: Option<String>,
}

/// The registration at the broker and the discovered metadata.
pub struct Discovery {
    issuer: IssuerUrl,
    client_id: String,
    secret: String,
    redirect: RedirectUrl,
    current: ArcSwapOption<Discovered>,
    /// When the last discovery forced by an unknown key was made; held
    /// while any discovery is under way.
    last_forced: tokio::sync::Mutex<Option<Instant>>,
}

impl Discovery {
    pub fn new(
        issuer: &str,
        client_id: &str,
        secret: &str,
        redirect_uri: &str,
    ) -> Result<Self, String> {
        Ok(Self {
            issuer: IssuerUrl::new(issuer.to_string())
                .map_err(|e| format!("esia.issuer `{issuer}`: {e}"))?,
            client_id: client_id.to_string(),
            secret: secret.to_string(),
            redirect: RedirectUrl::new(redirect_uri.to_string())
                .map_err(|e| format!("redirect URI `{redirect_uri}`: {e}"))?,
            current: ArcSwapOption::empty(),
            last_forced: tokio::sync::Mutex::new(None),
        })
    }

    /// The kept metadata, or discovered now.
    pub async fn get(&self, http: &reqwest::Client) -> Result<Arc<Discovered>, EsiaError> {
        match self.current.load_full() {
            Some(d) => Ok(d),
            None => self.discover(http, false).await,
        }
    }

    /// Discover again (an unknown key id), unless that was just done.
    pub async fn refresh(&self, http: &reqwest::Client) -> Result<Arc<Discovered>, EsiaError> {
        self.discover(http, true).await
    }

    /// The kept metadata, without asking the broker.
    pub fn cached(&self) -> Option<Arc<Discovered>> {
        self.current.load_full()
    }

    async fn discover(
        &self,
        http: &reqwest::Client,
        forced: bool,
    ) -> Result<Arc<Discovered>, EsiaError> {
        let mut last_forced = self.last_forced.lock().await;
        // Another login may have discovered while this one waited, or
        // fetched the keys again a moment ago.
        if let Some(d) = self.current.load_full()
            && (!forced || last_forced.is_some_and(|t| t.elapsed() < REFRESH_GAP))
        {
            return Ok(d);
        }
        let metadata = Metadata::discover_async(self.issuer.clone(), http)
            .await
            .map_err(discovery_error)?;
        // Client authentication as the broker offers it: HTTP Basic (the
        // OpenID Connect default) unless it only takes the secret in the form.
        let post_only = metadata
            .token_endpoint_auth_methods_supported()
            .is_some_and(|m| {
                !m.contains(&CoreClientAuthMethod::ClientSecretBasic)
                    && m.contains(&CoreClientAuthMethod::ClientSecretPost)
            });
        let userinfo = metadata.userinfo_endpoint().map(|u| u.url().to_string());
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let keys = metadata.jwks().keys().len();
        let mut client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            Some(ClientSecret::new(self.secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone());
        if post_only {
            client = client.set_auth_type(AuthType::RequestBody);
        }
        tracing::info!(issuer = %self.issuer.as_str(), keys, forced, "broker metadata and keys discovered");
        let found = Arc::new(Discovered {
            client,
            userinfo,
            end_session,
        });
        self.current.store(Some(found.clone()));
        if forced {
            *last_forced = Some(Instant::now());
        }
        Ok(found)
    }
}

fn discovery_error<E: std::error::Error + 'static>(e: DiscoveryError<E>) -> EsiaError {
    let endpoint = "discovery";
    match e {
        DiscoveryError::Request(e) => {
            let reason = chain(&e);
            if reason.contains("timed out") {
                EsiaError::Timeout { endpoint }
            } else {
                EsiaError::Unreachable { endpoint, reason }
            }
        }
        DiscoveryError::Response(status, _, _) => EsiaError::Status {
            endpoint,
            status: status.as_u16(),
        },
        e => EsiaError::BadAnswer {
            endpoint,
            reason: chain(&e),
        },
    }
}

/// An error with its causes, on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
