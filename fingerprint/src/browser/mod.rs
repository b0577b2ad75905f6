//! Browser fingerprinting: the collector script, its endpoint, the redirect page and the
//! script tag that includes the collector on any page.

use std::sync::LazyLock;
use std::time::Duration;

// The parser, the redirect check and token verification serve the routes (feature `axum`).
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) mod components;
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
mod next;
#[cfg(feature = "axum")]
pub(crate) mod routes;
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
mod token;

pub(crate) use next::html_escape;
pub use next::{check_redirect, RedirectPolicy, RefusedRedirect};
pub(crate) use token::Signer;

/// The collector, as served.
pub(crate) const COLLECTOR_JS: &str = include_str!("collector.js");

/// A short content hash of the collector: its URL changes whenever it does, so it can be
/// cached forever.
pub(crate) static COLLECTOR_VERSION: LazyLock<String> =
    LazyLock::new(|| crate::hex::sha256_prefix(COLLECTOR_JS.as_bytes(), 6));

/// Browser-fingerprinting settings (filled by the builder).
#[derive(Debug, Clone)]
pub(crate) struct BrowserSettings {
    pub(crate) signer: Signer,
    pub(crate) token_ttl: Duration,
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) redirect_delay: Duration,
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) policy: RedirectPolicy,
    /// Where the routes are mounted, without a trailing slash (`/fingerprint`).
    pub(crate) prefix: String,
}

impl BrowserSettings {
    pub(crate) fn endpoint(&self) -> String {
        format!("{}/", self.prefix)
    }

    pub(crate) fn script_src(&self) -> String {
        format!("{}/collector-{}.js", self.prefix, *COLLECTOR_VERSION)
    }
}

/// The `<script>` element that runs the browser collector on a page: `defer`red, with the
/// endpoint, a signed token bound to the visitor's session and page, and a CSP nonce when one
/// was given. Its `Display` is HTML, safe to write unescaped.
///
/// Made by [`Fingerprint::script_tag`](crate::v1::Fingerprint::script_tag). With the `askama`
/// feature it renders unescaped in askama templates; with `minijinja` it converts into a
/// safe `minijinja::Value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptTag(pub(crate) String);

impl ScriptTag {
    /// No element (browser fingerprinting is not allowed for the request).
    pub(crate) fn empty() -> Self {
        Self(String::new())
    }

    /// Whether there is no element to write (browser fingerprinting is not allowed for the
    /// request).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The HTML.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ScriptTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ScriptTag> for String {
    fn from(tag: ScriptTag) -> Self {
        tag.0
    }
}

#[cfg(feature = "askama")]
#[cfg_attr(docsrs, doc(cfg(feature = "askama")))]
impl askama::filters::HtmlSafe for ScriptTag {}

#[cfg(feature = "minijinja")]
#[cfg_attr(docsrs, doc(cfg(feature = "minijinja")))]
impl From<ScriptTag> for minijinja::Value {
    fn from(tag: ScriptTag) -> Self {
        minijinja::Value::from_safe_string(tag.0)
    }
}

/// Renders the script element.
pub(crate) fn script_element(
    settings: &BrowserSettings,
    token: &str,
    nonce: Option<&str>,
    next: Option<&str>,
) -> ScriptTag {
    let mut html = format!(
        "<script defer src=\"{}\" data-endpoint=\"{}\" data-token=\"{}\"",
        html_escape(&settings.script_src()),
        html_escape(&settings.endpoint()),
        html_escape(token),
    );
    if let Some(next) = next {
        html.push_str(&format!(" data-next=\"{}\"", html_escape(next)));
    }
    if let Some(nonce) = nonce {
        html.push_str(&format!(" nonce=\"{}\"", html_escape(nonce)));
    }
    html.push_str("></script>");
    ScriptTag(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BrowserSettings {
        BrowserSettings {
            signer: Signer::new(vec![7; 32]),
            token_ttl: Duration::from_secs(60),
            redirect_delay: Duration::from_secs(3),
            policy: RedirectPolicy::default(),
            prefix: "/fp".into(),
        }
    }

    #[test]
    fn script_element_attributes_are_escaped() {
        let tag = script_element(&settings(), "a.b", Some("n\"once"), Some("/x?a=1&b=2"));
        let html = tag.to_string();
        assert!(html.starts_with(&format!(
            "<script defer src=\"/fp/collector-{}.js\" data-endpoint=\"/fp/\" data-token=\"a.b\"",
            *COLLECTOR_VERSION
        )));
        assert!(html.contains(" data-next=\"/x?a=1&amp;b=2\""));
        assert!(html.contains(" nonce=\"n&quot;once\""));
        assert!(html.ends_with("></script>"));
        assert_eq!(COLLECTOR_VERSION.len(), 12);
    }

    #[cfg(feature = "minijinja")]
    #[test]
    fn minijinja_renders_the_tag_unescaped() {
        let mut env = minijinja::Environment::new();
        env.add_template("page.html", "<body>{{ tag }}</body>")
            .unwrap();
        let tag = script_element(&settings(), "t", None, None);
        let html = env
            .get_template("page.html")
            .unwrap()
            .render(minijinja::context! { tag => minijinja::Value::from(tag.clone()) })
            .unwrap();
        assert_eq!(html, format!("<body>{tag}</body>"));
    }
}
