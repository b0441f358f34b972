//! Events, availability, and event creation by administrators.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::app::Platform;
use crate::domain::catalog::{Event, NewEvent};
use crate::error::{Error, Result};
use crate::http::extract::{path_id, Admin, Json, Path};
use crate::ids::EventId;

/// The contract's event object.
fn view(event: &Event) -> serde_json::Value {
    let mut value = serde_json::to_value(event).expect("event serializes");
    if let Some(map) = value.as_object_mut() {
        map.remove("queue_shards");
    }
    value
}

pub async fn list(State(platform): State<Arc<Platform>>) -> Result<impl IntoResponse> {
    let events = platform.catalog.list().await?;
    Ok(axum::Json(
        serde_json::json!({ "events": events.iter().map(|e| view(e)).collect::<Vec<_>>() }),
    ))
}

pub async fn detail(
    State(platform): State<Arc<Platform>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    let id: EventId = path_id(&id, Error::EventNotFound)?;
    Ok(axum::Json(view(&*platform.catalog.get(&id).await?)))
}

pub async fn availability(
    State(platform): State<Arc<Platform>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    let id: EventId = path_id(&id, Error::EventNotFound)?;
    Ok(axum::Json(platform.catalog.availability(&id).await?))
}

pub async fn create(
    State(platform): State<Arc<Platform>>,
    Admin(_): Admin,
    Json(body): Json<NewEvent>,
) -> Result<impl IntoResponse> {
    let event = platform.catalog.create(body).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&event))))
}
