//! `fleet --svg`: fetches per minute over the window, one line per configuration (plotters'
//! SVG backend). The preview itself is the core's (`sip_resync::fleet`); only its drawing is
//! here, so that no library carries plotters.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use plotters::prelude::*;
use sip_resync::fleet::Preview;

/// Why the plot could not be drawn.
#[derive(Debug)]
pub(crate) struct PlotError(String);

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot draw the plot: {}", self.0)
    }
}

/// `2026-03-10T02:00:00+01:00`.
fn instant(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

const SIZE: (u32, u32) = (960, 480);

fn plot_error(e: impl std::fmt::Display) -> PlotError {
    PlotError(e.to_string())
}

/// Hours between x labels: at most 12 labels over the window.
fn label_step_hours(hours: u32) -> u32 {
    [1, 2, 3, 6, 12, 24, 48, 96, 168]
        .into_iter()
        .find(|step| hours / step <= 12)
        .unwrap_or(168)
}

/// The SVG plot of a preview.
pub(crate) fn plot(p: &Preview) -> Result<String, PlotError> {
    let zone = p
        .series
        .first()
        .map_or(jiff::tz::TimeZone::UTC, |s| s.zone.clone());
    let minutes = p.hours * 60;
    let top = p
        .series
        .iter()
        .flat_map(|s| s.per_minute.iter().copied())
        .max()
        .unwrap_or(0);
    // Head room above the highest line for the legend.
    let y_max = (u64::from(top) * 5 / 4).max(10) as u32;
    let step = label_step_hours(p.hours) * 60;
    let keys: Vec<u32> = (0..=minutes).step_by(step as usize).collect();
    let label = |m: &u32| {
        let at = p
            .from
            .checked_add(SignedDuration::from_secs(i64::from(*m) * 60))
            .unwrap_or(Timestamp::MAX);
        let full = instant(at, &zone);
        // 2026-03-10T02:00:00+01:00 -> 03-10 02:00
        format!("{} {}", &full[5..10], &full[11..16])
    };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let caption = format!("{} phones per configuration, fetches per minute", p.phones);
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(16)
            .margin_right(48)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d((0..minutes).with_key_points(keys), 0..y_max)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(format!(
                "local time ({})",
                zone.iana_name().unwrap_or("the configuration's zone")
            ))
            .y_desc("fetches per minute")
            .x_label_formatter(&label)
            .disable_x_mesh()
            .draw()
            .map_err(plot_error)?;
        for (i, s) in p.series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let points = s.per_minute.iter().enumerate().map(|(m, &n)| (m as u32, n));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(plot_error)?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(out)
}
