//! `TACOS_CATALOG`: the catalogue of venues and events read at start, from JSON or YAML (by the
//! file's extension), whose events are then created unless they exist
//! ([`tacos_core::catalog_file`]; the schema is in docs/catalog.md).

use std::path::{Path, PathBuf};

use tacos_core::catalog_file::{self, CatalogFile, Loaded};
use tacos_core::platform::Platform;

/// Why the catalogue could not be used; the server does not start without it.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalogue {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("catalogue {path}: expected a .json, .yaml or .yml file")]
    Format { path: PathBuf },
    #[error("catalogue {path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("catalogue {path}: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_norway::Error,
    },
    #[error("catalogue {path}: {source}")]
    Load {
        path: PathBuf,
        source: tacos_core::error::Error,
    },
}

/// The catalogue at `path`, parsed.
pub fn read(path: &Path) -> Result<CatalogFile, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// `text` as the catalogue file `path` (whose extension says JSON or YAML).
pub fn parse(path: &Path, text: &str) -> Result<CatalogFile, CatalogError> {
    let path_buf = || path.to_path_buf();
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str(text).map_err(|source| CatalogError::Json {
            path: path_buf(),
            source,
        }),
        Some("yaml" | "yml") => serde_norway::from_str(text).map_err(|source| CatalogError::Yaml {
            path: path_buf(),
            source,
        }),
        _ => Err(CatalogError::Format { path: path_buf() }),
    }
}

/// Reads the catalogue at `path` and creates its events that do not exist yet.
pub async fn load(platform: &Platform, path: &Path) -> Result<Loaded, CatalogError> {
    let catalog = read(path)?;
    catalog_file::load(platform, &catalog)
        .await
        .map_err(|source| CatalogError::Load {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tacos_core::config::Config;
    use tacos_core::domain::catalog::{seat_key, SeatStatus};
    use tacos_core::ids::EventId;
    use tacos_core::ports::{Store, Update, Write};

    use crate::InProcess;

    fn sample() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog/sample.yaml")
    }

    #[test]
    fn the_sample_is_a_real_sized_venue_in_three_price_tiers() {
        let catalog = read(&sample()).unwrap();
        let events = catalog.new_events().unwrap();
        let arena = &events[0];
        let sections = arena.sections.as_ref().unwrap();
        let seats: u32 = sections.iter().map(|s| s.rows * s.seats_per_row).sum();
        assert_eq!(seats, 10_000);
        let mut tiers: Vec<i64> = sections.iter().map(|s| s.price_or(arena.price)).collect();
        tiers.dedup();
        assert_eq!(tiers, [220_000, 165_000, 99_000]);
        assert_eq!(arena.currency, "KRW");
        assert_eq!(events[1].capacity, Some(3_000));
    }

    #[test]
    fn json_and_yaml_read_alike_and_mistakes_are_named() {
        let yaml = "venues: [{id: hall, name: Hall, capacity: 10}]\n\
                    events: [{event_id: evt_x, name: X, venue: hall, \
                    starts_at: 2030-01-01T00:00:00Z, price: 100}]\n";
        let json = r#"{"venues":[{"id":"hall","name":"Hall","capacity":10}],
            "events":[{"event_id":"evt_x","name":"X","venue":"hall",
            "starts_at":"2030-01-01T00:00:00Z","price":100}]}"#;
        let from_yaml = parse(Path::new("c.yml"), yaml)
            .unwrap()
            .new_events()
            .unwrap();
        let from_json = parse(Path::new("c.json"), json)
            .unwrap()
            .new_events()
            .unwrap();
        assert_eq!(format!("{from_yaml:?}"), format!("{from_json:?}"));

        let typo = json.replace("\"capacity\"", "\"capacty\"");
        let error = parse(Path::new("c.json"), &typo).unwrap_err().to_string();
        assert!(error.contains("capacty"), "{error}");
        let elsewhere = json.replace("\"venue\":\"hall\"", "\"venue\":\"stadium\"");
        let error = parse(Path::new("c.json"), &elsewhere)
            .unwrap()
            .new_events()
            .unwrap_err()
            .to_string();
        assert!(error.contains("stadium"), "{error}");
        assert!(matches!(
            parse(Path::new("c.toml"), json),
            Err(CatalogError::Format { .. })
        ));
    }

    #[tokio::test]
    async fn loading_again_creates_nothing_twice_and_leaves_sold_seats_sold() {
        let local = InProcess::new(Config::for_tests());
        let platform = &local.platform;
        let first = load(platform, &sample()).await.unwrap();
        assert_eq!(first.created.len(), 2);
        let arena: EventId = "evt_2027_jamsil_0314".parse().unwrap();
        let availability = platform.availability.read(&arena).await.unwrap();
        assert_eq!(availability.total, 10_000);
        let front = &availability.seats[4];
        assert_eq!(
            (front.seat_id.as_str(), front.row, front.number, front.price),
            ("VIP-1-5", 1, 5, 220_000)
        );
        // A seat sold since (as a confirmation leaves it).
        let seat = "VIP-1-5".parse().unwrap();
        let sold = Update::new(seat_key(&arena, &seat))
            .set("status", serde_json::to_value(SeatStatus::Sold).unwrap());
        local.store.write(Write::Update(sold)).await.unwrap();

        let again = load(platform, &sample()).await.unwrap();
        assert!(again.created.is_empty(), "{again:?}");
        assert_eq!(again.kept.len(), 2);
        let after = platform.availability.read(&arena).await.unwrap();
        assert_eq!(after.seats[4].status, SeatStatus::Sold, "untouched");
        let events = platform.catalog.list().await.unwrap();
        assert_eq!(events.len(), 2, "no event twice");
    }
}
