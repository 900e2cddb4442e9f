//! The consumer's settings: flags, or environment variables for each.

use crate::model;

/// What the consumer reads, writes and how.
pub struct Settings {
    pub brokers: String,
    pub input: String,
    pub output: String,
    pub dead_letter: String,
    pub group: String,
    /// Topic that also receives the output of every flagged row.
    pub alerts: Option<String>,
    pub stats_seconds: u64,
    /// librdkafka properties given with `-X key=value`.
    pub properties: Vec<(String, String)>,
    /// Whether records are checked against schema.json first.
    pub validate: bool,
    /// Where to serve Prometheus metrics (`HOST:PORT`), if anywhere.
    pub metrics_addr: Option<String>,
    /// Threads that score a batch (its records cut among them).
    pub threads: usize,
    /// Topic for the challenger's outputs (a project with a challenger).
    pub shadow: Option<String>,
    /// Topic that receives drift (and agreement) reports as JSON.
    pub metrics_topic: Option<String>,
    /// Seconds between drift reports; no drift monitoring when absent.
    pub drift_seconds: Option<u64>,
    /// Records in the drift window (the last ones scored).
    pub drift_window: usize,
    /// PSI above which a series is reported as drifted.
    pub drift_threshold: f64,
}

const HELP: &str = concat!(
    "usage: ",
    env!("CARGO_PKG_NAME"),
    " --brokers HOSTS --input TOPIC --output TOPIC --dead-letter TOPIC --group ID",
    " [--alerts TOPIC (anomaly models)] [--shadow TOPIC (with a challenger)] [--validate] [--metrics-addr HOST:PORT] [--metrics-topic TOPIC]",
    " [--drift-seconds N [--drift-window RECORDS] [--drift-threshold PSI]] [--threads N] [--stats-seconds N] [-X key=value]..."
);

/// Reads the settings from the environment, then the command line; the
/// error is what to print (the usage for `--help`).
pub fn settings() -> Result<Settings, String> {
    let env = |k: &str| std::env::var(k).ok();
    let mut s = Settings {
        brokers: env("KAFKA_BROKERS").unwrap_or_default(),
        input: env("KAFKA_INPUT_TOPIC").unwrap_or_default(),
        output: env("KAFKA_OUTPUT_TOPIC").unwrap_or_default(),
        dead_letter: env("KAFKA_DEAD_LETTER_TOPIC").unwrap_or_default(),
        group: env("KAFKA_GROUP_ID").unwrap_or_default(),
        alerts: env("KAFKA_ALERT_TOPIC").filter(|t| !t.is_empty()),
        stats_seconds: env("STATS_SECONDS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10),
        properties: Vec::new(),
        validate: env("KAFKA_VALIDATE").is_some_and(|v| v == "1" || v == "true"),
        metrics_addr: env("METRICS_ADDR").filter(|a| !a.is_empty()),
        threads: env("SCORING_THREADS")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
        shadow: env("KAFKA_SHADOW_TOPIC").filter(|t| !t.is_empty()),
        metrics_topic: env("KAFKA_METRICS_TOPIC").filter(|t| !t.is_empty()),
        drift_seconds: env("DRIFT_SECONDS").and_then(|v| v.parse().ok()),
        drift_window: env("DRIFT_WINDOW")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000),
        drift_threshold: env("DRIFT_THRESHOLD")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.25),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--brokers" => s.brokers = value()?,
            "--input" => s.input = value()?,
            "--output" => s.output = value()?,
            "--dead-letter" => s.dead_letter = value()?,
            "--group" => s.group = value()?,
            "--alerts" => s.alerts = Some(value()?),
            "--validate" => s.validate = true,
            "--metrics-addr" => s.metrics_addr = Some(value()?),
            "--shadow" => s.shadow = Some(value()?),
            "--threads" => s.threads = number(&flag, &value()?)?,
            "--metrics-topic" => s.metrics_topic = Some(value()?),
            "--drift-seconds" => s.drift_seconds = Some(number(&flag, &value()?)?),
            "--drift-window" => s.drift_window = number(&flag, &value()?)?,
            "--drift-threshold" => s.drift_threshold = number(&flag, &value()?)?,
            "--stats-seconds" => s.stats_seconds = number(&flag, &value()?)?,
            "-X" => {
                let kv = value()?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or(format!("-X takes key=value, not {kv}"))?;
                s.properties.push((k.to_string(), v.to_string()));
            }
            "-h" | "--help" => return Err(HELP.to_string()),
            other => return Err(format!("unknown argument {other}\n{HELP}")),
        }
    }
    check(&s)?;
    Ok(s)
}

/// A flag's value as a number of its type.
fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} takes a number, not {value}"))
}

fn check(s: &Settings) -> Result<(), String> {
    let required = [
        ("--brokers", &s.brokers),
        ("--input", &s.input),
        ("--output", &s.output),
        ("--dead-letter", &s.dead_letter),
        ("--group", &s.group),
    ];
    for (name, v) in required {
        if v.is_empty() {
            return Err(format!("{name} is required\n{HELP}"));
        }
    }
    if s.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if s.drift_window == 0 || s.drift_threshold.is_nan() || s.drift_threshold <= 0.0 {
        return Err("--drift-window must be at least 1 and --drift-threshold above 0".into());
    }
    let challenger = cfg!(feature = "challenger");
    if challenger && s.shadow.is_none() {
        let needed = "--shadow (KAFKA_SHADOW_TOPIC) is required: this consumer scores a challenger";
        return Err(format!("{needed}\n{HELP}"));
    }
    if !challenger && s.shadow.is_some() {
        return Err("--shadow needs a challenger (automl export --challenger)".into());
    }
    if s.alerts.is_some() && model::TASK != "anomaly" {
        return Err(format!(
            "--alerts (KAFKA_ALERT_TOPIC) needs an anomaly model; this one is {}",
            model::TASK
        ));
    }
    Ok(())
}
