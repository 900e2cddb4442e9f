//! First stage of the data's path: read a table (CSV or Parquet, through
//! polars) into columns of numbers or texts, pick the target and the task.
//! [`cell`] says what a cell means (shared with every scorer) and [`split`]
//! cuts the rows for validation. Nothing here imports a later stage.

pub mod cell;
pub mod split;
pub mod topic;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

pub use cell::{is_missing_token, parse_number, Value};

use crate::error::{Error, Result};

/// One column's cells, as read.
#[derive(Debug, Clone)]
pub enum Column {
    /// Every present cell is a finite number.
    Numbers(Vec<Option<f64>>),
    /// At least one present cell is not a number.
    Texts(Vec<Option<String>>),
}

impl Column {
    /// The cell at `row` as a model input value.
    pub fn value(&self, row: usize) -> Value<'_> {
        match self {
            Column::Numbers(v) => v[row].map_or(Value::Missing, Value::Number),
            Column::Texts(v) => v[row].as_deref().map_or(Value::Missing, Value::Text),
        }
    }

    fn is_missing(&self, row: usize) -> bool {
        match self {
            Column::Numbers(v) => v[row].is_none(),
            Column::Texts(v) => v[row].is_none(),
        }
    }

    fn present(&self) -> usize {
        match self {
            Column::Numbers(v) => v.iter().filter(|c| c.is_some()).count(),
            Column::Texts(v) => v.iter().filter(|c| c.is_some()).count(),
        }
    }

    fn take(&self, rows: &[usize]) -> Column {
        match self {
            Column::Numbers(v) => Column::Numbers(rows.iter().map(|&r| v[r]).collect()),
            Column::Texts(v) => Column::Texts(rows.iter().map(|&r| v[r].clone()).collect()),
        }
    }
}

/// A table: named columns of equal length.
#[derive(Debug, Clone)]
pub struct Table {
    /// Column names, in file order.
    pub names: Vec<String>,
    /// Columns, parallel to `names`.
    pub columns: Vec<Column>,
    /// Number of rows.
    pub rows: usize,
    /// Missing markers the table was read with beyond the default ones
    /// (`--na-values`); the model keeps them, so every scorer reads a cell
    /// as this table's did.
    pub markers: Vec<String>,
}

impl Table {
    /// Index of the column called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.position(name).map(|i| &self.columns[i])
    }

    /// The rows at `rows`, in that order.
    pub fn take(&self, rows: &[usize]) -> Table {
        Table {
            names: self.names.clone(),
            columns: self.columns.iter().map(|c| c.take(rows)).collect(),
            rows: rows.len(),
            markers: self.markers.clone(),
        }
    }
}

/// Reads `path` as Parquet (by extension `.parquet` or `.pq`) or CSV, with
/// `markers` meaning missing beside the default ones.
pub fn load(path: &Path, markers: &[String]) -> Result<Table> {
    let meta = std::fs::metadata(path).map_err(|e| Error::data(path, e.to_string()))?;
    if meta.is_dir() {
        return Err(Error::data(path, "is a folder, not a file"));
    }
    if meta.len() == 0 {
        return Err(Error::data(path, "the file is empty"));
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let (frame, header) = if matches!(ext.to_ascii_lowercase().as_str(), "parquet" | "pq") {
        (read_parquet(path)?, None)
    } else {
        let header = scan_csv(path)?;
        (read_csv(path)?, Some(header))
    };
    let mut table = from_frame(&frame, markers).map_err(|e| Error::data(path, e.to_string()))?;
    if let Some(header) = header.filter(|h| h.len() == table.names.len()) {
        table.names = header;
    }
    if table.names.is_empty() {
        return Err(Error::data(path, "no columns"));
    }
    check_names(&table.names).map_err(|reason| Error::data(path, reason))?;
    if table.rows == 0 {
        return Err(Error::data(path, "has a header but no data rows"));
    }
    Ok(table)
}

/// Every column needs a name of its own: a nameless or repeated column
/// could not be told apart, in the data or by a model's inputs.
fn check_names(names: &[String]) -> std::result::Result<(), String> {
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(format!(
                "column {} has no name; every column needs one",
                i + 1
            ));
        }
        if let Some(j) = names[..i].iter().position(|n| n == name) {
            return Err(format!(
                "column name '{name}' appears twice (columns {} and {}); rename one",
                j + 1,
                i + 1
            ));
        }
    }
    Ok(())
}

