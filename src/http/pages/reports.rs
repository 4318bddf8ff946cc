//! The Reports page for supervisors and admins: the desk's figures over a range, charts
//! of deflection, waits, first responses, handle times and ratings, the largest knowledge
//! gaps, and the calls as CSV.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::gaps::{RangeQuery, gap_rows, range_error_page};
use super::session::PageUser;
use super::{PageError, charts, render};
use crate::engine::Report;
use crate::error::Error;
use crate::http::AppState;

/// Knowledge gaps the page lists; the gaps page has them all.
const GAPS_SHOWN: usize = 5;

/// "42%", or "–" without data.
fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

/// A duration in words a supervisor reads at a glance: "45 s", "3 min 20 s", "2 h 5 min";
/// "–" without data.
fn duration(secs: Option<f64>) -> String {
    let Some(secs) = secs else {
        return "–".to_owned();
    };
    let secs = secs.round() as u64;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 if secs.is_multiple_of(60) => format!("{} min", secs / 60),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// "2026-11-01 09:00" (UTC), the range's ends as the page states them.
fn readable_utc(at: crate::domain::Millis) -> String {
    super::self_service::to_the_minute(crate::domain::Timestamp(at))
}

/// A chart as a `data:` URL for an `<img>`: the page's templates never insert markup
/// unescaped, and an SVG shown as an image runs nothing (the CSP allows `data:` images).
fn chart(drawn: anyhow::Result<String>) -> Result<String, PageError> {
    let svg = drawn.map_err(|e| PageError::from(Error::Internal(e.context("drawing a chart"))))?;
    Ok(format!(
        "data:image/svg+xml;charset=utf-8,{}",
        utf8_percent_encode(&svg, NON_ALPHANUMERIC)
    ))
}

fn figures(report: &Report) -> Value {
    let i = &report.insights;
    json!({
        "calls": i.calls,
        "bot_resolved": i.bot_resolved,
        "deflection": percent(i.deflection_rate),
        "handed_off": i.handed_off,
        "abandoned": i.abandoned,
        "abandonment": percent(i.abandonment_rate),
        "wait_p50": duration(i.wait_secs.p50),
        "wait_p90": duration(i.wait_secs.p90),
        "first_response_p50": duration(i.first_response_secs.p50),
        "first_response_p90": duration(i.first_response_secs.p90),
        "handle_p50": duration(i.handle_secs.p50),
        "handle_p90": duration(i.handle_secs.p90),
        "ratings": i.rating.responses,
        "rating_mean": i.rating.mean.map_or_else(|| "–".to_owned(), |m| format!("{m:.1}")),
        "rating_share": percent(i.rating.share_4_or_5),
    })
}

pub async fn reports_page(
    State(state): State<AppState>,
    page: PageUser,
    Query(range): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let reader = page.user.as_insights_reader()?;
    let range = range.or_recent_days();
    let (from, to) = (range.from.as_deref(), range.to.as_deref());
    let (report, gaps) = match async {
        let asked = range.parse()?;
        tokio::try_join!(
            state.reports.report(reader, asked),
            state.reports.knowledge_gaps(reader.into(), asked)
        )
    }
    .await
    {
        Ok(both) => both,
        Err(e) => return range_error_page(&state, &page, ("reports", "Reports"), &range, e),
    };
    let encode =
        |s: Option<&str>| utf8_percent_encode(s.unwrap_or_default(), NON_ALPHANUMERIC).to_string();
    let mut rows = gap_rows(&gaps.groups);
    rows.truncate(GAPS_SHOWN);
    render(
        &state,
        StatusCode::OK,
        "reports",
        "Reports",
        Some(&page),
        json!({
            "from": from,
            "to": to,
            "range_from": readable_utc(report.from),
            "range_to": readable_utc(report.to),
            "figures": figures(&report),
            "charts": {
                "outcomes": chart(charts::outcomes_by_day(&report.days))?,
                "deflection": chart(charts::deflection_by_day(&report.days))?,
                "waits": chart(charts::waits_by_day(&report.days))?,
                "handle": chart(charts::handle_time_histogram(&report.handle_secs))?,
                "ratings": chart(charts::ratings(&report.ratings))?,
            },
            "gaps": rows,
            "more_gaps": gaps.groups.len().saturating_sub(GAPS_SHOWN),
            "csv_href": format!(
                "/api/v1/insights/calls.csv?from={}&to={}",
                encode(from),
                encode(to)
            ),
            "gaps_href": format!("/knowledge/gaps?from={}&to={}", encode(from), encode(to)),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_words() {
        assert_eq!(duration(None), "–");
        assert_eq!(duration(Some(44.6)), "45 s");
        assert_eq!(duration(Some(180.0)), "3 min");
        assert_eq!(duration(Some(200.0)), "3 min 20 s");
        assert_eq!(duration(Some(7500.0)), "2 h 5 min");
        assert_eq!(percent(Some(0.256)), "26%");
    }
}
