//! The page templates: compiled into the binary, registered once at start-up, and rendered
//! with HTML escaping on. No template uses triple braces, so every piece of text from users,
//! analysts and articles reaches the browser as text.

use anyhow::Context;
use handlebars::Handlebars;
use serde::Serialize;

/// Every template, by the name pages render it under.
const PAGES: &[(&str, &str)] = &[
    ("login", include_str!("../../../templates/login.hbs")),
    ("portal", include_str!("../../../templates/portal.hbs")),
    (
        "chat_request",
        include_str!("../../../templates/chat_request.hbs"),
    ),
    ("chat", include_str!("../../../templates/chat.hbs")),
    ("console", include_str!("../../../templates/console.hbs")),
    ("call", include_str!("../../../templates/call.hbs")),
    ("calls", include_str!("../../../templates/calls.hbs")),
    (
        "knowledge_list",
        include_str!("../../../templates/knowledge_list.hbs"),
    ),
    (
        "knowledge_edit",
        include_str!("../../../templates/knowledge_edit.hbs"),
    ),
    (
        "knowledge_gaps",
        include_str!("../../../templates/knowledge_gaps.hbs"),
    ),
    ("reports", include_str!("../../../templates/reports.hbs")),
    (
        "connections",
        include_str!("../../../templates/connections.hbs"),
    ),
    (
        "webhook_deliveries",
        include_str!("../../../templates/webhook_deliveries.hbs"),
    ),
    ("error", include_str!("../../../templates/error.hbs")),
];

const PARTIALS: &[(&str, &str)] = &[
    (
        "header",
        include_str!("../../../templates/partials/header.hbs"),
    ),
    (
        "footer",
        include_str!("../../../templates/partials/footer.hbs"),
    ),
];

pub struct Templates {
    registry: Handlebars<'static>,
}

impl Templates {
    /// Parses every template; a broken one stops start-up instead of failing a page later.
    pub fn load() -> anyhow::Result<Self> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(false);
        for (name, source) in PARTIALS {
            registry
                .register_partial(name, *source)
                .with_context(|| format!("template partial {name}"))?;
        }
        for (name, source) in PAGES {
            registry
                .register_template_string(name, *source)
                .with_context(|| format!("template {name}"))?;
        }
        Ok(Self { registry })
    }

    pub fn render(&self, name: &str, context: &impl Serialize) -> anyhow::Result<String> {
        self.registry
            .render(name, context)
            .with_context(|| format!("rendering the {name} page"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_template_parses_and_none_renders_unescaped() {
        let templates = Templates::load().unwrap();
        for (name, source) in PAGES.iter().chain(PARTIALS) {
            assert!(!source.contains("{{{"), "{name} uses triple braces");
            assert!(!source.contains("{{&"), "{name} renders unescaped");
        }
        let html = templates
            .render(
                "error",
                &json!({"title": "<b>", "status": 404, "message": "<script>alert(1)</script>"}),
            )
            .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
