//! The command line, in layers: clap arguments → settings (the library's
//! `TrainSettings`, which own every default) → `validate`, which owns every
//! check and gives the `TrainConfig` a run needs → the run,
//! whose results go out through the one `Printer`. `main.rs` maps the error
//! to an exit code.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use crate::data::{self, Task};
use crate::error::{Error, Result};
use crate::leaderboard::{csv_line, Leaderboard};
use crate::learners::Family;
use crate::metrics::Metric;
use crate::model::Model;
use crate::output::write_atomic;
use crate::report::{describe_model, Printer};
use crate::search::budget::Stop;
use crate::train::settings::{Repeats, DEFAULT_FOLDS, DEFAULT_SEED};
use crate::train::{train_then_exit, TrainConfig, TrainReport, TrainSettings};

/// Turn a table into a deployable model.
#[derive(Debug, Parser)]
#[command(name = "automl", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Search learners and hyperparameters within a budget; write the
    /// leaderboard and the best model.
    Train(Box<TrainArgs>),
    /// Score a CSV or Parquet file with a trained model.
    Predict(PredictArgs),
    /// Print the leaderboard of a training run.
    Leaderboard(LeaderboardArgs),
    /// Describe a model file.
    Inspect(InspectArgs),
    /// Export a model as dependency-free Rust source, a Kafka consumer
    /// project or an ONNX file.
    Export(ExportArgs),
    /// Redraw a training run's report.html from its run folder.
    Report(ReportArgs),
}

/// `automl report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run folder written by `automl train`.
    pub run: PathBuf,
}

/// `automl export`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("format").required(true).args(["rust", "kafka_consumer", "onnx", "schema"])))]
pub struct ExportArgs {
    /// Model file written by `automl train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Write a std-only Rust module (`predict`, `Value`, `Input`, …) to --out.
    #[arg(long)]
    pub rust: bool,
    /// Write a Kafka consumer project (Cargo) into the new folder --out.
    #[arg(long)]
    pub kafka_consumer: bool,
    /// Write the whole pipeline (preprocessing, estimator, label map) as an
    /// ONNX file to --out, for ONNX Runtime and other ONNX-ML runtimes.
    #[arg(long)]
    pub onnx: bool,
    /// Write a JSON Schema of the input records (what a producer may send)
    /// to --out.
    #[arg(long)]
    pub schema: bool,
    /// Output file (--rust, --onnx, --schema) or folder (--kafka-consumer).
    #[arg(long)]
    pub out: PathBuf,
    /// Reason codes: with --rust, also generate `predict_explained`
    /// (every input column's contribution to the raw score, largest
    /// first); with --kafka-consumer, add the N largest to every output
    /// record [N: 3].
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "3", conflicts_with_all = ["onnx", "schema"])]
    pub explain: Option<usize>,
    /// With --kafka-consumer: a second model (same task and classes) that
    /// scores every record too, its outputs going to the consumer's shadow
    /// topic; the consumer reports how often the two agree.
    #[arg(long, value_name = "MODEL", conflicts_with_all = ["rust", "onnx", "schema"])]
    pub challenger: Option<PathBuf>,
}

