//! Opening the database named by a URL, with one clear line for each way it can fail.

use fingerprint::v1 as fp;

use crate::CliError;

/// The URL with its password hidden, for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// The file of a `sqlite:` URL, unless it is an in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    Some(path.into())
}

/// Opens the store at `url`. Unless `creating` (for `migrate`), the database must exist and
/// be migrated to this version.
pub async fn open(url: &str, creating: bool) -> Result<Box<dyn fp::FullStore>, CliError> {
    let shown = redacted(url);
    let unreachable = |error: fp::StoreError| {
        CliError::Config(format!("cannot open the database {shown}: {error}"))
    };
    let store: Box<dyn fp::FullStore> = if url.starts_with("sqlite:") {
        if let Some(file) = sqlite_file(url) {
            if !creating && !file.exists() {
                return Err(CliError::Config(format!(
                    "there is no database at {}: check --database-url, or create it with \
                     `fingerprint migrate`",
                    file.display()
                )));
            }
        }
        Box::new(fp::SqliteStore::connect(url).await.map_err(unreachable)?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Box::new(fp::PostgresStore::connect(url).await.map_err(unreachable)?)
    } else {
        return Err(CliError::Config(format!(
            "unsupported database URL {shown:?}: use sqlite://FILE or postgres://USER@HOST/DB"
        )));
    };
    if creating {
        return Ok(store);
    }
    match store.check_schema().await {
        Ok(()) => Ok(store),
        Err(fp::StoreError::NotMigrated) => Err(CliError::Config(format!(
            "the database {shown} has no fingerprint tables, or older ones: run \
             `fingerprint migrate` first"
        ))),
        Err(error @ fp::StoreError::SchemaTooNew { .. }) => Err(CliError::Config(format!(
            "{error}: use a newer fingerprint command"
        ))),
        Err(error) => Err(unreachable(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redacted("postgres://app:secret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redacted("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redacted("sqlite://a.db"), "sqlite://a.db");
    }

    #[test]
    fn sqlite_files() {
        assert_eq!(
            sqlite_file("sqlite://a/b.db?mode=rwc"),
            Some("a/b.db".into())
        );
        assert_eq!(sqlite_file("sqlite:data.db"), Some("data.db".into()));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x"), None);
    }
}
