//! The knowledge base as authors and the bot see it. Articles live in the database (the
//! `knowledge/` folder is imported into it); the search index is rebuilt from there and
//! swapped in whole. Every edit bumps a generation number in the database, and each
//! instance rebuilds when it sees a new one, so edits reach every instance.

use crate::domain::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::clock::Clock;
use super::ranking::Ranking;
use super::shared_vectors;
use crate::bus::EventBus;
use crate::config::Settings;
use crate::domain::Millis;
use crate::domain::article::ArticleOrigin;
use crate::domain::ids::ArticleId;
use crate::domain::user::User;
use crate::error::{Error, Result};
use crate::knowledge::article::load_sources;
use crate::knowledge::index::BuildStats;
use crate::knowledge::live::{Indexer, LiveIndex};
use crate::knowledge::{Article, ArticleError, RankRequest, Ranker, Suggestion};
use crate::store::DynStore;
use crate::store::{ImportWhen, Imported, StoredArticle, Upserted};

/// The live index and what rebuilds it.
pub struct Knowledge {
    live: Arc<LiveIndex>,
    /// What the services rank with: the live index, or something in front of it.
    pub(super) ranker: Arc<dyn Ranker>,
    indexer: Arc<Indexer>,
    /// The generation the live index was built from.
    generation: AtomicI64,
    /// One rebuild at a time; a second caller waits and then finds the work done.
    rebuilding: tokio::sync::Mutex<()>,
}

impl Knowledge {
    pub fn new(live: Arc<LiveIndex>, indexer: Arc<Indexer>) -> Self {
        Self {
            ranker: live.clone(),
            live,
            indexer,
            generation: AtomicI64::new(-1),
            rebuilding: tokio::sync::Mutex::new(()),
        }
    }

    /// The same, with the services ranking through `front(live index)` (see
    /// [`crate::knowledge::memo`]).
    pub fn ranked_through(
        mut self,
        front: impl FnOnce(Arc<dyn Ranker>) -> Arc<dyn Ranker>,
    ) -> Self {
        self.ranker = front(self.ranker);
        self
    }
}

/// The knowledge service: authors' articles, the folder import, reindexing without
/// downtime, and searching; holds the store, the live index and the ranking threads.
#[derive(Clone)]
pub struct KnowledgeService {
    store: DynStore,
    /// Tells the other instances (if any) that articles changed.
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    knowledge: Arc<Knowledge>,
    ranking: Ranking,
}

