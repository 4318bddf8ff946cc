//! The pages' stylesheet and scripts, compiled into the binary so that one file is the
//! whole service. Served with their type, a short cache lifetime and `nosniff`.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::http::ApiError;

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../static/app.css"),
    ),
    ("common.js", JS, include_str!("../../../static/common.js")),
    ("portal.js", JS, include_str!("../../../static/portal.js")),
    (
        "chatstate.mjs",
        JS,
        include_str!("../../../static/chatstate.mjs"),
    ),
    (
        "chatlink.mjs",
        JS,
        include_str!("../../../static/chatlink.mjs"),
    ),
    (
        "chatpanel.mjs",
        JS,
        include_str!("../../../static/chatpanel.mjs"),
    ),
    ("chat.js", JS, include_str!("../../../static/chat.js")),
    ("console.js", JS, include_str!("../../../static/console.js")),
    ("canned.js", JS, include_str!("../../../static/canned.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or(Error::NotFound("file"))?;
    Ok((
        [
            (CONTENT_TYPE, *content_type),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        *body,
    )
        .into_response())
}
