//! The browser pages over real HTTP: sign-in by form, the session's CSRF token on every
//! state change, same-origin WebSockets, security headers, escaping, and the authoring forms.
//! (The full story in a real browser is in `tests/browser`.)

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Backend, TestApp, TestUser};
use crate::on_both_databases;
use chatdesk::domain::user::Role;

on_both_databases!(
    pages_send_strangers_to_sign_in_and_carry_security_headers,
    browser_sessions_need_the_csrf_token_and_this_origin,
    pages_show_what_users_write_as_text,
    every_text_field_is_shown_as_text,
    authors_edit_articles_with_the_forms,
    analysts_work_calls_from_the_calls_page,
    supervisors_read_reports_and_authors_start_articles_from_gaps,
    admins_connect_channels_and_webhooks_from_the_connections_page,
);

#[tokio::test]
async fn chat_request_is_disabled_when_nobody_is_online_and_the_setting_says_so() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.chat.allow_when_offline = false).await;
    let browser = Browser::sign_in(&app, "alice", &[Role::User, Role::ChatUser]).await;
    let (status, html) = browser.get("/chat/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("chat is unavailable"), "{html}");
    assert!(html.contains("disabled"), "{html}");
}

/// A browser: no redirects followed, the session cookie and the page's CSRF token.
struct Browser {
    http: reqwest::Client,
    root: String,
    cookie: String,
    csrf: String,
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of `<meta name="csrf-token" content="...">`.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf-token\"")
        .expect("the page has a CSRF token");
    let rest = &html[at..];
    let start = rest.find("content=\"").unwrap() + "content=\"".len();
    rest[start..start + rest[start..].find('"').unwrap()].to_owned()
}

impl Browser {
    async fn sign_in(app: &TestApp, name: &str, roles: &[Role]) -> Self {
        app.engine
            .accounts
            .create_user(name, None, Some("a long enough password".into()), roles)
            .await
            .unwrap();
        Self::log_in(app, name).await
    }

    /// Signs in an account made with the password "a long enough password".
    async fn log_in(app: &TestApp, name: &str) -> Self {
        let http = no_redirects();
        let root = app.root();
        let resp = http
            .post(format!("{root}/login"))
            .form(&[
                ("username", name),
                ("password", "a long enough password"),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let cookie = resp.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let mut browser = Self {
            http,
            root,
            cookie,
            csrf: String::new(),
        };
        let (status, portal) = browser.get("/").await;
        assert_eq!(status, StatusCode::OK, "{portal}");
        browser.csrf = csrf_of(&portal);
        browser
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.root))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.root))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn post_json(&self, path: &str, csrf: Option<&str>) -> StatusCode {
        let mut request = self
            .http
            .post(format!("{}/api/v1{path}", self.root))
            .header(COOKIE, &self.cookie)
            .json(&json!({"description": "my laptop will not charge"}));
        if let Some(token) = csrf {
            request = request.header("x-csrf-token", token);
        }
        request.send().await.unwrap().status()
    }
}

