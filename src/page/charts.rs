//! The report's charts, each an SVG document drawn by plotters into a
//! string: the search's trajectory, feature importance, and each task's
//! view of the winner.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::data::{Curve, Step};
use crate::model::Importance;

/// Width and height of a chart, in pixels.
const SIZE: (u32, u32) = (640, 400);
/// Text style of titles and of axis labels.
const TITLE: (&str, u32) = ("sans-serif", 18);
const LABEL: (&str, u32) = ("sans-serif", 13);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), String>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn fail(e: impl std::fmt::Display) -> String {
    format!("drawing a chart: {e}")
}

/// Draws with `draw` on a white canvas of `size`; the SVG text.
fn svg(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Drawn) -> Result<String, String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        draw(&root)?;
        root.present().map_err(fail)?;
    }
    Ok(text)
}

/// The frame of a chart on `root`: its title, the `x` and `y` ranges, and
/// room for the axes' labels below (`below`) and to the left (`left`).
fn frame<'a, 'b>(
    root: &'a Area<'b>,
    title: impl AsRef<str>,
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    below: u32,
    left: u32,
) -> Result<Chart<'a, 'b>, String> {
    ChartBuilder::on(root)
        .caption(title.as_ref(), TITLE)
        .margin(12)
        .x_label_area_size(below)
        .y_label_area_size(left)
        .build_cartesian_2d(x, y)
        .map_err(fail)
}

/// The plain mesh of a chart, its axes described as `axes`.
fn mesh(chart: &mut Chart<'_, '_>, axes: (&str, &str)) -> Drawn {
    chart
        .configure_mesh()
        .x_desc(axes.0)
        .y_desc(axes.1)
        .label_style(LABEL)
        .draw()
        .map_err(fail)
}

/// A range around `values` with a little room, never empty.
fn span(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    lo - pad..hi + pad
}

/// Each family's best primary metric so far against the run's seconds.
pub fn trajectory(steps: &[Step], metric: &str, higher_is_better: bool) -> Result<String, String> {
    let mut families: Vec<&str> = steps.iter().map(|s| s.family.as_str()).collect();
    families.sort_unstable();
    families.dedup();
    let end = steps.iter().map(|s| s.seconds).fold(0.0, f64::max);
    let lines: Vec<Vec<(f64, f64)>> = families
        .iter()
        .map(|f| {
            best_so_far(
                steps.iter().filter(|s| s.family == *f),
                higher_is_better,
                end,
            )
        })
        .collect();
    let x = span(steps.iter().map(|s| s.seconds).chain([0.0]));
    let y = span(lines.iter().flatten().map(|p| p.1));
    svg(SIZE, |root| {
        let mut chart = frame(
            root,
            format!("Best {metric} so far, by family"),
            (x, y),
            40,
            60,
        )?;
        mesh(&mut chart, ("seconds since the start", metric))?;
        for (i, (family, line)) in families.iter().zip(lines).enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
                .map_err(fail)?
                .label(*family)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(line.into_iter().map(|p| Circle::new(p, 2, color.filled())))
                .map_err(fail)?;
        }
        legend(&mut chart)
    })
}

/// A step line of the best value so far: it holds until a step improves
/// on it, and runs on to `end`.
fn best_so_far<'a>(
    steps: impl Iterator<Item = &'a Step>,
    higher_is_better: bool,
    end: f64,
) -> Vec<(f64, f64)> {
    let mut line: Vec<(f64, f64)> = Vec::new();
    for s in steps {
        let better = match line.last() {
            None => true,
            Some(&(_, b)) => {
                (higher_is_better && s.value > b) || (!higher_is_better && s.value < b)
            }
        };
        if better {
            if let Some(&(_, b)) = line.last() {
                line.push((s.seconds, b));
            }
            line.push((s.seconds, s.value));
        }
    }
    if let Some(&(_, b)) = line.last() {
        line.push((end, b));
    }
    line
}

fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
) -> Drawn {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(LABEL)
        .draw()
        .map_err(fail)
}

