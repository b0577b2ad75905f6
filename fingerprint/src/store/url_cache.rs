//! The URL -> id cache, as the Django package caches its `Url` model.

use std::sync::Arc;

/// An in-process cache of URL ids, shared by the writer and the hit-count readers of one store.
///
/// On by default with room for 100,000 URLs ([`UrlCache::default`]); [`UrlCache::disabled`]
/// turns it off. Ids never change once a URL is stored, so entries need no expiry; the least
/// recently used are evicted when the cache is full.
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
    inner: Option<moka::sync::Cache<Arc<str>, i64>>,
}

impl UrlCache {
    /// A cache holding up to `capacity` URLs.
    #[must_use]
    pub fn with_capacity(capacity: u64) -> Self {
        Self {
            inner: Some(moka::sync::Cache::builder().max_capacity(capacity).build()),
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
            cache.invalidate_all();
        }
    }
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
                .field("entries", &cache.entry_count())
                .finish(),
            None => f.write_str("UrlCache(disabled)"),
        }
    }
}
