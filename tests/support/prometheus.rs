//! A strict parser of the Prometheus text exposition format (0.0.4), for the tests that
//! check `ringcore::metrics::prometheus::render` and the `/metrics` route: every line is a
//! `# HELP`, a `# TYPE` or a sample of a family declared before it; label values are
//! quoted; values parse as floats; each histogram series has buckets with increasing `le`,
//! non-decreasing counts, a `+Inf` bucket equal to its `_count`, and a `_sum`.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;

/// One sample: its name, labels and value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A histogram series, put together from its `_bucket`, `_sum` and `_count` samples.
#[derive(Debug, Clone, Default)]
pub struct HistogramSeries {
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

/// A parsed exposition: the families (name to type) and the samples in order.
#[derive(Debug, Default)]
pub struct Exposition {
    pub families: HashMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    fn matches(s: &Sample, labels: &[(&str, &str)]) -> bool {
        labels
            .iter()
            .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
    }

    /// The value of the sample `name` with (at least) `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.name == name && Self::matches(s, labels))
            .map(|s| s.value)
    }

    /// The histogram series `name` with (at least) `labels`.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Option<HistogramSeries> {
        let mut h = HistogramSeries::default();
        let mut found = false;
        for s in self.samples.iter().filter(|s| Self::matches(s, labels)) {
            if s.name == format!("{name}_bucket") {
                let le = s.labels.iter().find(|(k, _)| k == "le")?.1.clone();
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                h.buckets.push((le, s.value));
                found = true;
            } else if s.name == format!("{name}_sum") {
                h.sum = s.value;
            } else if s.name == format!("{name}_count") {
                h.count = s.value;
            }
        }
        found.then_some(h)
    }
}

/// Parses `text`, checking the rules in the module docs.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut out = Exposition::default();
    for (n, line) in text.lines().enumerate() {
        let err = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(_), Some(_)) => {}
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(err("unknown type"));
                    }
                    if out.families.insert(name.into(), kind.into()).is_some() {
                        return Err(err("family declared twice"));
                    }
                }
                _ => return Err(err("bad comment")),
            }
            continue;
        }
        let (head, value) = line.rsplit_once(' ').ok_or_else(|| err("no value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| err("bad value"))?,
        };
        let (name, labels) = match head.split_once('{') {
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or_else(|| err("unclosed labels"))?;
                let mut labels = Vec::new();
                for pair in body.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').ok_or_else(|| err("bad label"))?;
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .ok_or_else(|| err("unquoted label value"))?;
                    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(err("bad label name"));
                    }
                    labels.push((k.to_string(), v.to_string()));
                }
                (name, labels)
            }
            None => (head, Vec::new()),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(err("bad metric name"));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|f| out.families.get(*f).is_some_and(|k| k == "histogram"))
            .unwrap_or(name);
        if !out.families.contains_key(family) {
            return Err(err("sample of an undeclared family"));
        }
        out.samples.push(Sample {
            name: name.into(),
            labels,
            value,
        });
    }
    check_histograms(&out)?;
    Ok(out)
}

fn check_histograms(out: &Exposition) -> Result<(), String> {
    let mut series: HashMap<String, Vec<&Sample>> = HashMap::new();
    for s in &out.samples {
        let Some(family) = s.name.strip_suffix("_bucket") else {
            continue;
        };
        let mut key: Vec<_> = s.labels.iter().filter(|(k, _)| k != "le").collect();
        key.sort();
        series
            .entry(format!("{family}{key:?}"))
            .or_default()
            .push(s);
    }
    for (key, buckets) in series {
        let mut last = (f64::NEG_INFINITY, 0.0);
        for b in &buckets {
            let le = b
                .labels
                .iter()
                .find(|(k, _)| k == "le")
                .ok_or("bucket without le")?;
            let le: f64 = if le.1 == "+Inf" {
                f64::INFINITY
            } else {
                le.1.parse()
                    .map_err(|_| format!("{key}: bad le {}", le.1))?
            };
            if le <= last.0 || b.value < last.1 {
                return Err(format!("{key}: buckets out of order at le={le}"));
            }
            last = (le, b.value);
        }
        if last.0 != f64::INFINITY {
            return Err(format!("{key}: no +Inf bucket"));
        }
        let family = buckets[0].name.strip_suffix("_bucket").unwrap_or_default();
        let labels: Vec<(&str, &str)> = buckets[0]
            .labels
            .iter()
            .filter(|(k, _)| k != "le")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let count = out
            .value(&format!("{family}_count"), &labels)
            .ok_or_else(|| format!("{key}: no _count"))?;
        out.value(&format!("{family}_sum"), &labels)
            .ok_or_else(|| format!("{key}: no _sum"))?;
        if count != last.1 {
            return Err(format!("{key}: +Inf bucket {} != count {count}", last.1));
        }
    }
    Ok(())
}