/// Horizontal bars of each input column's importance, most important at
/// the top, with its spread as a whisker.
pub fn importance(importance: &Importance) -> Result<String, String> {
    let shown: Vec<_> = importance.columns.iter().take(20).collect();
    let n = shown.len();
    let x = span(
        shown
            .iter()
            .flat_map(|c| [c.importance - c.std, c.importance + c.std])
            .chain([0.0]),
    );
    let names: Vec<String> = shown.iter().map(|c| c.column.clone()).collect();
    let height = (120 + 24 * n as u32).max(200);
    svg((SIZE.0, height), |root| {
        let mut chart = frame(
            root,
            "Feature importance",
            (x, -0.5..n as f64 - 0.5),
            40,
            150,
        )?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n.max(1))
            .y_label_formatter(&|y| {
                let i = y.round();
                let at = n as f64 - 1.0 - i;
                if (y - i).abs() < 1e-6 && at >= 0.0 {
                    names.get(at as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc(importance.measure.clone())
            .label_style(LABEL)
            .draw()
            .map_err(fail)?;
        let bar = Palette99::pick(0).to_rgba();
        chart
            .draw_series(shown.iter().enumerate().map(|(i, c)| {
                let y = (n - 1 - i) as f64;
                Rectangle::new([(0.0, y - 0.35), (c.importance, y + 0.35)], bar.filled())
            }))
            .map_err(fail)?;
        chart
            .draw_series(shown.iter().enumerate().map(|(i, c)| {
                let y = (n - 1 - i) as f64;
                let ends = vec![(c.importance - c.std, y), (c.importance + c.std, y)];
                PathElement::new(ends, BLACK.stroke_width(1))
            }))
            .map_err(fail)?;
        Ok(())
    })
}

/// Curves (one per class) with axes named `x` and `y`; the diagonal for
/// a ROC chart.
pub fn curves(
    title: &str,
    curves: &[Curve],
    axes: (&str, &str),
    diagonal: bool,
) -> Result<String, String> {
    svg(SIZE, |root| {
        let mut chart = frame(root, title, (0.0..1.0, 0.0..1.02), 40, 50)?;
        mesh(&mut chart, (axes.0, axes.1))?;
        if diagonal {
            let line = LineSeries::new(vec![(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3));
            chart.draw_series(line).map_err(fail)?;
        }
        for (i, c) in curves.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(c.points.clone(), color.stroke_width(2)))
                .map_err(fail)?
                .label(format!("{} ({:.3})", c.class, c.area))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        legend(&mut chart)
    })
}

/// The confusion matrix as a grid, each cell shaded by its share of its
/// actual class and labelled with its count.
pub fn confusion(classes: &[String], counts: &[Vec<usize>]) -> Result<String, String> {
    let k = classes.len();
    let side = (160 + 48 * k as u32).clamp(320, 900);
    svg((side, side), |root| {
        let mut chart = frame(
            root,
            "Confusion matrix (out of fold)",
            (-0.5..k as f64 - 0.5, -0.5..k as f64 - 0.5),
            50,
            90,
        )?;
        let name = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                classes.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let flipped = |v: &f64| name(&(k as f64 - 1.0 - v));
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(k)
            .y_labels(k)
            .x_label_formatter(&name)
            .y_label_formatter(&flipped)
            .x_desc("predicted")
            .y_desc("actual")
            .label_style(LABEL)
            .draw()
            .map_err(fail)?;
        for (a, row) in counts.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            let y = (k - 1 - a) as f64;
            for (p, &n) in row.iter().enumerate() {
                let share = n as f64 / total;
                let fill = RGBColor(
                    255 - (share * 200.0) as u8,
                    255 - (share * 120.0) as u8,
                    255,
                );
                let cell = [(p as f64 - 0.5, y - 0.5), (p as f64 + 0.5, y + 0.5)];
                chart
                    .draw_series([Rectangle::new(cell, fill.filled())])
                    .map_err(fail)?;
                let text = Text::new(n.to_string(), (p as f64 - 0.1, y), LABEL);
                chart.draw_series([text]).map_err(fail)?;
            }
        }
        Ok(())
    })
}

/// A scatter of `points` with a reference line through `line`.
pub fn scatter(
    title: &str,
    points: &[(f64, f64)],
    axes: (&str, &str),
    line: Option<[(f64, f64); 2]>,
) -> Result<String, String> {
    let x = span(points.iter().map(|p| p.0));
    let y = span(points.iter().map(|p| p.1));
    svg(SIZE, |root| {
        let mut chart = frame(root, title, (x, y), 40, 60)?;
        mesh(&mut chart, (axes.0, axes.1))?;
        let dot = Palette99::pick(0).mix(0.5);
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 2, dot.filled())))
            .map_err(fail)?;
        if let Some(ends) = line {
            chart
                .draw_series(LineSeries::new(ends.to_vec(), BLACK.mix(0.6)))
                .map_err(fail)?;
        }
        Ok(())
    })
}

