//! Insights for supervisors and admins: the desk's figures over a date range, and the
//! same calls as CSV; and the knowledge gaps, which authors read too.

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiQuery, CurrentUser};
use super::{ApiError, AppState};
use crate::domain::insights::DateRange;
use crate::error::Error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/insights", get(summary))
        .route("/insights/calls.csv", get(calls_csv))
        .route("/insights/knowledge-gaps", get(knowledge_gaps))
}

/// `from` and `to`: RFC 3339 times or dates (UTC); see [`DateRange`].
#[derive(Deserialize)]
struct Range {
    from: Option<String>,
    to: Option<String>,
}

impl TryFrom<Range> for DateRange {
    type Error = Error;

    fn try_from(range: Range) -> Result<Self, Error> {
        Self::parse(range.from.as_deref(), range.to.as_deref())
    }
}

async fn summary(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Json<Value>, ApiError> {
    let insights = state
        .reports
        .insights(user.as_insights_reader()?, range.try_into()?)
        .await?;
    Ok(Json(json!(insights)))
}

async fn knowledge_gaps(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Json<Value>, ApiError> {
    let gaps = state
        .reports
        .knowledge_gaps(user.as_gaps_reader()?, range.try_into()?)
        .await?;
    Ok(Json(json!(gaps.groups)))
}

async fn calls_csv(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Response, ApiError> {
    let body = state
        .reports
        .insights_csv(user.as_insights_reader()?, range.try_into()?)
        .await?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"calls.csv\""),
        ],
        body,
    )
        .into_response())
}
