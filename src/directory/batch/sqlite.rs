//! SQLite's form of the batch writer (see the parent module).

use super::{Rows, SQLITE_ROWS_PER_STATEMENT, Values};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

/// Ids for `n` new rows of an `AUTOINCREMENT` table, above every id it ever handed out.
/// Safe because the apply's transaction already holds SQLite's write lock (its first
/// statement writes the run).
pub async fn reserve_ids(
    c: &mut SqliteConnection,
    table: &'static str,
    n: usize,
) -> Result<Vec<i64>, sqlx::Error> {
    let top: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0),
                    COALESCE((SELECT MAX(id) FROM {table}), 0))"
    )))
    .fetch_one(&mut *c)
    .await?;
    Ok((1..=n as i64).map(|k| top + k).collect())
}

super::writers!(SqliteConnection);

/// Runs the statements for `rows`: each chunk of rows is one JSON array bound as one parameter
/// and read back by `jsonb_each`, so a chunk costs one bind and one short statement instead of
/// 30,000 bound values (each an allocation in sqlx and a copy in SQLite) and a statement of 5,000
/// `VALUES` rows to compile.
async fn write(c: &mut SqliteConnection, rows: Rows) -> Result<Vec<SqliteRow>, sqlx::Error> {
    let n = rows.len();
    let mut sql = rows.head();
    sql.push_str("SELECT ");
    for i in 0..rows.width() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("value ->> {i}"));
    }
    // `WHERE true` keeps SQLite from reading an `ON CONFLICT` tail as a join constraint;
    // `ORDER BY key` keeps the rows (and so the ids of audit and outbox rows) in their order.
    sql.push_str(" FROM jsonb_each(?) WHERE true ORDER BY key");
    sql.push_str(rows.tail);
    let (mut start, mut out) = (0, Vec::new());
    while start < n {
        let end = n.min(start + SQLITE_ROWS_PER_STATEMENT);
        let json = json_rows(&rows, start..end).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let returned = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(json)
            .fetch_all(&mut *c)
            .await?;
        out.extend(returned);
        start = end;
    }
    Ok(out)
}

/// Rows `range` of `rows` as a JSON array of arrays, each value as sqlx would bind it:
/// booleans become 0/1 through `->>`, times the RFC 3339 text sqlx writes.
fn json_rows(rows: &Rows, range: std::ops::Range<usize>) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(range.len() * 32 * rows.width());
    let mut time: Option<(DateTime<Utc>, String)> = None;
    out.push(b'[');
    for (k, i) in range.enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.push(b'[');
        for (j, v) in rows.values.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            match v {
                Values::Int(v) => serde_json::to_writer(&mut out, &v[i])?,
                Values::OptInt(v) => serde_json::to_writer(&mut out, &v[i])?,
                Values::Bool(v) => serde_json::to_writer(&mut out, &v[i])?,
                Values::Text(v) => serde_json::to_writer(&mut out, &v[i])?,
                Values::OptText(v) => serde_json::to_writer(&mut out, &v[i])?,
                Values::Time(v) => {
                    let at = v[i];
                    let text = match &time {
                        Some((t, text)) if *t == at => text,
                        _ => {
                            let text = at.to_rfc3339_opts(SecondsFormat::AutoSi, false);
                            &time.insert((at, text)).1
                        }
                    };
                    serde_json::to_writer(&mut out, text)?
                }
            }
        }
        out.push(b']');
    }
    out.push(b']');
    // serde_json writes UTF-8 only.
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}
