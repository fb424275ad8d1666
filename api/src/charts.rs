//! Charts the API draws as SVG (plotters), so the web app's pages and, later, PDF statements
//! show the same picture: an offering's progress and a rehab project's budget against what was
//! committed and drawn.
//!
//! Amounts are plotted in whole units (shares, dollars rounded down), so no float carries money.

use plotters::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::error::{Error, Result};

/// A chart's size in pixels.
const SIZE: (u32, u32) = (640, 300);

const BLUE: RGBColor = RGBColor(10, 77, 140);
const GREEN: RGBColor = RGBColor(27, 94, 32);
const GREY: RGBColor = RGBColor(170, 170, 170);

fn chart_err(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("drawing a chart: {e}"))
}

/// Whole units of a decimal amount (rounded down; negative as zero).
pub fn whole(text: &str) -> i64 {
    text.parse::<Decimal>()
        .ok()
        .and_then(|d| d.trunc().to_i64())
        .unwrap_or(0)
        .max(0)
}

/// Whole cents of a decimal amount (truncated).
pub fn cents(text: &str) -> i64 {
    text.parse::<Decimal>()
        .ok()
        .and_then(|d| (d * Decimal::ONE_HUNDRED).trunc().to_i64())
        .unwrap_or(0)
}

/// A bar of `value` over `max`, labelled: an offering's shares sold of those for sale.
pub fn progress(title: &str, label: &str, value: i64, max: i64) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (SIZE.0, 140)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        let max = max.max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(10)
            .build_cartesian_2d(0i64..max, 0i32..1i32)
            .map_err(chart_err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_labels(6)
            .x_desc(label)
            .draw()
            .map_err(chart_err)?;
        chart
            .draw_series([Rectangle::new([(0, 0), (max, 1)], GREY.mix(0.3).filled())])
            .map_err(chart_err)?;
        chart
            .draw_series([Rectangle::new([(0, 0), (value.min(max), 1)], BLUE.filled())])
            .map_err(chart_err)?;
        root.present().map_err(chart_err)?;
    }
    Ok(out)
}

/// Grouped bars: for each named line, its budget, committed and drawn amounts (whole dollars).
pub fn budget(title: &str, lines: &[(String, i64, i64, i64)]) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        let n = i64::try_from(lines.len()).unwrap_or(0).max(1);
        let top = lines
            .iter()
            .map(|l| l.1.max(l.2).max(l.3))
            .max()
            .unwrap_or(0)
            .max(1);
        let top = top + top / 10 + 1;
        let names: Vec<String> = lines.iter().map(|l| l.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0i64..n * 4, 0i64..top)
            .map_err(chart_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(usize::try_from(n).unwrap_or(1) * 4)
            .x_label_formatter(&|x| {
                if x % 4 == 1 {
                    names
                        .get(usize::try_from(x / 4).unwrap_or(0))
                        .cloned()
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("USD")
            .draw()
            .map_err(chart_err)?;
        for (k, color, label) in [
            (0, GREY, "budget"),
            (1, BLUE, "committed"),
            (2, GREEN, "drawn"),
        ] {
            chart
                .draw_series(lines.iter().enumerate().map(|(i, l)| {
                    let v = [l.1, l.2, l.3][k];
                    let x = i64::try_from(i).unwrap_or(0) * 4 + i64::try_from(k).unwrap_or(0);
                    Rectangle::new([(x, 0), (x + 1, v)], color.filled())
                }))
                .map_err(chart_err)?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(chart_err)?;
        root.present().map_err(chart_err)?;
    }
    Ok(out)
}

/// A step line of a balance over days (whole dollars), labelled with dates.
pub fn balance(title: &str, points: &[(chrono::NaiveDate, i64)]) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        let first = points.first().map(|p| p.0).unwrap_or_default();
        let last = points.last().map_or(first, |p| p.0);
        let span = (last - first).num_days().max(1);
        let top = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
        let top = top + top / 10 + 1;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(0i64..span, 0i64..top)
            .map_err(chart_err)?;
        chart
            .configure_mesh()
            .x_labels(5)
            .x_label_formatter(&|d| {
                (first + chrono::Duration::days(*d))
                    .format("%Y-%m-%d")
                    .to_string()
            })
            .y_desc("USD")
            .draw()
            .map_err(chart_err)?;
        // A balance holds until the next day that moves it.
        let mut steps = Vec::with_capacity(points.len() * 2);
        for (i, (d, v)) in points.iter().enumerate() {
            let x = (*d - first).num_days();
            if i > 0 {
                steps.push((x, points[i - 1].1));
            }
            steps.push((x, *v));
        }
        if let Some(&(_, v)) = points.last() {
            steps.push((span, v));
        }
        chart
            .draw_series(LineSeries::new(steps, BLUE.stroke_width(2)))
            .map_err(chart_err)?;
        root.present().map_err(chart_err)?;
    }
    Ok(out)
}

/// Bars of signed whole-dollar figures, one per label (a property's income, expenses and NOI).
pub fn figures(title: &str, bars: &[(String, i64)]) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        let top = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
        let bottom = bars.iter().map(|b| b.1).min().unwrap_or(0).min(0);
        let pad = (top - bottom) / 10 + 1;
        let n = i32::try_from(bars.len()).unwrap_or(i32::MAX).max(1);
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(
                (0..n - 1).into_segmented(),
                (bottom - if bottom < 0 { pad } else { 0 })..(top + pad),
            )
            .map_err(chart_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(labels.len())
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| labels.get(i))
                    .cloned()
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .y_desc("USD")
            .draw()
            .map_err(chart_err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let i = i32::try_from(i).unwrap_or(0);
                let color = if b.1 < 0 { GREY } else { BLUE };
                let mut r = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0),
                        (SegmentValue::Exact(i + 1), b.1),
                    ],
                    color.filled(),
                );
                r.set_margin(0, 0, 12, 12);
                r
            }))
            .map_err(chart_err)?;
        root.present().map_err(chart_err)?;
    }
    Ok(out)
}

