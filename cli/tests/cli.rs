//! The `fingerprint` binary on a real SQLite file and a real PostgreSQL schema: what each
//! command does, and the one-line errors (exit code 2) for a bad URL, an unreachable or an
//! unmigrated database.

use std::process::{Command, Output};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use fingerprint::v1 as fp;

fn fingerprint(url: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fingerprint"));
    command.env_remove("FINGERPRINT_DATABASE_URL");
    if let Some(url) = url {
        command.args(["--database-url", url]);
    }
    command.args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[track_caller]
fn assert_config_error(output: &Output, says: &str) {
    assert_eq!(output.status.code(), Some(2), "{}", stderr(output));
    let message = stderr(output);
    assert!(message.contains(says), "{message:?} should say {says:?}");
    assert_eq!(
        message.trim_end().lines().count(),
        1,
        "one line: {message:?}"
    );
}

#[test]
fn configuration_errors_are_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_config_error(
        &fingerprint(None, &["migrate"]),
        "no database: pass --database-url",
    );
    assert_config_error(
        &fingerprint(Some("mysql://x"), &["migrate"]),
        "unsupported database URL",
    );
    let missing = format!("sqlite://{}", dir.path().join("missing.db").display());
    assert_config_error(
        &fingerprint(Some(&missing), &["export", "requests"]),
        "there is no database at",
    );
    assert!(!dir.path().join("missing.db").exists(), "nothing created");
    // A database without our tables.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert_config_error(
        &fingerprint(
            Some(&format!("sqlite://{}", empty.display())),
            &["purge", "--older-than", "90d"],
        ),
        "run `fingerprint migrate` first",
    );
    assert_config_error(
        &fingerprint(
            Some("postgres://nobody:secret@127.0.0.1:1/none"),
            &["forget-user", "u"],
        ),
        "cannot open the database postgres://nobody:***@127.0.0.1:1/none",
    );
    let bad_age = fingerprint(Some(&missing), &["purge", "--older-than", "ninety"]);
    assert_eq!(bad_age.status.code(), Some(2));
    assert!(stderr(&bad_age).contains("90d"), "{}", stderr(&bad_age));
    // `m`: minutes or months? A purge that guessed wrong could not be undone.
    for args in [
        &["purge", "--older-than", "3m"][..],
        &["export", "requests", "--since", "1m"],
    ] {
        let ambiguous = fingerprint(Some(&missing), args);
        assert_eq!(ambiguous.status.code(), Some(2));
        assert!(
            stderr(&ambiguous).contains("could be minutes or months"),
            "{}",
            stderr(&ambiguous)
        );
    }
    let days = fingerprint(Some(&missing), &["seed", "--days", "200000000"]);
    assert_eq!(days.status.code(), Some(2), "{}", stderr(&days));
}

