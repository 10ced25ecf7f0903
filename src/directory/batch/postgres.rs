//! PostgreSQL's form of the batch writer (see the parent module).

use super::{Rows, Values};
use sqlx::PgConnection;
use sqlx::Row;
use sqlx::postgres::PgRow;

/// Ids for `n` new rows from the table's own sequence (not necessarily consecutive when
/// another writer draws at the same time; each is ours alone).
pub async fn reserve_ids(
    c: &mut PgConnection,
    table: &'static str,
    n: usize,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)"
    )))
    .bind(i64::try_from(n).unwrap_or(i64::MAX))
    .fetch_all(&mut *c)
    .await
}

super::writers!(PgConnection);

/// Runs the statement for `rows`: `COPY` for a plain insert, `INSERT … SELECT FROM UNNEST`
/// when a tail (`ON CONFLICT`, `RETURNING`) needs a statement of its own.
async fn write(c: &mut PgConnection, rows: Rows) -> Result<Vec<PgRow>, sqlx::Error> {
    if rows.tail.is_empty() {
        return copy(c, rows).await.map(|()| Vec::new());
    }
    let mut sql = rows.head();
    sql.push_str("SELECT * FROM UNNEST(");
    for (i, v) in rows.values.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("${}::{}", i + 1, v.pg_array()));
    }
    sql.push(')');
    sql.push_str(rows.tail);
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in rows.values {
        q = match v {
            Values::Int(v) => q.bind(v),
            Values::OptInt(v) => q.bind(v),
            Values::Bool(v) => q.bind(v),
            Values::Text(v) => q.bind(v),
            Values::OptText(v) => q.bind(v),
            Values::Time(v) => q.bind(v),
        };
    }
    q.fetch_all(&mut *c).await
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00 UTC).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Bytes of `COPY` data gathered before they are sent.
const COPY_CHUNK: usize = 1 << 20;

/// Writes `rows` (a plain insert: no tail) by `COPY … FROM STDIN (FORMAT binary)`: no arrays
/// for the server to decode and spread out again, and the server writes the table's rows in
/// multi-row batches (one WAL record per page of rows; indexes and key checks stay per row).
/// Every column is `bigint`, `boolean`, `text` or `timestamptz`, encoded as the server sends
/// them; a mismatch fails the statement ("incorrect binary data format"), never coerces.
async fn copy(c: &mut PgConnection, rows: Rows) -> Result<(), sqlx::Error> {
    let encode = |e: std::num::TryFromIntError| sqlx::Error::Encode(Box::new(e));
    let width = i16::try_from(rows.width()).map_err(encode)?;
    let statement = format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        rows.table, rows.columns
    );
    let mut copy = c.copy_in_raw(&statement).await?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 4096);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes()); // flags
    buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for i in 0..rows.len() {
        buf.extend_from_slice(&width.to_be_bytes());
        for v in &rows.values {
            match v {
                Values::Int(v) => int(&mut buf, Some(v[i])),
                Values::OptInt(v) => int(&mut buf, v[i]),
                Values::Bool(v) => {
                    buf.extend_from_slice(&1i32.to_be_bytes());
                    buf.push(u8::from(v[i]));
                }
                Values::Text(v) => text(&mut buf, Some(&v[i])).map_err(encode)?,
                Values::OptText(v) => text(&mut buf, v[i].as_deref()).map_err(encode)?,
                Values::Time(v) => {
                    int(&mut buf, Some(v[i].timestamp_micros() - PG_EPOCH_MICROS));
                }
            }
        }
        if buf.len() >= COPY_CHUNK {
            copy.send(buf.as_slice()).await?;
            buf.clear();
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    copy.send(buf.as_slice()).await?;
    copy.finish().await?;
    Ok(())
}

/// A `bigint` (or `timestamptz`, which is one) field, or NULL.
fn int(buf: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(v) => {
            buf.extend_from_slice(&8i32.to_be_bytes());
            buf.extend_from_slice(&v.to_be_bytes());
        }
        None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

/// A `text` field, or NULL.
fn text(buf: &mut Vec<u8>, v: Option<&str>) -> Result<(), std::num::TryFromIntError> {
    match v {
        Some(v) => {
            buf.extend_from_slice(&i32::try_from(v.len())?.to_be_bytes());
            buf.extend_from_slice(v.as_bytes());
        }
        None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
    }
    Ok(())
}
