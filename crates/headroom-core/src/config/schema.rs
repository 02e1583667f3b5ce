//! The JSON Schema of the configuration file, generated from the types with schemars; numeric
//! ranges come from [`super::LIMITS`], the same table validation uses.

use super::validate::LIMITS;
use super::Config;
use serde_json::Value;

/// The JSON Schema (draft 2020-12) of `config.toml` / `PUT /api/config` bodies.
pub fn json_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap_or(Value::Null);
    for limit in LIMITS {
        if let Some(node) = property(&mut schema, limit.key) {
            node["minimum"] = number(limit.min);
            node["maximum"] = number(limit.max);
        }
    }
    schema
}

fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

/// The values allowed for an enumerated key (`app.title`, `rules[2].metric`), from the schema.
pub(crate) fn enum_values(key: &str) -> Option<Vec<String>> {
    let mut schema = json_schema();
    let pattern = super::validate::strip_indices(key);
    let node = property(&mut schema, &pattern)?;
    let from_one_of = node.get("oneOf").and_then(Value::as_array).map(|variants| {
        variants
            .iter()
            .filter_map(|v| v.get("const").and_then(Value::as_str).map(String::from))
            .collect::<Vec<_>>()
    });
    let from_enum = node.get("enum").and_then(Value::as_array).map(|values| {
        values
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect::<Vec<_>>()
    });
    from_one_of.or(from_enum).filter(|v| !v.is_empty())
}

/// The schema node of a dotted key (`rules[].samples`), following `$ref`s into `$defs`.
fn property<'a>(root: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    let mut path: Vec<String> = Vec::new();
    for part in key.split('.') {
        let name = part.trim_end_matches("[]");
        path.push(name.to_string());
        if part.ends_with("[]") {
            path.push("[]".into());
        }
    }
    let defs = root.get("$defs").cloned().unwrap_or(Value::Null);
    let mut pointer = String::new();
    for seg in &path {
        pointer = resolve(root, &defs, pointer)?;
        pointer = if seg == "[]" {
            format!("{pointer}/items")
        } else {
            let node = root.pointer(&pointer)?;
            if node.pointer(&format!("/properties/{seg}")).is_some() {
                format!("{pointer}/properties/{seg}")
            } else {
                variant_with(node, &pointer, seg)?
            }
        };
    }
    let pointer = resolve(root, &defs, pointer)?;
    let node = root.pointer_mut(&pointer)?;
    Some(node)
}

/// Follows a `$ref` (or an `anyOf` with one non-null `$ref`, schemars' `Option<T>`).
fn resolve(root: &Value, defs: &Value, pointer: String) -> Option<String> {
    let node = root.pointer(&pointer)?;
    let reference = node.get("$ref").and_then(Value::as_str).or_else(|| {
        node.get("anyOf")?
            .as_array()?
            .iter()
            .find_map(|v| v.get("$ref")?.as_str())
    });
    match reference {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/")?;
            defs.get(name)?;
            resolve(root, defs, format!("/$defs/{name}"))
        }
        None => Some(pointer),
    }
}

/// For a tagged enum (`oneOf` variants), the variant holding property `seg`.
fn variant_with(node: &Value, pointer: &str, seg: &str) -> Option<String> {
    let variants = node.get("oneOf")?.as_array()?;
    let i = variants
        .iter()
        .position(|v| v.pointer(&format!("/properties/{seg}")).is_some())?;
    Some(format!("{pointer}/oneOf/{i}/properties/{seg}"))
}