fn read_csv(path: &Path) -> Result<DataFrame> {
    // Every column is read as text (schema length 0) so that training and
    // scoring parse cells with the same rules, whatever polars would infer.
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(|e| Error::data(path, e.to_string()))
}

fn read_parquet(path: &Path) -> Result<DataFrame> {
    let file = File::open(path).map_err(|e| Error::data(path, e.to_string()))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| Error::data(path, e.to_string()))
}

/// Polars pads short rows with nulls, which would silently invent missing
/// values, so every record must have as many fields as the header. Returns
/// the header's names unescaped as RFC 4180 says (polars keeps the `""` of a
/// quoted header name as two quotes).
fn scan_csv(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read(path).map_err(|e| Error::data(path, e.to_string()))?;
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
    let mut header: Vec<Vec<u8>> = vec![Vec::new()];
    let (mut in_header, mut expected) = (true, None);
    let (mut fields, mut quoted, mut line, mut blank) = (1usize, false, 1usize, true);
    for (i, &b) in text.iter().enumerate() {
        let structural = !quoted && matches!(b, b',' | b'\n' | b'\r');
        match b {
            b'"' => {
                // The second quote of `""` inside a quoted field is a literal.
                if in_header && !quoted && i > 0 && text[i - 1] == b'"' {
                    if let Some(name) = header.last_mut() {
                        name.push(b'"');
                    }
                }
                quoted = !quoted;
            }
            b',' if !quoted => {
                fields += 1;
                if in_header {
                    header.push(Vec::new());
                }
            }
            b'\n' if !quoted => {
                if !blank {
                    check_fields(path, &mut expected, fields, line)?;
                    in_header = false;
                }
                (fields, line, blank) = (1, line + 1, true);
                continue;
            }
            _ if in_header && !structural => {
                if let Some(name) = header.last_mut() {
                    name.push(b);
                }
            }
            _ => {}
        }
        if b != b'\r' {
            blank = false;
        }
    }
    if !blank {
        check_fields(path, &mut expected, fields, line)?;
    }
    Ok(header
        .into_iter()
        .map(|n| String::from_utf8_lossy(&n).into_owned())
        .collect())
}

fn check_fields(
    path: &Path,
    expected: &mut Option<usize>,
    fields: usize,
    line: usize,
) -> Result<()> {
    match *expected {
        None => *expected = Some(fields),
        Some(n) if n != fields => {
            return Err(Error::data(
                path,
                format!("line {line} has {fields} fields but the header has {n}"),
            ))
        }
        Some(_) => {}
    }
    Ok(())
}

fn from_frame(frame: &DataFrame, markers: &[String]) -> PolarsResult<Table> {
    let mut names = Vec::new();
    let mut columns = Vec::new();
    for column in frame.columns() {
        names.push(column.name().to_string());
        columns.push(to_column(column.as_materialized_series(), markers)?);
    }
    Ok(Table {
        names,
        columns,
        rows: frame.height(),
        markers: markers.to_vec(),
    })
}

fn to_column(series: &Series, markers: &[String]) -> PolarsResult<Column> {
    let dtype = series.dtype();
    if dtype.is_primitive_numeric() {
        // A Parquet number reads as the kernels read a number value.
        let floats = series.cast(&DataType::Float64)?;
        let values = floats
            .f64()?
            .iter()
            .map(|v| v.and_then(|x| cell::read_number(Value::Number(x), markers).unwrap_or(None)));
        return Ok(Column::Numbers(values.collect()));
    }
    let texts = series.cast(&DataType::String)?;
    let cells: Vec<Option<String>> = texts
        .str()?
        .iter()
        .map(|v| {
            v.map(str::trim)
                .filter(|s| !is_missing_token(s, markers))
                .map(str::to_owned)
        })
        .collect();
    Ok(numbers_if_all_parse(cells))
}

