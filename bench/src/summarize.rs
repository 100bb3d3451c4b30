//! `loadgen summarize FILES...`: a markdown table of medians per scenario
//! case and implementation.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::stats::median;

/// Raw result lines of some files (blank and non-JSON lines skipped).
pub fn read_records(files: &[String]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(line) {
                Ok(v) if v.get("scenario").is_some() => out.push(v),
                _ => eprintln!("{f}:{}: not a result line, skipped", i + 1),
            }
        }
    }
    Ok(out)
}

/// The figures worth a row, per scenario, in order.
fn headline(scenario: &str) -> &'static [&'static str] {
    match scenario {
        "lookup" => &[
            "registrations",
            "req_per_s",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "conn_req_min",
            "conn_req_max",
            "reg_per_s",
            "rss_kib",
            "server_cpu_pct",
            "loadgen_cpu_pct",
            "scrapes",
            "scrape_ms_p50",
        ],
        "query" => &[
            "single_ms",
            "answer_bytes",
            "req_per_s",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "server_cpu_pct",
        ],
        "register" => &["reg_per_s", "register_s", "rss_kib", "server_cpu_pct"],
        "ping" => &["rt_per_s", "p50_ms", "p99_ms", "max_ms", "server_cpu_pct"],
        "idle" => &[
            "kib_per_conn",
            "rss_before_kib",
            "rss_after_kib",
            "connect_s",
        ],
        "disconnect-storm" => &[
            "clear_ms",
            "last_seen_ms",
            "storm_requests",
            "storm_p50_ms",
            "storm_p99_ms",
            "storm_max_ms",
            "pre_p50_ms",
            "pre_p99_ms",
            "pre_req_per_s",
        ],
        "register-stream" => &[
            "reg_per_s",
            "stream_s",
            "requests",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "lookup_200",
            "lookup_404",
            "before_p99_ms",
        ],
        _ => &[],
    }
}

/// Figures that get a row whenever any run has them non-zero.
const TROUBLE: &[&str] = &["errors", "non_200"];

fn fmt(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        // Thousands separated by a thin space, for legibility.
        let s = format!("{:.0}", v);
        let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push('\u{202f}');
            }
            out.push(ch);
        }
        format!("{sign}{out}")
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn impl_order(name: &str) -> (u8, String) {
    match name {
        "ours" => (0, String::new()),
        "go" => (1, String::new()),
        other => (2, other.to_string()),
    }
}

/// The row group of a result line: its case, told apart by its tag (the
/// `scaling` and `scrape` runs share sizes, hence case names) and by a
/// `/metrics` scrape during the load.
fn case_key(r: &Value) -> String {
    let mut key = r["case"].as_str().unwrap_or("?").to_string();
    if let Some(tag) = r["tag"].as_str().filter(|t| !t.is_empty()) {
        key.push_str(&format!(" [{tag}]"));
    }
    if let Some(ms) = r["params"]["scrape_ms"].as_u64().filter(|&ms| ms > 0) {
        key.push_str(&format!(", /metrics every {ms} ms"));
    }
    key
}

pub fn summarize(files: &[String], all: bool) -> Result<String, String> {
    let records = read_records(files)?;
    if records.is_empty() {
        return Err("no result lines".into());
    }
    // case -> impl -> figure -> values; cases in order of appearance.
    let mut cases: Vec<(String, String)> = Vec::new();
    type Runs = BTreeMap<String, Vec<f64>>;
    let mut data: BTreeMap<String, BTreeMap<String, (usize, Runs)>> = BTreeMap::new();
    for r in &records {
        let case = case_key(r);
        let scenario = r["scenario"].as_str().unwrap_or("?").to_string();
        let imp = r["impl"].as_str().unwrap_or("?").to_string();
        if !cases.iter().any(|(c, _)| *c == case) {
            cases.push((case.clone(), scenario));
        }
        let entry = data.entry(case).or_default().entry(imp).or_default();
        entry.0 += 1;
        if let Some(figs) = r["figures"].as_object() {
            for (k, v) in figs {
                if let Some(x) = v.as_f64() {
                    entry.1.entry(k.clone()).or_default().push(x);
                }
            }
        }
    }
    let mut impls: Vec<String> = data
        .values()
        .flat_map(|m| m.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    impls.sort_by_key(|i| impl_order(i));

    let mut out = String::new();
    out.push_str("| case | figure |");
    for i in &impls {
        out.push_str(&format!(" {i} |"));
    }
    out.push_str("\n|---|---|");
    for _ in &impls {
        out.push_str("---:|");
    }
    out.push('\n');
    for (case, scenario) in &cases {
        let per_impl = &data[case];
        let mut figures: Vec<String> = headline(scenario).iter().map(|s| s.to_string()).collect();
        let present = |k: &str| per_impl.values().any(|(_, f)| f.contains_key(k));
        figures.retain(|k| present(k));
        for t in TROUBLE {
            let nonzero = per_impl
                .values()
                .any(|(_, f)| f.get(*t).is_some_and(|v| v.iter().any(|&x| x != 0.0)));
            if nonzero && !figures.iter().any(|f| f == t) {
                figures.push(t.to_string());
            }
        }
        if all || figures.is_empty() {
            for (_, f) in per_impl.values() {
                for k in f.keys() {
                    if !figures.contains(k) {
                        figures.push(k.clone());
                    }
                }
            }
        }
        let mut first = true;
        let mut row = |label: &str, cells: Vec<String>, out: &mut String| {
            let c = if first {
                format!("**{case}**")
            } else {
                String::new()
            };
            first = false;
            out.push_str(&format!("| {c} | {label} |"));
            for cell in cells {
                out.push_str(&format!(" {cell} |"));
            }
            out.push('\n');
        };
        let runs = impls
            .iter()
            .map(|i| {
                per_impl
                    .get(i)
                    .map_or("–".to_string(), |(n, _)| n.to_string())
            })
            .collect();
        row("runs", runs, &mut out);
        for k in &figures {
            let cells = impls
                .iter()
                .map(|i| {
                    per_impl
                        .get(i)
                        .and_then(|(_, f)| f.get(k))
                        .and_then(|v| median(v.clone()))
                        .map_or("–".to_string(), fmt)
                })
                .collect();
            row(k, cells, &mut out);
        }
    }
    Ok(out)
}
