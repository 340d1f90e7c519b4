//! Query errors and their mapping onto Prometheus's API error types.

/// Why a query failed. Messages follow Prometheus's wording where its tests or clients check
/// them.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The expression does not parse. `position` is `(line, column)`, 1-based, when known.
    #[error("{}", fmt_parse(msg, position))]
    Parse { msg: String, position: Option<(usize, usize)> },
    /// A bad request that parsed (bad step, wrong expression type, ...).
    #[error("{0}")]
    BadData(String),
    #[error("query timed out in {0}")]
    Timeout(String),
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(String),
    /// An error during evaluation (e.g. "vector cannot contain metrics with the same labelset").
    #[error("{0}")]
    Execution(String),
    #[error("query was canceled")]
    Canceled,
    #[error("{0}")]
    Storage(#[from] storage::Error),
}

fn fmt_parse(msg: &str, position: &Option<(usize, usize)>) -> String {
    match position {
        Some((line, col)) => format!("{line}:{col}: parse error: {msg}"),
        None => format!("parse error: {msg}"),
    }
}

impl QueryError {
    /// The `errorType` of Prometheus's API envelope.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::Parse { .. } | QueryError::BadData(_) => "bad_data",
            QueryError::Timeout(_) => "timeout",
            QueryError::Canceled => "canceled",
            QueryError::Storage(_) => "internal",
            QueryError::TooManySamples(_) | QueryError::Execution(_) => "execution",
        }
    }

    pub(crate) fn exec(msg: impl Into<String>) -> Self {
        QueryError::Execution(msg.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_messages() {
        let cases: Vec<(QueryError, &str, &str)> = vec![
            (
                QueryError::Parse { msg: "unexpected end of input".into(), position: Some((1, 16)) },
                "bad_data",
                "1:16: parse error: unexpected end of input",
            ),
            (
                QueryError::Timeout("expression evaluation".into()),
                "timeout",
                "query timed out in expression evaluation",
            ),
            (
                QueryError::TooManySamples("query execution".into()),
                "execution",
                "query processing would load too many samples into memory in query execution",
            ),
            (QueryError::Canceled, "canceled", "query was canceled"),
        ];
        for (e, ty, msg) in cases {
            assert_eq!(e.error_type(), ty);
            assert_eq!(e.to_string(), msg);
        }
    }
}