/// What a reindex did, for the author and the `reindex` command.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReindexReport {
    pub articles: usize,
    pub took_ms: u64,
    pub added: Vec<ArticleId>,
    pub changed: Vec<ArticleId>,
    pub removed: Vec<ArticleId>,
    pub skipped: Vec<Skipped>,
    /// Passages the model encoded; the others came from the cache.
    pub encoded: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub file: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl From<&ArticleError> for Skipped {
    fn from(e: &ArticleError) -> Self {
        Self {
            file: e.source_name.clone(),
            line: e.line,
            reason: e.reason.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ArticleSummary {
    pub id: ArticleId,
    pub title: String,
    /// From the article's front matter.
    pub tags: Vec<String>,
    pub origin: ArticleOrigin,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct SavedArticle {
    pub id: ArticleId,
    pub title: String,
    /// `added`, `changed` or `unchanged`.
    pub result: &'static str,
    pub articles: usize,
}

/// An article as the chat window shows it.
#[derive(Debug, Serialize)]
pub struct ArticleView {
    pub id: ArticleId,
    pub title: String,
    pub tags: Vec<String>,
    /// The body rendered and cleaned: safe to insert into a page as is.
    pub html: String,
}

/// The article to store, as changed at `at`.
fn stored(article: &Article, source: &str, origin: ArticleOrigin, at: Millis) -> StoredArticle {
    StoredArticle {
        id: article.id.clone(),
        title: article.title.clone(),
        source: source.to_owned(),
        origin,
        content_hash: hex::encode(Sha256::digest(source.as_bytes())),
        updated_at: at,
    }
}

impl KnowledgeService {
    pub(super) fn new(
        store: DynStore,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        settings: Arc<Settings>,
        knowledge: Arc<Knowledge>,
        ranking: Ranking,
    ) -> Self {
        Self {
            store,
            bus,
            clock,
            settings,
            knowledge,
            ranking,
        }
    }

    fn now(&self) -> Millis {
        self.clock.now()
    }

    fn require_author(user: &User) -> Result<()> {
        if user.is_author() {
            Ok(())
        } else {
            Err(Error::forbidden(
                "only knowledge authors can change articles",
            ))
        }
    }

    /// Imports the knowledge folder into the database: new and changed files are saved,
    /// files that disappeared are removed, bad files are reported and skipped. With
    /// [`ImportWhen::IfNew`], a folder version imported before changes nothing.
    async fn import_knowledge_dir(&self, when: ImportWhen) -> Result<(Imported, Vec<Skipped>)> {
        let dir = self.settings.knowledge_dir.clone();
        let (loaded, errors) = tokio::task::spawn_blocking(move || load_sources(&dir))
            .await
            .map_err(|e| Error::internal("reading the knowledge folder", e))?
            .map_err(|e| Error::internal("reading the knowledge folder", e))?;
        let articles: Vec<StoredArticle> = loaded
            .iter()
            .map(|(a, source)| stored(a, source, ArticleOrigin::File, self.now()))
            .collect();
        for e in &errors {
            tracing::warn!(file = %e.source_name, line = ?e.line, reason = %e.reason, "article skipped");
        }
        let imported = match self.store.import_articles(&articles, when).await? {
            Some(imported) => imported,
            None => {
                tracing::info!(
                    files = articles.len(),
                    "this knowledge folder was imported before; left as it is"
                );
                Imported::default()
            }
        };
        Ok((imported, errors.iter().map(Skipped::from).collect()))
    }

    /// Rebuilds the index from the database and swaps it in. A failure leaves the old
    /// index serving.
    pub async fn rebuild_index(
        &self,
        progress: Arc<dyn Fn(usize, usize) + Send + Sync>,
    ) -> Result<BuildStats> {
        self.rebuild(progress, false)
            .await
            .map(|stats| stats.expect("always rebuilt"))
    }

    /// Rebuilds, one rebuild at a time; with `only_if_behind`, not when the live index was
    /// built from the current generation by the time this one's turn came (`None`).
    async fn rebuild(
        &self,
        progress: Arc<dyn Fn(usize, usize) + Send + Sync>,
        only_if_behind: bool,
    ) -> Result<Option<BuildStats>> {
        let _one_at_a_time = self.knowledge.rebuilding.lock().await;
        let generation = self.store.knowledge_generation().await?;
        if only_if_behind && generation == self.knowledge.generation.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let rows = self.store.articles().await?;
        let mut articles = Vec::with_capacity(rows.len());
        for row in &rows {
            match Article::parse(row.id.as_str(), row.id.as_str(), &row.source) {
                Ok(a) => articles.push(a),
                Err(e) => tracing::warn!(article = %row.id, reason = %e, "stored article skipped"),
            }
        }
        let total = articles.len();
        let indexer = self.knowledge.indexer.clone();
        let encoding = shared_vectors::before_build(&self.store, &indexer, &articles).await;
        let building = indexer.clone();
        let built = tokio::task::spawn_blocking(move || {
            let done = std::sync::atomic::AtomicUsize::new(0);
            building.build(articles, &|n| {
                let d = done.fetch_add(n, Ordering::Relaxed) + n;
                progress(d, total);
            })
        })
        .await;
        if let Some(encoding) = encoding {
            shared_vectors::after_build(&self.store, &indexer, encoding).await;
        }
        let (index, stats) = built
            .map_err(|e| Error::internal("building the knowledge index", e))?
            .map_err(Error::Internal)?;
        self.knowledge.live.swap(index);
        self.knowledge
            .generation
            .store(generation, Ordering::SeqCst);
        tracing::info!(
            articles = stats.articles,
            passages = stats.passages,
            encoded = stats.encoded,
            took_ms = stats.took.as_millis() as u64,
            generation,
            "knowledge index swapped in"
        );
        Ok(Some(stats))
    }

    /// Rebuilds when the articles changed since the live index was built (an edit on
    /// another instance, or `chatdesk reindex`). Returns whether it rebuilt. Many asking
    /// at once (hints arriving during a rebuild) wait their turn and then find the index
    /// current: one rebuild per change.
    pub async fn refresh_knowledge(&self) -> Result<bool> {
        let generation = self.store.knowledge_generation().await?;
        if generation == self.knowledge.generation.load(Ordering::SeqCst) {
            return Ok(false);
        }
        Ok(self.rebuild(Arc::new(|_, _| {}), true).await?.is_some())
    }

    /// Imports the folder and rebuilds, reporting what changed.
    pub async fn reindex_with_progress(
        &self,
        progress: Arc<dyn Fn(usize, usize) + Send + Sync>,
    ) -> Result<ReindexReport> {
        self.import_and_index(progress, ImportWhen::Always).await
    }

    /// What a starting instance does: imports the folder unless this version of it was
    /// imported before (by this instance or another), then builds the index.
    pub async fn start_index(&self) -> Result<ReindexReport> {
        self.import_and_index(Arc::new(|_, _| {}), ImportWhen::IfNew)
            .await
    }

    async fn import_and_index(
        &self,
        progress: Arc<dyn Fn(usize, usize) + Send + Sync>,
        when: ImportWhen,
    ) -> Result<ReindexReport> {
        let started = Instant::now();
        let (imported, skipped) = self.import_knowledge_dir(when).await?;
        if !(imported.added.is_empty()
            && imported.changed.is_empty()
            && imported.removed.is_empty())
        {
            self.bus.knowledge_changed();
        }
        let stats = self.rebuild_index(progress).await?;
        Ok(ReindexReport {
            articles: stats.articles,
            took_ms: started.elapsed().as_millis() as u64,
            added: imported.added,
            changed: imported.changed,
            removed: imported.removed,
            skipped,
            encoded: stats.encoded,
        })
    }

    /// Ranked suggestions for any text, as the bot would offer them.
    pub async fn search(&self, text: &str, k: usize) -> Result<Vec<Suggestion>> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::invalid("q", "must not be empty"));
        }
        self.ranking
            .rank_with(RankRequest {
                text: text.to_owned(),
                k,
                exclude: Vec::new(),
                confident_only: false,
                beside: false,
            })
            .await
    }

    /// What the bot would offer for `text` as a chat's description: at most
    /// `chat.suggestions`, and nothing when the best is below the confidence floor.
    pub async fn bot_suggestions(&self, text: &str) -> Result<Vec<Suggestion>> {
        self.ranking.rank(text.to_owned(), Vec::new()).await
    }

    /// `POST /knowledge/reindex`.
    pub async fn reindex(&self, user: &User) -> Result<ReindexReport> {
        Self::require_author(user)?;
        self.reindex_with_progress(Arc::new(|_, _| {})).await
    }

    /// Creates or replaces an article from its file text, then indexes it.
    #[tracing::instrument(skip_all, fields(article_id = %id), err(level = "debug"))]
    pub async fn put_article(&self, user: &User, id: &str, text: &str) -> Result<SavedArticle> {
        Self::require_author(user)?;
        let id = ArticleId::parse(id).map_err(|m| Error::invalid("id", m))?;
        let article = Article::parse_new(&format!("article {id}"), id.as_str(), text)
            .map_err(|e| Error::invalid("article", e.to_string()))?;
        if article.id != id {
            return Err(Error::invalid(
                "id",
                format!(
                    "the front matter says id {:?} but the path says {id:?}",
                    article.id
                ),
            ));
        }
        let result = self
            .store
            .upsert_article(&stored(&article, text, ArticleOrigin::Api, self.now()))
            .await?;
        let stats = if result == Upserted::Unchanged {
            None
        } else {
            self.bus.knowledge_changed();
            Some(self.rebuild_index(Arc::new(|_, _| {})).await?)
        };
        Ok(SavedArticle {
            id: article.id,
            title: article.title,
            result: result.into(),
            articles: stats.map_or_else(
                || self.knowledge.live.current().articles().len(),
                |s| s.articles,
            ),
        })
    }

    pub async fn delete_article(&self, user: &User, id: &str) -> Result<()> {
        Self::require_author(user)?;
        let id = ArticleId::parse(id).map_err(|_| Error::NotFound("article"))?;
        if !self.store.delete_article(&id, self.now()).await? {
            return Err(Error::NotFound("article"));
        }
        self.bus.knowledge_changed();
        self.rebuild_index(Arc::new(|_, _| {})).await?;
        Ok(())
    }

    pub async fn list_articles(&self, user: &User) -> Result<Vec<ArticleSummary>> {
        if !user.is_author() && !user.is_analyst() {
            return Err(Error::forbidden(
                "only authors and analysts browse articles",
            ));
        }
        Ok(self
            .store
            .articles()
            .await?
            .into_iter()
            .map(|a| ArticleSummary {
                // Stored articles were checked when saved; one that no longer parses
                // still lists, without tags.
                tags: Article::parse("", a.id.as_str(), &a.source)
                    .map(|parsed| parsed.tags)
                    .unwrap_or_default(),
                id: a.id,
                title: a.title,
                origin: a.origin,
                updated_at: Timestamp(a.updated_at),
            })
            .collect())
    }

    /// An article to read in the chat window: its title, tags and body as clean HTML
    /// ([`Article::html`]). For anyone the bot may offer it to (chat users) and the
    /// people who work with articles (analysts, authors). Errors: `forbidden`,
    /// `not_found`.
    pub async fn article_view(&self, user: &User, id: &str) -> Result<ArticleView> {
        if !user.can_chat() && !user.is_author() && !user.is_analyst() {
            return Err(Error::forbidden(
                "only chat users, analysts and authors read articles",
            ));
        }
        let id = ArticleId::parse(id).map_err(|_| Error::NotFound("article"))?;
        let stored = self
            .store
            .article(&id)
            .await?
            .ok_or(Error::NotFound("article"))?;
        let article = Article::parse(&format!("article {id}"), id.as_str(), &stored.source)
            .map_err(|e| Error::internal("parsing a stored article", e))?;
        Ok(ArticleView {
            html: article.html(),
            id: article.id,
            title: article.title,
            tags: article.tags,
        })
    }

    /// The article file as written, for editing.
    pub async fn article_source(&self, user: &User, id: &str) -> Result<String> {
        if !user.is_author() && !user.is_analyst() {
            return Err(Error::forbidden(
                "only authors and analysts read article sources",
            ));
        }
        let id = ArticleId::parse(id).map_err(|_| Error::NotFound("article"))?;
        Ok(self
            .store
            .article(&id)
            .await?
            .ok_or(Error::NotFound("article"))?
            .source)
    }
}
