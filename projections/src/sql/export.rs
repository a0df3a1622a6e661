//! Parquet files of the SQL tables, for DuckDB, Spark, DataFusion Ballista
//! and the rest of the Parquet world.

use super::{SqlError, Table};
use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::config::TableParquetOptions;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::execution::context::SessionContext;
use datafusion::prelude::{Expr, cast, col, lit, to_char};
use std::path::Path;

/// Extra Int64 column of every exported table: `ts` in nanoseconds since the
/// Unix epoch (UTC), exact. The exported `ts` itself is Timestamp(µs, UTC),
/// the unit every Parquet engine reads (Spark refuses TIMESTAMP(NANOS)).
pub const TS_NS_COLUMN: &str = "ts_ns";

/// The timestamp type of exported `ts` and `due`: Parquet
/// `TIMESTAMP(MICROS, isAdjustedToUTC = true)`.
#[must_use]
pub fn export_timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Name of the Hive partition column written by [`export_parquet`] with
/// `partition_by_day`: `day=YYYY-MM-DD` directories (UTC days).
pub const DAY_COLUMN: &str = "day";

/// What to export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportRange {
    /// Only rows with `ts >= since_ns` (UTC ns, inclusive).
    pub since_ns: Option<i64>,
    /// Only rows with `ts < until_ns` (UTC ns, exclusive), so consecutive
    /// ranges never overlap.
    pub until_ns: Option<i64>,
    /// Only rows with `seq > after_seq` (an incremental export's start).
    pub after_seq: Option<u64>,
}

/// Rows written for one table by [`export_parquet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    /// The table.
    pub table: Table,
    /// Rows written.
    pub rows: u64,
}

/// Parquet writer options of every file orc-log writes: zstd level 3,
/// with page statistics (the Parquet defaults otherwise).
fn parquet_options() -> TableParquetOptions {
    let mut options = TableParquetOptions::default();
    options.global.compression = Some("zstd(3)".to_owned());
    options
}

/// Sums the `count` column DataFusion's writers return.
fn written_rows(batches: &[arrow::record_batch::RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| b.column(0).as_any().downcast_ref::<arrow::array::UInt64Array>())
        .map(|a| a.iter().flatten().sum::<u64>())
        .sum()
}

/// Runs `df` and writes its rows to one Parquet file at `path` (zstd),
/// streaming batch by batch. Returns the rows written. The file may exist
/// half-written if this fails: write to a temporary name and rename.
///
/// # Errors
/// [`SqlError`] for query or write failures.
pub async fn write_parquet_file(df: DataFrame, path: &Path) -> Result<u64, SqlError> {
    let path = utf8(path)?;
    let written = df
        .write_parquet(
            path,
            DataFrameWriteOptions::new().with_single_file_output(true),
            Some(parquet_options()),
        )
        .await?;
    Ok(written_rows(&written))
}

fn utf8(path: &Path) -> Result<&str, SqlError> {
    path.to_str().ok_or_else(|| SqlError::Output(format!("{}: the path is not UTF-8", path.display())))
}

/// `df` with the exported column types, the ones every Parquet engine reads
/// as they are: every Timestamp(ns) column (`ts`, `due`) becomes
/// Timestamp(µs, UTC) (truncated: the nanoseconds below the microsecond are
/// dropped), UInt64 becomes Int64 and UInt32 Int32 (Spark and Trino read
/// unsigned 64-bit as DECIMAL(20,0); every value fits), and [`TS_NS_COLUMN`]
/// is appended with the exact `ts` as Int64 nanoseconds.
///
/// # Errors
/// [`SqlError`] when `df` has no `ts` column.
pub fn portable(df: DataFrame) -> Result<DataFrame, SqlError> {
    let mut exprs: Vec<Expr> = df
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                cast(col(f.name()), export_timestamp_type()).alias(f.name())
            }
            DataType::UInt64 => cast(col(f.name()), DataType::Int64).alias(f.name()),
            DataType::UInt32 => cast(col(f.name()), DataType::Int32).alias(f.name()),
            _ => col(f.name()),
        })
        .collect();
    exprs.push(cast(col("ts"), DataType::Int64).alias(TS_NS_COLUMN));
    Ok(df.select(exprs)?)
}

/// Writes every table of `ctx` (the context of [`super::context`]) to `dir`,
/// restricted to `range`: `dir/<table>.parquet`, one file per table, or with
/// `partition_by_day` Hive-style directories
/// `dir/<table>/day=YYYY-MM-DD/<file>.parquet` (the `day` of `ts` in UTC;
/// the `day` column lives in the path, as Hive, Spark and DuckDB's
/// `hive_partitioning` expect). Files are zstd-compressed with column
/// statistics; `ts` and `due` are Timestamp(µs, UTC) and `ts_ns` keeps the
/// exact nanoseconds (see [`portable`]). A table
/// with no rows gets an empty file (no directory entries when partitioned).
/// Every table reads the same snapshot (the context's `until_seq`).
///
/// `dir` must exist; what is durable when this returns is up to the caller
/// (the CLI writes to a temporary directory, syncs and renames).
///
/// # Errors
/// [`SqlError`] for query or write failures.
pub async fn export_parquet(
    ctx: &SessionContext,
    dir: &Path,
    range: ExportRange,
    partition_by_day: bool,
) -> Result<Vec<Exported>, SqlError> {
    let mut exported = Vec::with_capacity(Table::ALL.len());
    for table in Table::ALL {
        let mut df = ctx.table(table.name()).await?;
        let ts = |ns: i64| lit(ScalarValue::TimestampNanosecond(Some(ns), Some("UTC".into())));
        if let Some(since) = range.since_ns {
            df = df.filter(col("ts").gt_eq(ts(since)))?;
        }
        if let Some(until) = range.until_ns {
            df = df.filter(col("ts").lt(ts(until)))?;
        }
        if let Some(after) = range.after_seq {
            df = df.filter(col("seq").gt(lit(after)))?;
        }
        let df = portable(df)?;
        let rows = if partition_by_day {
            let df = df.with_column(DAY_COLUMN, to_char(col("ts"), lit("%Y-%m-%d")))?;
            let path = dir.join(table.name());
            std::fs::create_dir_all(&path)
                .map_err(|e| SqlError::Output(format!("cannot create {}: {e}", path.display())))?;
            let mut url = utf8(&path)?.to_owned();
            url.push('/');
            let options = DataFrameWriteOptions::new().with_partition_by(vec![DAY_COLUMN.to_owned()]);
            written_rows(&df.write_parquet(&url, options, Some(parquet_options())).await?)
        } else {
            write_parquet_file(df, &dir.join(format!("{}.parquet", table.name()))).await?
        };
        exported.push(Exported { table, rows });
    }
    Ok(exported)
}
