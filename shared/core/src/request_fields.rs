//! How a request body's optional fields are read, one rule for every body.
//!
//! serde reads an `Option` field sent as `null` exactly as one left out. Where the API document
//! (`docs/openapi.yaml`) declares a field `nullable`, that is the contract ("`null` is the same as
//! absent"); where it does not, a `null` is a malformed body that must be refused with 400 and
//! change nothing. Schemathesis found one such body answered 200 (`PATCH /admin/events/{id}`
//! with `{"admission_rate_per_sec": null, "hold_seconds": 90}` changed the hold), so every
//! optional field the document does not declare nullable is read through [`named`].

use serde::{Deserialize, Deserializer};

/// A field that may be left out but, when named, holds a value: `null` is refused as the
/// field's type refuses any other wrong value. Used as
/// `#[serde(default, deserialize_with = "tacos_core::request_fields::named")]`, where
/// `default` keeps a missing field `None` (serde calls this only for a field that is present).
pub fn named<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "named")]
        rate: Option<u32>,
    }

    fn read(json: &str) -> Result<Option<u32>, serde_json::Error> {
        serde_json::from_str::<Body>(json).map(|b| b.rate)
    }

    #[test]
    fn a_named_field_holds_its_value_and_a_missing_one_is_none() {
        assert_eq!(read(r#"{"rate": 7}"#).unwrap(), Some(7));
        assert_eq!(read("{}").unwrap(), None);
    }

    #[test]
    fn a_named_field_sent_as_null_is_refused() {
        let err = read(r#"{"rate": null}"#).unwrap_err();
        assert!(err.to_string().contains("null"), "{err}");
    }
}
