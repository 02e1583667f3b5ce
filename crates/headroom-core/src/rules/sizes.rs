//! Thresholds and byte counts written as a number or as a size people read: `"512MiB"`,
//! `"1GB"`, `"1.5G"` (powers of 1024, see [`crate::units::parse_size`]).

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::borrow::Cow;

const EXPECTED: &str = "a number or a size such as \"512MiB\" or \"1GB\"";

/// A number, or a size string turned into bytes.
pub(super) struct SizeOrNumber(pub f64);

struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = SizeOrNumber;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(SizeOrNumber(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(SizeOrNumber(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(SizeOrNumber(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        crate::units::parse_size(v)
            .map(|b| SizeOrNumber(b as f64))
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &EXPECTED))
    }
}

impl<'de> Deserialize<'de> for SizeOrNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SizeVisitor)
    }
}

/// `deserialize_with` for an `f64` threshold.
pub(super) fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    SizeOrNumber::deserialize(d).map(|s| s.0)
}

/// `deserialize_with` for an optional `f64` threshold.
pub(super) fn opt_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Option::<SizeOrNumber>::deserialize(d).map(|o| o.map(|s| s.0))
}

/// `deserialize_with` for a byte count.
pub(super) fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = SizeOrNumber::deserialize(d)?.0;
    if v.fract() != 0.0 || !(0.0..1.8e19).contains(&v) {
        return Err(de::Error::invalid_value(
            de::Unexpected::Float(v),
            &"a whole number of bytes or a size such as \"512MiB\"",
        ));
    }
    Ok(v as u64)
}

/// The JSON Schema of such a value: a number, or a size string.
pub(crate) struct SizeSchema;

impl JsonSchema for SizeSchema {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "SizeOrNumber".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number, or a size in powers of 1024: \"512MiB\", \"1GB\", \"1.5G\".",
            "anyOf": [
                { "type": "number" },
                { "type": "string", "pattern": "^\\s*[0-9.]+\\s*([KkMmGgTt]([Ii]?[Bb])?|[Bb])?\\s*$" }
            ]
        })
    }
}
