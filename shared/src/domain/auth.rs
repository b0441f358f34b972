//! Accounts and access tokens.
//!
//! Passwords are hashed with Argon2id (on the blocking pool: hashing is deliberately slow). The
//! platform issues HS256 JWTs with pinned issuer, audience and algorithm; tokens of a configured
//! OIDC issuer (Cognito) are accepted too, verified against its JWKS ([`super::jwks`]). There is
//! no bypass token of any kind.

use std::sync::Arc;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chrono::{DateTime, Utc};
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};

use super::items::{from_item, to_item};
use super::jwks::Jwks;
use super::Deps;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::ports::store::{Key, StoreError, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

/// Who is calling, once their token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub user_id: UserId,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    #[serde(default)]
    pub email: Option<String>,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// What register and login answer.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub token: String,
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub expires_in: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: UserId,
    role: Role,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

fn user_key(username: &str) -> Key {
    Key::new(format!("USER#{}", username.to_ascii_lowercase()), "PROFILE")
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
    pub fn new(config: &Config) -> Self {
        Self {
            encoding: EncodingKey::from_secret(config.jwt_secret.as_bytes()),
            decoding: DecodingKey::from_secret(config.jwt_secret.as_bytes()),
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            ttl: config.jwt_ttl_seconds,
            oidc: config.oidc.clone().map(|oidc| Arc::new(Jwks::new(oidc))),
        }
    }

    pub fn issue(&self, user: &UserRecord, now: DateTime<Utc>) -> String {
        let claims = Claims {
            sub: user.user_id.clone(),
            role: user.role,
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

pub(crate) fn describe(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "expired".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidAlgorithm => "algorithm not accepted".into(),
        _ => "malformed".into(),
    }
}

/// Registration and login.
#[derive(Clone)]
pub struct Accounts {
    deps: Deps,
    tokens: AccessTokens,
}

impl Accounts {
    pub fn new(deps: Deps, tokens: AccessTokens) -> Self {
        Self { deps, tokens }
    }

    pub fn tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    pub async fn register(&self, registration: Registration) -> Result<Session> {
        self.create(registration, Role::User)
            .await
            .map(|user| self.session(&user))
    }

    /// Creates the administrator of the configuration unless that username exists already.
    pub async fn ensure_admin(&self, username: &str, password: &str) -> Result<()> {
        let registration = Registration {
            username: username.to_string(),
            password: password.to_string(),
            email: None,
            display_name: Some("Administrator".into()),
        };
        match self.create(registration, Role::Admin).await {
            Ok(_) | Err(Error::UsernameExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn create(&self, registration: Registration, role: Role) -> Result<UserRecord> {
        let username = registration.username;
        if !(3..=32).contains(&username.len())
            || !username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return Err(Error::InvalidRequest(
                "username: 3 to 32 letters, digits, '_', '.' or '-'".into(),
            ));
        }
        let password = registration.password;
        if !(8..=128).contains(&password.chars().count()) {
            return Err(Error::InvalidRequest(
                "password: 8 to 128 characters".into(),
            ));
        }
        if let Some(email) = &registration.email {
            if email.chars().count() > 254 || !email.contains('@') {
                return Err(Error::InvalidRequest("email: not an email address".into()));
            }
        }
        let display_name = registration
            .display_name
            .unwrap_or_else(|| username.clone());
        if display_name.chars().count() > 100 {
            return Err(Error::InvalidRequest(
                "display_name: at most 100 characters".into(),
            ));
        }
        let password_hash = tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::Internal(e.to_string()))?;
        let user = UserRecord {
            user_id: UserId::generate(),
            username: username.clone(),
            password_hash,
            role,
            email: registration.email,
            display_name,
            created_at: self.deps.clock.now(),
        };
        match self
            .deps
            .store
            .write(Write::put_new(to_item(&user_key(&username), &user)))
            .await
        {
            Ok(()) => Ok(user),
            Err(StoreError::ConditionFailed { .. }) => Err(Error::UsernameExists),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<Session> {
        if username.is_empty() {
            return Err(Error::InvalidRequest("username: required".into()));
        }
        let item = self.deps.store.get(&user_key(username)).await?;
        let user: Option<UserRecord> = item.map(from_item).transpose()?;
        let password = password.to_string();
        // Verify against a dummy hash when the user is unknown, so timing does not tell.
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || {
            let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
        match user {
            Some(user) if ok => Ok(self.session(&user)),
            _ => Err(Error::InvalidCredentials),
        }
    }

    fn session(&self, user: &UserRecord) -> Session {
        Session {
            token: self.tokens.issue(user, self.deps.clock.now()),
            user_id: user.user_id.clone(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            role: user.role,
            expires_in: self.tokens.ttl,
        }
    }
}

/// Argon2id hash of a random password nobody knows, computed once.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(uuid::Uuid::new_v4().as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}
