//! Opening the database named by a URL, with one clear line for each way it can fail.

use fingerprint::v1 as fp;

use crate::CliError;

/// The URL with its passwords hidden, for messages: the one after the user name and any
/// `password` parameter (sqlx reads both). A URL that does not parse is shown only when it
/// cannot hold a password.
pub(crate) fn redacted(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return if text.contains(['@', '?']) {
            "(a database URL that does not parse)".to_owned()
        } else {
            text.to_owned()
        };
    };
    if url.password().is_some() {
        // Only a URL that cannot have a password refuses one.
        let _ = url.set_password(Some("***"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let hidden = name.to_ascii_lowercase().contains("password");
                let value = if hidden {
                    "***".into()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
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
        assert_eq!(
            redacted("sqlite:data.db?mode=rwc"),
            "sqlite:data.db?mode=rwc"
        );
        // An `@` in the password: the URL's host starts after the last one, as for sqlx.
        assert_eq!(
            redacted("postgres://app:p@ss@db/x"),
            "postgres://app:***@db/x"
        );
        assert_eq!(
            redacted("postgres://db/x?user=app&password=secret&sslmode=require"),
            "postgres://db/x?user=app&password=***&sslmode=require"
        );
        assert_eq!(redacted("not a url"), "not a url");
        assert!(!redacted("nonsense:// a:b@c").contains('b'));
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
