//! Events, availability (read and streamed), and event creation by administrators.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Extension;
use futures::{Stream, StreamExt};

use tacos_core::domain::availability::AvailabilitySnapshot;
use tacos_core::domain::catalog::{Event, NewEvent};
use tacos_core::domain::sale::Sale;
use tacos_core::error::Error;
use tacos_core::platform::Platform;

use crate::error::Result;
use crate::extract::{path_id, Admin, Json, Path};
use crate::sse::{Delivery, INTERVAL};
use tacos_core::ids::EventId;

/// The event as the contract shows it: without its queue's sharding, with the digits of its
/// currency's minor unit (so a client formats 50000 as ₩50,000 and 4500 as $45.00), and its sale
/// as operators left it (`state`, the admission rate and hold time in force).
fn view(event: &Event, sale: Option<&Sale>) -> serde_json::Value {
    let mut value = serde_json::to_value(event).expect("event serializes");
    if let Some(map) = value.as_object_mut() {
        map.remove("queue_shards");
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

/// The availability pushed as server-sent events (`availability`, the JSON of [`availability`]):
/// one at once, then one every [`INTERVAL`] while the client stays connected, so a seat map stays
/// current without polling. A failed read is sent as an `error` event (its code) and the stream
/// goes on; on a [buffered transport](Delivery::Buffered) only the first event is sent.
pub async fn availability_stream(
    State(platform): State<Arc<Platform>>,
    Path(id): Path<String>,
    delivery: Option<Extension<Delivery>>,
) -> Result<Sse<impl Stream<Item = std::result::Result<sse::Event, Infallible>>>> {
    let id: EventId = path_id(&id, Error::EventNotFound)?;
    // An unknown event is the ordinary JSON 404, before any stream starts.
    let first = platform.availability.read(&id).await?;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + INTERVAL, INTERVAL);
    // A slow read or a slow client delays the next event; missed ones are not sent in a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let updates = futures::stream::unfold(
        (platform, id, ticks),
        |(platform, id, mut ticks)| async move {
            ticks.tick().await;
            let event = match platform.availability.read(&id).await {
                Ok(availability) => availability_event(&availability),
                Err(e) => sse::Event::default().event("error").data(e.code()),
            };
            Some((event, (platform, id, ticks)))
        },
    );
    let events = futures::stream::once(async move { availability_event(&first) }).chain(updates);
    let events = match delivery.map(|Extension(d)| d).unwrap_or_default() {
        Delivery::Streamed => events.boxed(),
        Delivery::Buffered => events.take(1).boxed(),
    };
    Ok(Sse::new(events.map(|event| Ok(event.retry(INTERVAL)))).keep_alive(KeepAlive::default()))
}

fn availability_event(availability: &AvailabilitySnapshot) -> sse::Event {
    let json = availability.json();
    sse::Event::default()
        .event("availability")
        .data(std::str::from_utf8(&json).expect("JSON is UTF-8"))
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
