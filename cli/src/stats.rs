//! `stats`: totals and the most visited URLs, as text or JSON.

use fingerprint::v1 as fp;
use serde_json::json;

fn rows(totals: &fp::Totals) -> [(&'static str, &'static str, u64); 8] {
    [
        ("sessions", "sessions", totals.sessions),
        (
            "linked_sessions",
            "linked to a user",
            totals.linked_sessions,
        ),
        ("users", "users", totals.users),
        (
            "request_fingerprints",
            "request fingerprints",
            totals.request_fingerprints,
        ),
        (
            "browser_fingerprints",
            "browser fingerprints",
            totals.browser_fingerprints,
        ),
        ("visitor_ids", "distinct visitor ids", totals.visitor_ids),
        ("urls", "URLs", totals.urls),
        (
            "unique_visits",
            "unique visits (sum of hit counts)",
            totals.unique_visits,
        ),
    ]
}

/// Aligned text.
pub(crate) fn text(totals: &fp::Totals, urls: &[fp::UrlHits]) -> String {
    let mut out = String::new();
    for (_, label, n) in rows(totals) {
        out.push_str(&format!("{n:>12}  {label}\n"));
    }
    if urls.is_empty() {
        out.push_str("\nno URL has hits yet");
    } else {
        out.push_str("\nunique visitors  URL\n");
        for url in urls {
            out.push_str(&format!("{:>15}  {}\n", url.hits, url.url));
        }
    }
    out.trim_end().to_owned()
}

/// A JSON document: `{"totals": {...}, "top_urls": [{"url", "hits"}]}`.
pub(crate) fn json(totals: &fp::Totals, urls: &[fp::UrlHits]) -> String {
    let totals: serde_json::Map<String, serde_json::Value> = rows(totals)
        .into_iter()
        .map(|(key, _, n)| (key.to_owned(), json!(n)))
        .collect();
    let urls: Vec<serde_json::Value> = urls
        .iter()
        .map(|u| json!({ "url": u.url, "hits": u.hits }))
        .collect();
    json!({ "totals": totals, "top_urls": urls }).to_string()
}
