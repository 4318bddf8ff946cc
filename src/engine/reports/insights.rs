//! Insights for supervisors: the desk's figures over the calls logged in a date range,
//! as a summary ([`Insights`]) and as one CSV row per call.

use super::ReportService;
use crate::domain::call::reference;
use crate::domain::insights::{CallHistory, DateRange, Day, Insights, by_day, rating_counts};
use crate::domain::user::InsightsReader;
use crate::domain::{Millis, rfc3339};
use crate::error::{Error, Result};

const DAY: Millis = 24 * 60 * 60 * 1000;
/// The longest range a report draws, a bar a day.
const REPORT_DAYS_MAX: i64 = 366;

/// The CSV export's columns, in order.
const CSV_HEADER: [&str; 8] = [
    "reference",
    "logged_at",
    "outcome",
    "wait_secs",
    "first_response_secs",
    "handle_secs",
    "analyst",
    "rating",
];

/// What the Reports page shows, from one read of the history.
pub struct Report {
    /// The range, `[from, to)` in milliseconds.
    pub from: Millis,
    pub to: Millis,
    pub insights: Insights,
    /// Every day of the range, oldest first.
    pub days: Vec<Day>,
    /// Ratings by score, 1 to 5.
    pub ratings: [u64; 5],
    /// Every handle time of the range, seconds.
    pub handle_secs: Vec<f64>,
}

impl ReportService {
    /// The desk's figures over the calls logged in `range`.
    /// For an [`InsightsReader`] only.
    pub async fn insights(&self, _: InsightsReader, range: DateRange) -> Result<Insights> {
        Ok(Insights::of(&self.history(range).await?.2))
    }

    /// The Reports page's figures over the range; rights and range as [`Self::insights`],
    /// and `invalid` for a range over [`REPORT_DAYS_MAX`] days.
    pub async fn report(&self, _: InsightsReader, range: DateRange) -> Result<Report> {
        let (from, to) = range.resolve(self.now())?;
        if to - from > REPORT_DAYS_MAX * DAY {
            return Err(Error::invalid(
                "from",
                format!("a report covers at most {REPORT_DAYS_MAX} days"),
            ));
        }
        let history = self.store.call_history(from, to).await?;
        Ok(Report {
            from,
            to,
            insights: Insights::of(&history),
            days: by_day(&history, from, to),
            ratings: rating_counts(&history),
            handle_secs: history
                .iter()
                .filter_map(CallHistory::handle_secs)
                .collect(),
        })
    }

    /// One CSV row per call logged in the range (header [`CSV_HEADER`]), oldest first:
    /// times in seconds, empty where a call has no such time.
    pub async fn insights_csv(&self, _: InsightsReader, range: DateRange) -> Result<Vec<u8>> {
        let (_, _, history) = self.history(range).await?;
        calls_csv(&history).map_err(|e| Error::internal("writing the calls CSV", e))
    }

    async fn history(&self, range: DateRange) -> Result<(Millis, Millis, Vec<CallHistory>)> {
        let (from, to) = range.resolve(self.now())?;
        Ok((from, to, self.store.call_history(from, to).await?))
    }
}

/// A cell that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return) gets a leading apostrophe (OWASP, "CSV Injection").
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn calls_csv(history: &[CallHistory]) -> std::result::Result<Vec<u8>, csv::Error> {
    let secs = |v: Option<f64>| v.map(|s| s.to_string()).unwrap_or_default();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_HEADER)?;
    for c in history {
        out.write_record([
            reference(c.call_id),
            rfc3339(c.logged_at),
            c.outcome().to_string(),
            secs(c.wait_secs()),
            secs(c.first_response_secs()),
            secs(c.handle_secs()),
            c.analyst.as_deref().map(cell).unwrap_or_default(),
            c.rating.map(|r| r.to_string()).unwrap_or_default(),
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chat::ChatStatus;
    use crate::domain::ids::CallId;

    #[test]
    fn ranges_take_times_and_whole_days() {
        let range = |f, t| DateRange::parse(f, t).and_then(|r| r.resolve(0));
        let (from, to) = range(Some("2026-11-01"), Some("2026-11-01")).unwrap();
        assert_eq!(to - from, DAY, "a date as `to` includes its day");
        let (from, _) = DateRange::parse(Some("2026-11-01T09:00:00Z"), None)
            .unwrap()
            .resolve(from + 2 * DAY)
            .unwrap();
        assert_eq!(from % DAY, 9 * 60 * 60 * 1000);
        let (from, to) = DateRange::default().resolve(100 * DAY).unwrap();
        assert_eq!((from, to), (70 * DAY, 100 * DAY));
        for (f, t) in [
            (Some("yesterday"), None),
            (Some("2026-11-02"), Some("2026-11-01")),
        ] {
            assert!(
                matches!(range(f, t), Err(Error::Invalid { .. })),
                "{f:?} {t:?}"
            );
        }
    }

    #[test]
    fn the_csv_has_a_row_per_call_and_no_formulas() {
        let history = [CallHistory {
            call_id: CallId(7),
            logged_at: 0,
            resolved: true,
            accepted_suggestion: false,
            queued_at: Some(1_000),
            accepted_at: Some(31_500),
            first_response_at: Some(36_500),
            ended_at: Some(331_500),
            ended_from: Some(ChatStatus::Active),
            analyst: Some("=cmd".into()),
            rating: Some(4),
        }];
        let text = String::from_utf8(calls_csv(&history).unwrap()).unwrap();
        for hidden in ["\t=1+1", "\r=1+1"] {
            assert!(cell(hidden).starts_with('\''), "{hidden:?}");
        }
        assert_eq!(
            text,
            "reference,logged_at,outcome,wait_secs,first_response_secs,handle_secs,analyst,rating\n\
             CALL-000007,1970-01-01T00:00:00Z,analyst_resolved,30.5,5,300,'=cmd,4\n"
        );
    }
}
