//! `export`: pages of rows from the store, written as CSV or JSON Lines as they come, so
//! memory stays constant whatever the table size.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use fingerprint::v1 as fp;

use crate::{CliError, Export, Format};

/// Rows fetched per query.
const PAGE: u32 = 5000;

/// One value of an exported row.
enum Field {
    Text(String),
    Number(i64),
    Null,
    /// A JSON document (browser components), embedded as is in JSON Lines.
    Json(String),
}

impl From<String> for Field {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<Option<String>> for Field {
    fn from(text: Option<String>) -> Self {
        text.map_or(Self::Null, Self::Text)
    }
}

fn time(at: DateTime<Utc>) -> Field {
    Field::Text(at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

const REQUEST_COLUMNS: &[&str] = &[
    "id",
    "session",
    "created_at",
    "url",
    "ip",
    "method",
    "user_agent",
    "accept",
    "accept_language",
    "accept_encoding",
    "content_encoding",
    "content_language",
    "referer",
    "country",
    "country_code",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "device_type",
    "ja4",
    "http2",
    "headers",
    "verdict",
    "reasons",
];

fn request_fields(row: fp::StoredRequest) -> Vec<Field> {
    let f = row.fingerprint;
    vec![
        Field::Number(row.id),
        row.session_key.into(),
        time(f.created_at),
        f.url.into(),
        f.ip.map(|ip| ip.to_string()).into(),
        f.method.into(),
        f.user_agent.into(),
        f.accept.into(),
        f.accept_language.into(),
        f.accept_encoding.into(),
        f.content_encoding.into(),
        f.content_language.into(),
        f.referer.into(),
        f.country.into(),
        f.country_code.into(),
        f.device.browser.into(),
        f.device.browser_version.into(),
        f.device.os.into(),
        f.device.os_version.into(),
        Field::Text(f.device.device_type.as_str().to_owned()),
        f.ja4.into(),
        f.http2.into(),
        f.headers.into(),
        f.verdict.into(),
        f.reasons.into(),
    ]
}

const BROWSER_COLUMNS: &[&str] = &[
    "id",
    "session",
    "created_at",
    "url",
    "visitor_id",
    "duration_ms",
    "components",
];

fn browser_fields(row: fp::StoredBrowser) -> Vec<Field> {
    vec![
        Field::Number(row.id),
        row.session_key.into(),
        time(row.created_at),
        row.url.into(),
        row.visitor_id.into(),
        row.duration_ms
            .and_then(|ms| i64::try_from(ms).ok())
            .map_or(Field::Null, Field::Number),
        Field::Json(row.components),
    ]
}

const SESSION_COLUMNS: &[&str] = &[
    "id",
    "session",
    "created_at",
    "user_id",
    "linked_at",
    "referer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "verdict",
    "findings",
];

fn session_fields(row: fp::StoredSession) -> Vec<Field> {
    vec![
        Field::Number(row.id),
        row.key.into(),
        time(row.created_at),
        row.user_id.into(),
        row.linked_at.map_or(Field::Null, time),
        row.referer.into(),
        row.utm.source.into(),
        row.utm.medium.into(),
        row.utm.campaign.into(),
        row.utm.content.into(),
        row.utm.term.into(),
        row.assessment
            .as_ref()
            .map_or_else(String::new, |a| a.verdict.as_str().to_owned())
            .into(),
        row.assessment
            .map_or(Field::Null, |a| Field::Json(a.findings_json())),
    ]
}

/// A CSV cell of text. Text a spreadsheet would take for a formula (starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return), as a client can choose its referer, user agent or
/// URL to be, gets a leading `'` so it is shown as text (OWASP's advice against CSV
/// injection). JSON Lines keeps every value as stored.
fn text_cell(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

/// Writes rows in one format.
enum Writer<'w> {
    Csv(Box<csv::Writer<&'w mut (dyn Write + Send)>>),
    Jsonl(&'w mut (dyn Write + Send), &'static [&'static str]),
}

fn output(error: impl std::fmt::Display) -> CliError {
    CliError::Output(error.to_string())
}

impl<'w> Writer<'w> {
    fn new(
        format: Format,
        columns: &'static [&'static str],
        out: &'w mut (dyn Write + Send),
    ) -> Result<Self, CliError> {
        Ok(match format {
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(out);
                csv.write_record(columns).map_err(output)?;
                Self::Csv(Box::new(csv))
            }
            Format::Jsonl => Self::Jsonl(out, columns),
        })
    }

    fn row(&mut self, fields: Vec<Field>) -> Result<(), CliError> {
        match self {
            Self::Csv(csv) => {
                let cells = fields.into_iter().map(|field| match field {
                    Field::Text(text) | Field::Json(text) => text_cell(text),
                    Field::Number(n) => n.to_string(),
                    Field::Null => String::new(),
                });
                csv.write_record(cells).map_err(output)
            }
            Self::Jsonl(out, columns) => {
                let mut line = String::from("{");
                for (i, (column, field)) in columns.iter().zip(fields).enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    line.push_str(&serde_json::to_string(column).map_err(output)?);
                    line.push(':');
                    match field {
                        Field::Text(text) => {
                            line.push_str(&serde_json::to_string(&text).map_err(output)?);
                        }
                        Field::Number(n) => line.push_str(&n.to_string()),
                        Field::Null => line.push_str("null"),
                        // Stored components are JSON the library wrote; anything else is
                        // exported as a string rather than as broken JSON.
                        Field::Json(json) => {
                            if serde_json::from_str::<serde::de::IgnoredAny>(&json).is_ok() {
                                line.push_str(&json);
                            } else {
                                line.push_str(&serde_json::to_string(&json).map_err(output)?);
                            }
                        }
                    }
                }
                line.push_str("}\n");
                out.write_all(line.as_bytes()).map_err(output)
            }
        }
    }

    fn finish(self) -> Result<(), CliError> {
        match self {
            Self::Csv(mut csv) => csv.flush().map_err(output),
            Self::Jsonl(out, _) => out.flush().map_err(output),
        }
    }
}

/// Writes every row of `what` created at or after `since`; returns how many.
pub(crate) async fn run(
    store: &dyn fp::FullStore,
    what: Export,
    format: Format,
    since: Option<DateTime<Utc>>,
    out: &mut (dyn Write + Send),
) -> Result<u64, CliError> {
    let columns = match what {
        Export::Requests => REQUEST_COLUMNS,
        Export::Browsers => BROWSER_COLUMNS,
        Export::Sessions => SESSION_COLUMNS,
    };
    let mut writer = Writer::new(format, columns, out)?;
    let mut after = 0;
    let mut rows = 0;
    loop {
        let page: Vec<(i64, Vec<Field>)> = match what {
            Export::Requests => store
                .export_requests(since, after, PAGE)
                .await?
                .into_iter()
                .map(|r| (r.id, request_fields(r)))
                .collect(),
            Export::Browsers => store
                .export_browsers(since, after, PAGE)
                .await?
                .into_iter()
                .map(|r| (r.id, browser_fields(r)))
                .collect(),
            Export::Sessions => store
                .export_sessions(since, after, PAGE)
                .await?
                .into_iter()
                .map(|r| (r.id, session_fields(r)))
                .collect(),
        };
        let Some(&(last, _)) = page.last() else {
            break;
        };
        for (_, fields) in page {
            writer.row(fields)?;
            rows += 1;
        }
        after = last;
    }
    writer.finish()?;
    Ok(rows)
}
