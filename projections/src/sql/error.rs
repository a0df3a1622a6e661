//! Why a query failed, typed: what the user wrote wrong (and where), what
//! orc-log refuses, and what went wrong while running.

use datafusion::error::DataFusionError;
use std::fmt;

/// A place in the SQL text: 1-based line and column (in characters), as
/// sqlparser and DataFusion's diagnostics count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

impl Position {
    /// The position just past the last character of `sql` (where an
    /// unfinished statement needs more).
    #[must_use]
    pub fn end_of(sql: &str) -> Self {
        let line = sql.lines().count().max(1) as u64;
        let column = sql.lines().last().map_or(0, |l| l.chars().count()) as u64 + 1;
        Position { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Formats ` (at line L, column C)` when there is a position.
struct At(Option<Position>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, " (at {p})"),
            None => Ok(()),
        }
    }
}

/// Why a query failed.
///
/// The user's mistakes ([`SqlError::Syntax`], [`SqlError::Plan`],
/// [`SqlError::NotAQuery`], [`SqlError::MultipleStatements`]) carry where
/// in the SQL they are when the parser or DataFusion's diagnostics know it;
/// the web view and the MCP `query` tool show that position without reading
/// it out of the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The SQL does not parse (sqlparser's tokenizer or parser).
    #[error("syntax error: {message}{}", At(*position))]
    Syntax {
        /// What the parser expected and found.
        message: String,
        /// Where it stopped.
        position: Option<Position>,
    },
    /// A statement other than a query (DDL, DML, `COPY`, `SET`, ...):
    /// refused by its parsed type before anything is planned.
    #[error(
        "{statement} is refused: orc-log queries are read-only (only SELECT, WITH, VALUES and EXPLAIN of them run)"
    )]
    NotAQuery {
        /// The statement's leading keywords, e.g. `DELETE` or `COPY`.
        statement: String,
    },
    /// More than one statement (or none).
    #[error("give exactly one statement (found {count})")]
    MultipleStatements {
        /// Statements found.
        count: usize,
    },
    /// The query parses but cannot be planned: an unknown table, column or
    /// function, a type mismatch.
    #[error("{message}{}", At(*position))]
    Plan {
        /// DataFusion's message.
        message: String,
        /// Where, from DataFusion's diagnostic.
        position: Option<Position>,
    },
    /// The query's operators needed more memory than the limit.
    #[error("the query needs more memory than its limit: {0}")]
    ResourcesExhausted(String),
    /// Work stopped at its deadline.
    #[error("the query ran past its deadline")]
    TimedOut,
    /// Running the query failed.
    #[error("{0}")]
    Execution(String),
    /// The result could not be written (closed pipe, full disk, a path that
    /// is not UTF-8).
    #[error("cannot write the result: {0}")]
    Output(String),
}

impl SqlError {
    /// Whether the work was stopped at its deadline.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, SqlError::TimedOut)
    }

    /// Where in the SQL the mistake is, when known.
    #[must_use]
    pub fn position(&self) -> Option<Position> {
        match self {
            SqlError::Syntax { position, .. } | SqlError::Plan { position, .. } => *position,
            _ => None,
        }
    }

    /// Whether the query itself is at fault (the user should change the
    /// SQL), as opposed to the limits or the machine: an HTTP front end
    /// answers 400 for these.
    #[must_use]
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            SqlError::Syntax { .. }
                | SqlError::NotAQuery { .. }
                | SqlError::MultipleStatements { .. }
                | SqlError::Plan { .. }
        )
    }
}

impl From<arrow::error::ArrowError> for SqlError {
    fn from(e: arrow::error::ArrowError) -> Self {
        SqlError::Output(e.to_string())
    }
}

impl From<std::io::Error> for SqlError {
    fn from(e: std::io::Error) -> Self {
        SqlError::Output(e.to_string())
    }
}

impl From<DataFusionError> for SqlError {
    /// Classifies by the error's type (the innermost error under context
    /// and diagnostic wrappers), never by its text.
    fn from(e: DataFusionError) -> Self {
        let position = e
            .diagnostic()
            .and_then(|d| d.span)
            .map(|s| Position { line: s.start.line, column: s.start.column });
        let position = position.filter(|p| p.line > 0);
        match e.find_root() {
            DataFusionError::SQL(parser, _) => SqlError::Syntax { message: parser.to_string(), position },
            DataFusionError::ResourcesExhausted(msg) => SqlError::ResourcesExhausted(msg.clone()),
            DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_) => {
                SqlError::Plan { message: e.find_root().to_string(), position }
            }
            DataFusionError::IoError(err) => SqlError::Output(err.to_string()),
            _ => SqlError::Execution(e.to_string()),
        }
    }
}
