//! The run as a page: latency (p50, p99) and answers per second over time, drawn with plotters'
//! SVG backend (no fonts or native libraries needed), with the report's table underneath.

use plotters::prelude::*;

use crate::report::Report;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 360;

/// A self-contained HTML page for `report`.
pub fn html(report: &Report) -> anyhow::Result<String> {
    let latency = latency_chart(report)?;
    let rate = rate_chart(report)?;
    let table = escape(&report.table());
    Ok(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>tacos-load: {scenario}</title></head>\n\
         <body style=\"font-family: sans-serif\">\n<h1>tacos-load: {scenario}</h1>\n{latency}\n{rate}\n<pre>{table}</pre>\n</body></html>\n",
        scenario = report.scenario,
    ))
}

fn latency_chart(report: &Report) -> anyhow::Result<String> {
    let points = &report.timeline;
    let seconds = points.len().max(1) as f64;
    let top = points
        .iter()
        .map(|p| p.p99_ms)
        .fold(1.0_f64, f64::max)
        .max(1.0)
        * 1.2;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "latency of requests due in each second (ms)",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..seconds, (0.01..top).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("second of the run")
            .y_desc("ms")
            .draw()?;
        let line = |pick: fn(&crate::record::SecondSummary) -> f64| {
            points
                .iter()
                .map(move |p| (p.second as f64, pick(p).max(0.01)))
        };
        chart
            .draw_series(LineSeries::new(line(|p| p.p50_ms), &BLUE))?
            .label("p50")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(LineSeries::new(line(|p| p.p99_ms), &RED))?
            .label("p99")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        chart.configure_series_labels().border_style(BLACK).draw()?;
        root.present()?;
    }
    Ok(svg)
}

fn rate_chart(report: &Report) -> anyhow::Result<String> {
    let points = &report.timeline;
    let seconds = points.len().max(1) as f64;
    let top = points
        .iter()
        .map(|p| (p.ok + p.errors) as f64)
        .fold(1.0_f64, f64::max)
        * 1.2;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "answers per second (by the second they were due)",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..seconds, 0.0..top)?;
        chart.configure_mesh().x_desc("second of the run").draw()?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.second as f64, p.ok as f64)),
                &GREEN,
            ))?
            .label("2xx")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], GREEN));
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.second as f64, p.errors as f64)),
                &RED,
            ))?
            .label("errors")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        chart.configure_series_labels().border_style(BLACK).draw()?;
        root.present()?;
    }
    Ok(svg)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
