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

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
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
