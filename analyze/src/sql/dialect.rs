//! What differs between the engines: how a dataset is read, timestamps,
//! casts and nested records. Everything else is plain SQL all three accept.

/// An engine to print queries for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    DuckDb,
    ClickHouse,
    Spark,
}

impl Dialect {
    pub const NAMES: [&'static str; 3] = ["duckdb", "clickhouse", "spark"];

    pub fn parse(s: &str) -> Option<Dialect> {
        match s {
            "duckdb" => Some(Dialect::DuckDb),
            "clickhouse" => Some(Dialect::ClickHouse),
            "spark" => Some(Dialect::Spark),
            _ => None,
        }
    }

    /// Statements that make the views `samples` (with the `host`
    /// partition column) and `pools` over the dataset at `root`.
    pub fn prelude(self, root: &str) -> Vec<String> {
        let root = root.trim_end_matches('/').replace('\'', "''");
        let samples = format!("{root}/date=*/host=*/*.parquet");
        let pools = format!("{root}/_pools/date=*/host=*/*.parquet");
        match self {
            Dialect::DuckDb => vec![
                format!(
                    "CREATE OR REPLACE VIEW samples AS SELECT * FROM read_parquet('{samples}', hive_partitioning = true, union_by_name = true)"
                ),
                format!(
                    "CREATE OR REPLACE VIEW pools AS SELECT * FROM read_parquet('{pools}', union_by_name = true)"
                ),
            ],
            Dialect::ClickHouse => vec![
                // Unmatched rows of an outer join are null, as elsewhere.
                "SET join_use_nulls = 1".into(),
                // The interval formulas are long expressions.
                "SET max_query_size = 16777216, max_ast_elements = 10000000, max_expanded_ast_elements = 10000000".into(),
                // The host partition column comes from the path
                // (use_hive_partitioning, on by default since 25.1).
                format!(
                    "CREATE VIEW samples AS SELECT * FROM file('{samples}', Parquet) SETTINGS use_hive_partitioning = 1"
                ),
                format!("CREATE VIEW pools AS SELECT * FROM file('{pools}', Parquet)"),
            ],
            Dialect::Spark => vec![
                // Parquet's nanosecond timestamps, as integers.
                "SET spark.sql.legacy.parquet.nanosAsLong = true".into(),
                format!(
                    "CREATE OR REPLACE TEMPORARY VIEW samples USING parquet OPTIONS (path '{root}', mergeSchema 'true')"
                ),
                format!(
                    "CREATE OR REPLACE TEMPORARY VIEW pools USING parquet OPTIONS (path '{pools}', mergeSchema 'true')"
                ),
            ],
        }
    }

    /// The `timestamp` column as ns since the epoch.
    pub fn ts_ns(self) -> &'static str {
        match self {
            Dialect::DuckDb => "epoch_ns(timestamp)",
            Dialect::ClickHouse => "toUnixTimestamp64Nano(timestamp)",
            Dialect::Spark => "CAST(timestamp AS BIGINT)",
        }
    }

    /// `e` as a double.
    pub fn dbl(self, e: &str) -> String {
        match self {
            Dialect::ClickHouse => format!("toFloat64({e})"),
            _ => format!("CAST({e} AS DOUBLE)"),
        }
    }

    /// `e` as a 64-bit integer.
    pub fn int(self, e: &str) -> String {
        match self {
            Dialect::ClickHouse => format!("toInt64({e})"),
            _ => format!("CAST({e} AS BIGINT)"),
        }
    }

    /// `e` as text.
    pub fn text(self, e: &str) -> String {
        match self {
            Dialect::ClickHouse => format!("toString({e})"),
            Dialect::Spark => format!("CAST({e} AS STRING)"),
            Dialect::DuckDb => format!("CAST({e} AS VARCHAR)"),
        }
    }

    /// An estimate record `{estimate, low, high}`.
    pub fn estimate(self, e: &str, l: &str, h: &str) -> String {
        match self {
            Dialect::DuckDb => format!("{{'estimate': {e}, 'low': {l}, 'high': {h}}}"),
            Dialect::ClickHouse => format!(
                "CAST(tuple({e}, {l}, {h}), 'Tuple(estimate Float64, low Float64, high Float64)')"
            ),
            Dialect::Spark => format!("named_struct('estimate', {e}, 'low', {l}, 'high', {h})"),
        }
    }

    /// x to the power y.
    pub fn pow(self, x: &str, y: &str) -> String {
        match self {
            Dialect::ClickHouse => format!("pow({x}, {y})"),
            _ => format!("power({x}, {y})"),
        }
    }

    /// `acc_` folded over `j_` = n, n−1, …, 1 from 1.0 by `body`.
    pub fn fold(self, n: usize, body: &str) -> String {
        match self {
            Dialect::DuckDb => format!(
                "list_reduce(range({n}, 0, -1), lambda acc_, j_: {body}, CAST(1.0 AS DOUBLE))"
            ),
            Dialect::ClickHouse => format!(
                "arrayFold((acc_, j_) -> toNullable({body}), arrayReverse(range(1, {})), toNullable(toFloat64(1.0)))",
                n + 1
            ),
            Dialect::Spark => format!(
                "aggregate(sequence({n}, 1, -1), CAST(1.0 AS DOUBLE), (acc_, j_) -> {body})"
            ),
        }
    }
}
