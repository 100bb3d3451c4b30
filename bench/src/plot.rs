//! `loadgen plot --out FILE.png RESULT_FILES...`: /lookup throughput and
//! p99 latency against the number of registrations, log-log, one line per
//! implementation (medians of the runs).

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::stats::median;
use crate::summarize::read_records;

const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

fn load_font() -> Result<(), String> {
    let mut candidates: Vec<String> = std::env::var("LOADGEN_FONT").into_iter().collect();
    candidates.extend(FONTS.iter().map(|s| s.to_string()));
    for path in &candidates {
        if let Ok(bytes) = std::fs::read(path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{path}: not a usable font"));
        }
    }
    Err(format!(
        "no font found (tried {}); set LOADGEN_FONT to a .ttf file",
        candidates.join(", ")
    ))
}

type Series = Vec<(String, Vec<(f64, f64)>)>;

fn color(name: &str, i: usize) -> RGBColor {
    match name {
        "ours" => RGBColor(0x1f, 0x77, 0xb4),
        "go" => RGBColor(0xd6, 0x27, 0x28),
        _ => {
            let c = Palette99::pick(i + 2).to_rgba();
            RGBColor(c.0, c.1, c.2)
        }
    }
}

fn x_label(x: &f64) -> String {
    let e = x.log10();
    if (e - e.round()).abs() > 1e-6 {
        return String::new();
    }
    match e.round() as i32 {
        2 => "100".into(),
        3 => "1k".into(),
        4 => "10k".into(),
        5 => "100k".into(),
        6 => "1M".into(),
        k => format!("1e{k}"),
    }
}

/// Labels only 1, 2 and 5 times a power of ten, so a log axis stays legible.
fn y_label(y: &f64) -> String {
    let e = y.log10().floor();
    let m = y / 10f64.powf(e);
    if ![1.0, 2.0, 5.0].iter().any(|k| (m - k).abs() < 1e-6) {
        return String::new();
    }
    if *y >= 1.0 {
        format!("{y:.0}")
    } else {
        format!("{y}")
    }
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    series: &Series,
) -> Result<(), String> {
    let ys = series.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y));
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (lo, hi) = if lo <= hi && lo > 0.0 {
        // Whole decades, so the 1-2-5 labels fall inside.
        (
            10f64.powf((lo / 1.2).log10().floor()),
            10f64.powf((hi * 1.2).log10().ceil()),
        )
    } else {
        (0.01, 1.0)
    };
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("drawing: {e:?}");
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(18)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d((60f64..1.7e6f64).log_scale(), (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("registrations (producers × topics × channels)")
        .y_desc(y_desc)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .light_line_style(RGBColor(235, 235, 235))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = color(name, i);
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(3)))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 5, c.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    Ok(())
}

pub fn plot(out: &str, files: &[String]) -> Result<(), String> {
    let records = read_records(files)?;
    let lookups: Vec<_> = records
        .iter()
        .filter(|r| r["scenario"] == "lookup")
        .collect();
    let tagged = lookups.iter().any(|r| r["tag"] == "scaling");
    // impl -> registrations -> (req/s, p99) per run
    type Runs = BTreeMap<u64, (Vec<f64>, Vec<f64>)>;
    let mut by_impl: BTreeMap<String, Runs> = BTreeMap::new();
    for r in lookups {
        if tagged && r["tag"] != "scaling" {
            continue;
        }
        let (Some(x), Some(rps), Some(p99)) = (
            r["params"]["registrations"].as_u64(),
            r["figures"]["req_per_s"].as_f64(),
            r["figures"]["p99_ms"].as_f64(),
        ) else {
            continue;
        };
        let imp = r["impl"].as_str().unwrap_or("?").to_string();
        let e = by_impl.entry(imp).or_default().entry(x).or_default();
        e.0.push(rps);
        e.1.push(p99);
    }
    if by_impl.is_empty() {
        return Err("no lookup results to plot".into());
    }
    let mut names: Vec<String> = by_impl.keys().cloned().collect();
    names.sort_by_key(|n| match n.as_str() {
        "ours" => 0,
        "go" => 1,
        _ => 2,
    });
    let mut rps: Series = Vec::new();
    let mut p99: Series = Vec::new();
    for n in &names {
        let pts = &by_impl[n];
        rps.push((
            n.clone(),
            pts.iter()
                .filter_map(|(&x, (r, _))| median(r.clone()).map(|m| (x as f64, m)))
                .collect(),
        ));
        p99.push((
            n.clone(),
            pts.iter()
                .filter_map(|(&x, (_, p))| median(p.clone()).map(|m| (x as f64, m)))
                .collect(),
        ));
    }
    load_font()?;
    let (w, h) = (1400u32, 620u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let err = |e| format!("drawing: {e:?}");
        root.fill(&WHITE).map_err(err)?;
        let root = root
            .titled(
                "GET /lookup against registration database size (median of runs)",
                ("sans-serif", 26),
            )
            .map_err(err)?;
        let (left, right) = root.split_horizontally(w / 2);
        panel(&left, "throughput — higher is better", "requests / s", &rps)?;
        panel(
            &right,
            "p99 latency — lower is better",
            "p99 latency (ms)",
            &p99,
        )?;
        root.present().map_err(err)?;
    }
    let file = std::fs::File::create(out).map_err(|e| format!("{out}: {e}"))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| format!("{out}: {e}"))?;
    writer
        .write_image_data(&buf)
        .map_err(|e| format!("{out}: {e}"))?;
    writer.finish().map_err(|e| format!("{out}: {e}"))?;
    Ok(())
}
