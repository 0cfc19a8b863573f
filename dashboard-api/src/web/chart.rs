//! Usage charts as SVG drawn on the server: no JavaScript needed to see them.

use maud::{Markup, html};

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 140.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 22.0;

/// A bar chart of `points` (label, value), titled, with its unit.
pub fn bars(title: &str, unit: &str, points: &[(String, f64)]) -> Markup {
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let scale = if max > 0.0 {
        (HEIGHT - BOTTOM - 8.0) / max
    } else {
        0.0
    };
    let slot = if points.is_empty() {
        0.0
    } else {
        (WIDTH - LEFT) / points.len() as f64
    };
    let bar = (slot * 0.7).max(1.0);
    let summary = format!(
        "{title}: {} points, highest {} {unit}",
        points.len(),
        round(max)
    );
    html! {
        figure {
            svg role="img" aria-label=(summary) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } width="100%" {
                title { (summary) }
                line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#d8dee4" {}
                text x="0" y="12" { (round(max)) }
                text x="0" y=(HEIGHT - BOTTOM) { "0" }
                @for (i, (label, value)) in points.iter().enumerate() {
                    @let h = value * scale;
                    @let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
                    rect x=(x) y=(HEIGHT - BOTTOM - h) width=(bar) height=(h) fill="#0b5fff" {
                        title { (label) ": " (round(*value)) " " (unit) }
                    }
                    @if points.len() <= 12 || i % (points.len() / 6).max(1) == 0 {
                        text x=(x) y=(HEIGHT - 6.0) { (label) }
                    }
                }
            }
            figcaption { (title) " (" (unit) ")" }
        }
    }
}

fn round(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_scaled_to_the_highest_and_labelled() {
        let svg = bars(
            "Node-hours",
            "h",
            &[("11-24".into(), 12.0), ("11-25".into(), 24.0)],
        )
        .into_string();
        assert!(
            svg.contains(r#"aria-label="Node-hours: 2 points, highest 24.00 h""#),
            "{svg}"
        );
        // The highest bar fills the plot height; the other is half of it.
        assert!(svg.contains(r#"height="110""#), "{svg}");
        assert!(svg.contains(r#"height="55""#), "{svg}");
        assert!(svg.contains("11-25: 24.00 h"));
    }

    #[test]
    fn no_usage_draws_an_empty_chart() {
        let svg = bars("GPU-hours", "h", &[]).into_string();
        assert!(svg.contains("0 points, highest 0.00 h"));
        assert!(!svg.contains("<rect"));
    }
}
