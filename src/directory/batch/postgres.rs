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

async fn write(c: &mut PgConnection, rows: Rows) -> Result<Vec<PgRow>, sqlx::Error> {
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
