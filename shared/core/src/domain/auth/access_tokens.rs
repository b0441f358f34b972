//! Access tokens: the platform's own HS256 JWTs (pinned issuer, audience and algorithm), and an
//! OIDC issuer's RS256 tokens when one is configured ([`super::oidc`]). There is no bypass token
//! of any kind.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};

use super::oidc::Jwks;
use super::principal::{describe, Principal, Role};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::ports::key_source::KeySource;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: UserId,
    role: Role,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// Issues and verifies access tokens.
#[derive(Clone)]
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
    ttl: u64,
    oidc: Option<Arc<Jwks>>,
}

impl AccessTokens {
    /// Tokens signed with the configured secret; an OIDC issuer's keys, when one is configured,
    /// come from `keys`.
    pub fn new(config: &Config, keys: Arc<dyn KeySource>) -> Self {
        Self {
            encoding: EncodingKey::from_secret(config.jwt_secret.as_bytes()),
            decoding: DecodingKey::from_secret(config.jwt_secret.as_bytes()),
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            ttl: config.jwt_ttl_seconds,
            oidc: config
                .oidc
                .clone()
                .map(|oidc| Arc::new(Jwks::new(oidc, keys))),
        }
    }

    /// Seconds an issued token is valid.
    pub fn ttl(&self) -> u64 {
        self.ttl
    }

    /// A token naming `principal`, valid from `now` for [`AccessTokens::ttl`] seconds.
    pub fn issue(&self, principal: &Principal, now: DateTime<Utc>) -> String {
        let claims = Claims {
            sub: principal.user_id.clone(),
            role: principal.role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now.timestamp(),
            exp: now.timestamp() + self.ttl as i64,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// The caller a bearer token names; any flaw is [`Error::InvalidToken`].
    pub async fn verify(&self, token: &str) -> Result<Principal> {
        let header = decode_header(token).map_err(|_| Error::InvalidToken("malformed".into()))?;
        match header.alg {
            Algorithm::HS256 => {
                let mut validation = Validation::new(Algorithm::HS256);
                validation.set_issuer(&[&self.issuer]);
                validation.set_audience(&[&self.audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                validation.leeway = 5;
                // A token not valid yet (`nbf` ahead of now) is refused like an expired one.
                validation.validate_nbf = true;
                let data = decode::<Claims>(token, &self.decoding, &validation)
                    .map_err(|e| Error::InvalidToken(describe(&e)))?;
                Ok(Principal {
                    user_id: data.claims.sub,
                    role: data.claims.role,
                })
            }
            Algorithm::RS256 => match &self.oidc {
                Some(jwks) => jwks.verify(token, header.kid.as_deref()).await,
                None => Err(Error::InvalidToken("no OIDC issuer is configured".into())),
            },
            other => Err(Error::InvalidToken(format!(
                "algorithm {other:?} is not accepted"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::in_process::StaticKeys;

    #[tokio::test]
    async fn a_token_is_refused_before_its_not_before_time() {
        let config = Config::for_tests();
        let tokens = AccessTokens::new(&config, Arc::new(StaticKeys::default()));
        let now = Utc::now().timestamp();
        let token = |nbf: i64| {
            let claims = json!({
                "sub": "usr_nbf", "role": "user", "iss": config.jwt_issuer,
                "aud": config.jwt_audience, "iat": now, "exp": now + 3600, "nbf": nbf,
            });
            encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(config.jwt_secret.as_bytes()),
            )
            .unwrap()
        };
        assert_eq!(
            tokens.verify(&token(now + 600)).await,
            Err(Error::InvalidToken("not valid yet".into()))
        );
        assert!(tokens.verify(&token(now - 1)).await.is_ok());
    }
}
