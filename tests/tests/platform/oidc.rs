//! OIDC: tokens of a configured issuer (Cognito) are accepted through its JWKS, which is fetched
//! once and cached; tokens with the wrong issuer, audience, expiry, key or algorithm are refused,
//! including an HS256 token signed with the issuer's public key (key confusion) and `alg: none`.
//! When the issuer rotates its keys, tokens of the new key are accepted and the retired key's are
//! refused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tacos_core::config::{Config, OidcConfig};
use tacos_core::domain::auth::{AccessTokens, Role};
use tacos_core::error::Error;

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool";
const CLIENT: &str = "test-app-client";
const KID: &str = "test-key-1";
const PRIVATE_KEY: &[u8] = include_bytes!("../../fixtures/oidc-test-key.pem");
const PUBLIC_KEY: &[u8] = include_bytes!("../../fixtures/oidc-test-public.pem");
const JWKS: &str = include_str!("../../fixtures/oidc-test-jwks.json");

/// Serves the JWKS on an ephemeral port and counts how often it is fetched.
async fn issuer() -> (AccessTokens, Arc<AtomicUsize>) {
    let (tokens, fetches, _) = rotating_issuer(Duration::from_secs(30)).await;
    (tokens, fetches)
}

/// The key set the issuer serves, which a test may replace (a key rotation).
type ServedKeys = Arc<std::sync::Mutex<String>>;

/// [`issuer`] whose key set can be replaced, with the given floor between refetches.
async fn rotating_issuer(refresh_floor: Duration) -> (AccessTokens, Arc<AtomicUsize>, ServedKeys) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let served: ServedKeys = Arc::new(std::sync::Mutex::new(JWKS.to_string()));
    let counter = fetches.clone();
    let keys = served.clone();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = keys.lock().unwrap().clone();
            async { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut config = Config::for_tests();
    config.oidc = Some(OidcConfig {
        issuer: ISSUER.into(),
        audience: CLIENT.into(),
        jwks_url: format!("http://{addr}/.well-known/jwks.json"),
        key_refresh_floor: refresh_floor,
    });
    let keys = Arc::new(tacos_http_client::HttpKeySource::new());
    (AccessTokens::new(&config, keys), fetches, served)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(claims: Value, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(PRIVATE_KEY).unwrap(),
    )
    .unwrap()
}

fn id_token() -> Value {
    json!({ "sub": "7d3f-42", "iss": ISSUER, "aud": CLIENT, "exp": now() + 300, "token_use": "id" })
}

#[tokio::test]
async fn cognito_tokens_are_accepted_with_roles_and_the_key_set_is_cached() {
    let (tokens, fetches) = issuer().await;
    let mut admin = id_token();
    admin["cognito:groups"] = json!(["admin"]);
    let principal = tokens.verify(&sign(admin, KID)).await.unwrap();
    assert_eq!(principal.role, Role::Admin);
    assert!(principal.user_id.as_str().starts_with("usr_oidc"));

    // An access token names the app client in `client_id` instead of `aud`.
    let access =
        json!({ "sub": "7d3f-42", "iss": ISSUER, "client_id": CLIENT, "exp": now() + 300 });
    let user = tokens.verify(&sign(access, KID)).await.unwrap();
    assert_eq!(user.role, Role::User);
    assert_eq!(user.user_id, principal.user_id, "one subject, one user");
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "the key set is fetched once and cached"
    );
}

#[tokio::test]
async fn wrong_issuer_audience_expiry_or_key_is_refused() {
    let (tokens, fetches) = issuer().await;
    let refuse = |claims: Value, kid: &'static str| {
        let tokens = tokens.clone();
        async move {
            let result = tokens.verify(&sign(claims, kid)).await;
            assert!(matches!(result, Err(Error::InvalidToken(_))), "{result:?}");
        }
    };
    let mut claims = id_token();
    claims["iss"] = json!("https://evil.example/pool");
    refuse(claims, KID).await;
    let mut claims = id_token();
    claims["aud"] = json!("another-client");
    refuse(claims, KID).await;
    let mut claims = id_token();
    claims["exp"] = json!(now() - 600);
    refuse(claims, KID).await;
    // Unknown key ids refetch the set at most once in a while, so forged kids cannot hammer it.
    refuse(id_token(), "rotated-away").await;
    refuse(id_token(), "another-unknown").await;
    assert!(
        fetches.load(Ordering::SeqCst) <= 2,
        "{} fetches",
        fetches.load(Ordering::SeqCst)
    );

    // A valid token with one byte of its payload changed.
    let good = sign(id_token(), KID);
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value = serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
    payload["cognito:groups"] = json!(["admin"]);
    parts[1] = engine.encode(payload.to_string());
    assert!(
        tokens.verify(&parts.join(".")).await.is_err(),
        "tampered payload"
    );
}

#[tokio::test]
async fn algorithm_confusion_and_alg_none_are_refused() {
    let (tokens, _) = issuer().await;
    // HS256 signed with the issuer's *public* key as the HMAC secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KID.into());
    let confused = encode(&header, &id_token(), &EncodingKey::from_secret(PUBLIC_KEY)).unwrap();
    assert!(matches!(
        tokens.verify(&confused).await,
        Err(Error::InvalidToken(_))
    ));
    // `alg: none` with no signature.
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        engine.encode(r#"{"alg":"none","typ":"JWT"}"#),
        engine.encode(id_token().to_string())
    );
    assert!(matches!(
        tokens.verify(&none).await,
        Err(Error::InvalidToken(_))
    ));
}

#[tokio::test]
async fn a_key_rotation_is_followed_and_the_retired_key_refused() {
    let (tokens, fetches, served) = rotating_issuer(Duration::ZERO).await;
    tokens.verify(&sign(id_token(), KID)).await.unwrap();

    // The issuer rotates: the same key material now published under a new id, the old id gone.
    *served.lock().unwrap() = JWKS.replace(KID, "test-key-2");
    let rotated = tokens.verify(&sign(id_token(), "test-key-2")).await;
    assert!(rotated.is_ok(), "a token of the new key: {rotated:?}");
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "the unknown id refetched the set"
    );

    let retired = tokens.verify(&sign(id_token(), KID)).await;
    assert!(
        matches!(retired, Err(Error::InvalidToken(_))),
        "a token of the retired key: {retired:?}"
    );
}
