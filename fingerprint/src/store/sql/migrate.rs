//! Migrations, the same way on both databases: one transaction that creates the table of
//! applied migrations, applies the missing ones in order and records each.

use chrono::Utc;

use super::dialect::{Dialect, Sql, Timestamp};
use super::{profiles, SqlStore};
use crate::store::{statements, ProgressFn, StoreError};

/// The newest migration this library knows for `D`.
fn supported<D: Dialect>() -> i64 {
    D::MIGRATIONS.last().map_or(0, |m| m.0)
}

/// `Store::migrate`: safe to run concurrently and repeatedly.
pub(crate) async fn migrate<D: Dialect>(
    store: &SqlStore<D>,
    progress: ProgressFn<'_>,
) -> Result<(), StoreError> {
    let mut tx = D::begin_write(&store.pool).await?;
    if !D::MIGRATION_LOCK.is_empty() {
        Sql::<D>::new(D::MIGRATION_LOCK).execute(&mut *tx).await?;
    }
    Sql::<D>::new(D::MIGRATIONS_TABLE).execute(&mut *tx).await?;
    let (current,): (Option<i64>,) =
        Sql::<D>::new("SELECT MAX(version) FROM fingerprint_migrations")
            .fetch_optional_on(&mut *tx)
            .await?
            .unwrap_or((None,));
    let current = current.unwrap_or(0);
    let supported = supported::<D>();
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    for &(version, description, sql) in D::MIGRATIONS.iter().filter(|m| m.0 > current) {
        for statement in statements(sql) {
            if statement
                .lines()
                .any(|line| line.trim() == profiles::MIGRATION_STEP)
            {
                profiles::migrate_rows::<D>(&mut tx, progress).await?;
            } else {
                Sql::<D>::new(statement).execute(&mut *tx).await?;
            }
        }
        Sql::<D>::new(
            "INSERT INTO fingerprint_migrations (version, description, applied_at) VALUES (",
        )
        .bind(version)
        .push(", ")
        .bind(description)
        .push(", ")
        .bind(Timestamp(Utc::now()))
        .push(")")
        .execute(&mut *tx)
        .await?;
        tracing::info!(version, description, "applied fingerprint migration");
    }
    tx.commit().await?;
    if current < supported {
        // Ids cached before a migration may name rows it rebuilt.
        store.urls.clear();
        store.profiles.clear();
        store.referers.clear();
    }
    Ok(())
}

/// `Store::check_schema`: the tables exist and are at the version this library expects.
pub(crate) async fn check_schema<D: Dialect>(store: &SqlStore<D>) -> Result<(), StoreError> {
    let supported = supported::<D>();
    let exists: Option<(i32,)> = Sql::new(D::HAS_MIGRATIONS_TABLE)
        .fetch_optional(&store.pool)
        .await?;
    let found = match exists {
        None => None,
        Some(_) => {
            let (found,): (Option<i64>,) =
                Sql::new("SELECT MAX(version) FROM fingerprint_migrations")
                    .fetch_one(&store.pool)
                    .await?;
            found
        }
    };
    match found {
        Some(found) if found == supported => Ok(()),
        Some(found) if found > supported => Err(StoreError::SchemaTooNew { found, supported }),
        _ => Err(StoreError::NotMigrated),
    }
}