async fn pages_send_strangers_to_sign_in_and_carry_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = no_redirects();
    let resp = http
        .get(format!("{}/chats/1?x=1", app.root()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/login?next=/chats/1%3Fx%3D1");

    let resp = http
        .get(format!("{}/login", app.root()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let headers = resp.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script: {html}");

    // A wrong password shows the form again with a message, and no session.
    let resp = http
        .post(format!("{}/login", app.root()))
        .form(&[("username", "nobody"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().get("set-cookie").is_none());
    assert!(resp.text().await.unwrap().contains("do not match"));

    // Sign-in never sends the browser to another site.
    app.engine
        .accounts
        .create_user(
            "ann",
            None,
            Some("a long enough password".into()),
            &[Role::User],
        )
        .await
        .unwrap();
    let resp = http
        .post(format!("{}/login", app.root()))
        .form(&[
            ("username", "ann"),
            ("password", "a long enough password"),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()[LOCATION], "/");

    // Nor may another site's form sign a browser in.
    let resp = http
        .post(format!("{}/login", app.root()))
        .header("origin", "http://evil.example")
        .form(&[("username", "ann"), ("password", "a long enough password")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("set-cookie").is_none());
}

async fn browser_sessions_need_the_csrf_token_and_this_origin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = Browser::sign_in(&app, "alice", &[Role::User, Role::ChatUser]).await;

    // The JSON API with the cookie alone: refused; with the page's token: done.
    assert_eq!(alice.post_json("/chats", None).await, StatusCode::FORBIDDEN);
    assert_eq!(
        alice
            .post_json("/chats", Some("0123456789abcdef0123456789abcdef"))
            .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        alice.post_json("/chats", Some(&alice.csrf)).await,
        StatusCode::CREATED
    );

    // Page forms: the same rule through the `_csrf` field.
    let resp = alice
        .post_form("/chat/new", &[("description", "printer jam on floor 2")])
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = alice
        .post_form(
            "/chat/new",
            &[
                ("description", "printer jam on floor 2"),
                ("_csrf", &alice.csrf),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let chat_page = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(chat_page.starts_with("/chats/"), "{chat_page}");
    let (status, html) = alice.get(&chat_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("CALL-"), "{html}");

    // A WebSocket opened with the cookie must come from this origin.
    let chat_id = chat_page.trim_start_matches("/chats/");
    let ws_url = format!(
        "{}/api/v1/chats/{chat_id}/ws",
        app.root().replace("http://", "ws://")
    );
    let host = app.root().trim_start_matches("http://").to_owned();
    let open = |origin: String| {
        let mut request = ws_url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("cookie", alice.cookie.parse().unwrap());
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    assert!(
        open("http://evil.example".into()).await.is_err(),
        "a cross-site socket was opened"
    );
    assert!(open(format!("http://{host}")).await.is_ok());

    // Signing out needs the token too, then the session is gone.
    let resp = alice.post_form("/logout", &[]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = alice.post_form("/logout", &[("_csrf", &alice.csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(alice.get("/").await.0, StatusCode::SEE_OTHER);
}

async fn pages_show_what_users_write_as_text(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = Browser::sign_in(&app, "alice", &[Role::User, Role::ChatUser]).await;
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let resp = alice
        .post_form(
            "/chat/new",
            &[("description", hostile), ("_csrf", &alice.csrf)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let chat_page = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    let (_, chat) = alice.get(&chat_page).await;
    let (_, portal) = alice.get("/").await;
    let call_link = portal
        .split("href=\"/calls/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the portal lists the call")
        .to_owned();
    let (status, call) = alice.get(&format!("/calls/{call_link}")).await;
    assert_eq!(status, StatusCode::OK);
    for (page, html) in [("chat", &chat), ("portal", &portal), ("call", &call)] {
        assert!(
            !html.contains("<script>alert"),
            "{page} runs the text: {html}"
        );
        assert!(
            !html.contains("<img src=x"),
            "{page} renders the text: {html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}: {html}"
        );
    }
}

/// An account with a hostile display name, signed in both ways: its API token, and a
/// browser session.
async fn hostile_account(app: &TestApp, name: &str, roles: &[Role]) -> (TestUser, Browser) {
    let display = format!("<script>alert('{name}')</script>");
    let (_, token) = app
        .engine
        .accounts
        .create_user(
            name,
            Some(&display),
            Some("a long enough password".into()),
            roles,
        )
        .await
        .unwrap();
    let api = TestUser::at(&app.root(), token.0, app.http.clone());
    (api, Browser::log_in(app, name).await)
}

fn shown_as_text(page: &str, html: &str) {
    assert!(!html.contains("<script>alert"), "{page} runs text: {html}");
    assert!(!html.contains("<img src=x"), "{page} renders text: {html}");
}

async fn every_text_field_is_shown_as_text(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mallory, mallory_pages) =
        hostile_account(&app, "mallory", &[Role::User, Role::ChatUser]).await;
    let (ann, ann_pages) = hostile_account(&app, "ann", &[Role::Analyst]).await;
    let (carol, carol_pages) = hostile_account(&app, "carol", &[Role::Author]).await;
    ann.put("/analyst/status", json!({"status": "online"}))
        .await;

    let chat = mallory
        .queued_chat("<img src=x onerror=alert('description')>")
        .await;
    let (status, _) = ann.post(&format!("/chats/{chat}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    for (who, text) in [
        (&mallory, "<script>alert('user message')</script>"),
        (&ann, "<script>alert('analyst message')</script>"),
    ] {
        let (status, _) = who
            .post(&format!("/chats/{chat}/messages"), json!({"text": text}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, _) = mallory
        .upload(
            chat,
            "<img src=x onerror=alert('file')>.txt",
            b"notes".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, shown) = mallory.get(&format!("/chats/{chat}")).await;
    let call = shown["call_id"].as_i64().unwrap();
    let article = "---\ntitle: <script>alert('title')</script>\ntags: [\"<img src=x>\"]\n---\n\
                   <script>alert('body')</script> Restart the <b>router</b>.\n";
    let (status, body) = carol
        .put_raw(
            "/knowledge/articles/hostile-article",
            "text/markdown",
            article,
        )
        .await;
    assert!(status.is_success(), "{status} {body}");

    let (_, call_page) = mallory_pages.get(&format!("/calls/{call}")).await;
    for text in [
        "user message",
        "analyst message",
        "description",
        "file",
        "mallory",
        "ann",
    ] {
        assert!(
            call_page.contains(&format!("alert(&#x27;{text}&#x27;)"))
                || call_page.contains(&format!("alert('{text}')")),
            "the call page shows {text}: {call_page}"
        );
    }
    shown_as_text("call page", &call_page);
    assert!(
        call_page.contains("<span class=\"pre-wrap\">attached "),
        "a file's line names its uploader once, in the speaker column: {call_page}"
    );
    for (page, html) in [
        ("portal", mallory_pages.get("/").await.1),
        (
            "chat window",
            mallory_pages.get(&format!("/chats/{chat}")).await.1,
        ),
        (
            "analyst's call page",
            ann_pages.get(&format!("/calls/{call}")).await.1,
        ),
        ("console", ann_pages.get("/analyst").await.1),
        ("articles", carol_pages.get("/knowledge").await.1),
        ("search", carol_pages.get("/knowledge?q=router").await.1),
        (
            "editor",
            carol_pages.get("/knowledge/hostile-article/edit").await.1,
        ),
    ] {
        shown_as_text(page, &html);
    }
    let (_, editor) = carol_pages.get("/knowledge/hostile-article/edit").await;
    assert!(
        editor.contains("&lt;script&gt;alert(&#x27;body&#x27;)")
            || editor.contains("&lt;script&gt;alert('body')"),
        "{editor}"
    );
}

async fn authors_edit_articles_with_the_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let carol = Browser::sign_in(&app, "carol", &[Role::Author]).await;
    let (_, portal) = carol.get("/").await;
    assert!(
        !portal.contains("chat-option"),
        "no Chat option without the permission"
    );
    let (status, list) = carol.get("/knowledge").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("href=\"/knowledge/account-locked-out/edit\""),
        "{list}"
    );

    // A broken article is refused with the reason, and what the author typed comes back.
    let broken = "---\ntitle: [unclosed\n---\nBody text the author wrote";
    let resp = carol
        .post_form(
            "/knowledge/save",
            &[
                ("id", "badge-reader"),
                ("source", broken),
                ("is_new", "true"),
                ("_csrf", &carol.csrf),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.unwrap();
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains("Body text the author wrote"), "{html}");

    let article = "---\ntitle: Badge reader at the door does not beep\ntags: [building]\n---\n\
                   The badge reader at the office door stays silent.\n\n1. Hold the badge flat.\n";
    let resp = carol
        .post_form(
            "/knowledge/save",
            &[
                ("id", "badge-reader"),
                ("source", article),
                ("is_new", "true"),
                ("_csrf", &carol.csrf),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("Saved"));

    // A new article may not quietly replace an existing one.
    let resp = carol
        .post_form(
            "/knowledge/save",
            &[
                ("id", "account-locked-out"),
                ("source", article),
                ("is_new", "true"),
                ("_csrf", &carol.csrf),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Badge reader at the door")
    );
    let (_, kept) = carol.get("/knowledge/account-locked-out/edit").await;
    assert!(
        !kept.contains("Badge reader"),
        "the existing article is unchanged"
    );

    // It is searchable at once, and the reindex form reports what it did.
    let (_, found) = carol.get("/knowledge?q=badge+reader+silent").await;
    assert!(
        found.contains("Badge reader at the door does not beep"),
        "{found}"
    );
    let resp = carol
        .post_form("/knowledge/reindex", &[("_csrf", &carol.csrf)])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("role=\"status\""));

    // A user without the author role is not let in.
    let alice = Browser::sign_in(&app, "alice", &[Role::User, Role::ChatUser]).await;
    assert_eq!(alice.get("/knowledge").await.0, StatusCode::FORBIDDEN);
    assert_eq!(alice.get("/analyst").await.0, StatusCode::FORBIDDEN);
}

async fn analysts_work_calls_from_the_calls_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = Browser::sign_in(&app, "alice", &[Role::User, Role::ChatUser]).await;
    let bob = Browser::sign_in(&app, "bob", &[Role::Analyst]).await;
    for description in ["my dock will not charge the laptop", "the printer jams"] {
        let resp = alice
            .post_form(
                "/chat/new",
                &[("description", description), ("_csrf", &alice.csrf)],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    }
    let (_, portal) = alice.get("/").await;
    let call = portal
        .split("href=\"/calls/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the portal lists the call")
        .to_owned();

    // The calls page finds calls by words; users may not open it.
    let (status, list) = bob.get("/calls?status=open&q=printer").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(
        list.contains("the printer jams") && !list.contains("dock"),
        "{list}"
    );
    let (status, _) = alice.get("/calls").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = bob.get("/calls?status=lost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The dock call is the older one: the analyst notes and resolves it from its page.
    let (_, list) = bob.get("/calls?q=dock").await;
    let dock = list
        .split("href=\"/calls/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    assert_ne!(dock, call, "the portal lists the newest call first");
    let (_, page) = bob.get(&format!("/calls/{dock}")).await;
    assert!(page.contains("id=\"resolve-form\"") && page.contains("id=\"note-form\""));
    let note = "<b>Dock firmware</b> is old";
    let resp = bob
        .post_form(
            &format!("/calls/{dock}/notes"),
            &[("text", note), ("_csrf", &bob.csrf)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = bob
        .post_form(
            &format!("/calls/{dock}/resolve"),
            &[
                ("resolution", "Updated the dock firmware"),
                ("_csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "another site's form");
    let resp = bob
        .post_form(
            &format!("/calls/{dock}/resolve"),
            &[
                ("resolution", "Updated the dock firmware"),
                ("_csrf", &bob.csrf),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, page) = bob.get(&format!("/calls/{dock}")).await;
    assert!(
        page.contains("&lt;b&gt;Dock firmware&lt;/b&gt; is old"),
        "{page}"
    );
    assert!(page.contains("Updated the dock firmware"));
    assert!(!page.contains("id=\"resolve-form\"") && page.contains("id=\"reopen-form\""));
    let (_, resolved) = bob.get("/calls?status=resolved").await;
    assert!(resolved.contains("my dock will not charge the laptop"));

    // The user sees the resolution and may reopen, but never the note or the desk's forms.
    let (_, own) = alice.get(&format!("/calls/{dock}")).await;
    assert!(own.contains("Updated the dock firmware"));
    assert!(own.contains("id=\"reopen-form\""));
    for hidden in [
        "Dock firmware",
        "note-form",
        "resolve-form",
        "offered-heading",
    ] {
        assert!(!own.contains(hidden), "the user sees {hidden}: {own}");
    }
    let resp = alice
        .post_form(&format!("/calls/{dock}/reopen"), &[("_csrf", &alice.csrf)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, own) = alice.get(&format!("/calls/{dock}")).await;
    assert!(own.contains("id=\"call-status\" class=\"badge badge-open\""));
}

async fn supervisors_read_reports_and_authors_start_articles_from_gaps(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.online_analyst("ann", 3).await;
    let alice = app.chat_user("alice").await;
    let sam = Browser::sign_in(&app, "sam", &[Role::Supervisor]).await;
    let carol = Browser::sign_in(&app, "carol", &[Role::Author]).await;
    let pat = Browser::sign_in(&app, "pat", &[Role::User, Role::ChatUser]).await;
    let bob = Browser::sign_in(&app, "bob", &[Role::Analyst]).await;

    // The bot fixes one call; two about the coffee machine go to the queue.
    let (fixed, started) = alice.start_chat("My VPN keeps disconnecting").await;
    let article = started["suggestions"][0]["article_id"].as_str().unwrap();
    alice
        .post(
            &format!("/chats/{fixed}/suggestions/{article}/accept"),
            json!({}),
        )
        .await;
    alice
        .queued_chat("the <b>coffee</b> machine shows error E12: it's \"broken\"")
        .await;
    alice.queued_chat("coffee machine error E12 again").await;

    let (status, report) = sam.get("/reports").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let first_day = time::OffsetDateTime::now_utc().date() - time::Duration::days(29);
    assert!(
        report.contains(&format!(
            "name=\"from\" type=\"date\" value=\"{first_day}\""
        )),
        "without dates, the last 30 whole days, said in the form: {report}"
    );
    assert!(report.contains("data-figure=\"calls\">3<"), "{report}");
    assert!(
        report.contains("data-figure=\"deflection\">33%<"),
        "{report}"
    );
    assert_eq!(
        report
            .matches("src=\"data:image/svg+xml;charset&#x3D;utf-8,%3Csvg")
            .count(),
        5,
        "five charts: {report}"
    );
    assert!(
        report.contains("href=\"/api/v1/insights/calls.csv?from"),
        "{report}"
    );
    assert!(
        report.contains("coffee"),
        "the largest gap is listed: {report}"
    );
    assert!(!report.contains("<b>coffee"), "{report}");
    for range in ["from=2026-13-01", "from=2020-01-01&to=2026-01-01"] {
        let (status, body) = sam.get(&format!("/reports?{range}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{range}: {body}");
        assert!(
            body.contains("id=\"range-error\"") && body.contains("id=\"reports-range\""),
            "the page says why, with its form: {body}"
        );
    }

    // Authors see the gaps and start an article from one, with the questions in it.
    let (status, gaps) = carol.get("/knowledge/gaps").await;
    assert_eq!(status, StatusCode::OK, "{gaps}");
    assert!(gaps.contains("2 calls"), "{gaps}");
    assert!(
        gaps.contains("&lt;b&gt;coffee&lt;/b&gt;"),
        "shown as text: {gaps}"
    );
    assert!(!gaps.contains("<b>coffee"));
    let at = gaps.find("href=\"/knowledge/new?").expect("a start link") + 6;
    let href = gaps[at..at + gaps[at..].find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#x3D;", "=");
    let (status, editor) = carol.get(&href).await;
    assert_eq!(status, StatusCode::OK, "{editor}");
    assert!(editor.contains("id=\"asked\""), "{editor}");
    assert!(
        editor.contains("“coffee machine error E12 again”"),
        "{editor}"
    );
    assert!(editor.contains("&lt;b&gt;coffee"), "{editor}");
    assert!(editor.contains("tags: [&quot;"), "{editor}");
    // Saved as it starts, with headings and no fix, it is refused and nothing is indexed.
    let field = &editor[editor.find("id=\"source\"").unwrap()..];
    let start = field.find("required>").unwrap() + "required>".len();
    let source = field[start..field.find("</textarea>").unwrap()]
        .replace("&quot;", "\"")
        .replace("&#x3D;", "=")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let resp = carol
        .post_form(
            "/knowledge/save",
            &[
                ("_csrf", carol.csrf.as_str()),
                ("id", "coffee-machine"),
                ("source", source.as_str()),
                ("is_new", "true"),
                ("questions", "coffee machine error E12 again"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = resp.text().await.unwrap();
    assert!(refused.contains("only headings"), "{refused}");
    assert!(
        refused.contains("“coffee machine error E12 again”"),
        "the questions stay beside the editor: {refused}"
    );
    let (status, _) = carol.get("/knowledge/coffee-machine/edit").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was saved");

    let (status, page) = carol
        .get("/knowledge/gaps?from=2026-12-02&to=2026-12-01")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"range-error\"") && page.contains("id=\"gaps-range\""));

    // The portal points supervisors and authors to their pages.
    for (who, link) in [
        (&sam, "href=\"/reports\""),
        (&carol, "href=\"/knowledge/gaps\""),
    ] {
        let (_, portal) = who.get("/").await;
        let work = &portal[portal.find("id=\"portal-work\"").expect("links to work")..];
        assert!(
            work[..work.find("</p>").unwrap()].contains(link),
            "{portal}"
        );
    }

    // Nobody else.
    for (who, path) in [
        (&carol, "/reports"),
        (&pat, "/reports"),
        (&bob, "/reports"),
        (&pat, "/knowledge/gaps"),
        (&bob, "/knowledge/gaps"),
    ] {
        assert_eq!(who.get(path).await.0, StatusCode::FORBIDDEN, "{path}");
    }
}

/// The Connections page: a Direct Line channel and a webhook added by form, each secret
/// shown once (escaped, as every name), bad input answered on the page, removal, the
/// deliveries page; for admins only.
async fn admins_connect_channels_and_webhooks_from_the_connections_page(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.webhooks.allow_private_targets = true).await;
    let root = Browser::sign_in(&app, "root", &[Role::Admin]).await;
    let (status, page) = root.get("/admin/connections").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("href=\"/admin/connections\""),
        "admins see it in the menu"
    );
    assert!(page.contains("Microsoft Teams is off"), "{page}");

    let resp = root
        .post_form(
            "/admin/channels",
            &[("name", "<b>Intranet</b>"), ("_csrf", &root.csrf)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let shown = resp.text().await.unwrap();
    assert!(shown.contains("id=\"channel-secret\""), "{shown}");
    assert!(shown.contains("&lt;b&gt;Intranet&lt;/b&gt;") && !shown.contains("<b>Intranet"));
    let (_, again) = root.get("/admin/connections").await;
    assert!(
        !again.contains("channel-secret"),
        "the secret is shown once"
    );

    let resp = root
        .post_form(
            "/admin/webhooks",
            &[
                ("url", "gopher://example.com/"),
                ("event:chat.started", "on"),
                ("_csrf", &root.csrf),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("must be http or https"));
    let resp = root
        .post_form(
            "/admin/webhooks",
            &[
                ("url", "http://10.1.2.3/hooks"),
                ("event:chat.started", "on"),
                ("event:call.rated", "on"),
                ("_csrf", &root.csrf),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let shown = resp.text().await.unwrap();
    assert!(shown.contains("whsec_"), "{shown}");
    assert!(shown.contains("chat.started, call.rated"), "{shown}");
    let forged = root
        .post_form(
            "/admin/webhooks",
            &[("url", "http://10.1.2.3/x"), ("_csrf", "forged")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let admin = app.user("apiadmin", &[Role::Admin]).await;
    let (_, hooks) = admin.get("/webhooks").await;
    assert_eq!(hooks.as_array().unwrap().len(), 1, "{hooks}");
    let hook = hooks[0]["id"].as_i64().unwrap();
    let (status, deliveries) = root.get(&format!("/admin/webhooks/{hook}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(deliveries.contains("Nothing delivered yet"), "{deliveries}");
    let resp = root
        .post_form(
            &format!("/admin/webhooks/{hook}/remove"),
            &[("_csrf", &root.csrf)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, channels) = admin.get("/channels").await;
    let channel = channels[0]["id"].as_i64().unwrap();
    let resp = root
        .post_form(
            &format!("/admin/channels/{channel}/remove"),
            &[("_csrf", &root.csrf)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(admin.get("/channels").await.1, json!([]));
    assert_eq!(admin.get("/webhooks").await.1, json!([]));

    // Not for anyone else.
    let bob = Browser::sign_in(&app, "bob", &[Role::Analyst]).await;
    assert_eq!(bob.get("/admin/connections").await.0, StatusCode::FORBIDDEN);
    let (_, console) = bob.get("/").await;
    assert!(!console.contains("/admin/connections"));
}