/// `--help` shows that the database URL comes from the environment, not its password.
#[test]
fn help_does_not_show_the_database_password() {
    let help = Command::new(env!("CARGO_BIN_EXE_fingerprint"))
        .env("FINGERPRINT_DATABASE_URL", "postgres://app:secret@db/x")
        .args(["purge", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(stdout(&help).contains("FINGERPRINT_DATABASE_URL"));
    assert!(!stdout(&help).contains("secret"), "{}", stdout(&help));
}

/// A database migrated by a newer version is a configuration error for every command,
/// `migrate` included (exit code 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_database_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("newer.db").display());
    assert!(fingerprint(Some(&url), &["migrate"]).status.success());
    let store = fp::SqliteStore::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO fingerprint_migrations (version, description, applied_at) \
         VALUES (999, 'from the future', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.pool().close().await;
    for command in ["migrate", "stats"] {
        let output = fingerprint(Some(&url), &[command]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{command}: {}",
            stderr(&output)
        );
    }
}

/// Three sessions: one 100 days old, two recent; one linked to "u".
async fn fill(store: &dyn fp::Store) {
    let now = Utc::now();
    let key = |n: u32| format!("{n:032x}");
    let mut visits = Vec::new();
    for (n, days, url) in [(1, 100, "/old"), (2, 1, "/a"), (3, 1, "/a"), (3, 1, "/b")] {
        let mut fingerprint =
            fp::RequestFingerprint::new(format!("http://site{url}"), now - TimeDelta::days(days));
        fingerprint.user_agent = "curl/8.5.0, \"quoted\"".into();
        // A client's referer made to run as a spreadsheet formula.
        fingerprint.referer = "=HYPERLINK(\"http://evil\",\"x\")".into();
        // What the recorder derives; a direct `record` stores what it is given.
        fingerprint.device = fp::Device::from_user_agent(&fingerprint.user_agent);
        visits.push(fp::Visit::new(key(n), fingerprint));
    }
    store.record(&visits, Duration::ZERO).await.unwrap();
    store
        .record_browser(&fp::BrowserVisit::new(
            key(2),
            "e".repeat(32),
            "{\"screen\":[1,2,3]}",
            now,
        ))
        .await
        .unwrap();
    store
        .link_sessions(&[fp::SessionLink::new(key(2), "u", now)])
        .await
        .unwrap();
}

/// Every command on the database at `url` (migrated by the CLI itself).
async fn commands_work_on(url: &str) {
    let migrated = fingerprint(Some(url), &["migrate"]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    assert!(stdout(&migrated).contains("migrated"));
    let store: Box<dyn fp::Maintenance> = if url.starts_with("sqlite:") {
        Box::new(fp::SqliteStore::connect(url).await.unwrap())
    } else {
        Box::new(fp::PostgresStore::connect(url).await.unwrap())
    };
    fill(&*store).await;

    let stats = fingerprint(Some(url), &["stats", "--json", "--top", "2"]);
    assert!(stats.status.success(), "{}", stderr(&stats));
    let stats: serde_json::Value = serde_json::from_str(&stdout(&stats)).unwrap();
    assert_eq!(stats["totals"]["sessions"], 3);
    assert_eq!(stats["totals"]["linked_sessions"], 1);
    assert_eq!(stats["totals"]["users"], 1);
    assert_eq!(stats["totals"]["request_fingerprints"], 4);
    assert_eq!(stats["totals"]["browser_fingerprints"], 1);
    assert_eq!(stats["totals"]["unique_visits"], 4);
    assert_eq!(
        stats["top_urls"][0],
        serde_json::json!({ "url": "http://site/a", "hits": 2 })
    );
    assert_eq!(stats["top_urls"].as_array().unwrap().len(), 2, "--top 2");
    let text = stdout(&fingerprint(Some(url), &["stats"]));
    assert!(text.contains("           3  sessions"), "{text}");
    assert!(text.contains("              2  http://site/a"), "{text}");

    let csv = fingerprint(Some(url), &["export", "requests"]);
    assert!(csv.status.success(), "{}", stderr(&csv));
    let csv = stdout(&csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[0].starts_with("id,session,created_at,url,ip,method,user_agent,"));
    assert!(
        lines[1].contains(",\"curl/8.5.0, \"\"quoted\"\"\","),
        "CSV quoting: {}",
        lines[1]
    );
    assert!(
        lines[1].contains(",\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\","),
        "a formula is shown as text: {}",
        lines[1]
    );
    let jsonl = stdout(&fingerprint(
        Some(url),
        &["export", "requests", "--format", "jsonl"],
    ));
    let row: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(
        row["referer"], "=HYPERLINK(\"http://evil\",\"x\")",
        "as stored"
    );
    assert!(
        lines[1].contains(",curl,8,,,bot"),
        "derived columns: {}",
        lines[1]
    );

    let jsonl = stdout(&fingerprint(
        Some(url),
        &["export", "browsers", "--format", "jsonl"],
    ));
    let row: serde_json::Value = serde_json::from_str(jsonl.trim()).unwrap();
    assert_eq!(row["visitor_id"], "e".repeat(32));
    assert_eq!(row["components"]["screen"], serde_json::json!([1, 2, 3]));
    assert_eq!(row["url"], serde_json::Value::Null);

    let recent = stdout(&fingerprint(
        Some(url),
        &["export", "sessions", "--format", "jsonl", "--since", "7d"],
    ));
    assert_eq!(recent.lines().count(), 2, "{recent}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sessions.csv");
    let to_file = fingerprint(
        Some(url),
        &[
            "export",
            "sessions",
            "-o",
            file.to_str().unwrap(),
            "--since",
            "2000-01-01",
        ],
    );
    assert!(
        stdout(&to_file).contains("exported 3 rows"),
        "{}",
        stdout(&to_file)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 4);

    let purged = fingerprint(Some(url), &["purge", "--older-than", "30d"]);
    assert!(purged.status.success(), "{}", stderr(&purged));
    assert!(
        stdout(&purged)
            .contains(": 1 request and 0 browser fingerprints, 1 sessions; 1 unique visits"),
        "{}",
        stdout(&purged)
    );
    let again = fingerprint(
        Some(url),
        &["purge", "--older-than", "30d", "--count-automated"],
    );
    assert!(
        stdout(&again).contains(": 0 request and 0 browser fingerprints"),
        "{}{}",
        stdout(&again),
        stderr(&again)
    );

    let forgot = fingerprint(Some(url), &["forget-user", "u"]);
    assert!(
        stdout(&forgot).contains("forgot user \"u\": 1 sessions, 1 request and 1 browser"),
        "{}",
        stdout(&forgot)
    );
    let again = fingerprint(Some(url), &["forget-user", "u"]);
    assert!(stdout(&again).contains("nothing to forget"));
    assert_eq!(
        store.hit_counts(&["http://site/a"]).await.unwrap()["http://site/a"],
        1,
        "session 3 is left"
    );

    store.rebuild_hit_counts(10, false).await.unwrap();
    let rebuilt = fingerprint(Some(url), &["rebuild-hit-counts", "--chunk", "1"]);
    assert!(
        stdout(&rebuilt).contains("rebuilt 2 counters from 2 unique visits"),
        "{}",
        stdout(&rebuilt)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    commands_work_on(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_on_postgres() {
    let Ok(base) = std::env::var("FINGERPRINT_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED commands_on_postgres: set FINGERPRINT_TEST_POSTGRES_URL to run it");
        return;
    };
    let schema = format!("fp_cli_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    for sql in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        sqlx::query(&sql).execute(&admin).await.unwrap();
    }
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    commands_work_on(&url).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
}

#[test]
fn seed_makes_a_database_to_look_at() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("seeded.db").display());
    let seeded = fingerprint(
        Some(&url),
        &["seed", "--rows", "3000", "--days", "7", "--seed", "9"],
    );
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    let said = stdout(&seeded);
    assert!(
        said.starts_with("seeded 3000 request fingerprints in "),
        "{said}"
    );
    let stats = fingerprint(Some(&url), &["stats", "--json", "--top", "5"]);
    let stats: serde_json::Value = serde_json::from_str(&stdout(&stats)).unwrap();
    assert_eq!(stats["totals"]["request_fingerprints"], 3000);
    assert!(stats["totals"]["users"].as_u64().unwrap() > 0);
    assert!(stats["totals"]["browser_fingerprints"].as_u64().unwrap() > 0);
    let top = stats["top_urls"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    let hits: Vec<u64> = top.iter().map(|u| u["hits"].as_u64().unwrap()).collect();
    assert!(
        hits.windows(2).all(|w| w[0] >= w[1]),
        "most visited first: {hits:?}"
    );
}

/// A SQLite file made with the schema of version 4 (before header profiles), with rows:
/// `fingerprint migrate` moves them, says how many, and every command reads them back.
#[tokio::test]
async fn migrate_moves_rows_of_an_older_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}", path.display());
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let old = [
        include_str!("../../fingerprint/migrations/sqlite/0001_initial.sql"),
        include_str!("../../fingerprint/migrations/sqlite/0002_browser_duration.sql"),
        include_str!("../../fingerprint/migrations/sqlite/0003_users_and_devices.sql"),
        include_str!("../../fingerprint/migrations/sqlite/0004_dashboard.sql"),
    ];
    sqlx::query(
        "CREATE TABLE fingerprint_migrations (version INTEGER PRIMARY KEY, \
         description TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (n, script) in old.iter().enumerate() {
        sqlx::raw_sql(script).execute(&pool).await.unwrap();
        sqlx::query("INSERT INTO fingerprint_migrations VALUES (?, 'old', 0)")
            .bind(n as i64 + 1)
            .execute(&pool)
            .await
            .unwrap();
    }
    let at = Utc::now().timestamp_micros();
    sqlx::query("INSERT INTO fingerprint_sessions (id, key, created_at) VALUES (1, ?, ?)")
        .bind("a".repeat(32))
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO fingerprint_urls (id, url) VALUES (1, 'https://old.example/')")
        .execute(&pool)
        .await
        .unwrap();
    for n in 0..3_i64 {
        sqlx::query(
            "INSERT INTO fingerprint_request_fingerprints (session_id, url_id, ip, method, \
             user_agent, accept, created_at, browser, os, device_type) \
             VALUES (1, 1, '192.0.2.1', 'GET', ?, 'text/html', ?, 'Firefox', 'Linux', 'desktop')",
        )
        .bind(format!("agent {}", n % 2))
        .bind(at + n)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let migrated = fingerprint(Some(&url), &["migrate"]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let said = stdout(&migrated);
    assert!(said.contains("moved 3 of 3 rows"), "{said}");
    assert!(said.contains("migrated"), "{said}");
    // Once done, nothing is left to move.
    let again = fingerprint(Some(&url), &["migrate"]);
    assert!(!stdout(&again).contains("moved"), "{}", stdout(&again));

    let store = fp::SqliteStore::connect(&url).await.unwrap();
    let rows = fp::Reports::export_requests(&store, None, 0, 10)
        .await
        .unwrap();
    let agents: Vec<&str> = rows
        .iter()
        .map(|r| r.fingerprint.user_agent.as_str())
        .collect();
    assert_eq!(agents, ["agent 0", "agent 1", "agent 0"]);
    assert!(rows.iter().all(|r| r.fingerprint.accept == "text/html"
        && r.fingerprint.device.browser == "Firefox"
        && r.fingerprint.ip == Some("192.0.2.1".parse().unwrap())));
}

// A ClientHello of Chrome from FoxIO's ja4 repository (pcap/tls-handshake.pcapng, frame 1),
// whose published JA4 is `t13d1516h2_8daaf6152771_e5627efa2ab1`
// (python/test/testdata/tls-handshake.pcapng.json, stream 0).
const CHROME_HELLO: &str = "1603010200010001fc03030f9e38acb9a54a7c6e00e29a70ac2feee180ff76d7f25dca84932a66a42d1e5a20bc58b92f865e6b9aa4a6371cadcb0afe1da1c0f705209a11d52357f56d5dd9620020aaaa130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f0035010001939a9a0000ff010001000033002b00290a0a000100001d0020cf55af2603e92f59eb321779706a18fa6b96b16c16404c2264ed687a59401878002d00020101000500050100000000446900050003026832000d00120010040308040401050308050501080606010010000e000c02683208687474702f312e3100230000001b0003020002002b0007060a0a0304030300000022002000001d636c69656e7473657276696365732e676f6f676c65617069732e636f6d00120000000a000a00080a0a001d0017001800170000000b000201006a6a000100001500ba000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

/// The same handshake message split over two TLS records.
const CHROME_HELLO_TWO_RECORDS: &str = "16030100c8010001fc03030f9e38acb9a54a7c6e00e29a70ac2feee180ff76d7f25dca84932a66a42d1e5a20bc58b92f865e6b9aa4a6371cadcb0afe1da1c0f705209a11d52357f56d5dd9620020aaaa130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f0035010001939a9a0000ff010001000033002b00290a0a000100001d0020cf55af2603e92f59eb321779706a18fa6b96b16c16404c2264ed687a59401878002d00020101000500050100000000446900050003026832000d001200100403080404160301013801050308050501080606010010000e000c02683208687474702f312e3100230000001b0003020002002b0007060a0a0304030300000022002000001d636c69656e7473657276696365732e676f6f676c65617069732e636f6d00120000000a000a00080a0a001d0017001800170000000b000201006a6a000100001500ba000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

fn fingerprint_with_input(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fingerprint"))
        .env_remove("FINGERPRINT_DATABASE_URL")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn ja4_reads_json_lines_and_goes_on_after_bad_input() {
    let input = format!(
        "{{\"id\": 1, \"client_hello_hex\": \"{CHROME_HELLO}\"}}\n\
         {{\"id\": \"two\", \"client_hello_hex\": \"{CHROME_HELLO_TWO_RECORDS}\"}}\n\
         {{\"id\": 3, \"client_hello_hex\": \"zz\"}}\n\
         \n\
         not json, not UTF-8: NOT_UTF8\n\
         {{\"id\": 5, \"client_hello_hex\": \"{}\"}}\n\
         {{\"id\": 6}}\n",
        &CHROME_HELLO[..40]
    )
    .replace("NOT_UTF8", "\u{1}")
    .into_bytes();
    // A byte that is never UTF-8.
    let input: Vec<u8> = input
        .into_iter()
        .map(|b| if b == 1 { 0xff } else { b })
        .collect();
    let output = fingerprint_with_input(&["ja4"], &input);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "one line per input line: {lines:?}");
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[0]["ja4"], "t13d1516h2_8daaf6152771_e5627efa2ab1");
    assert_eq!(lines[0]["ja4_o"], "t13d1516h2_acb858a92679_8fc3c02244b2");
    assert!(lines[0]["ja4_r"]
        .as_str()
        .unwrap()
        .starts_with("t13d1516h2_002f,0035,"));
    assert!(lines[0]["ja4_ro"]
        .as_str()
        .unwrap()
        .starts_with("t13d1516h2_1301,1302,"));
    assert_eq!(lines[1]["id"], "two");
    assert_eq!(
        lines[1]["ja4"], lines[0]["ja4"],
        "split records give the same JA4"
    );
    assert_eq!(lines[2]["id"], 3);
    assert!(lines[2]["error"]
        .as_str()
        .unwrap()
        .contains("client_hello_hex"));
    assert!(lines[3]["error"].as_str().unwrap().starts_with("not JSON"));
    assert_eq!(lines[4]["id"], 5);
    assert!(
        lines[4].get("ja4").is_none() && lines[4]["error"].is_string(),
        "truncated"
    );
    assert_eq!(lines[5]["id"], 6);
    assert!(lines[5]["error"]
        .as_str()
        .unwrap()
        .contains("client_hello_hex"));
}

#[test]
fn ja4_of_one_hex_argument() {
    let output = fingerprint(None, &["ja4", "--hex", CHROME_HELLO]);
    assert!(output.status.success(), "{}", stderr(&output));
    let line: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(line["ja4"], "t13d1516h2_8daaf6152771_e5627efa2ab1");
    let output = fingerprint(None, &["ja4", "--hex", "16030100"]);
    assert!(output.status.success());
    let line: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert!(line["error"].is_string());
}
