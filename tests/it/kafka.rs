//! The generated Kafka consumer against a real Kafka-protocol broker (tansu,
//! started by `scripts/test.sh`, address in `AUTOML_KAFKA_BROKERS`): two
//! instances in one group score a 4-partition topic; every input offset
//! must come out exactly once (steady run) or at least once (a consumer
//! killed and restarted mid-stream), predictions must equal `automl
//! predict`'s, and malformed records must reach the dead-letter topic with
//! their reason.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value as Json;

use crate::support::{automl, dataset, predict, train, train_unsupervised};

/// The Kafka tests take turns on the shared broker, which runs on the
/// same two cores: another test's producers and consumers slowing it
/// would turn a timing margin (a session timeout, a rebalance) into a
/// failure that says nothing about the consumer.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn brokers() -> String {
    std::env::var("AUTOML_KAFKA_BROKERS").expect("AUTOML_KAFKA_BROKERS is unset: run the tests with scripts/test.sh, which starts the broker")
}

/// A trained model and its consumer, exported and built once per test run.
struct Scorer {
    model: PathBuf,
    binary: PathBuf,
    _dir: tempfile::TempDir,
}

fn scorer() -> &'static Scorer {
    static SCORER: OnceLock<Scorer> = OnceLock::new();
    SCORER.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        train(
            &dataset("titanic.csv"),
            "survived",
            &run,
            5,
            &["--include", "gbdt"],
        );
        build(dir, &run.join("model.json"), "titanic-scorer", &[])
    })
}

/// An annthyroid isolation forest (flagging 5% of training rows) and its
/// consumer.
fn detector() -> &'static Scorer {
    static DETECTOR: OnceLock<Scorer> = OnceLock::new();
    DETECTOR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        train_unsupervised(
            &dataset("annthyroid.csv"),
            "anomaly",
            "is_anomaly",
            &run,
            2,
            &["--include", "isolation_forest", "--contamination", "0.05"],
        );
        build(dir, &run.join("model.json"), "thyroid-alerts", &[])
    })
}

