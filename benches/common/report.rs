//! A benchmark's figures: printed as a table for people, written as JSON to
//! `target/bench-results/<name>.json` for scripts.

use std::path::PathBuf;

use serde_json::{Value, json};

/// One measured figure, optionally against a same-run baseline.
pub struct Row {
    pub figure: String,
    pub value: f64,
    pub unit: String,
    /// What the figure is compared with, measured in the same run.
    pub baseline: Option<Baseline>,
}

/// A same-run baseline and what it is.
pub struct Baseline {
    pub value: f64,
    pub what: String,
}

/// The figures of one benchmark.
pub struct Report {
    name: String,
    rows: Vec<Row>,
    notes: Vec<String>,
    details: serde_json::Map<String, Value>,
}

impl Report {
    pub fn new(name: &str) -> Report {
        let mut report =
            Report { name: name.to_string(), rows: Vec::new(), notes: Vec::new(), details: serde_json::Map::new() };
        // Other work on the machine skews every figure; say how busy it was.
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        report.note(format!("load average (1, 5, 15 min) when the figures were taken: {}", load.join(" ")));
        report
    }

    /// A figure without a baseline.
    pub fn add(&mut self, figure: impl Into<String>, value: f64, unit: &str) {
        self.rows.push(Row { figure: figure.into(), value, unit: unit.to_string(), baseline: None });
    }

    /// A figure with the baseline it should be read against; the ratio is `value / baseline`.
    pub fn compare(
        &mut self,
        figure: impl Into<String>,
        value: f64,
        unit: &str,
        baseline: f64,
        what: impl Into<String>,
    ) {
        self.rows.push(Row {
            figure: figure.into(),
            value,
            unit: unit.to_string(),
            baseline: Some(Baseline { value: baseline, what: what.into() }),
        });
    }

    /// A sentence printed under the table (and kept in the JSON).
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Extra machine-readable detail for the JSON only.
    pub fn detail(&mut self, key: &str, value: Value) {
        self.details.insert(key.to_string(), value);
    }

    /// Prints the table and the notes to stdout.
    pub fn print(&self) {
        let header = ["figure", "value", "baseline (same run)", "ratio"];
        let cells: Vec<[String; 4]> = self
            .rows
            .iter()
            .map(|row| {
                let value = format!("{} {}", number(row.value), row.unit);
                let (baseline, ratio) = match &row.baseline {
                    Some(b) => (format!("{} {} ({})", number(b.value), row.unit, b.what), ratio(row.value / b.value)),
                    None => ("-".to_string(), "-".to_string()),
                };
                [row.figure.clone(), value, baseline, ratio]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        println!();
        println!("== {} ==", self.name);
        let line = |cols: [&str; 4]| {
            println!(
                "| {:<w0$} | {:>w1$} | {:<w2$} | {:>w3$} |",
                cols[0],
                cols[1],
                cols[2],
                cols[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            )
        };
        line(header);
        println!("|{}|", widths.map(|w| "-".repeat(w + 2)).join("|"));
        for row in &cells {
            line([&row[0], &row[1], &row[2], &row[3]]);
        }
        for note in &self.notes {
            println!("  * {note}");
        }
        println!();
    }

    /// Writes `target/bench-results/<name>.json` and returns its path.
    pub fn write_json(&self) -> anyhow::Result<PathBuf> {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
        let folder = target.join("bench-results");
        std::fs::create_dir_all(&folder)?;
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut entry = json!({ "figure": row.figure, "value": finite(row.value), "unit": row.unit });
                if let Some(b) = &row.baseline {
                    entry["baseline"] = json!({ "value": finite(b.value), "what": b.what });
                    entry["ratio"] = finite(row.value / b.value);
                }
                entry
            })
            .collect();
        let unix_secs =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let document = json!({
            "bench": self.name,
            "unix_time": unix_secs,
            "machine": super::server::machine(),
            "figures": rows,
            "notes": self.notes,
            "details": Value::Object(self.details.clone()),
        });
        let path = folder.join(format!("{}.json", self.name));
        std::fs::write(&path, serde_json::to_string_pretty(&document)?)?;
        Ok(path)
    }
}

fn finite(value: f64) -> Value {
    if value.is_finite() { json!(value) } else { Value::Null }
}

/// A number with a sensible amount of precision and thousands separators.
fn number(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".to_string();
    }
    let magnitude = value.abs();
    if magnitude >= 1000.0 {
        let rounded = value.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        if rounded < 0 { format!("-{out}") } else { out }
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn ratio(r: f64) -> String {
    if !r.is_finite() {
        "n/a".to_string()
    } else if r < 1.0 {
        format!("{:.1}%", r * 100.0)
    } else {
        format!("{r:.2}x")
    }
}
