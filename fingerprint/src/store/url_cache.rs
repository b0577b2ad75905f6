//! The URL -> id cache, as the Django package caches its `Url` model.

use std::sync::Arc;

/// An in-process cache of URL ids, shared by the writer and the hit-count readers of one store.
///
/// On by default with room for 100,000 URLs ([`UrlCache::default`]); [`UrlCache::disabled`]
/// turns it off. Ids never change once a URL is stored, so entries need no expiry; when the
/// cache is full, the entries least likely to be asked again are evicted (quick_cache's
/// S3-FIFO policy). A lookup costs tens of nanoseconds, so `hit_counts` for a thousand URLs
/// spends well under a tenth of a millisecond here. The store keeps two more of these, for
/// header profile and referer ids.
///
/// ```
/// use fingerprint::v1::UrlCache;
///
/// let small = UrlCache::with_capacity(10_000);
/// let off = UrlCache::disabled();
/// assert!(small.is_enabled() && !off.is_enabled());
/// ```
#[derive(Clone)]
pub struct UrlCache {
    inner: Option<Arc<quick_cache::sync::Cache<Arc<str>, i64>>>,
}

impl UrlCache {
    /// A cache holding up to `capacity` URLs.
    #[must_use]
    pub fn with_capacity(capacity: u64) -> Self {
        Self {
            inner: Some(Arc::new(quick_cache::sync::Cache::new(
                usize::try_from(capacity).unwrap_or(usize::MAX).max(1),
            ))),
        }
    }

    /// No caching: every lookup goes to the database.
    #[must_use]
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Whether lookups are cached.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    pub(crate) fn get(&self, url: &str) -> Option<i64> {
        self.inner.as_ref()?.get(url)
    }

    pub(crate) fn insert(&self, url: &str, id: i64) {
        if let Some(cache) = &self.inner {
            cache.insert(Arc::from(url), id);
        }
    }

    /// Forgets every cached id (after URLs were deleted, for example).
    pub fn clear(&self) {
        if let Some(cache) = &self.inner {
            cache.clear();
        }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// The URLs of `urls` whose id the cache knows (by id), and the others.
pub(crate) fn split_cached<'a>(
    cache: &UrlCache,
    urls: &[&'a str],
) -> (std::collections::HashMap<i64, &'a str>, Vec<&'a str>) {
    let mut known = std::collections::HashMap::with_capacity(urls.len());
    let mut unknown = Vec::new();
    for &url in urls {
        match cache.get(url) {
            Some(id) => {
                known.insert(id, url);
            }
            None => unknown.push(url),
        }
    }
    (known, unknown)
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// Adds the `(id, url)` rows a store found for the `unknown` URLs to the cache and to
/// `known` (by the caller's own string, as [`split_cached`] keeps them).
pub(crate) fn add_found<'a>(
    cache: &UrlCache,
    known: &mut std::collections::HashMap<i64, &'a str>,
    unknown: &[&'a str],
    found: Vec<(i64, String)>,
) {
    let asked: std::collections::HashSet<&'a str> = unknown.iter().copied().collect();
    for (id, url) in found {
        cache.insert(&url, id);
        if let Some(&url) = asked.get(url.as_str()) {
            known.insert(id, url);
        }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// The counts of `(ids, hits)` (one row of two arrays) by the URLs of `known`.
pub(crate) fn counts_by_url(
    known: &std::collections::HashMap<i64, &str>,
    ids: Vec<i64>,
    hits: Vec<i64>,
) -> std::collections::HashMap<String, u64> {
    ids.into_iter()
        .zip(hits)
        .filter_map(|(id, hits)| {
            let url = known.get(&id)?;
            Some(((*url).to_owned(), u64::try_from(hits).unwrap_or(0)))
        })
        .collect()
}

impl Default for UrlCache {
    fn default() -> Self {
        Self::with_capacity(100_000)
    }
}

impl std::fmt::Debug for UrlCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Some(cache) => f
                .debug_struct("UrlCache")
                .field("entries", &cache.len())
                .finish(),
            None => f.write_str("UrlCache(disabled)"),
        }
    }
}
