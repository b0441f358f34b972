//! Accounts: registration, login, and the configured administrator.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::access_tokens::AccessTokens;
use super::device_tokens::{DeviceTokens, KnownDevice};
use super::passwords::{self, PasswordPool};
use super::principal::{Principal, Role};
use crate::domain::records::{from_item, to_item};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::ports::store::{Key, StoreError, Write};
use crate::ports::Ports;

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

impl UserRecord {
    /// The account as a verified token names it.
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user_id.clone(),
            role: self.role,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
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
    /// This device's token for the account: sent back with a later login, that login is counted
    /// in the device's own budget, not the username's ([`super::device_tokens`]).
    pub device_token: String,
}

fn user_key(username: &str) -> Key {
    Key::new(format!("USER#{}", username.to_ascii_lowercase()), "PROFILE")
}

impl Registration {
    /// The registration with its fields checked, each refusal naming its field.
    fn validated(self) -> Result<Self> {
        let username_ok = (3..=32).contains(&self.username.len())
            && self
                .username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !username_ok {
            return Err(Error::InvalidRequest(
                "username: 3 to 32 letters, digits, '_', '.' or '-'".into(),
            ));
        }
        if !(8..=128).contains(&self.password.chars().count()) {
            return Err(Error::InvalidRequest(
                "password: 8 to 128 characters".into(),
            ));
        }
        if let Some(email) = &self.email {
            if email.chars().count() > 254 || !email.contains('@') {
                return Err(Error::InvalidRequest("email: not an email address".into()));
            }
        }
        if let Some(name) = &self.display_name {
            if name.chars().count() > 100 {
                return Err(Error::InvalidRequest(
                    "display_name: at most 100 characters".into(),
                ));
            }
        }
        Ok(self)
    }
}

/// The administrator the configuration names (`TACOS_ADMIN_USERNAME`, `TACOS_ADMIN_PASSWORD`).
#[derive(Clone)]
pub struct ConfiguredAdmin {
    pub username: String,
    pub password: String,
}

/// Registration and login.
#[derive(Clone)]
pub struct Accounts {
    ports: Ports,
    tokens: AccessTokens,
    devices: DeviceTokens,
    admin: Option<ConfiguredAdmin>,
    passwords: Arc<PasswordPool>,
}

impl Accounts {
    /// Accounts over `ports`, hashing passwords on a pool of one thread per core.
    pub fn new(
        ports: Ports,
        tokens: AccessTokens,
        devices: DeviceTokens,
        admin: Option<ConfiguredAdmin>,
    ) -> Self {
        Self {
            ports,
            tokens,
            devices,
            admin,
            passwords: Arc::new(PasswordPool::new(
                passwords::default_workers(),
                passwords::QUEUE_PER_WORKER,
            )),
        }
    }

    pub fn tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    /// The device `device_token` names, if that device signed in to `username` before and its
    /// token is unexpired: a login from it is counted in its own budget
    /// ([`super::device_tokens`]).
    pub fn known_device(&self, device_token: &str, username: &str) -> Option<KnownDevice> {
        self.devices
            .known(device_token, username, self.ports.clock.now())
    }

    pub async fn register(&self, registration: Registration) -> Result<Session> {
        self.create(registration, Role::User)
            .await
            .map(|user| self.session(&user))
    }

    /// Creates the configured administrator unless that username exists already (seeding; and
    /// the first login as the administrator does it too, so a deployment with no seeding step
    /// needs none).
    pub async fn ensure_admin(&self) -> Result<()> {
        let Some(admin) = &self.admin else {
            return Ok(());
        };
        let registration = Registration {
            username: admin.username.clone(),
            password: admin.password.clone(),
            email: None,
            display_name: Some("Administrator".into()),
        };
        match self.create(registration, Role::Admin).await {
            Ok(_) | Err(Error::UsernameExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn create(&self, registration: Registration, role: Role) -> Result<UserRecord> {
        let registration = registration.validated()?;
        let username = registration.username;
        let user = UserRecord {
            user_id: UserId::generate(),
            password_hash: self.passwords.hash(registration.password).await?,
            role,
            email: registration.email,
            display_name: registration
                .display_name
                .unwrap_or_else(|| username.clone()),
            created_at: self.ports.clock.now(),
            username,
        };
        let put = Write::put_new(to_item(&user_key(&user.username), &user));
        match self.ports.store.write(put).await {
            Ok(()) => Ok(user),
            Err(StoreError::ConditionFailed { .. }) => Err(Error::UsernameExists),
            Err(e) => Err(e.into()),
        }
    }

    /// An empty username or password is a request without it (400 `INVALID_REQUEST`, as the
    /// document's `minLength: 1` says), not a wrong guess: it names no account, and costs no
    /// password hash.
    pub async fn login(&self, username: &str, password: &str) -> Result<Session> {
        if username.is_empty() {
            return Err(Error::InvalidRequest("username: required".into()));
        }
        if password.is_empty() {
            return Err(Error::InvalidRequest("password: required".into()));
        }
        let mut user = self.user(username).await?;
        if user.is_none() && self.is_configured_admin(username) {
            self.ensure_admin().await?;
            user = self.user(username).await?;
        }
        // Verified against a dummy hash when the user is unknown, so timing does not tell.
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = self.passwords.verify(password.to_string(), hash).await?;
        match user {
            Some(user) if ok => Ok(self.session(&user)),
            _ => Err(Error::InvalidCredentials),
        }
    }

    async fn user(&self, username: &str) -> Result<Option<UserRecord>> {
        let item = self.ports.store.get(&user_key(username)).await?;
        item.map(from_item).transpose()
    }

    fn is_configured_admin(&self, username: &str) -> bool {
        self.admin
            .as_ref()
            .is_some_and(|admin| admin.username.eq_ignore_ascii_case(username))
    }

    fn session(&self, user: &UserRecord) -> Session {
        let now = self.ports.clock.now();
        Session {
            token: self.tokens.issue(&user.principal(), now),
            user_id: user.user_id.clone(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            role: user.role,
            expires_in: self.tokens.ttl(),
            device_token: self.devices.issue(&user.username, now),
        }
    }
}
