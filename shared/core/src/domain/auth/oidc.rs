//! Verification of an OIDC issuer's tokens (Cognito) against its JSON Web Key Set.
//!
//! Keys are cached for up to an hour; an unknown `kid` (the issuer rotated its keys) refetches the
//! set, at most once per [`OidcConfig::key_refresh_floor`] so a flood of forged `kid`s cannot
//! hammer the issuer. A key the issuer retired is forgotten at the next fetch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::principal::{describe, Principal, Role};
use crate::config::OidcConfig;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::ports::key_source::KeySource;

const MAX_AGE: Duration = Duration::from_secs(3600);

#[derive(Debug, Deserialize)]
struct OidcClaims {
    sub: String,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default, rename = "cognito:groups")]
    groups: Vec<String>,
    #[serde(default)]
    role: Option<String>,
}

struct Cache {
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

pub struct Jwks {
    config: OidcConfig,
    keys: Arc<dyn KeySource>,
    cache: Mutex<Cache>,
}

impl Jwks {
    pub fn new(config: OidcConfig, keys: Arc<dyn KeySource>) -> Self {
        Self {
            config,
            keys,
            cache: Mutex::new(Cache {
                keys: HashMap::new(),
                fetched: None,
            }),
        }
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey> {
        let mut cache = self.cache.lock().await;
        let stale = cache.fetched.is_none_or(|at| at.elapsed() > MAX_AGE);
        let may_refresh = cache
            .fetched
            .is_none_or(|at| at.elapsed() >= self.config.key_refresh_floor);
        if stale || (!cache.keys.contains_key(kid) && may_refresh) {
            let set: JwkSet = self
                .keys
                .fetch(&self.config.jwks_url)
                .await
                .map_err(|e| Error::Unavailable(format!("JWKS: {e}")))?;
            cache.keys = set
                .keys
                .iter()
                .filter_map(|jwk| {
                    Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?))
                })
                .collect();
            cache.fetched = Some(Instant::now());
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| Error::InvalidToken("unknown signing key".into()))
    }

    pub async fn verify(&self, token: &str, kid: Option<&str>) -> Result<Principal> {
        let kid = kid.ok_or_else(|| Error::InvalidToken("no key id".into()))?;
        let key = self.key(kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.config.issuer]);
        // Cognito access tokens carry `client_id` instead of `aud`; checked below.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_nbf = true;
        let claims = decode::<OidcClaims>(token, &key, &validation)
            .map_err(|e| Error::InvalidToken(describe(&e)))?
            .claims;
        let audience_ok = match &claims.aud {
            Some(serde_json::Value::String(aud)) => aud == &self.config.audience,
            Some(serde_json::Value::Array(auds)) => auds
                .iter()
                .any(|a| a.as_str() == Some(&self.config.audience)),
            _ => claims.client_id.as_deref() == Some(&self.config.audience),
        };
        if !audience_ok {
            return Err(Error::InvalidToken("wrong audience".into()));
        }
        let sub: String = claims
            .sub
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(60)
            .collect();
        let user_id: UserId = format!("usr_oidc{sub}")
            .parse()
            .map_err(|_| Error::InvalidToken("bad subject".into()))?;
        let admin =
            claims.groups.iter().any(|g| g == "admin") || claims.role.as_deref() == Some("admin");
        Ok(Principal {
            user_id,
            role: if admin { Role::Admin } else { Role::User },
        })
    }
}
