//! `ferry-bench-plot OUT.svg LABEL=SAMPLES.jsonl ...`: one chart a series,
//! stacked: parts in flight (left axis) and MB/s (right axis) over seconds.
//!
//! A samples file holds one JSON object a line, `{"t":S,"in_flight":N,"mbps":X}`
//! (`bench/run.sh` writes them from ferry's `--events` stream); lines that
//! are not such objects are skipped.

use plotters::prelude::*;
use std::error::Error;

struct Sample {
    t: f64,
    in_flight: f64,
    mbps: f64,
}

fn read(path: &str) -> Result<Vec<Sample>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            Some(Sample {
                t: v.get("t")?.as_f64()?,
                in_flight: v.get("in_flight")?.as_f64()?,
                mbps: v.get("mbps")?.as_f64()?,
            })
        })
        .collect())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((out, series)) = args.split_first() else {
        return Err("usage: ferry-bench-plot OUT.svg LABEL=SAMPLES.jsonl ...".into());
    };
    let mut charts = Vec::new();
    for s in series {
        let (label, path) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not LABEL=SAMPLES.jsonl"))?;
        charts.push((label.to_string(), read(path)?));
    }
    let root = SVGBackend::new(out, (900, 320 * charts.len().max(1) as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    for ((label, samples), area) in charts.iter().zip(root.split_evenly((charts.len(), 1))) {
        let t_max = samples.iter().map(|s| s.t).fold(1.0, f64::max);
        let n_max = samples.iter().map(|s| s.in_flight).fold(1.0, f64::max) * 1.1;
        let r_max = samples.iter().map(|s| s.mbps).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(&area)
            .caption(label, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .right_y_label_area_size(60)
            .build_cartesian_2d(0.0..t_max, 0.0..n_max)?
            .set_secondary_coord(0.0..t_max, 0.0..r_max);
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("parts in flight")
            .draw()?;
        chart.configure_secondary_axes().y_desc("MB/s").draw()?;
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|s| (s.t, s.in_flight)),
                BLUE.stroke_width(2),
            ))?
            .label("parts in flight")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
        chart
            .draw_secondary_series(LineSeries::new(
                samples.iter().map(|s| (s.t, s.mbps)),
                RED.stroke_width(2),
            ))?
            .label("MB/s")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
