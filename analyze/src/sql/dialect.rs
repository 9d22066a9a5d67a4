//! What differs between the engines: how a dataset is read, timestamps,
//! casts and nested records. Everything else is plain SQL all three accept.

/// An engine to print queries for (`--dialect duckdb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    #[value(name = "duckdb")]
    DuckDb,
    /// Also chDB.
    #[value(name = "clickhouse")]
    ClickHouse,
    Spark,
}

impl Dialect {
    /// Statements that make the views `samples` (with the `host`
    /// partition column and `file_`, the part's file name) and `pools`
    /// over the dataset at `root`. Parts of different schema versions
    /// are read by column name, a column a part lacks as null.
    pub fn prelude(self, root: &str) -> Vec<String> {
        let root = root.trim_end_matches('/').replace('\'', "''");
        let samples = format!("{root}/date=*/host=*/*.parquet");
        let pools = format!("{root}/_pools/date=*/host=*/*.parquet");
        match self {
            Dialect::DuckDb => vec![
                format!(
                    "CREATE OR REPLACE VIEW samples AS SELECT * EXCLUDE (filename), parse_filename(filename) AS file_ FROM read_parquet('{samples}', hive_partitioning = true, union_by_name = true, filename = true)"
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
                // (use_hive_partitioning); the schema is the union of the
                // parts' (schema_inference_mode).
                format!(
                    "CREATE VIEW samples AS SELECT *, _file AS file_ FROM file('{samples}', Parquet) SETTINGS use_hive_partitioning = 1, schema_inference_mode = 'union'"
                ),
                format!("CREATE VIEW pools AS SELECT * FROM file('{pools}', Parquet)"),
            ],
            Dialect::Spark => vec![
                // Parquet's nanosecond timestamps, as integers.
                "SET spark.sql.legacy.parquet.nanosAsLong = true".into(),
                "SET spark.sql.session.timeZone = UTC".into(),
                // Parts of different schema versions: their columns merged.
                "SET spark.sql.parquet.mergeSchema = true".into(),
                // Read by path, so that the file's name is there.
                format!(
                    "CREATE OR REPLACE TEMPORARY VIEW samples AS SELECT *, _metadata.file_name AS file_ FROM parquet.`{root}`"
                ),
                format!(
                    "CREATE OR REPLACE TEMPORARY VIEW pools USING parquet OPTIONS (path '{pools}', mergeSchema 'true')"
                ),
            ],
        }
    }

    /// A nanosecond timestamp column as ns since the epoch.
    pub fn ts_ns(self, col: &str) -> String {
        match self {
            Dialect::DuckDb => format!("epoch_ns({col})"),
            Dialect::ClickHouse => format!("toUnixTimestamp64Nano({col})"),
            Dialect::Spark => format!("CAST({col} AS BIGINT)"),
        }
    }

    /// A column name that is also a keyword, quoted.
    pub fn ident(self, name: &str) -> String {
        match self {
            Dialect::Spark => format!("`{name}`"),
            _ => format!("\"{name}\""),
        }
    }

    /// Integer division of 64-bit integers (both non-negative).
    pub fn idiv(self, a: &str, b: &str) -> String {
        match self {
            Dialect::DuckDb => format!("(CAST({a} AS BIGINT) // CAST({b} AS BIGINT))"),
            Dialect::ClickHouse => format!("intDiv(toInt64({a}), toInt64({b}))"),
            Dialect::Spark => format!("(CAST({a} AS BIGINT) div CAST({b} AS BIGINT))"),
        }
    }

    /// The file name at the end of a path.
    pub fn basename(self, e: &str) -> String {
        match self {
            Dialect::DuckDb => format!("regexp_extract({e}, '[^/]*$')"),
            Dialect::ClickHouse => format!("extract({e}, '[^/]*$')"),
            Dialect::Spark => format!("regexp_extract({e}, '[^/]*$', 0)"),
        }
    }

    /// The distinct values of `e` in a group, as a sorted list.
    pub fn sorted_set(self, e: &str) -> String {
        match self {
            Dialect::DuckDb => format!("list_sort(list(DISTINCT {e}))"),
            Dialect::ClickHouse => format!("arraySort(groupUniqArray({e}))"),
            Dialect::Spark => format!("array_sort(collect_set({e}))"),
        }
    }

    /// One row per integer from `lo` to `hi` (an expression to select).
    pub fn each(self, lo: &str, hi: &str) -> String {
        match self {
            Dialect::DuckDb => format!("unnest(range({lo}, {hi} + 1))"),
            Dialect::ClickHouse => format!("arrayJoin(range({lo}, {hi} + 1))"),
            Dialect::Spark => format!("explode(sequence({lo}, {hi}))"),
        }
    }

    /// ns since the epoch as RFC 3339 UTC with `digits` (a column or
    /// expression: 0, 3, 6 or 9) fractional digits, as analyze writes it.
    pub fn rfc3339(self, ns: &str, digits: &str) -> String {
        let secs = self.idiv(ns, "1000000000");
        let sub = format!("(({ns}) - {secs} * 1000000000)");
        let (date, pad) = match self {
            Dialect::DuckDb => (
                format!("strftime(make_timestamp({secs} * 1000000), '%Y-%m-%dT%H:%M:%S')"),
                "lpad",
            ),
            Dialect::ClickHouse => (
                format!("formatDateTime(toDateTime({secs}, 'UTC'), '%Y-%m-%dT%H:%i:%S')"),
                "leftPad",
            ),
            Dialect::Spark => (
                format!("date_format(timestamp_seconds({secs}), \"yyyy-MM-dd'T'HH:mm:ss\")"),
                "lpad",
            ),
        };
        let frac = |n: u32| {
            format!(
                "'.' || {pad}({}, {n}, '0')",
                self.text(&self.idiv(&sub, &10u64.pow(9 - n).to_string()))
            )
        };
        format!(
            "({date} || (CASE {digits} WHEN 3 THEN {} WHEN 6 THEN {} WHEN 9 THEN {} ELSE '' END) || 'Z')",
            frac(3),
            frac(6),
            frac(9)
        )
    }

    /// An AS reference record `{asn, label, name}`.
    pub fn as_ref(self, asn: &str, label: &str, name: &str) -> String {
        match self {
            Dialect::DuckDb => format!("{{'asn': {asn}, 'label': {label}, 'name': {name}}}"),
            Dialect::ClickHouse => format!(
                "CAST(tuple({asn}, {label}, {name}), 'Tuple(asn Nullable(Int64), label Nullable(String), name Nullable(String))')"
            ),
            Dialect::Spark => {
                format!("named_struct('asn', {asn}, 'label', {label}, 'name', {name})")
            }
        }
    }

    /// A condition as a boolean value (ClickHouse's comparisons are
    /// integers).
    pub fn boolean(self, e: &str) -> String {
        match self {
            Dialect::ClickHouse => format!("toBool({e})"),
            _ => e.to_string(),
        }
    }

    /// A measures record `{samples, packets, bytes}` (the summary's
    /// `unseen`).
    pub fn measures_rec(self, n: &str, p: &str, b: &str) -> String {
        match self {
            Dialect::DuckDb => format!("{{'samples': {n}, 'packets': {p}, 'bytes': {b}}}"),
            Dialect::ClickHouse => format!(
                "CAST(tuple({n}, {p}, {b}), 'Tuple(samples Int64, packets Tuple(estimate Float64, low Float64, high Float64), bytes Tuple(estimate Float64, low Float64, high Float64))')"
            ),
            Dialect::Spark => format!("named_struct('samples', {n}, 'packets', {p}, 'bytes', {b})"),
        }
    }

    /// An IPv6-share record `{packets, bytes}` of two estimate records.
    pub fn share_pair(self, p: &str, b: &str) -> String {
        match self {
            Dialect::DuckDb => format!("{{'packets': {p}, 'bytes': {b}}}"),
            Dialect::ClickHouse => format!(
                "CAST(tuple({p}, {b}), 'Tuple(packets Tuple(estimate Float64, low Float64, high Float64), bytes Tuple(estimate Float64, low Float64, high Float64))')"
            ),
            Dialect::Spark => format!("named_struct('packets', {p}, 'bytes', {b})"),
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
