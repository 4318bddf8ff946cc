//! The knowledge gaps page, beside Knowledge: the calls the bot could not help, grouped
//! by meaning, each with a link that starts a new article from the group (its typical
//! question as the title, its words as tags, the questions under Symptoms).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::PageUser;
use super::{PageError, render};
use crate::domain::capitalised;
use crate::domain::insights::DateRange;
use crate::engine::{GAP_CALLS, GapKind, KnowledgeGap};
use crate::error::Error;
use crate::http::AppState;

/// A date range as the page's form sends it (`YYYY-MM-DD`, either may be empty).
#[derive(Deserialize)]
pub struct RangeQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Days a page shows when no dates are chosen, today included.
const DEFAULT_DAYS: i64 = 30;

impl RangeQuery {
    /// The range the form names.
    ///
    /// # Errors
    /// `invalid` for dates that do not make a range (see [`DateRange::parse`]).
    pub fn parse(&self) -> Result<DateRange, Error> {
        DateRange::parse(self.from.as_deref(), self.to.as_deref())
    }

    /// Without dates, the last 30 whole days (UTC), today included, written into the form
    /// so the page says what it shows; a chart's first bar is then a whole day.
    pub fn or_recent_days(self) -> Self {
        let blank = |d: &Option<String>| d.as_deref().is_none_or(|d| d.trim().is_empty());
        if !(blank(&self.from) && blank(&self.to)) {
            return self;
        }
        let today = time::OffsetDateTime::now_utc().date();
        Self {
            from: Some((today - time::Duration::days(DEFAULT_DAYS - 1)).to_string()),
            to: Some(today.to_string()),
        }
    }
}

/// The page again, with its form and what is wrong with the dates (`422`), when the
/// engine found they do not make a range (`invalid`); any other error as itself.
pub fn range_error_page(
    state: &AppState,
    page: &PageUser,
    (template, title): (&str, &str),
    range: &RangeQuery,
    e: Error,
) -> Result<Response, PageError> {
    let Error::Invalid { field, message } = &e else {
        return Err(e.into());
    };
    let problem = format!(
        "Check the dates ({field}): {}. Dates are written as 2026-11-01.",
        message.replace('`', "")
    );
    render(
        state,
        StatusCode::UNPROCESSABLE_ENTITY,
        template,
        title,
        Some(page),
        json!({"range_error": problem, "from": range.from, "to": range.to}),
    )
}

/// `/knowledge/new?title=…&tags=…&questions=…` for a group: the fields a new article
/// starts from (see `authoring::NewArticleQuery`).
fn new_article_href(gap: &KnowledgeGap) -> String {
    let title = gap
        .queries
        .first()
        .map(|q| capitalised(q))
        .unwrap_or_default();
    let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    format!(
        "/knowledge/new?title={}&tags={}&questions={}",
        encode(&title),
        encode(&gap.words.join(", ")),
        encode(&gap.queries.join("\n"))
    )
}

/// The groups as the page and the reports show them.
pub fn gap_rows(gaps: &[KnowledgeGap]) -> Vec<Value> {
    gaps.iter()
        .map(|g| {
            let mut v = json!(g);
            v["failing"] = json!(g.kind == GapKind::FailingArticle);
            v["new_href"] = json!(new_article_href(g));
            // Authors check whether an article already covers it before writing one.
            v["search_href"] = json!(format!(
                "/knowledge?q={}",
                utf8_percent_encode(
                    g.queries.first().map_or("", String::as_str),
                    NON_ALPHANUMERIC
                )
            ));
            v
        })
        .collect()
}

pub async fn gaps_page(
    State(state): State<AppState>,
    page: PageUser,
    Query(range): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let reader = page.user.as_gaps_reader()?;
    let range = range.or_recent_days();
    let asked = range.parse();
    let gaps = match async { state.reports.knowledge_gaps(reader, asked?).await }.await {
        Ok(gaps) => gaps,
        Err(e) => {
            return range_error_page(
                &state,
                &page,
                ("knowledge_gaps", "Knowledge gaps"),
                &range,
                e,
            );
        }
    };
    let calls: usize = gaps.groups.iter().map(|g| g.calls).sum();
    render(
        &state,
        StatusCode::OK,
        "knowledge_gaps",
        "Knowledge gaps",
        Some(&page),
        json!({
            "gaps": gap_rows(&gaps.groups),
            "calls": calls,
            "groups": gaps.groups.len(),
            "capped": gaps.capped,
            "cap": GAP_CALLS,
            "from": range.from,
            "to": range.to,
        }),
    )
}
