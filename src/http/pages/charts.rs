//! The Reports page's charts, drawn on the server as SVG with `plotters`: no script, so
//! they obey the pages' Content-Security-Policy and print as they show. Only numbers and
//! fixed words are drawn; every caption people read is in the page's HTML.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::domain::Millis;
use crate::domain::insights::Day;

const SIZE: (u32, u32) = (720, 260);
const FONT: &str = "sans-serif";
/// The outcome colours, matched by the page's legend and badges.
const BOT: RGBColor = RGBColor(22, 128, 92);
const ANALYST: RGBColor = RGBColor(37, 99, 185);
const ABANDONED: RGBColor = RGBColor(196, 58, 49);
const OPEN: RGBColor = RGBColor(150, 156, 166);
const MESH: RGBColor = RGBColor(228, 231, 236);

type Drawn = anyhow::Result<String>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type Label<'a> = &'a dyn Fn(&f64) -> String;

/// What sets one chart apart from the others: its size, its axes' ranges, how their
/// ticks read, and their names.
struct Axes<'a> {
    size: (u32, u32),
    x: Range<f64>,
    y: Range<f64>,
    x_ticks: usize,
    x_label: Label<'a>,
    y_label: Label<'a>,
    x_name: Option<&'a str>,
    y_name: Option<&'a str>,
}

/// Draws one chart: a white ground, a light horizontal mesh and the axes of `axes`, then
/// whatever `series` draws on it.
fn draw(axes: Axes<'_>, series: impl FnOnce(&mut Chart<'_, '_>) -> anyhow::Result<()>) -> Drawn {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, axes.size).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            // Room below the ticks for the axis name, when there is one.
            .x_label_area_size(if axes.x_name.is_some() { 44 } else { 28 })
            .y_label_area_size(44)
            .build_cartesian_2d(axes.x, axes.y)?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(MESH)
            .x_labels(axes.x_ticks)
            .x_label_formatter(axes.x_label)
            .y_label_formatter(axes.y_label)
            .label_style((FONT, 13));
        if let Some(name) = axes.x_name {
            mesh.x_desc(name);
        }
        if let Some(name) = axes.y_name {
            mesh.y_desc(name);
        }
        mesh.draw()?;
        series(&mut chart)?;
        root.present()?;
    }
    Ok(svg)
}

/// A line through `points` with a dot on each.
fn line(chart: &mut Chart<'_, '_>, points: &[(f64, f64)], colour: RGBColor) -> anyhow::Result<()> {
    chart.draw_series(LineSeries::new(
        points.iter().copied(),
        colour.stroke_width(2),
    ))?;
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    Ok(())
}

/// The points of a per-day value, on the days that have one.
fn per_day(days: &[Day], value: impl Fn(&Day) -> Option<f64>) -> Vec<(f64, f64)> {
    days.iter()
        .enumerate()
        .filter_map(|(i, d)| Some((i as f64, value(d)?)))
        .collect()
}

