//! One point of history, keyed by the metric registry.
//!
//! A point carries one value per stored metric of [`crate::metrics::METRICS`] (under the
//! metric's key: `used`, `swapout_rate`, …) and, for metrics summarised min/avg/max,
//! `<key>_min`/`<key>_max` when it merges several samples. Its JSON, CSV and TypeScript
//! forms are all derived from the registry.

use crate::metrics::{by_key, stored_metrics, Agg, MetricSpec};
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use ts_rs::TS;

/// One point of history: a 1 s sample, or the merge of several (then values are averages,
/// `pressure` is the worst level, and the `*_min`/`*_max` fields are set).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryPoint {
    /// Time of the first sample in the point, ms since the Unix epoch.
    pub t: i64,
    /// How many 1 s samples the point stands for.
    pub samples: u32,
    values: BTreeMap<&'static str, f64>,
    ranges: BTreeMap<&'static str, (f64, f64)>,
}

/// The registry's key for `key`, when it names a stored metric.
fn stored_key(key: &str) -> Option<&'static MetricSpec> {
    by_key(key).filter(|m| m.history.is_some())
}

impl HistoryPoint {
    /// A point at `t` standing for `samples` samples, with no values yet.
    pub fn new(t: i64, samples: u32) -> Self {
        Self {
            t,
            samples,
            ..Self::default()
        }
    }

    /// The value of the stored metric `key` (`None`: unknown, or not a stored metric).
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied()
    }

    /// The value of `key` as a whole number of bytes.
    pub fn bytes(&self, key: &str) -> Option<u64> {
        self.get(key).map(|v| v.max(0.0).round() as u64)
    }

    /// The lowest and highest value of `key` in the point (merged min/avg/max metrics only).
    pub fn range(&self, key: &str) -> Option<(f64, f64)> {
        self.ranges.get(key).copied()
    }

    /// Sets the value of the stored metric `key` (ignored for any other key).
    pub fn set(&mut self, key: &str, v: Option<f64>) {
        let Some(m) = stored_key(key) else { return };
        match v.filter(|x| x.is_finite()) {
            Some(x) => self.values.insert(m.key, x),
            None => self.values.remove(m.key),
        };
    }

    /// Sets the lowest and highest value of `key` (ignored unless summarised min/avg/max).
    pub fn set_range(&mut self, key: &str, r: Option<(f64, f64)>) {
        let Some(m) =
            stored_key(key).filter(|m| m.history.is_some_and(|h| h.agg == Agg::MinAvgMax))
        else {
            return;
        };
        match r {
            Some(r) => self.ranges.insert(m.key, r),
            None => self.ranges.remove(m.key),
        };
    }

    /// The point with `key` set to `v`.
    pub fn with(mut self, key: &str, v: Option<f64>) -> Self {
        self.set(key, v);
        self
    }
}

/// A value in its unit's JSON form (whole numbers for bytes, levels and counts).
fn json_number(m: &MetricSpec, v: f64) -> serde_json::Value {
    if m.unit.integral() {
        serde_json::Value::from(v.max(0.0).round() as u64)
    } else {
        serde_json::Value::from(v)
    }
}

impl Serialize for HistoryPoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("t", &self.t)?;
        map.serialize_entry("samples", &self.samples)?;
        for (m, _) in stored_metrics() {
            map.serialize_entry(m.key, &self.get(m.key).map(|v| json_number(m, v)))?;
        }
        for (m, _) in stored_metrics() {
            if let Some((lo, hi)) = self.range(m.key) {
                map.serialize_entry(&format!("{}_min", m.key), &json_number(m, lo))?;
                map.serialize_entry(&format!("{}_max", m.key), &json_number(m, hi))?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for HistoryPoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        let num = |k: &str| map.get(k).and_then(serde_json::Value::as_f64);
        let t = map
            .get("t")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| D::Error::missing_field("t"))?;
        let samples = map
            .get("samples")
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| D::Error::missing_field("samples"))?;
        let mut p = Self::new(t, samples);
        for (m, _) in stored_metrics() {
            p.set(m.key, num(m.key));
            let lo = num(&format!("{}_min", m.key));
            let hi = num(&format!("{}_max", m.key));
            p.set_range(m.key, lo.zip(hi));
        }
        Ok(p)
    }
}

impl TS for HistoryPoint {
    type WithoutGenerics = Self;
    const DOCS: Option<&'static str> = Some(
        "/**\n * One point of history: a 1 s sample, or the merge of several (then values are\n \
         * averages, `pressure` is the worst level, and the `*_min`/`*_max` fields are set).\n \
         * Its fields are the stored metrics of `crates/headroom-core/src/metrics.rs`.\n */\n",
    );

    fn name() -> String {
        "HistoryPoint".into()
    }

    fn inline() -> String {
        let mut fields = vec!["t: number".to_string(), "samples: number".to_string()];
        for (m, h) in stored_metrics() {
            fields.push(format!("/** {} */ {}: number | null", m.help, m.key));
            if h.agg == Agg::MinAvgMax {
                fields.push(format!("{}_min?: number", m.key));
                fields.push(format!("{}_max?: number", m.key));
            }
        }
        format!("{{ {}, }}", fields.join(", "))
    }

    fn inline_flattened() -> String {
        Self::inline()
    }

    fn decl() -> String {
        format!("type HistoryPoint = {};", Self::inline())
    }

    fn decl_concrete() -> String {
        Self::decl()
    }

    fn output_path() -> Option<&'static std::path::Path> {
        Some(std::path::Path::new("HistoryPoint.ts"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_integers_and_ranges() {
        let mut p = HistoryPoint::new(5, 2)
            .with("used", Some(1024.0))
            .with("free_percent", Some(12.5))
            .with("not_a_metric", Some(1.0));
        p.set_range("used", Some((1000.0, 2000.0)));
        p.set_range("free_percent", Some((1.0, 2.0)));
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["used"], 1024);
        assert_eq!(v["used_min"], 1000);
        assert_eq!(v["free_percent"], 12.5);
        assert!(v["swap_used"].is_null());
        assert!(v.get("free_percent_min").is_none());
        assert!(v.get("not_a_metric").is_none());
        let back: HistoryPoint = serde_json::from_value(v).unwrap();
        assert_eq!(back, p.clone().with("not_a_metric", None));
    }

    #[test]
    fn export_bindings_history_point() {
        HistoryPoint::export_all().unwrap();
        assert!(HistoryPoint::decl().contains("swapout_rate: number | null"));
    }
}
