//! The platform's access-token verification (`AccessTokens::verify`, HS256 with pinned issuer,
//! audience and algorithm) on arbitrary strings: it never panics, and whatever it accepts is a
//! token signed with the platform's key, naming its issuer and audience, unexpired, for the
//! principal the claims name.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tacos_core::config::Config;
use tacos_core::domain::auth::{AccessTokens, Role};

#[path = "common.rs"]
mod common;

struct Setup {
    runtime: tokio::runtime::Runtime,
    tokens: AccessTokens,
    issuer: String,
    audience: String,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let mut config = Config::for_tests();
        config.jwt_secret = common::JWT_SECRET.into();
        // No OIDC issuer: RS256 tokens are refused without a JWKS fetch (no network here).
        config.oidc = None;
        Setup {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime"),
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            tokens: AccessTokens::new(
                &config,
                std::sync::Arc::new(tacos_core::in_process::StaticKeys::default()),
            ),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let setup = setup();
    let verdict = setup.runtime.block_on(setup.tokens.verify(token));
    if let Ok(principal) = verdict {
        assert!(
            common::genuinely_signed(token, common::JWT_SECRET.as_bytes()),
            "accepted a token the platform did not sign: {token:?}"
        );
        let claims = common::claims(token).expect("accepted token has claims");
        assert_eq!(
            claims["iss"],
            setup.issuer.as_str(),
            "wrong issuer accepted"
        );
        assert_eq!(
            claims["aud"],
            setup.audience.as_str(),
            "wrong audience accepted"
        );
        let now = chrono::Utc::now().timestamp();
        let exp = claims["exp"].as_i64().expect("exp is a number");
        assert!(exp + 5 >= now, "expired token accepted (leeway 5 s)");
        assert_eq!(claims["sub"], principal.user_id.as_str());
        let role = match principal.role {
            Role::User => "user",
            Role::Admin => "admin",
        };
        assert_eq!(claims["role"], role);
    }
});
