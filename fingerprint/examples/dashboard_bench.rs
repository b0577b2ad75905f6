//! Times the dashboard's queries on a seeded data set (the figures in docs/dashboard.md).
//!
//! ```sh
//! cargo run --release -p fingerprint-rt --features seed --example dashboard_bench -- --rows 1000000
//! cargo run --release -p fingerprint-rt --features seed,postgres --example dashboard_bench -- \
//!     --rows 1000000 --postgres postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! SQLite: a file in a temporary folder (`--sqlite PATH` keeps it, and reuses it when it is
//! already seeded). PostgreSQL: a schema of its own, dropped at the end (`--keep` or
//! `--schema NAME` keeps it; `--analyze` runs ANALYZE after seeding, as autovacuum soon
//! would). Each query runs once to warm up, then `--runs` times (default 7); the median is
//! printed. With `--features dashboard`, whole dashboard pages are timed too (queries and
//! HTML, through the router).

use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeDelta, Utc};
use fingerprint::v1 as fp;

struct Args {
    rows: u64,
    runs: usize,
    sqlite: Option<String>,
    postgres: Option<String>,
    keep: bool,
    schema: Option<String>,
    analyze: bool,
}

fn args() -> Args {
    let mut args = Args {
        rows: 1_000_000,
        runs: 7,
        sqlite: None,
        postgres: None,
        keep: false,
        schema: None,
        analyze: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--rows" => args.rows = value().parse().expect("--rows N"),
            "--runs" => args.runs = value().parse().expect("--runs N"),
            "--sqlite" => args.sqlite = Some(value()),
            "--postgres" => args.postgres = Some(value()),
            "--keep" => args.keep = true,
            "--schema" => {
                args.schema = Some(value());
                args.keep = true;
            }
            "--analyze" => args.analyze = true,
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

async fn median<F, Fut, T>(runs: usize, mut query: F) -> (Duration, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, fp::StoreError>>,
{
    let mut result = query().await.expect("query");
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        result = query().await.expect("query");
        times.push(start.elapsed());
    }
    times.sort();
    (times[times.len() / 2], result)
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args();
    let mut _dir: Option<tempfile::TempDir> = None;
    let (store, name): (Box<dyn fp::FullStore>, String) = match &args.postgres {
        #[cfg(feature = "postgres")]
        Some(url) => {
            let schema = args
                .schema
                .clone()
                .unwrap_or_else(|| format!("fp_bench_{}", std::process::id()));
            let admin = sqlx::PgPool::connect(url).await?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&admin)
                .await?;
            let separator = if url.contains('?') { '&' } else { '?' };
            let url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
            admin.close().await;
            let store = fp::PostgresStore::connect(&url).await?;
            eprintln!(
                "schema {schema} ({})",
                if args.keep {
                    "kept"
                } else {
                    "dropped at the end"
                }
            );
            (Box::new(store), format!("postgres:{schema}"))
        }
        #[cfg(not(feature = "postgres"))]
        Some(_) => panic!("build with --features postgres"),
        None => {
            let path = match &args.sqlite {
                Some(path) => std::path::PathBuf::from(path),
                None => {
                    let dir = tempfile::tempdir()?;
                    let path = dir.path().join("bench.db");
                    _dir = Some(dir);
                    path
                }
            };
            let url = format!("sqlite://{}", path.display());
            let store = fp::SqliteStore::connect(&url).await?;
            (Box::new(store), format!("sqlite:{}", path.display()))
        }
    };
    store.migrate().await?;
    let now = Utc::now();

    let existing = store
        .request_fingerprints(&fp::RequestQuery::new().with_limit(1))
        .await?;
    if existing.items.is_empty() {
        let started = Instant::now();
        let mut last = Instant::now();
        let report = fingerprint::seed::seed(
            &*store,
            fingerprint::seed::SeedOptions::new(args.rows)
                .with_now(now)
                .with_progress(move |p| {
                    if last.elapsed() > Duration::from_secs(5) {
                        last = Instant::now();
                        eprintln!(
                            "  {} / {} rows, {:.0} s",
                            p.request_fingerprints,
                            p.total,
                            started.elapsed().as_secs_f64()
                        );
                    }
                }),
        )
        .await?;
        println!(
            "seeded {name}: {} request fingerprints, {} sessions ({} linked), {} users, {} browser fingerprints, {} URLs in {:.1} s ({:.0} rows/s)",
            report.request_fingerprints,
            report.sessions,
            report.linked_sessions,
            report.users,
            report.browser_fingerprints,
            report.urls,
            report.elapsed.as_secs_f64(),
            report.request_fingerprints as f64 / report.elapsed.as_secs_f64()
        );
    } else {
        println!("reusing {name}");
    }
    #[cfg(feature = "postgres")]
    if let (true, Some(url)) = (args.analyze, &args.postgres) {
        // What autovacuum does shortly after a bulk load: statistics for the planner.
        let schema = name.trim_start_matches("postgres:");
        let admin = sqlx::PgPool::connect(url).await?;
        let started = Instant::now();
        for table in [
            "fingerprint_sessions",
            "fingerprint_urls",
            "fingerprint_request_fingerprints",
            "fingerprint_browser_fingerprints",
            "fingerprint_url_visitors",
            "fingerprint_hit_counts",
            "fingerprint_user_devices",
            "fingerprint_users",
            "fingerprint_daily",
            "fingerprint_daily_sessions",
        ] {
            sqlx::query(&format!("ANALYZE {schema}.{table}"))
                .execute(&admin)
                .await?;
        }
        println!("ANALYZE took {:.1} s", started.elapsed().as_secs_f64());
    }

    let runs = args.runs;
    let today: NaiveDate = Utc::now().date_naive();
    let first = today - TimeDelta::days(29);
    let row = |what: &str, time: Duration, note: String| {
        println!("| {what} | {} | {note} |", ms(time));
    };
    println!("| query | median ms | result |");
    println!("| --- | ---: | --- |");

    let (t, _) = median(runs, || async {
        let traffic = store.daily_traffic(first, today).await?;
        let mut rows = traffic.len();
        for dimension in fp::Dimension::ALL {
            rows += store.breakdown(dimension, first, today, 10).await?.len();
        }
        rows += store
            .urls(&fp::UrlQuery::new().with_limit(10))
            .await?
            .items
            .len();
        Ok(rows)
    })
    .await;
    row(
        "overview: 30 days, 4 breakdowns, top 10 pages",
        t,
        String::new(),
    );

    // Users.
    let all_users = fp::UserQuery::new();
    let (t, users) = median(runs, || store.users(&all_users)).await;
    row(
        "users, first page",
        t,
        format!("{} users", users.items.len()),
    );
    let mut cursor = users.next.clone();
    for _ in 0..48 {
        let Some(after) = cursor.take() else { break };
        cursor = store
            .users(&fp::UserQuery::new().with_after(after))
            .await?
            .next;
    }
    if let Some(after) = cursor {
        let query = fp::UserQuery::new().with_after(after);
        let (t, _) = median(runs, || store.users(&query)).await;
        row("users, page 50", t, String::new());
    }
    let week = fp::UserQuery::new()
        .with_seen_since(now - TimeDelta::days(7))
        .with_request_fingerprints(fp::CountBucket::TwoToThree);
    let (t, page) = median(runs, || store.users(&week)).await;
    row(
        "users seen within 1 week with 2-3 request fingerprints",
        t,
        format!("{} users", page.items.len()),
    );
    let search = fp::UserQuery::new().with_search("123");
    let (t, page) = median(runs, || store.users(&search)).await;
    row(
        "users, search \"123\" (substring)",
        t,
        format!("{} users", page.items.len()),
    );

    // One user: the most recently seen one with most sessions on the first page.
    let top = users
        .items
        .iter()
        .max_by_key(|u| u.sessions)
        .map(|u| u.user_id.clone())
        .unwrap_or_default();
    let (t, summary) = median(runs, || async {
        let summary = store.user(&top).await?;
        let devices = store.user_devices(&top).await?;
        let sessions = store.user_sessions(&top, 50).await?;
        let places = store.user_places(&top, 50).await?;
        let timeline = store.user_timeline(&top, None, 50).await?;
        Ok((
            summary,
            devices,
            sessions.len(),
            places.len(),
            timeline.items.len(),
        ))
    })
    .await;
    let sessions_of_user = summary.0.as_ref().map_or(0, |s| s.sessions);
    row(
        "one user: summary, devices, sessions, places, timeline",
        t,
        format!(
            "user {top}: {sessions_of_user} sessions, {} devices, {} places",
            summary.1.devices.len() + summary.1.browsers.len(),
            summary.3
        ),
    );

    // Sessions.
    let all_sessions = fp::SessionQuery::new();
    let (t, sessions) = median(runs, || store.sessions(&all_sessions)).await;
    row(
        "sessions, first page",
        t,
        format!("{}", sessions.items.len()),
    );
    let mut cursor = sessions.next.clone();
    for _ in 0..98 {
        let Some(after) = cursor.take() else { break };
        cursor = store
            .sessions(&fp::SessionQuery::new().with_after(after))
            .await?
            .next;
    }
    if let Some(after) = cursor {
        let query = fp::SessionQuery::new().with_after(after);
        let (t, _) = median(runs, || store.sessions(&query)).await;
        row("sessions, page 100", t, String::new());
    }
    let query = fp::SessionQuery::new().with_linked(false);
    let (t, page) = median(runs, || store.sessions(&query)).await;
    row(
        "sessions, anonymous only",
        t,
        format!("{}", page.items.len()),
    );
    let query = fp::SessionQuery::new().with_key_prefix("ab");
    let (t, page) = median(runs, || store.sessions(&query)).await;
    row(
        "sessions, key prefix \"ab\"",
        t,
        format!("{}", page.items.len()),
    );

    // Request fingerprints.
    let all_requests = fp::RequestQuery::new();
    let (t, requests) = median(runs, || store.request_fingerprints(&all_requests)).await;
    row("request fingerprints, first page", t, String::new());
    let mut cursor = requests.next.clone();
    for _ in 0..98 {
        let Some(after) = cursor.take() else { break };
        cursor = store
            .request_fingerprints(&fp::RequestQuery::new().with_after(after))
            .await?
            .next;
    }
    if let Some(after) = cursor {
        let query = fp::RequestQuery::new().with_after(after);
        let (t, _) = median(runs, || store.request_fingerprints(&query)).await;
        row("request fingerprints, page 100", t, String::new());
    }
    let busy_ip = requests
        .items
        .iter()
        .find_map(|r| r.fingerprint.ip.filter(std::net::IpAddr::is_ipv4))
        .unwrap_or(std::net::IpAddr::from([23, 1, 2, 3]));
    let std::net::IpAddr::V4(v4) = busy_ip else {
        unreachable!()
    };
    let octets = v4.octets();
    for (label, filter) in [
        (format!("ip {busy_ip}"), busy_ip.to_string()),
        (
            format!("ip {}.{}.0.0/16", octets[0], octets[1]),
            format!("{}.{}.0.0/16", octets[0], octets[1]),
        ),
        (
            format!("ip {}.{}.0.0/20", octets[0], octets[1]),
            format!("{}.{}.0.0/20", octets[0], octets[1]),
        ),
        (
            format!("ip {}.0.0.0/8", octets[0]),
            format!("{}.0.0.0/8", octets[0]),
        ),
    ] {
        let query = fp::RequestQuery::new().with_ip(filter.parse()?);
        let (t, page) = median(runs, || store.request_fingerprints(&query)).await;
        row(
            &format!("request fingerprints, {label}"),
            t,
            format!("{} rows", page.items.len()),
        );
    }
    for text in ["Firefox", "SamsungBrowser", "no such agent"] {
        let query = fp::RequestQuery::new().with_user_agent(text);
        let (t, page) = median(runs, || store.request_fingerprints(&query)).await;
        row(
            &format!("request fingerprints, user agent contains \"{text}\" (one page)"),
            t,
            format!(
                "{} rows, next: {}",
                page.items.len(),
                if page.next.is_some() { "yes" } else { "no" }
            ),
        );
    }
    for prefix in [
        "https://shop.example/",
        "https://shop.example/products/1",
        "https://shop.example/blog/2021-notes-on-18",
    ] {
        let query = fp::RequestQuery::new().with_url_prefix(prefix);
        let (t, page) = median(runs, || store.request_fingerprints(&query)).await;
        row(
            &format!("request fingerprints, URL prefix {prefix}"),
            t,
            format!("{} rows", page.items.len()),
        );
    }
    let key = requests.items[0].session_key.clone();
    let query = fp::RequestQuery::new().with_session(key);
    let (t, page) = median(runs, || store.request_fingerprints(&query)).await;
    row(
        "request fingerprints of one session",
        t,
        format!("{} rows", page.items.len()),
    );

    // Browser fingerprints.
    let all_browsers = fp::BrowserQuery::new();
    let (t, browsers) = median(runs, || store.browser_fingerprints(&all_browsers)).await;
    row("browser fingerprints, first page", t, String::new());
    for prefix in ["a", "abc"] {
        let query = fp::BrowserQuery::new().with_visitor_prefix(prefix);
        let (t, page) = median(runs, || store.browser_fingerprints(&query)).await;
        row(
            &format!("browser fingerprints, visitor id prefix \"{prefix}\""),
            t,
            format!("{} rows", page.items.len()),
        );
    }
    let visitor = browsers.items[0].visitor_id.clone();
    #[cfg(not(feature = "dashboard"))]
    let _ = (&top, &requests);
    let (t, _) = median(runs, || async {
        let latest = store.latest_browser(&visitor).await?;
        let users = store.visitor_users(&visitor).await?;
        let sessions = store.visitor_sessions(&visitor, 50).await?;
        Ok((latest, users, sessions))
    })
    .await;
    row(
        "one visitor id: components, users, sessions",
        t,
        String::new(),
    );

    // URLs.
    let all_urls = fp::UrlQuery::new();
    let (t, urls) = median(runs, || store.urls(&all_urls)).await;
    row("URLs by hits, first page", t, String::new());
    let mut cursor = urls.next.clone();
    for _ in 0..8 {
        let Some(after) = cursor.take() else { break };
        cursor = store
            .urls(&fp::UrlQuery::new().with_after(after))
            .await?
            .next;
    }
    if let Some(after) = cursor {
        let query = fp::UrlQuery::new().with_after(after);
        let (t, _) = median(runs, || store.urls(&query)).await;
        row("URLs by hits, page 10", t, String::new());
    }
    let query = fp::UrlQuery::new().with_prefix("https://shop.example/products/");
    let (t, page) = median(runs, || store.urls(&query)).await;
    row(
        "URLs, prefix https://shop.example/products/",
        t,
        format!("{} URLs", page.items.len()),
    );

    #[cfg(feature = "dashboard")]
    time_pages(store, runs, &top, &requests, &visitor).await?;

    #[cfg(feature = "postgres")]
    if let (Some(url), false) = (&args.postgres, args.keep) {
        let schema = name.trim_start_matches("postgres:");
        let admin = sqlx::PgPool::connect(url).await?;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await?;
    }
    Ok(())
}

/// Median time of whole dashboard pages (handler, queries, template), through the router.
#[cfg(feature = "dashboard")]
async fn time_pages(
    store: Box<dyn fp::FullStore>,
    runs: usize,
    user: &str,
    requests: &fp::Page<fp::StoredRequest>,
    visitor: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    let store: std::sync::Arc<dyn fp::FullStore> = store.into();
    let key = requests.items[0].session_key.clone();
    let ip = requests.items[0]
        .fingerprint
        .ip
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let other = store
        .browser_fingerprints(&fp::BrowserQuery::new())
        .await?
        .items
        .into_iter()
        .map(|b| b.visitor_id)
        .find(|v| v != visitor)
        .unwrap_or_else(|| visitor.to_owned());
    let fingerprint = fp::Fingerprint::builder(store).build()?;
    let app = axum::Router::new().nest(
        "/d",
        fingerprint.dashboard(|_: &http::request::Parts| fp::DashboardAccess::Allow),
    );
    println!();
    println!("| page | median ms | bytes |");
    println!("| --- | ---: | ---: |");
    for path in [
        String::new(),
        "/users".into(),
        "/users?seen=1w&requests=2-3".into(),
        format!("/users/{user}"),
        "/sessions".into(),
        format!("/sessions/{key}"),
        "/browsers".into(),
        format!("/browsers/{visitor}"),
        format!("/browsers/diff?a={visitor}&b={other}"),
        "/requests".into(),
        format!("/requests?ip={ip}"),
        "/requests?ua=Firefox".into(),
        "/urls".into(),
        "/api/overview".into(),
    ] {
        let uri = format!("/d{path}");
        let (time, bytes) = median(runs, || {
            let app = app.clone();
            let uri = uri.clone();
            async move {
                let response = app
                    .oneshot(
                        http::Request::get(&uri)
                            .body(axum::body::Body::empty())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                assert_eq!(response.status(), http::StatusCode::OK, "{uri}");
                let body = response.into_body().collect().await.unwrap().to_bytes();
                Ok::<_, fp::StoreError>(body.len())
            }
        })
        .await;
        let shown = if path.is_empty() { "/" } else { path.as_str() };
        println!("| `{shown}` | {} | {bytes} |", ms(time));
    }
    fingerprint.shutdown().await;
    Ok(())
}