/// A line of an area's median price per square foot by quarter (in cents, labelled in
/// dollars and cents).
pub fn trend(title: &str, quarters: &[(String, i64)]) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        let top = quarters.iter().map(|q| q.1).max().unwrap_or(0).max(1);
        let top = top + top / 10 + 1;
        let n = i64::try_from(quarters.len()).unwrap_or(i64::MAX).max(1);
        let names: Vec<String> = quarters.iter().map(|q| q.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(0i64..(n - 1).max(1), 0i64..top)
            .map_err(chart_err)?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|i| {
                usize::try_from(*i)
                    .ok()
                    .and_then(|i| names.get(i))
                    .cloned()
                    .unwrap_or_default()
            })
            .y_label_formatter(&|c| format!("{}.{:02}", c / 100, c % 100))
            .y_desc("USD per square foot")
            .draw()
            .map_err(chart_err)?;
        chart
            .draw_series(LineSeries::new(
                quarters
                    .iter()
                    .enumerate()
                    .map(|(i, q)| (i64::try_from(i).unwrap_or(0), q.1)),
                BLUE.stroke_width(2),
            ))
            .map_err(chart_err)?;
        chart
            .draw_series(
                quarters.iter().enumerate().map(|(i, q)| {
                    Circle::new((i64::try_from(i).unwrap_or(0), q.1), 3, BLUE.filled())
                }),
            )
            .map_err(chart_err)?;
        root.present().map_err(chart_err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_labels() {
        let p = progress("Offering", "shares sold", 600, 1000).unwrap();
        assert!(p.starts_with("<svg"), "{p}");
        assert!(p.contains("shares sold"), "{p}");
        let b = budget(
            "Rehab",
            &[
                ("roof".into(), 10_000, 9_000, 6_000),
                ("kitchen".into(), 8_000, 7_500, 7_500),
            ],
        )
        .unwrap();
        assert!(b.contains(">\nroof\n<") || b.contains("roof"), "{b}");
        assert!(b.contains("committed") && b.contains("drawn"), "{b}");
        let f = figures(
            "Twelve months",
            &[("Income".into(), 6_000), ("NOI".into(), -1_500)],
        )
        .unwrap();
        assert!(f.contains("Income") && f.contains("NOI"), "{f}");
        let t = trend(
            "Grinnell, IA",
            &[("2012-Q3".into(), 8_029), ("2012-Q4".into(), 8_267)],
        )
        .unwrap();
        assert!(
            t.contains("2012-Q3") && t.contains("80.") && t.contains("per square foot"),
            "{t}"
        );
        // One bar per line and amount, besides the background.
        assert!(b.matches("<rect").count() >= 6, "{b}");
        let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        let c = balance(
            "Cash",
            &[
                (day("2026-01-01"), 50_000),
                (day("2026-03-01"), 45_000),
                (day("2026-06-30"), 60_000),
            ],
        )
        .unwrap();
        assert!(c.contains("<polyline"), "{c}");
        assert!(c.contains("2026-01-01"), "{c}");
        assert!(balance("Cash", &[]).unwrap().starts_with("<svg"));
        assert_eq!(whole("1234.99"), 1234);
        assert_eq!(whole("-5"), 0);
    }
}
