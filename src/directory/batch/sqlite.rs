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
/// `VALUES` rows to compile. A column whose rows all hold the same value (the workspace, the
/// run, the apply's time, `sync`, …) is bound once as a parameter of its own instead: SQLite then
/// neither parses nor extracts it row by row (the audit insert's JSON is a quarter shorter).
async fn write(c: &mut SqliteConnection, rows: Rows) -> Result<Vec<SqliteRow>, sqlx::Error> {
    let n = rows.len();
    let same: Vec<Option<Same>> = rows.values.iter().map(Same::of).collect();
    let (mut param, mut field) = (2, 0);
    let select: Vec<String> = same
        .iter()
        .map(|column| {
            if column.is_some() {
                param += 1;
                format!("?{}", param - 1)
            } else {
                field += 1;
                format!("value ->> {}", field - 1)
            }
        })
        .collect();
    // `WHERE true` keeps SQLite from reading an `ON CONFLICT` tail as a join constraint. SQLite
    // does not promise `jsonb_each`'s order, so rows whose ids must follow it (the logs,
    // [`Rows::in_order`]) are sorted; the others are not (a sort of every chunk).
    let order = if rows.in_order { " ORDER BY key" } else { "" };
    let sql = format!(
        "{}SELECT {} FROM jsonb_each(?1) WHERE true{order}{}",
        rows.head(),
        select.join(", "),
        rows.tail
    );
    let (mut start, mut out) = (0, Vec::new());
    while start < n {
        let end = n.min(start + SQLITE_ROWS_PER_STATEMENT);
        let json =
            json_rows(&rows, &same, start..end).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(json);
        for value in same.iter().flatten() {
            q = match value {
                Same::Int(v) => q.bind(*v),
                Same::Bool(v) => q.bind(*v),
                Same::Text(v) => q.bind(v.clone()),
            };
        }
        out.extend(q.fetch_all(&mut *c).await?);
        start = end;
    }
    Ok(out)
}

/// The one value every row of a column holds, as the JSON path would give it to SQLite.
#[derive(Debug, PartialEq)]
enum Same {
    Int(Option<i64>),
    Bool(bool),
    Text(Option<String>),
}

impl Same {
    /// The column's value when every row holds the same one (and there is a row).
    fn of(values: &Values) -> Option<Same> {
        fn one<T: PartialEq>(v: &[T]) -> Option<&T> {
            let first = v.first()?;
            v.iter().all(|x| x == first).then_some(first)
        }
        Some(match values {
            Values::Int(v) => Same::Int(Some(*one(v)?)),
            Values::OptInt(v) => Same::Int(*one(v)?),
            Values::Bool(v) => Same::Bool(*one(v)?),
            Values::Text(v) => Same::Text(Some(one(v)?.clone())),
            Values::OptText(v) => Same::Text(one(v)?.clone()),
            Values::Time(v) => Same::Text(Some(time_text(*one(v)?))),
        })
    }
}

/// A time as the RFC 3339 text sqlx writes for it.
fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// Rows `range` of `rows` as a JSON array of arrays of the columns that are not the `same` in
/// every row, each value as sqlx would bind it: booleans become 0/1 through `->>`, times the
/// RFC 3339 text sqlx writes.
fn json_rows(
    rows: &Rows,
    same: &[Option<Same>],
    range: std::ops::Range<usize>,
) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(range.len() * 32 * rows.width());
    let mut time: Option<(DateTime<Utc>, String)> = None;
    out.push(b'[');
    for (k, i) in range.enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.push(b'[');
        let varying = rows.values.iter().zip(same).filter(|(_, s)| s.is_none());
        for (j, (v, _)) in varying.enumerate() {
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
                        _ => &time.insert((at, time_text(at))).1,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_is_bound_once_only_when_every_row_holds_the_same_value() {
        assert_eq!(
            Same::of(&Values::Int(vec![7, 7, 7])),
            Some(Same::Int(Some(7)))
        );
        assert_eq!(Same::of(&Values::Int(vec![7, 7, 8])), None);
        assert_eq!(
            Same::of(&Values::OptText(vec![None, None])),
            Some(Same::Text(None))
        );
        assert_eq!(
            Same::of(&Values::OptText(vec![None, Some("a".into())])),
            None
        );
        assert_eq!(Same::of(&Values::Bool(vec![])), None, "no row, no value");
        let at = DateTime::from_timestamp(1_764_561_600, 123_456_000).expect("a time");
        assert_eq!(
            Same::of(&Values::Time(vec![at, at])),
            Some(Same::Text(Some("2025-12-01T04:00:00.123456+00:00".into())))
        );
    }
}