/// `automl train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data (CSV, or Parquet by extension .parquet / .pq).
    #[arg(long, required_unless_present_any = ["resume", "kafka_topic"])]
    pub data: Option<PathBuf>,
    /// Kafka bootstrap servers, to train from --kafka-topic.
    #[arg(
        long,
        value_name = "BROKERS",
        env = "KAFKA_BROKERS",
        requires = "kafka_topic"
    )]
    pub kafka_brokers: Option<String>,
    /// Train from the JSON records of this topic (as the consumer reads
    /// them) instead of --data: every partition to the end of its log.
    #[arg(
        long,
        value_name = "TOPIC",
        conflicts_with = "data",
        requires = "kafka_brokers"
    )]
    pub kafka_topic: Option<String>,
    /// Read the topic from the start of each partition (the default).
    #[arg(long, requires = "kafka_topic", conflicts_with = "since")]
    pub from_beginning: bool,
    /// Read the records written from this time on (RFC 3339, such as
    /// 2026-12-01T00:00:00Z).
    #[arg(long, value_name = "TIME", requires = "kafka_topic")]
    pub since: Option<String>,
    /// Read at most N records (partition by partition).
    #[arg(long, value_name = "N", requires = "kafka_topic")]
    pub max_records: Option<usize>,
    /// Column to predict (not for --task cluster / anomaly).
    #[arg(long, required_unless_present_any = ["task", "resume"])]
    pub target: Option<String>,
    /// Force the task instead of inferring it from the target; `cluster`
    /// and `anomaly` need no target.
    #[arg(long, value_enum)]
    pub task: Option<Task>,
    /// Column to score clusters or anomaly scores against (cluster /
    /// anomaly tasks); it is never used to fit.
    #[arg(long, value_name = "COL")]
    pub label: Option<String>,
    /// Share of training rows the anomaly threshold flags [default: 0.05].
    #[arg(long, value_name = "SHARE")]
    pub contamination: Option<f64>,
    /// Column to leave out (repeatable), such as an id.
    #[arg(long, value_name = "COL")]
    pub ignore: Vec<String>,
    /// More cell texts that mean missing (comma-separated, such as -999,n/a),
    /// beside "", NA, N/A, NaN, nan, null, NULL, None and ?. The model keeps
    /// them: predict and the exported code read them as missing too.
    #[arg(
        long,
        value_name = "TEXT",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub na_values: Vec<String>,
    /// Metric that ranks models [default: roc_auc (binary), log_loss
    /// (multiclass), rmse (regression), balanced_silhouette (cluster), stability
    /// (anomaly; roc_auc with --label)].
    #[arg(long, value_enum)]
    pub metric: Option<Metric>,
    /// Cross-validation folds (data over 10 000 rows uses one 80/20 holdout).
    #[arg(long, default_value_t = DEFAULT_FOLDS)]
    pub folds: usize,
    /// Cut the folds this many times, from different seeds, and score every
    /// supervised trial on all of them (less selection noise on small data,
    /// at that many times the cost of a trial); auto: 3 below 500 rows,
    /// else 1.
    #[arg(long, default_value = "auto", value_name = "N|auto")]
    pub repeats: Repeats,
    /// Seed for folds and learners.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Wall-clock seconds for the whole command [default: 60, or none when
    /// --max-trials is given].
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub time_budget: Option<f64>,
    /// Stop after this many trials (reproducible runs).
    #[arg(long, value_name = "N")]
    pub max_trials: Option<usize>,
    /// Only these families (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub include: Vec<Family>,
    /// Don't combine the best trials into a weighted ensemble: the saved
    /// model is one family's.
    #[arg(long)]
    pub no_ensemble: bool,
    /// Output folder [default: runs/<data file stem>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print a JSON summary on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress display and no notes on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Continue the search of the run in RUN (its settings and data, its
    /// trials replayed) for --time-budget seconds or --max-trials more
    /// trials, adding to its leaderboard; a killed run resumes from its
    /// last checkpoint.
    #[arg(long, value_name = "RUN", conflicts_with_all = [
        "data", "target", "task", "label", "contamination", "ignore", "na_values",
        "metric", "folds", "repeats", "seed", "include", "no_ensemble", "out", "kafka_topic",
    ])]
    pub resume: Option<PathBuf>,
}

/// `automl predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model file written by `automl train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Rows to score (CSV or Parquet); a target column is ignored.
    #[arg(long)]
    pub data: PathBuf,
    /// Output CSV [default: stdout].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Add each row's N input columns that most moved its score (reason
    /// codes: exact contributions to the raw score, largest first).
    #[arg(long, value_name = "N")]
    pub explain: Option<usize>,
}

