//! Unique-visitor hit counts.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::store::{read_retrying, Reports, StoreError};

/// Something with a URL of its own (Django's `get_absolute_url`): a path such as `/articles/7`,
/// joined to the request's origin, or a whole `http(s)://` URL used as is.
///
/// ```
/// use std::borrow::Cow;
/// use fingerprint::v1::AbsoluteUrl;
///
/// struct Article { id: u32 }
/// impl AbsoluteUrl for Article {
///     fn absolute_url(&self) -> Cow<'_, str> {
///         format!("/articles/{}", self.id).into()
///     }
/// }
/// ```
pub trait AbsoluteUrl {
    /// The object's path (or absolute URL).
    fn absolute_url(&self) -> Cow<'_, str>;
}

/// Hit counts: the number of unique sessions that visited a URL through the fingerprint layer.
///
/// A read that fails in a way a retry may fix (a pooled connection the database closed) is
/// tried once more before the error is returned.
///
/// URLs are absolute, with their query string, exactly as recorded: `http://a/x?1` and
/// `http://a/x` are two URLs. Counts are kept as counters updated with each recorded batch, so
/// reading them is one indexed query; they include visits written by the recorder so far
/// (see [`Fingerprint::flush`](crate::v1::Fingerprint::flush)).
#[derive(Debug, Clone)]
pub struct Hits {
    pub(crate) store: Arc<dyn Reports>,
}

impl Hits {
    /// The count for one URL (0 when never seen).
    pub async fn for_url(&self, url: &str) -> Result<u64, StoreError> {
        let urls = [url];
        let counts = read_retrying(|| self.store.hit_counts(&urls)).await?;
        Ok(counts.get(url).copied().unwrap_or(0))
    }

    /// Counts for many URLs in one query. Every URL asked for is in the map (0 when never
    /// seen); no URLs give an empty map.
    pub async fn for_urls<I, S>(&self, urls: I) -> Result<HashMap<String, u64>, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let urls: Vec<S> = urls.into_iter().collect();
        let refs: Vec<&str> = urls.iter().map(AsRef::as_ref).collect();
        if refs.is_empty() {
            return Ok(HashMap::new());
        }
        let mut counts = read_retrying(|| self.store.hit_counts(&refs)).await?;
        for url in refs {
            counts.entry(url.to_owned()).or_insert(0);
        }
        Ok(counts)
    }

    /// Counts for objects with a URL, in one query, in the order of `objects`. `origin` is the
    /// scheme and host their paths are joined to, e.g. [`CurrentVisit::origin`](crate::v1::CurrentVisit::origin).
    pub async fn for_objects<T: AbsoluteUrl>(
        &self,
        origin: &str,
        objects: &[T],
    ) -> Result<Vec<u64>, StoreError> {
        let urls: Vec<String> = objects
            .iter()
            .map(|o| join(origin, &o.absolute_url()))
            .collect();
        let counts = self.for_urls(&urls).await?;
        Ok(urls
            .iter()
            .map(|url| counts.get(url).copied().unwrap_or(0))
            .collect())
    }
}

fn join(origin: &str, url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        url.to_owned()
    } else if url.starts_with('/') {
        format!("{}{url}", origin.trim_end_matches('/'))
    } else {
        format!("{}/{url}", origin.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn joins_paths_to_the_origin() {
        assert_eq!(join("http://a", "/x?y=1"), "http://a/x?y=1");
        assert_eq!(join("http://a/", "/x"), "http://a/x");
        assert_eq!(join("http://a", "x"), "http://a/x");
        assert_eq!(join("http://a", "https://b/c"), "https://b/c");
    }
}
