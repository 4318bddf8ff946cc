//! Knowledge authoring: list and search articles, edit one as its file text, save with
//! validation errors shown, delete, and reindex with the result shown.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{PageForm, PagePath};
use super::session::PageUser;
use super::{PageError, render};
use crate::error::Error;
use crate::http::AppState;

/// What a new article starts from.
const NEW_ARTICLE: &str = "---\ntitle: \ntags: []\n---\n## Symptoms\n\n## Cause\n\n## Fix\n1. \n";
const SEARCH_RESULTS: usize = 10;
/// The editor form's body limit: articles of up to 1 MiB (the API's limit), URL-encoded.
pub const FORM_MAX_BYTES: usize = 4 * 1024 * 1024;

fn require_author(page: &PageUser) -> Result<(), PageError> {
    if page.user.is_author() {
        Ok(())
    } else {
        Err(Error::forbidden("knowledge authoring is for authors").into())
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
}

async fn list_context(
    state: &AppState,
    page: &PageUser,
    q: Option<&str>,
) -> Result<Value, PageError> {
    let articles: Vec<Value> = state
        .knowledge
        .list_articles(&page.user)
        .await?
        .into_iter()
        .map(|a| {
            let mut v = json!(a);
            v["updated_text"] = json!(super::self_service::readable(a.updated_at));
            v
        })
        .collect();
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    let results = match q {
        Some(q) => Some(
            state
                .knowledge
                .search(q, SEARCH_RESULTS)
                .await?
                .into_iter()
                .map(|s| {
                    let mut v = json!(s);
                    v["score_text"] = json!(format!("{:.2}", s.score));
                    v
                })
                .collect::<Vec<_>>(),
        ),
        None => None,
    };
    Ok(json!({"articles": articles, "q": q, "results": results}))
}

pub async fn list(
    State(state): State<AppState>,
    page: PageUser,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    require_author(&page)?;
    let context = list_context(&state, &page, query.q.as_deref()).await?;
    render(
        &state,
        StatusCode::OK,
        "knowledge_list",
        "Knowledge",
        Some(&page),
        context,
    )
}

fn edit_page(
    state: &AppState,
    page: &PageUser,
    status: StatusCode,
    context: Value,
) -> Result<Response, PageError> {
    render(
        state,
        status,
        "knowledge_edit",
        "Edit article",
        Some(page),
        context,
    )
}

/// What a new article may start from (the knowledge gaps page links here): a title,
/// tags (comma-separated) and the questions users asked (one per line).
#[derive(Deserialize)]
pub struct NewArticleQuery {
    title: Option<String>,
    tags: Option<String>,
    questions: Option<String>,
}

/// The file text of a new article started from `query`: its title and tags in the front
/// matter, written as JSON strings, which YAML reads as they are, so a colon or a quote in
/// them cannot break it; [`NEW_ARTICLE`] without them. The questions users asked are shown
/// beside the editor, not written into the article: an article must say how to fix it,
/// not only match the question.
fn new_article_source(query: &NewArticleQuery) -> String {
    let title = query.title.as_deref().map(str::trim).unwrap_or_default();
    let tags: Vec<&str> = query
        .tags
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if title.is_empty() && tags.is_empty() {
        return NEW_ARTICLE.to_owned();
    }
    format!(
        "---\ntitle: {}\ntags: {}\n---\n## Symptoms\n\n## Cause\n\n## Fix\n1. \n",
        json!(title),
        json!(tags)
    )
}

/// The questions a new article started from a knowledge gap should answer, from their
/// one-per-line form.
fn lines(questions: &str) -> Vec<&str> {
    questions
        .lines()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .collect()
}

pub async fn new_article(
    State(state): State<AppState>,
    page: PageUser,
    Query(query): Query<NewArticleQuery>,
) -> Result<Response, PageError> {
    require_author(&page)?;
    edit_page(
        &state,
        &page,
        StatusCode::OK,
        json!({
            "is_new": true,
            "source": new_article_source(&query),
            "asked": lines(query.questions.as_deref().unwrap_or_default()),
            "saved": false,
        }),
    )
}

pub async fn edit(
    State(state): State<AppState>,
    page: PageUser,
    PagePath(id): PagePath<String>,
) -> Result<Response, PageError> {
    require_author(&page)?;
    let source = state.knowledge.article_source(&page.user, &id).await?;
    edit_page(
        &state,
        &page,
        StatusCode::OK,
        json!({"id": id, "is_new": false, "source": source, "saved": false}),
    )
}

#[derive(Deserialize)]
pub struct SaveForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    is_new: bool,
    /// The questions of the knowledge gap a new article was started from, one per line,
    /// kept beside the editor while it is refused.
    #[serde(default)]
    questions: String,
}

/// Saves and indexes; a refused article comes back with its text and the reasons, so
/// nothing the author typed is lost.
pub async fn save(
    State(state): State<AppState>,
    page: PageUser,
    PageForm(form): PageForm<SaveForm>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    require_author(&page)?;
    let id = form.id.trim();
    // Browsers send text areas with CRLF line ends; articles are stored as typed in files.
    let source = form.source.replace("\r\n", "\n");
    // A new article may not quietly replace an existing one that has the same id.
    if form.is_new && state.knowledge.article_source(&page.user, id).await.is_ok() {
        return edit_page(
            &state,
            &page,
            StatusCode::CONFLICT,
            json!({
                "id": id,
                "is_new": true,
                "source": source,
                "asked": lines(&form.questions),
                "saved": false,
                "errors": [{"reason": format!("An article with the id {id:?} already exists. Choose another id, or edit that article.")}],
            }),
        );
    }
    match state.knowledge.put_article(&page.user, id, &source).await {
        Ok(saved) => edit_page(
            &state,
            &page,
            StatusCode::OK,
            json!({
                "id": saved.id,
                "is_new": false,
                "source": source,
                "saved": true,
                "message": format!("{} articles are searchable.", saved.articles),
            }),
        ),
        Err(e @ Error::Invalid { .. }) => edit_page(
            &state,
            &page,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "id": id,
                "is_new": form.is_new,
                "source": source,
                "asked": lines(&form.questions),
                "saved": false,
                "errors": [{"reason": e.to_string()}],
            }),
        ),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    id: String,
}

pub async fn delete(
    State(state): State<AppState>,
    page: PageUser,
    PageForm(form): PageForm<DeleteForm>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    state.knowledge.delete_article(&page.user, &form.id).await?;
    Ok(Redirect::to("/knowledge").into_response())
}

#[derive(Deserialize)]
pub struct ReindexForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

pub async fn reindex(
    State(state): State<AppState>,
    page: PageUser,
    PageForm(form): PageForm<ReindexForm>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    let report = state.knowledge.reindex(&page.user).await?;
    let mut context = list_context(&state, &page, None).await?;
    context["reindex"] = json!({
        "articles": report.articles,
        "added": report.added.len(),
        "changed": report.changed.len(),
        "removed": report.removed.len(),
        "skipped": report.skipped,
        "took_ms": report.took_ms,
    });
    render(
        &state,
        StatusCode::OK,
        "knowledge_list",
        "Knowledge",
        Some(&page),
        context,
    )
}