fn numbers_if_all_parse(cells: Vec<Option<String>>) -> Column {
    let parsed: Option<Vec<Option<f64>>> = cells
        .iter()
        .map(|c| match c {
            None => Some(None),
            Some(s) => parse_number(s).map(Some),
        })
        .collect();
    match parsed {
        Some(numbers) => Column::Numbers(numbers),
        None => Column::Texts(cells),
    }
}

/// What kind of model the target calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Two classes.
    Binary,
    /// Three or more classes.
    Multiclass,
    /// A numeric target.
    Regression,
    /// Groups of similar rows, without a target.
    Cluster,
    /// Rows unlike the rest, without a target.
    Anomaly,
}

impl Task {
    /// Whether the task predicts classes.
    pub fn is_classification(self) -> bool {
        matches!(self, Task::Binary | Task::Multiclass)
    }

    /// Whether the task learns from a target column.
    pub fn is_supervised(self) -> bool {
        !matches!(self, Task::Cluster | Task::Anomaly)
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Task::Binary => "binary",
            Task::Multiclass => "multiclass",
            Task::Regression => "regression",
            Task::Cluster => "cluster",
            Task::Anomaly => "anomaly",
        })
    }
}

/// The target of a training set.
#[derive(Debug, Clone)]
pub enum Target {
    /// Class indices into `labels`.
    Classes {
        /// Class names, sorted (numerically when all are numbers).
        labels: Vec<String>,
        /// One class index per row.
        y: Vec<usize>,
    },
    /// Numeric values.
    Values(Vec<f64>),
    /// No target (clustering or anomaly detection without labels): the
    /// number of rows.
    Unlabelled(usize),
}

impl Target {
    /// Number of classes (1 for regression).
    pub fn width(&self) -> usize {
        match self {
            Target::Classes { labels, .. } => labels.len(),
            Target::Values(_) | Target::Unlabelled(_) => 1,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self {
            Target::Classes { y, .. } => y.len(),
            Target::Values(v) => v.len(),
            Target::Unlabelled(n) => *n,
        }
    }

    /// The target restricted to `rows`.
    pub fn take(&self, rows: &[usize]) -> Target {
        match self {
            Target::Classes { labels, y } => Target::Classes {
                labels: labels.clone(),
                y: rows.iter().map(|&r| y[r]).collect(),
            },
            Target::Values(v) => Target::Values(rows.iter().map(|&r| v[r]).collect()),
            Target::Unlabelled(_) => Target::Unlabelled(rows.len()),
        }
    }
}

/// A training set: input columns, target, task.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Input columns only (target and ignored columns removed).
    pub inputs: Table,
    /// The target column's name.
    pub target_name: String,
    /// The target values.
    pub target: Target,
    /// The task.
    pub task: Task,
    /// Rows dropped because their target was missing.
    pub dropped_rows: usize,
}

impl Dataset {
    /// Whether rows have a target or label to score against.
    pub fn labelled(&self) -> bool {
        !matches!(self.target, Target::Unlabelled(_))
    }
}