/// `automl leaderboard`.
#[derive(Debug, Args)]
pub struct LeaderboardArgs {
    /// Run folder written by `automl train`.
    pub run: PathBuf,
    /// Print the JSON leaderboard instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Show only the first N rows.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
}

/// `automl inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Model file.
    pub model: PathBuf,
    /// Print the model's metadata and schema as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a parsed command line. A panic anywhere in it becomes
/// `Error::Internal` (exit 1, one line naming where), never a crash with
/// Rust's panic text; a learner's panic inside a trial was already caught
/// there and failed only that trial.
pub fn run(cli: Cli, started: Instant) -> Result<()> {
    static LAST_FAULT: Mutex<Option<String>> = Mutex::new(None);
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if let Ok(mut last) = LAST_FAULT.lock() {
            *last = Some(format!("{what}{at}"));
        }
    }));
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(cli, started)))
        .unwrap_or_else(|_| {
            let fault = LAST_FAULT.lock().ok().and_then(|mut l| l.take());
            Err(Error::Internal(fault.unwrap_or_else(|| "a panic".into())))
        })
}

fn dispatch(cli: Cli, started: Instant) -> Result<()> {
    let printer = Printer { quiet: false };
    match cli.command {
        Command::Train(args) => run_train(*args, started),
        Command::Predict(args) => run_predict(&args, printer),
        Command::Leaderboard(args) => run_leaderboard(&args, printer),
        Command::Inspect(args) => run_inspect(&args, printer),
        Command::Export(args) => run_export(&args),
        Command::Report(args) => {
            crate::page::rebuild(&args.run)?;
            let page = args.run.join("report.html");
            printer.result(&format!("wrote {}\n", page.display()))
        }
    }
}

fn settings(args: &TrainArgs) -> Result<TrainSettings> {
    if let Some(run) = &args.resume {
        return TrainSettings::resume(run, args.time_budget, args.max_trials);
    }
    let data = args.data.clone().unwrap_or_default();
    let kafka = topic_source(args)?;
    let named = kafka
        .as_ref()
        .map_or(data.clone(), |k| PathBuf::from(&k.topic));
    Ok(TrainSettings {
        out: TrainSettings::out_for(args.out.clone(), &named),
        kafka,
        data,
        target: args.target.clone(),
        label: args.label.clone(),
        contamination: args.contamination,
        task: args.task,
        ignore: args.ignore.clone(),
        na_values: args
            .na_values
            .iter()
            .map(|m| m.trim().to_string())
            .collect(),
        metric: args.metric,
        folds: args.folds,
        repeats: args.repeats,
        seed: args.seed,
        time_budget: TrainSettings::budget_for(args.time_budget, args.max_trials),
        max_trials: args.max_trials,
        families: args.include.clone(),
        ensemble: !args.no_ensemble,
        resume: None,
    })
}

/// The topic to train from, if `--kafka-topic` is given.
fn topic_source(args: &TrainArgs) -> Result<Option<crate::data::topic::TopicSource>> {
    let (Some(topic), Some(brokers)) = (&args.kafka_topic, &args.kafka_brokers) else {
        return Ok(None);
    };
    let since_ms = match &args.since {
        Some(text) => {
            let at = humantime::parse_rfc3339_weak(text).map_err(|e| {
                Error::Settings(format!(
                    "--since '{text}': {e} (RFC 3339, such as 2026-12-01T00:00:00Z)"
                ))
            })?;
            let ms = at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            Some(ms as i64)
        }
        None => None,
    };
    Ok(Some(crate::data::topic::TopicSource {
        brokers: brokers.clone(),
        topic: topic.clone(),
        since_ms,
        max_records: args.max_records,
    }))
}

