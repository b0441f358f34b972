//! `POST /auth/register`, `POST /auth/login`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use crate::error::Result;
use crate::extract::Json;
use tacos_core::domain::auth::Registration;
use tacos_core::platform::Platform;

pub async fn register(
    State(platform): State<Arc<Platform>>,
    Json(body): Json<Registration>,
) -> Result<impl IntoResponse> {
    let session = platform.accounts.register(body).await?;
    Ok((StatusCode::CREATED, axum::Json(session)))
}

/// A login's body. Its `device_token`, if any, is read by the rate limiter (the login's
/// per-username budget, [`crate::rate_limit`]), not here: it is no credential. It is declared so
/// that one of another type is refused as any ill-typed field is (400 naming it).
#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
    #[serde(default, rename = "device_token")]
    _device_token: Option<String>,
}

pub async fn login(
    State(platform): State<Arc<Platform>>,
    Json(body): Json<Login>,
) -> Result<impl IntoResponse> {
    Ok(axum::Json(
        platform
            .accounts
            .login(&body.username, &body.password)
            .await?,
    ))
}
