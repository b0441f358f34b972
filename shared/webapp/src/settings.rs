//! The web app's runtime settings, served to it as `GET /config.json`.
//!
//! The same build of the app runs everywhere; only this document differs between deployments:
//! where the API is (`api_base_url`, empty for the page's own origin) and where live updates are
//! pushed (`ws_url`, a WebSocket endpoint, or null for the API's server-sent events).

use serde_json::json;
use url::Url;

/// Environment variable of the API's base URL (default: the page's own origin).
pub const API_BASE_URL_VAR: &str = "TACOS_WEB_API_BASE_URL";
/// Environment variable of the WebSocket endpoint (default: none, server-sent events).
pub const WS_URL_VAR: &str = "TACOS_WEB_WS_URL";

/// Where the web app finds the API and its live updates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    api_base_url: Option<Endpoint>,
    ws_url: Option<Endpoint>,
}

/// A validated absolute URL, as given (without a trailing slash), and its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    url: String,
    origin: String,
}

/// A setting that cannot be used; the server refuses to start with it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{name}: {value:?} is not an absolute URL ({source})")]
    NotAUrl {
        name: &'static str,
        value: String,
        source: url::ParseError,
    },
    #[error("{name}: {value:?} must be a {expected} URL")]
    WrongScheme {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{name}: {value:?} must have no query, fragment or credentials")]
    NotABase { name: &'static str, value: String },
}

impl Settings {
    /// [`API_BASE_URL_VAR`] and [`WS_URL_VAR`]; unset or empty means the default.
    pub fn from_env() -> Result<Self, SettingsError> {
        let var = |name| std::env::var(name).ok();
        Self::new(var(API_BASE_URL_VAR).as_deref(), var(WS_URL_VAR).as_deref())
    }

    /// `api_base_url`: an `http(s)` URL, or `None`/empty for the page's own origin; `ws_url`: a
    /// `ws(s)` URL, or `None`/empty for server-sent events.
    pub fn new(api_base_url: Option<&str>, ws_url: Option<&str>) -> Result<Self, SettingsError> {
        Ok(Self {
            api_base_url: Endpoint::parse(API_BASE_URL_VAR, api_base_url, &["http", "https"])?,
            ws_url: Endpoint::parse(WS_URL_VAR, ws_url, &["ws", "wss"])?,
        })
    }

    /// The `/config.json` document: `{"api_base_url": "", "ws_url": null}` by default.
    pub fn config_json(&self) -> serde_json::Value {
        json!({
            "api_base_url": self.api_base_url.as_ref().map_or("", |e| e.url.as_str()),
            "ws_url": self.ws_url.as_ref().map(|e| e.url.as_str()),
        })
    }

    /// Origins other than the page's own that the app connects to (its CSP's `connect-src`).
    pub fn connect_origins(&self) -> impl Iterator<Item = &str> {
        [&self.api_base_url, &self.ws_url]
            .into_iter()
            .flatten()
            .map(|e| e.origin.as_str())
    }
}

impl Endpoint {
    fn parse(
        name: &'static str,
        value: Option<&str>,
        schemes: &[&'static str],
    ) -> Result<Option<Self>, SettingsError> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let url = Url::parse(value).map_err(|source| SettingsError::NotAUrl {
            name,
            value: value.to_string(),
            source,
        })?;
        if !schemes.contains(&url.scheme()) {
            return Err(SettingsError::WrongScheme {
                name,
                value: value.to_string(),
                expected: if schemes.contains(&"ws") {
                    "ws:// or wss://"
                } else {
                    "http:// or https://"
                },
            });
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(SettingsError::NotABase {
                name,
                value: value.to_string(),
            });
        }
        Ok(Some(Self {
            url: value.trim_end_matches('/').to_string(),
            origin: url.origin().ascii_serialization(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_same_origin_and_server_sent_events() {
        let settings = Settings::new(None, Some("  ")).unwrap();
        assert_eq!(
            settings.config_json(),
            json!({"api_base_url": "", "ws_url": null})
        );
        assert_eq!(settings.connect_origins().count(), 0);
    }

    #[test]
    fn urls_are_served_as_given_and_their_origins_allowed() {
        let settings = Settings::new(
            Some("https://api.tickets.example/"),
            Some("wss://abc.execute-api.us-east-1.amazonaws.com/live"),
        )
        .unwrap();
        assert_eq!(
            settings.config_json(),
            json!({
                "api_base_url": "https://api.tickets.example",
                "ws_url": "wss://abc.execute-api.us-east-1.amazonaws.com/live",
            })
        );
        assert_eq!(
            settings.connect_origins().collect::<Vec<_>>(),
            [
                "https://api.tickets.example",
                "wss://abc.execute-api.us-east-1.amazonaws.com"
            ]
        );
    }

    #[test]
    fn unusable_urls_are_refused_with_the_variable_named() {
        for (api, ws, variable) in [
            (Some("api.example"), None, API_BASE_URL_VAR),
            (Some("ftp://api.example"), None, API_BASE_URL_VAR),
            (Some("https://api.example/?x=1"), None, API_BASE_URL_VAR),
            (None, Some("https://live.example"), WS_URL_VAR),
            (None, Some("wss://user:pw@live.example"), WS_URL_VAR),
        ] {
            let error = Settings::new(api, ws).unwrap_err().to_string();
            assert!(error.starts_with(variable), "{api:?} {ws:?}: {error}");
        }
    }
}
