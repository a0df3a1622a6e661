//! Parquet files of the SQL tables, for DuckDB, Spark, DataFusion Ballista
//! and the rest of the Parquet world.

use super::{SqlError, Table};
use datafusion::common::ScalarValue;
use datafusion::config::TableParquetOptions;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::execution::context::SessionContext;
use datafusion::prelude::{col, lit, to_char};
use std::path::Path;

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
    path.to_str().ok_or_else(|| SqlError::new(format!("{}: the path is not UTF-8", path.display())))
}

/// Writes every table of `ctx` (the context of [`super::context`]) to `dir`,
/// restricted to `range`: `dir/<table>.parquet`, one file per table, or with
/// `partition_by_day` Hive-style directories
/// `dir/<table>/day=YYYY-MM-DD/<file>.parquet` (the `day` of `ts` in UTC;
/// the `day` column lives in the path, as Hive, Spark and DuckDB's
/// `hive_partitioning` expect). Files are zstd-compressed with column
/// statistics; `ts` and `due` keep their Timestamp(ns, UTC) type. A table
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
        let rows = if partition_by_day {
            let df = df.with_column(DAY_COLUMN, to_char(col("ts"), lit("%Y-%m-%d")))?;
            let path = dir.join(table.name());
            std::fs::create_dir_all(&path)
                .map_err(|e| SqlError::new(format!("cannot create {}: {e}", path.display())))?;
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