/// Column names for a message, with control characters escaped (a binary
/// file's "header" must not garble the terminal) and at most 30 shown.
fn listed(names: &[String]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(30)
        .map(|n| {
            n.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    let more = names.len().saturating_sub(shown.len());
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{}{tail}", shown.join(", "))
}

/// Splits `table` into inputs and target, checks the columns, and infers the
/// task unless `forced`.
pub fn prepare(
    table: Table,
    target: &str,
    ignore: &[String],
    forced: Option<Task>,
) -> Result<Dataset> {
    let Some(t) = table.position(target) else {
        return Err(Error::Schema(format!(
            "target column '{target}' is not in the data (columns: {})",
            listed(&table.names)
        )));
    };
    check_ignored(&table, ignore)?;
    let (table, dropped_rows) = drop_unlabelled(table, t, target)?;
    let target_col = &table.columns[t];
    let task = forced.unwrap_or_else(|| infer_task(target_col));
    let target_values = build_target(target, target_col, task)?;
    let inputs = input_table(&table, t, ignore)?;
    Ok(Dataset {
        inputs,
        target_name: target.to_string(),
        target: target_values,
        task,
        dropped_rows,
    })
}

/// Prepares data for clustering or anomaly detection: every column not
/// ignored is an input. `label`, if given, is set aside to score the models
/// and never reaches a learner; rows without a label are dropped. Anomaly
/// labels need exactly two values, the second in sorted order (`1`, `true`,
/// `yes`) meaning anomaly.
pub fn prepare_unsupervised(
    table: Table,
    task: Task,
    label: Option<&str>,
    ignore: &[String],
) -> Result<Dataset> {
    check_ignored(&table, ignore)?;
    let Some(name) = label else {
        let inputs = input_table(&table, usize::MAX, ignore)?;
        return Ok(Dataset {
            target: Target::Unlabelled(inputs.rows),
            inputs,
            target_name: String::new(),
            task,
            dropped_rows: 0,
        });
    };
    let Some(t) = table.position(name) else {
        return Err(Error::Schema(format!(
            "--label column '{name}' is not in the data (columns: {})",
            listed(&table.names)
        )));
    };
    let (table, dropped_rows) = drop_unlabelled(table, t, name)?;
    let kind = if task == Task::Anomaly {
        Task::Binary
    } else {
        Task::Multiclass
    };
    let target = build_target(name, &table.columns[t], kind)?;
    Ok(Dataset {
        inputs: input_table(&table, t, ignore)?,
        target_name: name.to_string(),
        target,
        task,
        dropped_rows,
    })
}

fn check_ignored(table: &Table, ignore: &[String]) -> Result<()> {
    match ignore.iter().find(|c| table.position(c).is_none()) {
        Some(col) => Err(Error::Schema(format!(
            "--ignore column '{col}' is not in the data"
        ))),
        None => Ok(()),
    }
}

/// Drops rows whose column `t` is missing; errors if none is left.
fn drop_unlabelled(table: Table, t: usize, name: &str) -> Result<(Table, usize)> {
    let keep: Vec<usize> = (0..table.rows)
        .filter(|&r| !table.columns[t].is_missing(r))
        .collect();
    let dropped = table.rows - keep.len();
    if keep.is_empty() {
        return Err(Error::Schema(format!("column '{name}' has no values")));
    }
    if dropped == 0 {
        return Ok((table, 0));
    }
    Ok((table.take(&keep), dropped))
}

fn input_table(table: &Table, target: usize, ignore: &[String]) -> Result<Table> {
    let mut names = Vec::new();
    let mut columns = Vec::new();
    for (i, (name, col)) in table.names.iter().zip(&table.columns).enumerate() {
        if i == target || ignore.contains(name) {
            continue;
        }
        if col.present() == 0 {
            return Err(Error::Schema(format!(
                "column '{name}' has no values (every cell is missing); drop it with --ignore '{name}'"
            )));
        }
        names.push(name.clone());
        columns.push(col.clone());
    }
    if names.is_empty() {
        return Err(Error::Schema(
            "no input columns left besides the target".into(),
        ));
    }
    Ok(Table {
        names,
        columns,
        rows: table.rows,
        markers: table.markers.clone(),
    })
}

/// Text targets are classes; a numeric target with exactly two values is
/// binary; any other numeric target is regression (as in H2O: force classes
/// of a numeric code with `--task multiclass`).
fn infer_task(target: &Column) -> Task {
    match target {
        Column::Texts(cells) => {
            let distinct: std::collections::BTreeSet<&str> =
                cells.iter().flatten().map(String::as_str).collect();
            if distinct.len() <= 2 {
                Task::Binary
            } else {
                Task::Multiclass
            }
        }
        Column::Numbers(cells) => {
            let distinct: std::collections::BTreeSet<u64> =
                cells.iter().flatten().map(|x| x.to_bits()).collect();
            if distinct.len() == 2 {
                Task::Binary
            } else {
                Task::Regression
            }
        }
    }
}

fn build_target(name: &str, col: &Column, task: Task) -> Result<Target> {
    if task == Task::Regression {
        return match col {
            Column::Numbers(v) => Ok(Target::Values(v.iter().flatten().copied().collect())),
            Column::Texts(v) => {
                let bad = v.iter().flatten().find(|s| parse_number(s).is_none());
                Err(Error::Schema(format!(
                    "target column '{name}' is not numeric (value '{}'), so it can't be a regression target",
                    bad.map_or("", String::as_str)
                )))
            }
        };
    }
    let texts: Vec<String> = match col {
        Column::Numbers(v) => v.iter().flatten().map(|x| format!("{x}")).collect(),
        Column::Texts(v) => v.iter().flatten().cloned().collect(),
    };
    let labels = sorted_labels(&texts);
    if labels.len() < 2 {
        return Err(Error::Schema(format!(
            "target column '{name}' has only one class ('{}'); classification needs two or more",
            labels.first().map_or("", String::as_str)
        )));
    }
    if task == Task::Binary && labels.len() > 2 {
        return Err(Error::Schema(format!(
            "target column '{name}' has {} classes; --task binary needs exactly two",
            labels.len()
        )));
    }
    let index: BTreeMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let y = texts.iter().map(|t| index[t.as_str()]).collect();
    Ok(Target::Classes { labels, y })
}

/// Distinct labels, numerically sorted when all parse as numbers.
fn sorted_labels(texts: &[String]) -> Vec<String> {
    let mut labels: Vec<String> = texts
        .iter()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if labels.iter().all(|l| parse_number(l).is_some()) {
        labels.sort_by(|a, b| {
            let (x, y) = (
                parse_number(a).unwrap_or(0.0),
                parse_number(b).unwrap_or(0.0),
            );
            x.total_cmp(&y)
        });
    }
    labels
}

/// One CSV line, quoting fields that need it.
pub fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    format!("{}\n", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn the_scanner_names_a_ragged_line_by_its_number() {
        let (_dir, path) = csv("a,b\n1,2\n3\n");
        let err = scan_csv(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 3 has 1 fields but the header has 2"),
            "{err}"
        );
    }

    #[test]
    fn the_scanner_reads_quotes_bom_and_crlf_as_rfc_4180_says() {
        let text = "\u{feff}\"say \"\"hi\"\"\",\"x,y\"\r\n\"a\nb\",2\r\n\r\n";
        let (_dir, path) = csv(text);
        assert_eq!(scan_csv(&path).unwrap(), ["say \"hi\"", "x,y"]);
    }

    fn numbers(v: &[f64]) -> Column {
        Column::Numbers(v.iter().map(|x| Some(*x)).collect())
    }

    fn texts(v: &[&str]) -> Column {
        Column::Texts(v.iter().map(|s| Some(s.to_string())).collect())
    }

    #[test]
    fn the_task_follows_the_target_s_values() {
        assert_eq!(infer_task(&texts(&["yes", "no", "yes"])), Task::Binary);
        assert_eq!(infer_task(&texts(&["a", "b", "c"])), Task::Multiclass);
        assert_eq!(infer_task(&numbers(&[0.0, 1.0, 1.0])), Task::Binary);
        assert_eq!(infer_task(&numbers(&[0.0, 1.0, 2.0])), Task::Regression);
        assert_eq!(infer_task(&numbers(&[1.5, 2.5, 9.0])), Task::Regression);
    }

    #[test]
    fn numeric_labels_sort_as_numbers() {
        let labels: Vec<String> = ["10", "9", "1.5"].iter().map(|s| s.to_string()).collect();
        assert_eq!(sorted_labels(&labels), ["1.5", "9", "10"]);
        let words: Vec<String> = ["b", "a", "10"].iter().map(|s| s.to_string()).collect();
        assert_eq!(sorted_labels(&words), ["10", "a", "b"]);
    }

    #[test]
    fn a_text_cell_that_fails_to_parse_keeps_the_column_textual() {
        let cells = vec![Some("1".to_string()), None, Some("2.5".to_string())];
        assert!(matches!(numbers_if_all_parse(cells), Column::Numbers(_)));
        let cells = vec![Some("1".to_string()), Some("abc".to_string())];
        assert!(matches!(numbers_if_all_parse(cells), Column::Texts(_)));
    }

    #[test]
    fn nameless_and_repeated_columns_are_refused_by_position() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_names(&names(&["a", "b"])).is_ok());
        let empty = check_names(&names(&["a", " ", "b"])).unwrap_err();
        assert!(empty.contains("column 2 has no name"), "{empty}");
        let twice = check_names(&names(&["x", "y", "x"])).unwrap_err();
        assert!(
            twice.contains("'x' appears twice (columns 1 and 3)"),
            "{twice}"
        );
    }

    /// Text made of CSV's troublesome pieces.
    fn csv_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec![
            "1", "-2.5", "1e308", "-1e308", "inf", "abc", "", "NA", "?", "\"", "\"\"", ",", ",",
            "\n", "\n", "\r\n", "true", "FALSE", "ü", "\u{feff}", " ", "x", "y", "0", "1",
        ]);
        prop::collection::vec(piece, 0..80).prop_map(|p| p.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
        ))]

        /// Whatever the file holds, loading (and preparing and encoding what
        /// loads) returns a value or an error, never a panic, and a table it
        /// returns is rectangular.
        #[test]
        fn any_csv_loads_or_is_refused(text in csv_text()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.csv");
            std::fs::write(&path, &text).unwrap();
            let Ok(table) = load(&path, &[]) else { return Ok(()) };
            proptest::prop_assert!(table.rows > 0);
            for c in &table.columns {
                let n = match c {
                    Column::Numbers(v) => v.len(),
                    Column::Texts(v) => v.len(),
                };
                proptest::prop_assert_eq!(n, table.rows);
            }
            let target = table.names[table.names.len() - 1].clone();
            if let Ok(ds) = prepare(table, &target, &[], None) {
                let prep = crate::prep::Prep::fit(&ds.inputs);
                let _ = prep.encode_table(&ds.inputs);
            }
        }

        /// Rectangular files of awkward cells get through loading, the
        /// target and the encoding without a panic.
        #[test]
        fn any_grid_of_cells_trains_its_preprocessing(
            cols in 2usize..5,
            cells in proptest::collection::vec(proptest::sample::select(vec![
                "1", "-2.5", "1e308", "-1e308", "inf", "NaN", "abc", "", "NA", "?", "true",
                "FALSE", "ü", " ", "0", "1", "2", "\"a,b\"", "\"\"",
            ]), 2..60),
            markers in proptest::collection::vec(
                proptest::sample::select(vec!["abc".to_string(), "0".into(), "-2.5".into()]),
                0..2,
            ),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.csv");
            let header: Vec<String> = (0..cols).map(|c| format!("c{c}")).collect();
            let mut text = header.join(",") + "\n";
            for row in cells.chunks(cols).filter(|r| r.len() == cols) {
                text.push_str(&row.join(","));
                text.push('\n');
            }
            std::fs::write(&path, &text).unwrap();
            let Ok(table) = load(&path, &markers) else { return Ok(()) };
            for task in [None, Some(Task::Regression), Some(Task::Multiclass)] {
                if let Ok(ds) = prepare(table.clone(), "c0", &[], task) {
                    let prep = crate::prep::Prep::fit(&ds.inputs);
                    let (x, d) = prep.encode_table(&ds.inputs).unwrap();
                    proptest::prop_assert_eq!(x.len(), d * ds.inputs.rows);
                }
            }
        }

        /// The cell readers every scorer (and the generated code) uses never
        /// panic, and a number given to a categorical column names the level
        /// `{}` prints.
        #[test]
        fn cell_readers_take_any_value(
            text in ".{0,40}",
            marker in ".{0,8}",
            x in proptest::prelude::any::<f64>(),
        ) {
            let extra = [marker.as_str()];
            let _ = cell::read_number(Value::Text(&text), &extra);
            let _ = cell::read_number_or_missing(Value::Number(x), &extra);
            let _ = cell::read_flag(Value::Text(&text), &extra);
            let _ = cell::read_flag(Value::Number(x), &extra);
            let mut buffer = cell::NumText::new();
            let _ = cell::read_level(Value::Text(&text), &extra, &mut buffer);
            let mut buffer = cell::NumText::new();
            let level = cell::read_level(Value::Number(x), &[] as &[&str], &mut buffer);
            proptest::prop_assert_eq!(level.map(str::to_string), x.is_finite().then(|| format!("{x}")));
        }
    }
}
