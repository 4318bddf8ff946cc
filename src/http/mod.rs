//! The HTTP layer: thin handlers that extract, call one of the engine's services, and
//! shape responses.
//! Each module brings its own `router()`; they are merged here with the shared middleware
//! (request spans named by route template, metrics, timeouts, body limits).

mod analyst;
mod auth;
mod botframework;
mod calls;
mod canned;
mod channels;
mod chats;
mod directline;
mod error;
mod extract;
mod health;
mod insights;
mod knowledge;
mod pages;
mod users;
mod webhooks;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use pages::Templates;

use crate::channels::botframework::BotFramework;
use crate::channels::directline::DirectLine;
use crate::config::Settings;
use crate::engine::{
    AccountService, CallService, ChannelService, ChatService, DeskService, Engine, Health,
    KnowledgeService, ReportService, WebhookService,
};
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub chats: ChatService,
    pub desk: DeskService,
    pub calls: CallService,
    pub knowledge: KnowledgeService,
    pub reports: ReportService,
    pub accounts: AccountService,
    /// Direct Line 3.0 for external clients (`/v3/directline`).
    pub directline: DirectLine,
    /// Microsoft Teams through the Bot Framework (`/api/messages`), when configured.
    pub teams: Option<BotFramework>,
    pub channels: ChannelService,
    pub webhooks: WebhookService,
    pub settings: Arc<Settings>,
    pub health: Health,
    pub metrics: Arc<Metrics>,
    /// The page templates, registered once at start-up.
    pub pages: Arc<Templates>,
    /// Cancelled at shutdown so that open sockets close cleanly.
    pub shutdown: CancellationToken,
    /// Every open WebSocket session, so that shutdown can wait for them to close.
    pub sockets: TaskTracker,
}

impl AppState {
    pub fn new(
        engine: Engine,
        metrics: Arc<Metrics>,
        pages: Arc<Templates>,
        shutdown: CancellationToken,
        sockets: TaskTracker,
    ) -> Self {
        Self {
            directline: DirectLine::new(&engine),
            teams: BotFramework::new(&engine, shutdown.clone(), sockets.clone()),
            channels: engine.channels.clone(),
            webhooks: engine.webhooks.clone(),
            settings: engine.settings().clone(),
            health: engine.health,
            chats: engine.chats,
            desk: engine.desk,
            calls: engine.calls,
            knowledge: engine.knowledge,
            reports: engine.reports,
            accounts: engine.accounts,
            metrics,
            pages,
            shutdown,
            sockets,
        }
    }
}

pub fn router(state: AppState) -> Router {
    let limits = state.settings.limits.clone();
    let api = Router::new()
        .merge(auth::router())
        .merge(chats::router(limits.attachment_max_bytes))
        .merge(calls::router())
        .merge(canned::router())
        .merge(channels::router())
        .merge(analyst::router())
        .merge(insights::router())
        .merge(knowledge::router())
        .merge(users::router())
        .merge(webhooks::router())
        .merge(ws::router());
    // API bodies are data: a browser that renders one anyway may run and load nothing.
    let api = api.layer(SetResponseHeaderLayer::if_not_present(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; sandbox"),
    ));
    let outside = if state.teams.is_some() {
        botframework::router()
    } else {
        Router::new()
    };
    Router::new()
        .nest("/api/v1", api)
        .merge(outside)
        .nest(
            "/v3/directline",
            directline::router(limits.attachment_max_bytes),
        )
        .merge(pages::router(&state))
        .merge(health::router())
        .fallback(|| async { ApiError::from(crate::error::Error::NotFound("page")) })
        .layer(DefaultBodyLimit::max(limits.json_body_max_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(limits.request_timeout_secs),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("request", method = method_label(req.method()), route)
        }))
        .with_state(state)
}

/// Counts and times each request by route template and logs every server error once.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = error::ensure_json(next.run(req).await).await;
    let status = response.status();
    if status.is_server_error() {
        let detail = response
            .extensions()
            .get::<error::ErrorDetail>()
            .map_or("", |d| d.0.as_str());
        tracing::error!(method, %route, status = status.as_u16(), detail, "request failed");
    }
    state
        .metrics
        .record_request(method, &route, status.as_u16(), started.elapsed());
    response
}

/// A request's method as a metrics label: one of the nine methods of RFC 9110 and
/// RFC 5789, or `other`, so that made-up methods cannot add label values without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}
