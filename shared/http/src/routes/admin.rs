//! Operators' live control of a sale and the audit log of it ([`tacos_core::domain::sale`]):
//! each action answers the sale as it then stands.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;

use tacos_core::domain::sale::audit::{read_log, AuditQuery};
use tacos_core::domain::sale::{SaleChange, SaleSettings};
use tacos_core::error::Error;
use tacos_core::ids::EventId;
use tacos_core::platform::Platform;

use crate::error::Result;
use crate::extract::{check_user_id, path_id, Admin, Json, Path, Query, RawBody};

async fn change(
    platform: &Platform,
    Admin(operator): Admin,
    id: &str,
    change: SaleChange,
) -> Result<impl IntoResponse> {
    let id: EventId = path_id(id, Error::EventNotFound)?;
    let sale = platform.sales.change(&id, &operator, change).await?;
    Ok(axum::Json(sale))
}

/// `PATCH /admin/events/{id}`: `admission_rate_per_sec`, `hold_seconds` or both.
pub async fn update(
    State(platform): State<Arc<Platform>>,
    admin: Admin,
    Path(id): Path<String>,
    Json(settings): Json<SaleSettings>,
) -> Result<impl IntoResponse> {
    change(&platform, admin, &id, SaleChange::Settings(settings)).await
}

/// `POST /admin/events/{id}/pause`. No body is needed; one sent is read only for its `user_id`
/// ([`check_user_id`]).
pub async fn pause(
    State(platform): State<Arc<Platform>>,
    admin: Admin,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse> {
    check_user_id(&body, Some(&admin.0))?;
    change(&platform, admin, &id, SaleChange::Pause).await
}

/// `POST /admin/events/{id}/resume`. No body is needed; one sent is read only for its `user_id`
/// ([`check_user_id`]).
pub async fn resume(
    State(platform): State<Arc<Platform>>,
    admin: Admin,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse> {
    check_user_id(&body, Some(&admin.0))?;
    change(&platform, admin, &id, SaleChange::Resume).await
}

/// `POST /admin/events/{id}/close`. No body is needed; one sent is read only for its `user_id`
/// ([`check_user_id`]).
pub async fn close(
    State(platform): State<Arc<Platform>>,
    admin: Admin,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse> {
    check_user_id(&body, Some(&admin.0))?;
    change(&platform, admin, &id, SaleChange::Close).await
}

/// `GET /admin/audit?event_id=&limit=&before=`: newest first.
pub async fn audit(
    State(platform): State<Arc<Platform>>,
    Admin(_): Admin,
    Query(query): Query<AuditQuery>,
) -> Result<impl IntoResponse> {
    Ok(axum::Json(read_log(&*platform.ports.store, &query).await?))
}