fn run_train(args: TrainArgs, started: Instant) -> Result<()> {
    let settings = settings(&args)?.validate()?;
    let printer = Printer {
        quiet: args.quiet || args.json,
    };
    let stop = stop_on_signals();
    let mut progress = printer.progress(settings.time_budget, settings.max_trials);
    let result = train_then_exit(&settings, started, &stop, &mut |e| progress.on_event(&e));
    progress.finish();
    let report = result?;
    print_train(&report, &settings, &args, printer)?;
    if report.record.interrupted {
        return Err(Error::Interrupted(format!(
            "kept the best model so far, {}, in {}",
            report.model.meta.model_id,
            settings.out.display()
        )));
    }
    Ok(())
}

/// The first Ctrl-C or SIGTERM asks the current run to stop and keep the
/// best model so far; the second exits at once, writing nothing.
fn stop_on_signals() -> Stop {
    // The handler is installed once per process (ctrlc allows one) and
    // stops whichever run is current, so a later run in the same process
    // is stopped too.
    static CURRENT: Mutex<Option<Stop>> = Mutex::new(None);
    static INSTALL: std::sync::Once = std::sync::Once::new();
    let stop = Stop::new();
    if let Ok(mut current) = CURRENT.lock() {
        *current = Some(stop.clone());
    }
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            let Some(stop) = CURRENT.lock().ok().and_then(|c| c.clone()) else {
                return;
            };
            if stop.requested() {
                std::process::exit(i32::from(crate::error::exit::INTERRUPTED));
            }
            eprintln!(
                "\nstopping: keeping the best model so far (press Ctrl-C again to quit at once)"
            );
            stop.request();
        });
    });
    stop
}

fn print_train(
    report: &TrainReport,
    settings: &TrainConfig,
    args: &TrainArgs,
    printer: Printer,
) -> Result<()> {
    if args.json {
        return printer.result(&format!("{}\n", summary_json(report, settings)?));
    }
    if report.record.dropped_rows > 0 {
        printer.note(&format!(
            "dropped {} rows whose {} '{}' was missing",
            report.record.dropped_rows,
            if settings.label.is_some() {
                "label"
            } else {
                "target"
            },
            report.model.target
        ));
    }
    printer.result(&format!(
        "{}\nbest: {} ({} {} = {:.4}), {} trials in {:.1} s; wrote {}\n",
        report.leaderboard.to_summary(5, 100),
        report.model.meta.model_id,
        report.record.validation,
        report.model.meta.metric,
        report.model.meta.cv_score,
        report.record.trials,
        report.record.timings.total,
        settings.out.display()
    ))
}

fn summary_json(report: &TrainReport, settings: &TrainConfig) -> Result<String> {
    let value = serde_json::json!({
        "best": report.model.meta.model_id,
        "family": report.model.meta.family,
        "metric": report.model.meta.metric,
        "cv_score": report.model.meta.cv_score,
        "task": report.record.task,
        "rows": report.record.rows,
        "dropped_rows": report.record.dropped_rows,
        "trials": report.record.trials,
        "interrupted": report.record.interrupted,
        "seconds": report.record.timings.total,
        "out": settings.out,
        "model": settings.out.join("model.json"),
        "leaderboard": report.leaderboard.rows.iter().take(10).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&value).map_err(|e| Error::output("stdout", e))
}

fn run_predict(args: &PredictArgs, printer: Printer) -> Result<()> {
    let model = Model::load(&args.model)?;
    let table = data::load(&args.data, &model.prep.missing_markers)?;
    let pred = model.predict_table(&table)?;
    let reasons = match args.explain {
        Some(n) => Some(Reasons {
            n: n.min(model.prep.columns.len()),
            rows: model.explain_table(&table)?,
            explained: model.explained_names()?,
            columns: model.input_columns(),
        }),
        None => None,
    };
    let mut header = model.output_header();
    if let Some(reasons) = &reasons {
        header.extend(reasons.header());
    }
    let mut text = csv_line(&header);
    for r in 0..pred.rows() {
        let mut cells = model.output_cells(pred.row(r));
        if let Some(reasons) = &reasons {
            cells.extend(reasons.cells(r));
        }
        text.push_str(&csv_line(&cells));
    }
    match &args.out {
        Some(path) => write_atomic(path, text.as_bytes()),
        None => printer.result(&text),
    }
}

/// `predict --explain`'s columns: every row's reason codes, `n` of them.
struct Reasons<'a> {
    n: usize,
    rows: Vec<crate::model::Explanation>,
    explained: Vec<String>,
    columns: Vec<&'a str>,
}

