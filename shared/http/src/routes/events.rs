//! Events, availability (read and streamed), and event creation by administrators.

use std::sync::{Arc, LazyLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::StreamExt;

use tacos_core::domain::catalog::{Event, NewEvent};
use tacos_core::domain::sale::Sale;
use tacos_core::error::Error;
use tacos_core::platform::Platform;

use crate::error::Result;
use crate::extract::{path_id, Admin, Json, Path};
use crate::snapshot_events::SnapshotEvents;
use crate::sse::{Delivery, Formatted, INTERVAL};
use tacos_core::ids::EventId;

/// How the store spreads an event's items, which no client has any use for and the document
/// does not name: the event's view leaves them out.
const STORAGE_FIELDS: [&str; 2] = ["queue_shards", "stock_shards"];

/// The event as the contract shows it: without how its queue and stock are sharded
/// ([`STORAGE_FIELDS`]), with the digits of its currency's minor unit (so a client formats 50000
/// as ₩50,000 and 4500 as $45.00), and its sale as operators left it (`state`, the admission rate
/// and hold time in force).
fn view(event: &Event, sale: Option<&Sale>) -> serde_json::Value {
    let mut value = serde_json::to_value(event).expect("event serializes");
    if let Some(map) = value.as_object_mut() {
        for field in STORAGE_FIELDS {
            map.remove(field);
        }
        map.insert(
            "currency_minor_unit".into(),
            event.currency_minor_unit().into(),
        );
        if let Some(sale) = sale {
            map.insert(
                "admission_rate_per_sec".into(),
                sale.admission_rate_per_sec.into(),
            );
            // The opening time in force (an operator may have moved it), as the rate.
            match sale.on_sale_at {
                Some(at) => map.insert("on_sale_at".into(), serde_json::json!(at)),
                None => map.remove("on_sale_at"),
            };
            map.insert(
                "sale".into(),
                serde_json::to_value(sale).expect("sale serializes"),
            );
        }
    }
    value
}

/// [`view`] of `event` with its sale.
async fn view_with_sale(platform: &Platform, event: &Event) -> Result<serde_json::Value> {
    let sale = platform.sales.current(event).await?;
    Ok(view(event, Some(&sale)))
}

pub async fn list(State(platform): State<Arc<Platform>>) -> Result<impl IntoResponse> {
    let events = platform.catalog.list().await?;
    let mut views = Vec::with_capacity(events.len());
    for event in &events {
        views.push(view_with_sale(&platform, event).await?);
    }
    Ok(axum::Json(serde_json::json!({ "events": views })))
}

pub async fn detail(
    State(platform): State<Arc<Platform>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    let id: EventId = path_id(&id, Error::EventNotFound)?;
    let event = platform.catalog.get(&id).await?;
    Ok(axum::Json(view_with_sale(&platform, &event).await?))
}

pub async fn availability(
    State(platform): State<Arc<Platform>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse> {
    let id: EventId = path_id(&id, Error::EventNotFound)?;
    let snapshot = platform.availability.read(&id).await?;
    // The snapshot's JSON is written once per change and shared by every reader: sent as is.
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from_owner(snapshot.json()),
    ))
}

/// The formatted events of the availability streams, shared by every stream of the process.
static AVAILABILITY_EVENTS: LazyLock<SnapshotEvents> = LazyLock::new(SnapshotEvents::new);

/// The availability pushed as server-sent events (`availability`, the JSON of [`availability`]):
/// one at once, then one every [`INTERVAL`] while the client stays connected, so a seat map stays
/// current without polling. A failed read is sent as an `error` event (its code) and the stream
/// goes on; on a [buffered transport](Delivery::Buffered) only the first event is sent.
///
/// Each snapshot's event is formatted once and shared by every stream sending it
/// ([`SnapshotEvents`]); what a stream whose client stops reading still costs is the server's
/// bound (`server::Limits::write_timeout`). Every event is the whole availability, so a client
/// dropped for not reading loses nothing by reconnecting.
pub async fn availability_stream(
    State(platform): State<Arc<Platform>>,
    Path(id): Path<String>,
    delivery: Option<Extension<Delivery>>,
) -> Result<Response> {
    let id: EventId = path_id(&id, Error::EventNotFound)?;
    // An unknown event is the ordinary JSON 404, before any stream starts.
    let first = AVAILABILITY_EVENTS.event(&id, &platform.availability.read(&id).await?);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + INTERVAL, INTERVAL);
    // A slow read or a slow client delays the next event; missed ones are not sent in a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let updates = futures::stream::unfold(
        (platform, id, ticks),
        |(platform, id, mut ticks)| async move {
            ticks.tick().await;
            let event = match platform.availability.read(&id).await {
                Ok(snapshot) => AVAILABILITY_EVENTS.event(&id, &snapshot),
                Err(e) => Formatted::new("error", e.code().as_bytes()),
            };
            Some((event, (platform, id, ticks)))
        },
    );
    let events = futures::stream::once(std::future::ready(first)).chain(updates);
    let events = match delivery.map(|Extension(d)| d).unwrap_or_default() {
        Delivery::Streamed => events.boxed(),
        Delivery::Buffered => events.take(1).boxed(),
    };
    Ok(crate::sse::stream(events))
}

pub async fn create(
    State(platform): State<Arc<Platform>>,
    Admin(_): Admin,
    Json(body): Json<NewEvent>,
) -> Result<impl IntoResponse> {
    let event = platform.catalog.create(body).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(view_with_sale(&platform, &event).await?),
    ))
}