/// "Nov 3" for the day that starts at `start`.
fn day_label(start: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp(start.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[month repr:short] [day padding:none]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// The day centred on `x` (day `i` is drawn at `x = i`), as an axis label; nothing
/// between days.
fn day_at(days: &[Day], x: f64) -> String {
    if (x - x.round()).abs() > 1e-6 || x < 0.0 {
        return String::new();
    }
    days.get(x.round() as usize)
        .map(|d| day_label(d.start))
        .unwrap_or_default()
}

/// The x range of a chart of `days`, one unit per day, each centred on its index.
fn day_range(days: &[Day]) -> std::ops::Range<f64> {
    -0.5..days.len().max(1) as f64 - 0.5
}

/// A round upper bound for an axis that must show `max` (at least 5, so that whole
/// counts get whole ticks).
fn headroom(max: f64) -> f64 {
    if max <= 5.0 {
        return 5.0;
    }
    let step = 10f64.powf(max.log10().floor());
    ((max * 1.1) / step).ceil() * step
}

/// A whole number, for the count axes.
fn whole(y: &f64) -> String {
    if (y - y.round()).abs() < 1e-6 {
        format!("{y:.0}")
    } else {
        String::new()
    }
}

/// Calls a day, stacked by outcome: bot resolved at the bottom, then analyst resolved,
/// abandoned and still open. The bot's share of each bar is that day's deflection.
pub fn outcomes_by_day(days: &[Day]) -> Drawn {
    let axes = Axes {
        size: SIZE,
        x: day_range(days),
        y: 0.0..headroom(days.iter().map(Day::calls).max().unwrap_or(0) as f64),
        x_ticks: days.len().clamp(1, 10),
        x_label: &|x| day_at(days, *x),
        y_label: &whole,
        x_name: None,
        y_name: Some("calls"),
    };
    draw(axes, |chart| {
        for (layer, colour) in [(0, BOT), (1, ANALYST), (2, ABANDONED), (3, OPEN)] {
            chart.draw_series(days.iter().enumerate().map(|(i, d)| {
                let stack = [d.bot_resolved, d.analyst_resolved, d.abandoned, d.open];
                let below: u64 = stack[..layer].iter().sum();
                let x = i as f64;
                Rectangle::new(
                    [
                        (x - 0.38, below as f64),
                        (x + 0.38, (below + stack[layer]) as f64),
                    ],
                    colour.filled(),
                )
            }))?;
        }
        Ok(())
    })
}

/// Each day's deflection rate (the bot's share of the day's calls), in percent, as a line
/// with a point per day that had calls.
pub fn deflection_by_day(days: &[Day]) -> Drawn {
    let axes = Axes {
        size: SIZE,
        x: day_range(days),
        y: 0.0..100.0,
        x_ticks: days.len().clamp(1, 10),
        x_label: &|x| day_at(days, *x),
        y_label: &|y| format!("{y:.0}%"),
        x_name: None,
        y_name: None,
    };
    let points = per_day(days, |d| Some(d.deflection_rate()? * 100.0));
    draw(axes, |chart| line(chart, &points, BOT))
}

/// Each day's median wait (queued to accepted) and median first response (accepted to
/// the analyst's first message), in seconds: a line each, a point per day with data.
pub fn waits_by_day(days: &[Day]) -> Drawn {
    let waits = per_day(days, |d| d.wait_p50);
    let responses = per_day(days, |d| d.first_response_p50);
    let top = waits
        .iter()
        .chain(&responses)
        .map(|p| p.1)
        .fold(0.0, f64::max);
    let axes = Axes {
        size: SIZE,
        x: day_range(days),
        y: 0.0..headroom(top),
        x_ticks: days.len().clamp(1, 10),
        x_label: &|x| day_at(days, *x),
        y_label: &whole,
        x_name: None,
        y_name: Some("seconds"),
    };
    draw(axes, |chart| {
        line(chart, &waits, ABANDONED)?;
        line(chart, &responses, ANALYST)
    })
}

/// How many chats took how long to handle, in minutes: up to 20 bars of a round width,
/// the last one holding everything longer.
pub fn handle_time_histogram(handle_secs: &[f64]) -> Drawn {
    let mut sorted: Vec<f64> = handle_secs.iter().map(|s| s / 60.0).collect();
    sorted.sort_by(f64::total_cmp);
    let p95 = crate::domain::insights::nearest_rank(&sorted, 95).unwrap_or(1.0);
    let width = (p95 / 20.0).ceil().max(1.0);
    let bars = ((p95 / width).ceil() as usize + 1).clamp(1, 21);
    let mut counts = vec![0u64; bars];
    for m in &sorted {
        counts[((m / width).floor() as usize).min(bars - 1)] += 1;
    }
    let axes = Axes {
        size: SIZE,
        x: 0.0..bars as f64 * width,
        y: 0.0..headroom(counts.iter().copied().max().unwrap_or(0) as f64),
        x_ticks: bars.min(11),
        x_label: &|x| format!("{x:.0}"),
        y_label: &whole,
        x_name: Some("minutes"),
        y_name: Some("chats"),
    };
    draw(axes, |chart| {
        chart.draw_series(counts.iter().enumerate().map(|(i, &n)| {
            let x = i as f64 * width;
            Rectangle::new(
                [(x + width * 0.08, 0.0), (x + width * 0.92, n as f64)],
                ANALYST.filled(),
            )
        }))?;
        Ok(())
    })
}

/// How many ratings gave each score, 1 to 5.
pub fn ratings(counts: &[u64; 5]) -> Drawn {
    let axes = Axes {
        size: SIZE,
        x: 0.5..5.5,
        y: 0.0..headroom(counts.iter().copied().max().unwrap_or(0) as f64),
        x_ticks: 5,
        x_label: &|x| format!("{x:.0}"),
        y_label: &whole,
        x_name: Some("score"),
        y_name: Some("ratings"),
    };
    draw(axes, |chart| {
        chart.draw_series(counts.iter().enumerate().map(|(i, &n)| {
            let x = i as f64 + 1.0;
            let colour = if i >= 3 {
                BOT
            } else if i == 2 {
                OPEN
            } else {
                ABANDONED
            };
            Rectangle::new([(x - 0.35, 0.0), (x + 0.35, n as f64)], colour.filled())
        }))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_a_bar_per_day_and_labels() {
        let days = [
            Day {
                start: 0,
                bot_resolved: 3,
                analyst_resolved: 1,
                ..Day::default()
            },
            Day {
                start: 24 * 3600 * 1000,
                open: 2,
                wait_p50: Some(40.0),
                ..Day::default()
            },
        ];
        let outcomes = outcomes_by_day(&days).unwrap();
        assert!(outcomes.starts_with("<svg"), "{outcomes}");
        assert!(outcomes.contains("Jan 1") && outcomes.contains("Jan 2"));
        assert_eq!(
            outcomes.matches("fill=\"#16805C\"").count(),
            2,
            "a bot bar a day"
        );
        for svg in [
            deflection_by_day(&days).unwrap(),
            waits_by_day(&days).unwrap(),
            handle_time_histogram(&[30.0, 600.0, 6000.0]).unwrap(),
            handle_time_histogram(&[]).unwrap(),
            ratings(&[0, 0, 1, 2, 5]).unwrap(),
            outcomes_by_day(&[]).unwrap(),
        ] {
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        }
    }
}