impl Reasons<'_> {
    fn header(&self) -> Vec<String> {
        let pairs = (1..=self.n).flat_map(|i| [format!("reason_{i}"), format!("contribution_{i}")]);
        ["explained", "raw", "base"]
            .map(String::from)
            .into_iter()
            .chain(pairs)
            .collect()
    }

    /// Row `r`'s cells: what is explained, its raw score and expected
    /// value, then the `n` largest contributions and their columns.
    fn cells(&self, r: usize) -> Vec<String> {
        let e = &self.rows[r];
        let mut cells = vec![
            self.explained[e.output].clone(),
            format!("{}", e.raw),
            format!("{}", e.base),
        ];
        for (c, v) in e.top(self.n) {
            cells.extend([self.columns[c].to_string(), format!("{v}")]);
        }
        cells
    }
}

fn run_leaderboard(args: &LeaderboardArgs, printer: Printer) -> Result<()> {
    let path = if args.run.is_dir() {
        args.run.join("leaderboard.json")
    } else {
        args.run.clone()
    };
    let mut board = Leaderboard::load(&path)?;
    if let Some(n) = args.top {
        board.rows.truncate(n);
    }
    if args.json {
        let text = serde_json::to_string_pretty(&board).map_err(|e| Error::output("stdout", e))?;
        printer.result(&format!("{text}\n"))
    } else {
        printer.result(&format!("{}\n", board.to_table(usize::MAX)))
    }
}

fn run_inspect(args: &InspectArgs, printer: Printer) -> Result<()> {
    let model = Model::load(&args.model)?;
    if args.json {
        let value = serde_json::json!({
            "format_version": model.format_version,
            "task": model.task,
            "target": model.target,
            "classes": model.classes,
            "meta": model.meta,
            "inputs": model.prep.columns.iter().map(|c| serde_json::json!({
                "name": c.name, "kind": c.kind, "features": c.feature_names(),
            })).collect::<Vec<_>>(),
            "estimator": model.estimator.kind(),
        });
        let text = serde_json::to_string_pretty(&value).map_err(|e| Error::output("stdout", e))?;
        printer.result(&format!("{text}\n"))
    } else {
        printer.result(&describe_model(&model))
    }
}

/// A model file and its bytes (its id hashes them).
fn model_and_bytes(path: &std::path::Path) -> Result<(Model, Vec<u8>)> {
    let model = Model::load(path)?;
    let bytes = std::fs::read(path).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok((model, bytes))
}

fn run_export(args: &ExportArgs) -> Result<()> {
    let (model, bytes) = model_and_bytes(&args.model)?;
    if args.kafka_consumer {
        let challenger = match &args.challenger {
            Some(path) => {
                let (challenger, bytes) = model_and_bytes(path)?;
                crate::export::kafka::comparable(&model, &challenger).map_err(|reason| {
                    Error::Model {
                        path: path.clone(),
                        reason,
                    }
                })?;
                Some((challenger, bytes))
            }
            None => None,
        };
        let project = crate::export::kafka::Project {
            champion: (&model, &bytes),
            challenger: challenger.as_ref().map(|(m, b)| (m, b.as_slice())),
            reasons: args.explain.unwrap_or(0),
        };
        crate::export::kafka::write_project(&project, &args.out)
    } else if args.onnx {
        crate::export::write_onnx(&model, &args.out)
    } else if args.schema {
        crate::export::write_schema(&model, &args.out)
    } else {
        crate::export::write_rust(&model, &bytes, &args.out, args.explain.is_some())
    }
}