/// Rows on the plane of their first two principal components, coloured
/// by cluster (noise, -1, in grey).
pub fn projection(points: &[(f64, f64, i64)]) -> Result<String, String> {
    let x = span(points.iter().map(|p| p.0));
    let y = span(points.iter().map(|p| p.1));
    svg(SIZE, |root| {
        let mut chart = frame(
            root,
            "Clusters on the first two principal components",
            (x, y),
            40,
            50,
        )?;
        mesh(&mut chart, ("component 1", "component 2"))?;
        chart
            .draw_series(points.iter().map(|&(a, b, c)| {
                let color = if c < 0 {
                    BLACK.mix(0.3)
                } else {
                    Palette99::pick(c as usize).mix(0.7)
                };
                Circle::new((a, b), 3, color.filled())
            }))
            .map_err(fail)?;
        Ok(())
    })
}

/// Vertical bars: a count per label.
pub fn bars(title: &str, bars: &[(String, usize)], axes: (&str, &str)) -> Result<String, String> {
    let n = bars.len();
    let top = bars.iter().map(|b| b.1).max().unwrap_or(1) as f64 * 1.1;
    svg(SIZE, |root| {
        let mut chart = frame(
            root,
            title,
            (-0.5..n as f64 - 0.5, 0.0..top.max(1.0)),
            40,
            60,
        )?;
        let name = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                bars.get(i as usize)
                    .map(|b| b.0.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.max(1))
            .x_label_formatter(&name)
            .x_desc(axes.0)
            .y_desc(axes.1)
            .label_style(LABEL)
            .draw()
            .map_err(fail)?;
        let fill = Palette99::pick(0).to_rgba();
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                Rectangle::new(
                    [(i as f64 - 0.35, 0.0), (i as f64 + 0.35, b.1 as f64)],
                    fill.filled(),
                )
            }))
            .map_err(fail)?;
        Ok(())
    })
}

/// A histogram of anomaly scores with the threshold as a vertical line.
pub fn histogram(scores: &[f64], threshold: f64) -> Result<String, String> {
    const BINS: usize = 40;
    let range = span(scores.iter().copied().chain([threshold]));
    let width = (range.end - range.start) / BINS as f64;
    let mut counts = [0usize; BINS];
    for s in scores.iter().filter(|s| s.is_finite()) {
        let b = ((s - range.start) / width) as usize;
        counts[b.min(BINS - 1)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1) as f64 * 1.1;
    svg(SIZE, |root| {
        let mut chart = frame(
            root,
            "Anomaly scores and the threshold",
            (range.clone(), 0.0..top.max(1.0)),
            40,
            60,
        )?;
        mesh(&mut chart, ("anomaly score", "rows"))?;
        let fill = Palette99::pick(0).to_rgba();
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let left = range.start + i as f64 * width;
                Rectangle::new([(left, 0.0), (left + width, c as f64)], fill.filled())
            }))
            .map_err(fail)?;
        if threshold.is_finite() {
            let line = vec![(threshold, 0.0), (threshold, top)];
            chart
                .draw_series(LineSeries::new(line, RED.stroke_width(2)))
                .map_err(fail)?
                .label(format!("threshold {threshold:.4}"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
            legend(&mut chart)?;
        }
        Ok(())
    })
}