/// Exports `model` as a consumer project `name` (with `export`'s `extra`
/// arguments), checks that it is rustfmt- and clippy-clean (`-D
/// warnings`), builds it and runs its own tests.
fn build(dir: tempfile::TempDir, model: &Path, name: &str, extra: &[&str]) -> Scorer {
    let project = dir.path().join(name);
    automl()
        .args(["export", "--kafka-consumer", "--model"])
        .arg(model)
        .args(extra)
        .arg("--out")
        .arg(&project)
        .assert()
        .success();
    // One shared target folder, so librdkafka is compiled once per machine.
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/kafka-consumer");
    let steps: [(&[&str], &str); 4] = [
        (&["fmt", "--check"], "is not rustfmt-clean"),
        (
            &[
                "clippy",
                "--release",
                "--quiet",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            "is not clippy-clean",
        ),
        (&["build", "--release", "--quiet"], "does not build"),
        (&["test", "--release", "--quiet"], "fails its own tests"),
    ];
    for (args, failure) in steps {
        let status = Command::new("cargo")
            .args(args)
            .current_dir(&project)
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .unwrap();
        assert!(status.success(), "the generated consumer project {failure}");
    }
    Scorer {
        model: model.to_path_buf(),
        binary: target.join("release").join(name),
        _dir: dir,
    }
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn create_topic(brokers: &str, name: &str, partitions: u32) {
    let status = Command::new("tansu")
        .args([
            "topic",
            "create",
            name,
            "--broker",
            &format!("tcp://{brokers}"),
            "--partitions",
            &partitions.to_string(),
        ])
        .status()
        .expect("tansu is on PATH (scripts/test.sh)");
    assert!(status.success(), "creating topic {name}");
}

/// Titanic rows as JSON objects keyed by row number; empty cells are null.
fn titanic_records() -> (Vec<(String, String)>, String) {
    let text = std::fs::read_to_string(dataset("titanic.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut records = Vec::new();
    for (i, line) in lines.enumerate() {
        let mut object = serde_json::Map::new();
        for (name, cell) in header.iter().zip(line.split(',')) {
            let value = if cell.is_empty() {
                Json::Null
            } else if let Ok(x) = cell.parse::<f64>() {
                Json::from(x)
            } else {
                Json::from(cell)
            };
            object.insert(name.to_string(), value);
        }
        records.push((i.to_string(), Json::Object(object).to_string()));
    }
    (records, text)
}

const MALFORMED: [&str; 5] = [
    "not json",
    "[1, 2]",
    "{\"age\": {\"years\": 3}}",
    "{\"age\": \"old\"}",
    "{\"sex\": [\"male\"]}",
];

/// The key that `produce` sends as no key at all (a null key), and
/// `collect` reads a keyless record as.
const NULL_KEY: &str = "<null>";

fn produce(brokers: &str, topic: &str, records: &[(String, String)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for (key, value) in records {
        loop {
            let record = BaseRecord::to(topic).payload(value);
            let record = if key == NULL_KEY {
                record
            } else {
                record.key(key)
            };
            match producer.send(record) {
                Ok(()) => break,
                Err((_, _)) => {
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// A running consumer and what it has logged so far.
struct Running {
    child: Child,
    log: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

fn start(topics: &Topics, group: &str) -> Running {
    start_with(&scorer().binary, topics, group, &[])
}

fn start_with(binary: &Path, topics: &Topics, group: &str, extra: &[&str]) -> Running {
    let mut child = Command::new(binary)
        .args([
            "--brokers",
            &topics.brokers,
            "--input",
            &topics.input,
            "--output",
            &topics.output,
        ])
        .args([
            "--dead-letter",
            &topics.dead_letter,
            "--group",
            group,
            "--stats-seconds",
            "2",
        ])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (stderr, sink) = (child.stderr.take().unwrap(), Arc::clone(&log));
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    Running { child, log, reader }
}

impl Running {
    /// Partitions in the consumer's latest assignment.
    fn assigned(&self) -> usize {
        let log = self.log.lock().unwrap();
        log.lines()
            .rev()
            .find_map(|l| l.strip_prefix("assigned: "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// Waits until every consumer holds partitions (the group has settled).
fn settle(consumers: &[&Running]) {
    let started = Instant::now();
    while consumers.iter().any(|c| c.assigned() == 0) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the consumer group did not settle"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM, then the exit status must be 0; returns the records the
/// consumer reports it read (its `stopped: in=N` line).
fn stop(running: Running) -> u64 {
    // Five boosting trials, combined: the consumer serves an ensemble.
    stop_model(running, "ensemble-")
}

/// Sends SIGTERM (the consumer's orderly stop).
fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// As `stop`, for a consumer whose model id starts with `model`.
fn stop_model(mut running: Running, model: &str) -> u64 {
    terminate(&running.child);
    let status = running.child.wait().unwrap();
    running.reader.join().unwrap();
    let log = running.log.lock().unwrap().clone();
    assert!(
        status.success(),
        "consumer exited with {status} after SIGTERM:\n{log}"
    );
    assert!(
        log.contains("started: brokers=") && log.contains(&format!("model={model}")),
        "start line missing:\n{log}"
    );
    log.lines()
        .find_map(|l| l.strip_prefix("stopped: in="))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no stopped line:\n{log}"))
}

struct Topics {
    brokers: String,
    input: String,
    output: String,
    dead_letter: String,
}

fn topics(name: &str) -> Topics {
    topics_on(&brokers(), name)
}

/// Input (4 partitions), output and dead-letter topics named after `name`.
fn topics_on(brokers: &str, name: &str) -> Topics {
    let t = Topics {
        brokers: brokers.to_string(),
        input: unique(name),
        output: unique(&format!("{name}-scores")),
        dead_letter: unique(&format!("{name}-dlq")),
    };
    create_topic(brokers, &t.input, 4);
    create_topic(brokers, &t.output, 1);
    create_topic(brokers, &t.dead_letter, 1);
    t
}

/// The same topic names, for a consumer started with one of them changed.
fn topics_named(t: &Topics) -> Topics {
    Topics {
        brokers: t.brokers.clone(),
        input: t.input.clone(),
        output: t.output.clone(),
        dead_letter: t.dead_letter.clone(),
    }
}

/// One record read back from the output or dead-letter topic.
struct Outcome {
    source: (i32, i64),
    key: String,
    body: Option<Json>,
    reason: Option<String>,
}

/// A consumer of its own group reading `partitions` of `topics` from the
/// beginning.
fn reader(t: &Topics, name: &str, topics: &[&str], partitions: i32) -> BaseConsumer {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &t.brokers)
        .set("group.id", unique(name))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
    }
    reader.assign(&tpl).unwrap();
    reader
}

/// Reads output and dead-letter records until `want` distinct source
/// offsets were seen (or the deadline passes); returns all of them.
fn collect(t: &Topics, want: usize, deadline: Duration) -> Vec<Outcome> {
    let reader = reader(t, "reader", &[&t.output, &t.dead_letter], 1);
    let (mut out, mut seen) = (Vec::new(), BTreeSet::new());
    let started = Instant::now();
    while seen.len() < want && started.elapsed() < deadline {
        let Some(Ok(m)) = reader.poll(Duration::from_millis(200)) else {
            continue;
        };
        let key = m.key().map_or(NULL_KEY.to_string(), |k| {
            String::from_utf8_lossy(k).to_string()
        });
        let o = if m.topic() == t.output {
            let body: Json = serde_json::from_slice(m.payload().unwrap()).unwrap();
            let source = (
                body["source"]["partition"].as_i64().unwrap() as i32,
                body["source"]["offset"].as_i64().unwrap(),
            );
            Outcome {
                source,
                key,
                body: Some(body),
                reason: None,
            }
        } else {
            let h = m.headers().expect("dead letters carry headers");
            let get = |k: &str| {
                h.iter()
                    .find(|x| x.key == k)
                    .and_then(|x| x.value)
                    .map(|v| String::from_utf8_lossy(v).to_string())
            };
            let source = (
                get("automl.source.partition").unwrap().parse().unwrap(),
                get("automl.source.offset").unwrap().parse().unwrap(),
            );
            Outcome {
                source,
                key,
                body: None,
                reason: get("automl.error"),
            }
        };
        seen.insert(o.source);
        out.push(o);
    }
    out
}

/// Every input (partition, offset) of `t.input`, read back from the
/// start (`expected` records; tansu's watermarks are not reliable enough).
fn input_offsets(t: &Topics, expected: usize) -> BTreeSet<(i32, i64)> {
    let c = reader(t, "probe", &[&t.input], 4);
    let mut all = BTreeSet::new();
    let started = Instant::now();
    while all.len() < expected && started.elapsed() < Duration::from_secs(60) {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            all.insert((m.partition(), m.offset()));
        }
    }
    all
}

#[test]
fn two_consumers_score_every_record_exactly_once_like_predict() {
    let _turn = turn();
    let s = scorer();
    let t = topics("steady");
    let (mut records, csv) = titanic_records();
    records.extend(
        MALFORMED
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("bad-{i}"), m.to_string())),
    );
    // A record without a key: its dead letter must have none either.
    records.push((NULL_KEY.to_string(), "not json".to_string()));
    let group = unique("steady-group");
    let (a, b) = (start(&t, &group), start(&t, &group));
    settle(&[&a, &b]);
    produce(&t.brokers, &t.input, &records);
    let outcomes = collect(&t, records.len(), Duration::from_secs(120));
    let (read_a, read_b) = (stop(a), stop(b));
    assert!(
        read_a > 0 && read_b > 0,
        "the group did not share the partitions: {read_a} and {read_b} records read"
    );
    assert_eq!((read_a + read_b) as usize, records.len());
    let inputs = input_offsets(&t, records.len());
    assert_eq!(inputs.len(), records.len());
    let mut counts: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    outcomes
        .iter()
        .for_each(|o| *counts.entry(o.source).or_default() += 1);
    let once = inputs.iter().filter(|s| counts.get(s) == Some(&1)).count();
    assert_eq!(
        once,
        inputs.len(),
        "every input offset exactly once across output and dead letters"
    );
    assert_eq!(counts.len(), inputs.len());
    // Malformed records are dead letters with a reason; valid ones are not.
    let dead: Vec<&Outcome> = outcomes.iter().filter(|o| o.body.is_none()).collect();
    assert_eq!(dead.len(), MALFORMED.len() + 1);
    assert!(dead
        .iter()
        .all(|o| o.reason.as_deref().is_some_and(|r| !r.is_empty())));
    let keyless = dead.iter().filter(|o| o.key == NULL_KEY).count();
    assert_eq!(keyless, 1, "a null key stays null");
    assert!(dead
        .iter()
        .all(|o| o.key == NULL_KEY || o.key.starts_with("bad-")));
    // Predictions equal `automl predict` on the same rows, to the bit.
    let dir = tempfile::tempdir().unwrap();
    let (data, expected) = (dir.path().join("rows.csv"), dir.path().join("expected.csv"));
    std::fs::write(&data, &csv).unwrap();
    predict(&s.model, &data, &expected);
    let expected = std::fs::read_to_string(expected).unwrap();
    let expected: Vec<Vec<&str>> = expected
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    for o in outcomes.iter().filter(|o| o.body.is_some()) {
        let row = &expected[o.key.parse::<usize>().unwrap()];
        let body = o.body.as_ref().unwrap();
        assert_eq!(body["prediction"], row[0], "row {}", o.key);
        let p1 = body["probabilities"]["1"].as_f64().unwrap();
        assert_eq!(
            p1.to_bits(),
            row[2].parse::<f64>().unwrap().to_bits(),
            "row {}",
            o.key
        );
    }
    eprintln!(
        "steady run: {} in, {} out, {} dead-lettered, 0 duplicated, 0 lost; consumers read {read_a} and {read_b}",
        inputs.len(),
        outcomes.len() - dead.len(),
        dead.len()
    );
}

#[test]
fn a_consumer_killed_mid_stream_loses_nothing() {
    let _turn = turn();
    scorer();
    let t = topics("restart");
    let records = four_rounds();
    produce(&t.brokers, &t.input, &records);
    let group = unique("restart-group");
    let (mut a, b) = (start(&t, &group), start(&t, &group));
    // Let them get going, then crash one (no commit, no goodbye) and start it again.
    let early = collect(&t, records.len() / 4, Duration::from_secs(60));
    assert!(!early.is_empty(), "consumers produced nothing");
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let a = start(&t, &group);
    let outcomes = collect(&t, records.len(), Duration::from_secs(120));
    stop(a);
    stop(b);
    let inputs = input_offsets(&t, records.len());
    assert_eq!(inputs.len(), records.len());
    let seen: BTreeSet<(i32, i64)> = outcomes.iter().map(|o| o.source).collect();
    let lost = inputs.difference(&seen).count();
    let duplicated = outcomes.len() - seen.len();
    eprintln!(
        "restart run: {} in, {} out, {} duplicated, {lost} lost",
        inputs.len(),
        outcomes.len(),
        duplicated
    );
    assert_eq!(lost, 0, "records lost across a consumer crash");
}

/// Keys and bodies of every record on `topic` (partition 0), read until
/// `want` arrived or the deadline passed.
fn read_topic(brokers: &str, topic: &str, want: usize, deadline: Duration) -> Vec<(String, Json)> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    reader.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let started = Instant::now();
    while out.len() < want && started.elapsed() < deadline {
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(200)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).to_string();
            out.push((key, serde_json::from_slice(m.payload().unwrap()).unwrap()));
        }
    }
    out
}

#[test]
fn an_anomaly_consumer_scores_like_predict_and_sends_anomalies_to_the_alert_topic() {
    let _turn = turn();
    let s = detector();
    let t = topics("thyroid");
    let alerts = unique("thyroid-alerts");
    create_topic(&t.brokers, &alerts, 1);
    // The first 1 500 rows, as JSON numbers keyed by row number.
    let text = std::fs::read_to_string(dataset("annthyroid.csv")).unwrap();
    let csv: String = text.lines().take(1_501).map(|l| format!("{l}\n")).collect();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut records: Vec<(String, String)> = lines
        .enumerate()
        .map(|(i, line)| {
            let object: serde_json::Map<String, Json> = header
                .iter()
                .zip(line.split(','))
                .map(|(h, c)| (h.to_string(), Json::from(c.parse::<f64>().unwrap())))
                .collect();
            (i.to_string(), Json::Object(object).to_string())
        })
        .collect();
    records.push(("bad-0".into(), "{\"att1\": \"high\"}".into()));
    let consumer = start_with(
        &s.binary,
        &t,
        &unique("thyroid-group"),
        &["--alerts", &alerts],
    );
    settle(&[&consumer]);
    produce(&t.brokers, &t.input, &records);
    let outcomes = collect(&t, records.len(), Duration::from_secs(120));
    let dir = tempfile::tempdir().unwrap();
    let (data, expected) = (dir.path().join("rows.csv"), dir.path().join("expected.csv"));
    std::fs::write(&data, &csv).unwrap();
    predict(&s.model, &data, &expected);
    let expected = std::fs::read_to_string(expected).unwrap();
    let expected: Vec<(f64, bool)> = expected
        .lines()
        .skip(1)
        .map(|l| {
            let (score, flag) = l.split_once(',').unwrap();
            (score.parse().unwrap(), flag == "true")
        })
        .collect();
    let flagged: BTreeSet<String> = (0..expected.len())
        .filter(|&i| expected[i].1)
        .map(|i| i.to_string())
        .collect();
    let alerted = read_topic(&t.brokers, &alerts, flagged.len(), Duration::from_secs(60));
    let read = stop_model(consumer, "isolation_forest-");
    assert_eq!(read as usize, records.len());
    let sources: BTreeSet<(i32, i64)> = outcomes.iter().map(|o| o.source).collect();
    assert_eq!(sources.len(), records.len(), "every record answered");
    assert_eq!(outcomes.len(), records.len(), "and only once");
    for o in &outcomes {
        let Some(body) = &o.body else {
            assert_eq!(o.key, "bad-0");
            assert!(o.reason.as_deref().is_some_and(|r| r.contains("att1")));
            continue;
        };
        let (score, flag) = expected[o.key.parse::<usize>().unwrap()];
        assert_eq!(
            body["score"].as_f64().unwrap().to_bits(),
            score.to_bits(),
            "row {}",
            o.key
        );
        assert_eq!(body["is_anomaly"], flag, "row {}", o.key);
    }
    let alert_keys: BTreeSet<String> = alerted.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(alerted.len(), flagged.len(), "one alert per anomaly");
    assert_eq!(alert_keys, flagged);
    assert!(alerted.iter().all(|(_, b)| b["is_anomaly"] == true));
    assert!(!flagged.is_empty() && flagged.len() < expected.len() / 5);
    eprintln!(
        "anomaly run: {} in, {} scored, 1 dead-lettered, {} alerts = {} flagged by predict",
        records.len(),
        outcomes.len() - 1,
        alerted.len(),
        flagged.len()
    );
}

/// A broker of our own, with SQLite storage in `dir`: unlike the shared
/// in-memory broker it keeps topics, records and committed offsets when it
/// is stopped and started again.
struct OwnBroker {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl OwnBroker {
    fn start(dir: &Path, port: u16) -> OwnBroker {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu is on PATH (scripts/test.sh)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "broker did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        OwnBroker {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker (no clean shutdown) and starts it on the same
    /// storage and port.
    fn crash_and_restart(self) -> OwnBroker {
        self.crash(Duration::ZERO)
    }

    /// Kills the broker and starts it again after `down`.
    fn crash(mut self, down: Duration) -> OwnBroker {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::thread::sleep(down);
        OwnBroker::start(&self.dir.clone(), self.port)
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_broker_crash_and_restart_mid_stream_loses_nothing() {
    let _turn = turn();
    scorer();
    let dir = tempfile::tempdir().unwrap();
    let broker = OwnBroker::start(dir.path(), free_port());
    let t = topics_on(&broker.address(), "broker-restart");
    let records = four_rounds();
    let half = records.len() / 2;
    let group = unique("broker-restart-group");
    let consumer = start(&t, &group);
    settle(&[&consumer]);
    produce(&t.brokers, &t.input, &records[..half]);
    let early = collect(&t, half / 2, Duration::from_secs(60));
    assert!(!early.is_empty(), "the consumer produced nothing");
    let broker = broker.crash_and_restart();
    produce(&t.brokers, &t.input, &records[half..]);
    let outcomes = collect(&t, records.len(), Duration::from_secs(180));
    let read = stop(consumer);
    let inputs = input_offsets(&t, records.len());
    assert_eq!(inputs.len(), records.len(), "the broker kept every input");
    let seen: BTreeSet<(i32, i64)> = outcomes.iter().map(|o| o.source).collect();
    let lost = inputs.difference(&seen).count();
    let duplicated = outcomes.len() - seen.len();
    eprintln!(
        "broker restart run: {} in, {} out, {duplicated} duplicated, {lost} lost; the consumer read {read}",
        inputs.len(),
        outcomes.len()
    );
    assert_eq!(lost, 0, "records lost across a broker crash");
    drop(broker);
}

#[test]
fn a_dead_letter_too_large_to_send_goes_truncated_not_lost() {
    let _turn = turn();
    let s = scorer();
    let t = topics("oversized");
    let (mut records, _) = titanic_records();
    records.truncate(3);
    let huge = "x".repeat(10_000);
    records.push(("huge".to_string(), huge.clone()));
    let group = unique("oversized-group");
    // The consumer's producer may send at most 4 KB: the 10 KB record's dead
    // letter can't go whole.
    let consumer = start_with(&s.binary, &t, &group, &["-X", "message.max.bytes=4096"]);
    settle(&[&consumer]);
    produce(&t.brokers, &t.input, &records);
    let outcomes = collect(&t, records.len(), Duration::from_secs(60));
    let read = stop(consumer);
    assert_eq!(read as usize, records.len());
    assert_eq!(outcomes.len(), records.len(), "in = out + dead-lettered");
    let reader = reader(&t, "dlq-reader", &[&t.dead_letter], 1);
    let started = Instant::now();
    let letter = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no dead letter"
        );
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(200)) {
            break m.detach();
        }
    };
    let header = |k: &str| {
        let h = letter.headers().expect("headers");
        h.iter()
            .find(|x| x.key == k)
            .and_then(|x| x.value)
            .map(|v| String::from_utf8_lossy(v).to_string())
    };
    assert_eq!(header("automl.truncated").as_deref(), Some("10000"));
    assert!(header("automl.error").unwrap().starts_with("not JSON"));
    let payload = letter.payload().unwrap();
    assert_eq!(payload, &huge.as_bytes()[..1024]);
    eprintln!(
        "oversized run: {} in, {} out, 1 dead-lettered as a 1024-byte copy of 10000 bytes, 0 lost",
        records.len(),
        outcomes.iter().filter(|o| o.body.is_some()).count()
    );
}

/// Counts of a fault run: how many input offsets, outputs, dead letters,
/// outcomes beyond one per input, and inputs with no outcome.
struct Tally {
    inputs: usize,
    out: usize,
    dead: usize,
    duplicated: usize,
    lost: usize,
}

fn tally(inputs: &BTreeSet<(i32, i64)>, outcomes: &[Outcome]) -> Tally {
    let seen: BTreeSet<(i32, i64)> = outcomes.iter().map(|o| o.source).collect();
    Tally {
        inputs: inputs.len(),
        out: outcomes.iter().filter(|o| o.body.is_some()).count(),
        dead: outcomes.iter().filter(|o| o.body.is_none()).count(),
        duplicated: outcomes.len() - seen.len(),
        lost: inputs.difference(&seen).count(),
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} in, {} out, {} dead-lettered, {} duplicated, {} lost",
            self.inputs, self.out, self.dead, self.duplicated, self.lost
        )
    }
}

#[test]
fn outputs_the_broker_refuses_are_dead_lettered_in_their_place() {
    let _turn = turn();
    let s = scorer();
    let t = topics("refused");
    let (mut records, _) = titanic_records();
    records.truncate(300);
    produce(&t.brokers, &t.input, &records);
    // The consumer writes its scores to a topic the broker does not have:
    // every write is refused (after librdkafka's 3 s of retries), and each
    // refused score must reach the dead-letter topic in its place.
    let refusing = Topics {
        output: unique("refused-nowhere"),
        ..topics_named(&t)
    };
    let group = unique("refused-group");
    let consumer = start_with(
        &s.binary,
        &refusing,
        &group,
        &["-X", "message.timeout.ms=3000"],
    );
    let outcomes = collect(&t, records.len(), Duration::from_secs(120));
    let read = stop(consumer);
    let inputs = input_offsets(&t, records.len());
    let counts = tally(&inputs, &outcomes);
    eprintln!("refused-write run: {counts}; the consumer read {read}");
    assert_eq!(counts.lost, 0, "a refused write lost its record");
    assert_eq!(counts.inputs, counts.out + counts.dead - counts.duplicated);
    assert!(outcomes.iter().all(|o| o
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("refused the write to"))));
}

/// Four copies of the titanic rows, keyed `round-row`.
fn four_rounds() -> Vec<(String, String)> {
    rounds(4)
}

/// `n` copies of the titanic rows, keyed `round-row`.
fn rounds(n: usize) -> Vec<(String, String)> {
    let (rows, _) = titanic_records();
    (0..n)
        .flat_map(|round| {
            rows.iter()
                .map(move |(k, v)| (format!("{round}-{k}"), v.clone()))
        })
        .collect()
}

#[test]
fn a_broker_killed_during_the_shutdown_flush_loses_nothing() {
    let _turn = turn();
    scorer();
    let dir = tempfile::tempdir().unwrap();
    let broker = OwnBroker::start(dir.path(), free_port());
    let t = topics_on(&broker.address(), "flush-crash");
    let records = four_rounds();
    let group = unique("flush-crash-group");
    let mut consumer = start(&t, &group);
    settle(&[&consumer]);
    produce(&t.brokers, &t.input, &records);
    let early = collect(&t, 1, Duration::from_secs(60));
    assert!(!early.is_empty(), "the consumer produced nothing");
    // With scores still in flight, SIGTERM makes the consumer stop reading
    // and flush what it has sent; the broker dies in that flush and is back
    // 2 s later.
    terminate(&consumer.child);
    let killed = Instant::now();
    let broker = broker.crash(Duration::from_secs(2));
    let status = consumer.child.wait().unwrap();
    let flush = killed.elapsed();
    consumer.reader.join().unwrap();
    let log = consumer.log.lock().unwrap().clone();
    // Whether the flush finished after the restart (exit 0, offsets
    // committed) or gave up (exit 1, nothing more committed), a new
    // consumer of the group must bring every record out.
    let again = start(&t, &group);
    let outcomes = collect(&t, records.len(), Duration::from_secs(180));
    stop(again);
    let inputs = input_offsets(&t, records.len());
    assert_eq!(inputs.len(), records.len(), "the broker kept every input");
    let counts = tally(&inputs, &outcomes);
    let ended = log
        .lines()
        .find(|l| l.starts_with("stopped:") || l.starts_with("error:"))
        .unwrap_or("");
    eprintln!(
        "flush-crash run: {counts}; the first consumer exited {:.1} s after SIGTERM with {status}: {ended}",
        flush.as_secs_f64()
    );
    assert_eq!(
        counts.lost, 0,
        "records lost when the broker died in a flush"
    );
    drop(broker);
}

#[test]
fn a_rebalance_in_the_middle_of_a_batch_loses_nothing() {
    let _turn = turn();
    scorer();
    let t = topics("rebalance");
    let records = rounds(8);
    let group = unique("rebalance-group");
    let a = start(&t, &group);
    settle(&[&a]);
    // Records arrive for about 7 s, 100 every 100 ms; a second consumer
    // joins 1 s in, while the first is scoring: partitions move mid-batch.
    // The second half of the stream waits for the first consumer to see
    // its partitions revoked, so that on a loaded machine the rebalance
    // still happens while records flow.
    let (brokers, input, stream) = (t.brokers.clone(), t.input.clone(), records.clone());
    let a_log = Arc::clone(&a.log);
    let producer = std::thread::spawn(move || {
        let half = stream.len() / 200;
        for (i, chunk) in stream.chunks(100).enumerate() {
            if i == half {
                let waited = Instant::now();
                while !a_log.lock().unwrap().contains("revoked:")
                    && waited.elapsed() < Duration::from_secs(60)
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            produce(&brokers, &input, chunk);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    let b = start(&t, &group);
    producer.join().unwrap();
    let outcomes = collect(&t, records.len(), Duration::from_secs(180));
    let revoked = a.log.lock().unwrap().contains("revoked:");
    let logs = [Arc::clone(&a.log), Arc::clone(&b.log)];
    let (read_a, read_b) = (stop(a), stop(b));
    let inputs = input_offsets(&t, records.len());
    assert_eq!(inputs.len(), records.len());
    let counts = tally(&inputs, &outcomes);
    eprintln!("rebalance run: {counts}; the consumers read {read_a} and {read_b}");
    assert!(revoked && read_b > 0, "no rebalance happened");
    if counts.lost > 0 {
        // What a loss needs to be understood: which offsets, and what each
        // consumer was assigned, revoked and failed to commit.
        let seen: BTreeSet<(i32, i64)> = outcomes.iter().map(|o| o.source).collect();
        let lost: Vec<&(i32, i64)> = inputs.difference(&seen).take(30).collect();
        let events = |log: &Arc<Mutex<String>>| -> String {
            let log = log.lock().unwrap();
            log.lines()
                .filter(|l| !l.starts_with("counters:"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "records lost in a rebalance: {counts}; the first (partition, offset): {lost:?}\nconsumer a:\n{}\nconsumer b:\n{}",
            events(&logs[0]),
            events(&logs[1])
        );
    }
}

#[test]
fn a_dead_letter_the_broker_refuses_stops_the_consumer_and_loses_nothing() {
    let _turn = turn();
    let s = scorer();
    let t = topics("dlq-refused");
    let (mut records, _) = titanic_records();
    records.truncate(50);
    records.push(("bad".to_string(), "not json".to_string()));
    produce(&t.brokers, &t.input, &records);
    // The dead-letter topic the first consumer is given does not exist: the
    // malformed record's dead letter is refused, so the consumer must stop
    // without committing past it.
    let nowhere = Topics {
        dead_letter: unique("dlq-nowhere"),
        ..topics_named(&t)
    };
    let group = unique("dlq-refused-group");
    let mut first = start_with(
        &s.binary,
        &nowhere,
        &group,
        &["-X", "message.timeout.ms=3000"],
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = first.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the consumer went on past a refused dead letter"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    first.reader.join().unwrap();
    assert!(
        !status.success(),
        "a refused dead letter must not end in success"
    );
    // Restarted with a dead-letter topic that exists, the group re-reads
    // from its last commit: every record comes out.
    let again = start(&t, &group);
    let outcomes = collect(&t, records.len(), Duration::from_secs(60));
    stop(again);
    let inputs = input_offsets(&t, records.len());
    let counts = tally(&inputs, &outcomes);
    eprintln!("refused-dead-letter run: {counts}; the first consumer exited with {status}");
    assert_eq!(counts.lost, 0, "a refused dead letter lost its record");
    assert!(counts.dead >= 1);
}

#[test]
fn a_consumer_built_with_explain_adds_the_reasons_predict_explain_gives() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let args = ["--include", "gbdt", "--no-ensemble"];
    train(&dataset("titanic.csv"), "survived", &run, 3, &args);
    let model = run.join("model.json");
    let s = build(dir, &model, "titanic-reasons", &["--explain", "3"]);
    let t = topics("reasons");
    let (records, _) = titanic_records();
    let consumer = start_with(&s.binary, &t, &unique("reasons-group"), &[]);
    settle(&[&consumer]);
    produce(&t.brokers, &t.input, &records);
    let outcomes = collect(&t, records.len(), Duration::from_secs(120));
    stop_model(consumer, "gbdt");
    let expected = automl()
        .args(["predict", "--explain", "3", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(dataset("titanic.csv"))
        .assert()
        .success();
    let expected = String::from_utf8_lossy(&expected.get_output().stdout).to_string();
    let expected: Vec<Vec<&str>> = expected
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let bits = |cell: &str| cell.parse::<f64>().unwrap().to_bits();
    let mut compared = 0;
    for o in &outcomes {
        let body = o.body.as_ref().expect("every titanic record scores");
        // prediction, p_0, p_1, explained, raw, base, then 3 pairs.
        let row = &expected[o.key.parse::<usize>().unwrap()];
        assert_eq!(body["explained"], row[3], "row {}", o.key);
        assert_eq!(
            body["raw"].as_f64().unwrap().to_bits(),
            bits(row[4]),
            "row {}",
            o.key
        );
        assert_eq!(
            body["base"].as_f64().unwrap().to_bits(),
            bits(row[5]),
            "row {}",
            o.key
        );
        let reasons = body["reasons"].as_array().unwrap();
        assert_eq!(reasons.len(), 3);
        for (k, r) in reasons.iter().enumerate() {
            assert_eq!(r["column"], row[6 + 2 * k], "row {}", o.key);
            let value = r["contribution"].as_f64().unwrap().to_bits();
            assert_eq!(value, bits(row[7 + 2 * k]), "row {}", o.key);
        }
        compared += 1;
    }
    assert_eq!(compared, records.len());
}

#[test]
fn a_model_trained_from_a_topic_equals_the_model_trained_from_its_file() {
    let _turn = turn();
    let brokers = brokers();
    let topic = unique("training-records");
    create_topic(&brokers, &topic, 1);
    // The rows as a producer would write them: fields in the file's order,
    // numbers as the file writes them.
    let text = std::fs::read_to_string(dataset("titanic.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let records: Vec<(String, String)> = lines
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<String> = header
                .iter()
                .zip(line.split(','))
                .map(|(name, cell)| {
                    let value = match cell {
                        "" => "null".to_string(),
                        c if c.parse::<f64>().is_ok() => c.to_string(),
                        c => Json::from(c).to_string(),
                    };
                    format!("{}:{value}", Json::from(*name))
                })
                .collect();
            (i.to_string(), format!("{{{}}}", fields.join(",")))
        })
        .collect();
    produce(&brokers, &topic, &records);
    let dir = tempfile::tempdir().unwrap();
    let (from_topic, from_file) = (dir.path().join("topic"), dir.path().join("file"));
    let common = [
        "--target",
        "survived",
        "--max-trials",
        "4",
        "--seed",
        "7",
        "--quiet",
        "--out",
    ];
    automl()
        .args([
            "train",
            "--kafka-brokers",
            &brokers,
            "--kafka-topic",
            &topic,
            "--from-beginning",
        ])
        .args(common)
        .arg(&from_topic)
        .assert()
        .success();
    train(&dataset("titanic.csv"), "survived", &from_file, 4, &[]);
    let model = |run: &Path| std::fs::read(run.join("model.json")).unwrap();
    assert_eq!(
        model(&from_topic),
        model(&from_file),
        "the same model, byte for byte"
    );
    let record: Json =
        serde_json::from_slice(&std::fs::read(from_topic.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["settings"]["kafka"]["topic"], topic.as_str());
    let offsets = &record["topic_offsets"];
    assert_eq!(
        offsets,
        &serde_json::json!([{"partition": 0, "first": 0, "last": 890, "records": 891}])
    );
    // A limit reads the first records of the log, and says so.
    let limited = dir.path().join("limited");
    automl()
        .args([
            "train",
            "--kafka-brokers",
            &brokers,
            "--kafka-topic",
            &topic,
            "--max-records",
            "300",
        ])
        .args(common)
        .arg(&limited)
        .assert()
        .success();
    let record: Json =
        serde_json::from_slice(&std::fs::read(limited.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["rows"], 300);
    assert_eq!(record["topic_offsets"][0]["last"], 299);
    // A topic that does not exist is a data error naming it.
    automl()
        .args([
            "train",
            "--kafka-brokers",
            &brokers,
            "--kafka-topic",
            "no-such-topic-here",
        ])
        .args(common)
        .arg(dir.path().join("none"))
        .assert()
        .code(3)
        .stderr(predicates::str::contains("no-such-topic-here"));
}

#[test]
fn with_validate_records_that_break_the_schema_are_dead_lettered_with_its_reason() {
    let _turn = turn();
    let s = scorer();
    let (mut records, _) = titanic_records();
    records.truncate(20);
    // `true` in a categorical column: the model would read it as the level
    // "true"; the schema (an open enum of strings and numbers) refuses it.
    let mut broken: serde_json::Map<String, Json> = serde_json::from_str(&records[0].1).unwrap();
    broken.insert("sex".into(), Json::Bool(true));
    records.push(("broken".into(), Json::Object(broken).to_string()));
    for validate in [true, false] {
        let t = topics(if validate { "validated" } else { "unvalidated" });
        let extra: &[&str] = if validate { &["--validate"] } else { &[] };
        let consumer = start_with(&s.binary, &t, &unique("contract-group"), extra);
        settle(&[&consumer]);
        produce(&t.brokers, &t.input, &records);
        let outcomes = collect(&t, records.len(), Duration::from_secs(60));
        stop(consumer);
        assert_eq!(outcomes.len(), records.len());
        let broken = outcomes.iter().find(|o| o.key == "broken").unwrap();
        if validate {
            let reason = broken.reason.as_deref().expect("dead-lettered");
            assert!(reason.starts_with("breaks schema.json at /sex"), "{reason}");
        } else {
            assert!(broken.body.is_some(), "scored without --validate");
        }
        assert_eq!(
            outcomes.iter().filter(|o| o.body.is_some()).count(),
            20 + usize::from(!validate)
        );
    }
}

/// The value of an unlabelled sample `name` in a Prometheus text page.
fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `GET /metrics` from `addr`, the body.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    text.split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_string())
}

#[test]
fn metrics_for_operators_are_served_in_prometheus_format() {
    let _turn = turn();
    let s = scorer();
    let t = topics("metrics");
    let (mut records, _) = titanic_records();
    records.truncate(30);
    records.push(("bad-0".into(), "not json".into()));
    let addr = format!("127.0.0.1:{}", free_port());
    let consumer = start_with(
        &s.binary,
        &t,
        &unique("metrics-group"),
        &["--metrics-addr", &addr, "--stats-seconds", "1"],
    );
    settle(&[&consumer]);
    produce(&t.brokers, &t.input, &records);
    let outcomes = collect(&t, records.len(), Duration::from_secs(60));
    assert_eq!(outcomes.len(), records.len());
    // The counters are exported after each batch, the lag every second.
    std::thread::sleep(Duration::from_millis(1500));
    let page = scrape(&addr);
    stop(consumer);
    assert_eq!(
        sample(&page, "automl_records_in_total"),
        Some(31.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, "automl_records_out_total"),
        Some(30.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, "automl_records_dead_lettered_total"),
        Some(1.0),
        "{page}"
    );
    assert_eq!(sample(&page, "automl_alerts_total"), Some(0.0), "{page}");
    assert!(sample(&page, "automl_consumer_lag").is_some(), "{page}");
    let batches = sample(&page, "automl_scoring_seconds_count").unwrap_or(0.0);
    assert!(batches >= 1.0, "{page}");
    assert!(
        page.contains("# TYPE automl_scoring_seconds histogram"),
        "{page}"
    );
}

mod platform;
