//! Scores a Kafka topic with the automl model in `model.rs` (see
//! README.md): `settings` reads the flags, `record` turns a batch of input
//! records into their outputs (scored together by the model's
//! `predict_batch`), `delivery` keeps the at-least-once ledger, `drift`
//! compares the scored records with the training data, `shadow` scores
//! them with a challenger (when the project has one), and this file runs
//! the loop.
//!
//! At least once: records are read in batches; a batch's offsets are
//! committed only once every output, dead-letter and alert write of it and of
//! every earlier batch is acknowledged. Reading and scoring go on while
//! acknowledgements arrive, so the broker's round trip does not stall the
//! stream. A crash re-reads from the last commit (duplicates, no loss).

#[cfg(feature = "challenger")]
#[rustfmt::skip]
mod challenger;
mod contract;
mod delivery;
mod drift;
#[rustfmt::skip]
mod fields;
mod metrics;
#[rustfmt::skip]
mod model;
mod reasons;
mod record;
mod settings;
#[cfg(feature = "challenger")]
mod shadow;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::ClientContext;

use delivery::{
    commit_acknowledged, open_batches, seal, send, take_refused, Deliveries, Kind, Ledger,
    SendError, Write, TRUNCATED_PAYLOAD,
};
use settings::Settings;

/// Most records scored in one batch (the unit of commits).
const BATCH: usize = 2_000;
/// Longest a fetch may wait at the broker for records (ms), unless `-X`
/// sets it.
const FETCH_WAIT_MS: &str = "10";
/// Most batches waiting for acknowledgements before reading pauses.
const MAX_OPEN_BATCHES: usize = 16;

/// Logs partition assignments, so operators (and tests) see the group share.
struct Rebalances;

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |tpl: &rdkafka::TopicPartitionList| -> Vec<i32> {
            tpl.elements().iter().map(|e| e.partition()).collect()
        };
        match rebalance {
            Rebalance::Assign(tpl) => {
                eprintln!("assigned: {} partitions {:?}", tpl.count(), partitions(tpl))
            }
            Rebalance::Revoke(tpl) => {
                eprintln!("revoked: {} partitions {:?}", tpl.count(), partitions(tpl))
            }
            Rebalance::Error(e) => eprintln!("rebalance error: {e}"),
        }
    }
}

type Scorer = BaseConsumer<Rebalances>;

fn config(s: &Settings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &s.brokers);
    for (k, v) in &s.properties {
        c.set(k, v);
    }
    c
}

#[derive(Default)]
struct Counters {
    read: u64,
    written: u64,
    dead_lettered: u64,
    alerts: u64,
    /// Challenger outputs sent to the shadow topic.
    shadowed: u64,
    /// Seconds the last batch of records took to score, if it had any.
    scoring: Option<f64>,
}

impl Counters {
    /// Adds what the counters gained to `metrics`, if they are served.
    fn export(&self, metrics: Option<&metrics::Metrics>, last: &mut metrics::Exported) {
        if let Some(m) = metrics {
            m.export(
                last,
                [
                    self.read,
                    self.written,
                    self.dead_lettered,
                    self.alerts,
                    self.shadowed,
                ],
            );
            if let Some(seconds) = self.scoring {
                m.scored(seconds);
            }
        }
    }
}

fn main() -> ExitCode {
    let s = match settings::settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&s) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(s: &Settings) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)).map_err(|e| e.to_string())?;
    let mut consumer = config(s);
    consumer
        .set("group.id", &s.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000");
    // librdkafka's default lets a broker hold a fetch for 500 ms while a
    // partition has nothing new, which stalled a busy consumer for 130-160
    // ms every 30 000 records (bench/kafka.sh: 95 000 records/s, 160 000
    // with 10 ms). `-X fetch.wait.max.ms=…` still decides.
    if !s.properties.iter().any(|(k, _)| k == "fetch.wait.max.ms") {
        consumer.set("fetch.wait.max.ms", FETCH_WAIT_MS);
    }
    let consumer: Scorer = consumer
        .create_with_context(Rebalances)
        .map_err(|e| format!("consumer: {e}"))?;
    let failed = Arc::new(AtomicUsize::new(0));
    let ledger: Ledger = Arc::default();
    let producer: ThreadedProducer<Deliveries> = config(s)
        .set("acks", "all")
        .set("linger.ms", "5")
        .create_with_context(Deliveries {
            failed: Arc::clone(&failed),
            ledger: Arc::clone(&ledger),
        })
        .map_err(|e| format!("producer: {e}"))?;
    consumer
        .subscribe(&[&s.input])
        .map_err(|e| format!("subscribe: {e}"))?;
    eprintln!(
        "started: brokers={} input={} output={} dead-letter={} alerts={} shadow={} metrics={} group={} model={}",
        s.brokers,
        s.input,
        s.output,
        s.dead_letter,
        s.alerts.as_deref().unwrap_or("-"),
        s.shadow.as_deref().unwrap_or("-"),
        s.metrics_topic.as_deref().unwrap_or("-"),
        s.group,
        model::MODEL_ID
    );
    let contract = if s.validate {
        Some(contract::Contract::load()?)
    } else {
        None
    };
    let metrics = match &s.metrics_addr {
        Some(addr) => Some(metrics::Metrics::serve(addr)?),
        None => None,
    };
    let mut monitors = record::Monitors::new(
        s.drift_seconds
            .map(|seconds| drift::Drift::new(s.drift_window, seconds, s.drift_threshold))
            .transpose()?,
    );
    let mut exported = metrics::Exported::default();
    let mut counters = Counters::default();
    let mut last_stats = Instant::now();
    let mut number = 0;
    while !stop.load(Ordering::SeqCst) {
        let (next, sent) = consume_batch(
            &consumer,
            contract.as_ref(),
            s,
            &producer,
            &mut counters,
            &mut monitors,
            (&stop, number),
        )?;
        // Every record read gives a write, so a batch without writes read
        // nothing and has nothing to commit.
        if sent > 0 {
            seal(&ledger, number, next, sent);
            number += 1;
        }
        counters.export(metrics.as_ref(), &mut exported);
        if let Some(report) = monitors.drift.as_mut().and_then(drift::Drift::due) {
            publish_drift(&report, &producer, s, metrics.as_ref())?;
        }
        redeliver(&producer, s, &ledger, &mut counters)?;
        commit_acknowledged(&consumer, &ledger, &failed, s, CommitMode::Async)?;
        // Too many batches unacknowledged: wait, dead-lettering refused
        // writes and committing the batches that settle meanwhile (which
        // is what ends the wait).
        while open_batches(&ledger) > MAX_OPEN_BATCHES
            && failed.load(Ordering::SeqCst) == 0
            && !stop.load(Ordering::SeqCst)
        {
            redeliver(&producer, s, &ledger, &mut counters)?;
            commit_acknowledged(&consumer, &ledger, &failed, s, CommitMode::Async)?;
            std::thread::sleep(Duration::from_millis(1));
        }
        if last_stats.elapsed() >= Duration::from_secs(s.stats_seconds) {
            let lag = lag(&consumer);
            if let Some(m) = &metrics {
                m.lag(lag);
            }
            // With a challenger, the line ends with the agreement since the
            // last one.
            #[allow(unused_mut)]
            let mut agreement = String::new();
            #[cfg(feature = "challenger")]
            if let Some(report) = monitors.agreement.take() {
                agreement = report.line();
                publish_agreement(&report, &producer, s, metrics.as_ref())?;
            }
            eprintln!(
                "counters: in={} out={} dead-lettered={} alerts={} shadow={} lag={lag}{agreement}",
                counters.read,
                counters.written,
                counters.dead_lettered,
                counters.alerts,
                counters.shadowed,
            );
            last_stats = Instant::now();
        }
    }
    // Refused writes found by a flush are dead-lettered and flushed in turn.
    loop {
        producer
            .flush(Duration::from_secs(30))
            .map_err(|e| format!("flush: {e}"))?;
        if open_batches(&ledger) == 0 || failed.load(Ordering::SeqCst) > 0 {
            break;
        }
        let before = counters.dead_lettered;
        redeliver(&producer, s, &ledger, &mut counters)?;
        if counters.dead_lettered == before {
            break;
        }
    }
    commit_acknowledged(&consumer, &ledger, &failed, s, CommitMode::Sync)?;
    eprintln!(
        "stopped: in={} out={} dead-lettered={} alerts={} shadow={}",
        counters.read, counters.written, counters.dead_lettered, counters.alerts, counters.shadowed
    );
    Ok(())
}

/// The record with the input's key; a record without one (a null key)
/// stays without one, rather than getting an empty key.
fn keyed<'a>(
    record: BaseRecord<'a, [u8], [u8], Box<Write>>,
    key: Option<&'a [u8]>,
) -> BaseRecord<'a, [u8], [u8], Box<Write>> {
    match key {
        Some(k) => record.key(k),
        None => record,
    }
}

/// A dead letter: what is sent, and the input record it stands for.
struct Letter<'a> {
    batch: usize,
    partition: i32,
    offset: i64,
    key: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    reason: &'a str,
}

/// Sends a letter to the dead-letter topic, with the reason and where its
/// input came from in headers. A payload too large to send whole goes as a
/// truncated copy that says so (`automl.truncated` holds the payload's full
/// size), so it is neither lost nor a crash loop; so does `truncate`'s.
fn dead_letter<'a>(
    producer: &ThreadedProducer<Deliveries>,
    s: &'a Settings,
    letter: &Letter<'a>,
    truncate: bool,
) -> Result<(), String> {
    let payload = letter.payload.unwrap_or_default();
    let partition = letter.partition.to_string();
    let offset = letter.offset.to_string();
    let headers = |truncated: Option<usize>| {
        let mut h = OwnedHeaders::new();
        for (key, value) in [
            ("automl.error", letter.reason),
            ("automl.source.topic", s.input.as_str()),
            ("automl.source.partition", partition.as_str()),
            ("automl.source.offset", offset.as_str()),
        ] {
            h = h.insert(Header {
                key,
                value: Some(value),
            });
        }
        if let Some(size) = truncated {
            h = h.insert(Header {
                key: "automl.truncated",
                value: Some(&size.to_string()),
            });
        }
        h
    };
    let record = |body: &'a [u8], truncated| -> BaseRecord<'a, [u8], [u8], Box<Write>> {
        let write = Box::new(Write {
            batch: letter.batch,
            kind: Kind::DeadLetter,
            partition: letter.partition,
            offset: letter.offset,
        });
        let r = BaseRecord::with_opaque_to(&s.dead_letter, write).headers(headers(truncated));
        let r = keyed(r, letter.key);
        match letter.payload {
            Some(_) => r.payload(body),
            None => r,
        }
    };
    let kept = &payload[..payload.len().min(TRUNCATED_PAYLOAD)];
    let whole = if truncate && kept.len() < payload.len() {
        Err(SendError::TooLarge)
    } else {
        send(producer, record(payload, None))
    };
    match whole {
        Err(SendError::TooLarge) => {
            eprintln!(
                "dead letter of offset {} truncated from {} bytes",
                letter.offset,
                payload.len()
            );
            send(producer, record(kept, Some(payload.len()))).map_err(|e| e.to_string())
        }
        other => other.map_err(|e| e.to_string()),
    }
}

/// Dead-letters the outputs and alerts the broker refused since the last
/// call, in their place. Refusals are often about size, so a long one goes
/// truncated.
fn redeliver(
    producer: &ThreadedProducer<Deliveries>,
    s: &Settings,
    ledger: &Ledger,
    counters: &mut Counters,
) -> Result<(), String> {
    for refused in take_refused(ledger) {
        eprintln!("{} (offset {})", refused.reason, refused.write.offset);
        let letter = Letter {
            batch: refused.write.batch,
            partition: refused.write.partition,
            offset: refused.write.offset,
            key: refused.key.as_deref(),
            payload: Some(&refused.payload),
            reason: &refused.reason,
        };
        dead_letter(producer, s, &letter, true)?;
        match refused.write.kind {
            Kind::Alert => counters.alerts -= 1,
            Kind::Output => counters.written -= 1,
            // The same letter again, truncated: already counted; shadow
            // outputs and reports are never set aside.
            Kind::DeadLetter | Kind::Shadow | Kind::Report => continue,
        }
        counters.dead_lettered += 1;
    }
    Ok(())
}

/// Polls up to `BATCH` records, scores them together and sends each one's
/// output or dead letter, tagged with the batch `number`; returns the next
/// offset to commit per partition and the number of writes sent.
fn consume_batch(
    consumer: &Scorer,
    contract: Option<&contract::Contract>,
    s: &Settings,
    producer: &ThreadedProducer<Deliveries>,
    counters: &mut Counters,
    monitors: &mut record::Monitors,
    (stop, number): (&AtomicBool, usize),
) -> Result<(HashMap<i32, i64>, i64), String> {
    let messages = poll_batch(consumer, stop);
    counters.read += messages.len() as u64;
    // Records that break the contract (with --validate) are not scored.
    let verdicts: Vec<Result<(), String>> = messages
        .iter()
        .map(|m| contract.map_or(Ok(()), |c| c.check(m.payload())))
        .collect();
    let topic = serde_json::Value::from(s.input.as_str()).to_string();
    let records: Vec<(Option<&[u8]>, String)> = messages
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| v.is_ok())
        .map(|(m, _)| {
            let (partition, offset) = (m.partition(), m.offset());
            let source =
                format!(r#"{{"topic":{topic},"partition":{partition},"offset":{offset}}}"#);
            (m.payload(), source)
        })
        .collect();
    let scoring = Instant::now();
    let mut scored = record::score_batch(&records, monitors, s.threads).into_iter();
    counters.scoring = (!records.is_empty()).then(|| scoring.elapsed().as_secs_f64());
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut sent = 0;
    for (m, verdict) in messages.iter().zip(verdicts) {
        let result = match verdict {
            Ok(()) => scored.next().unwrap_or_else(|| Err("not scored".into())),
            Err(reason) => Err(reason),
        };
        match result {
            Ok(scored) => {
                let write = |kind| {
                    Box::new(Write {
                        batch: number,
                        kind,
                        partition: m.partition(),
                        offset: m.offset(),
                    })
                };
                let output = BaseRecord::with_opaque_to(&s.output, write(Kind::Output))
                    .payload(scored.out.as_bytes());
                send(producer, keyed(output, m.key())).map_err(|e| e.to_string())?;
                counters.written += 1;
                sent += 1;
                if let (true, Some(topic)) = (scored.alert, &s.alerts) {
                    let alert = BaseRecord::with_opaque_to(topic, write(Kind::Alert))
                        .payload(scored.out.as_bytes());
                    send(producer, keyed(alert, m.key())).map_err(|e| e.to_string())?;
                    counters.alerts += 1;
                    sent += 1;
                }
                if let (Some(shadow), Some(topic)) = (&scored.shadow, &s.shadow) {
                    let record = BaseRecord::with_opaque_to(topic, write(Kind::Shadow))
                        .payload(shadow.as_bytes());
                    send(producer, keyed(record, m.key())).map_err(|e| e.to_string())?;
                    counters.shadowed += 1;
                    sent += 1;
                }
            }
            Err(reason) => {
                let letter = Letter {
                    batch: number,
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key(),
                    payload: m.payload(),
                    reason: &reason,
                };
                dead_letter(producer, s, &letter, false)?;
                counters.dead_lettered += 1;
                sent += 1;
            }
        }
        next.insert(m.partition(), m.offset() + 1);
    }
    Ok((next, sent))
}

/// Logs the series a drift report flags, sets their metrics, and sends the
/// report to the metrics topic.
fn publish_drift(
    report: &drift::Report,
    producer: &ThreadedProducer<Deliveries>,
    s: &Settings,
    metrics: Option<&metrics::Metrics>,
) -> Result<(), String> {
    for (series, psi) in report.drifted() {
        eprintln!(
            "warning: drift in '{series}': PSI {psi:.3} > {} over the last {} records",
            report.threshold, report.window
        );
    }
    if let Some(m) = metrics {
        m.drift(report);
    }
    report_to_topic(&report.json(), producer, s)
}

/// Sets the metrics of the agreement of champion and challenger since the
/// last report and sends it to the metrics topic.
#[cfg(feature = "challenger")]
fn publish_agreement(
    report: &shadow::Report,
    producer: &ThreadedProducer<Deliveries>,
    s: &Settings,
    metrics: Option<&metrics::Metrics>,
) -> Result<(), String> {
    if let Some(m) = metrics {
        m.agreement(report.equal_share, report.mean_abs_diff);
    }
    report_to_topic(&report.json(), producer, s)
}

/// Sends a report to the metrics topic, if there is one: part of no
/// batch, so a lost report holds no record back.
fn report_to_topic(
    json: &str,
    producer: &ThreadedProducer<Deliveries>,
    s: &Settings,
) -> Result<(), String> {
    if let Some(topic) = &s.metrics_topic {
        let write = Box::new(Write {
            batch: 0,
            kind: Kind::Report,
            partition: -1,
            offset: -1,
        });
        let record =
            BaseRecord::<[u8], [u8], _>::with_opaque_to(topic, write).payload(json.as_bytes());
        send(producer, record).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Up to `BATCH` records, polled for at most 200 ms or until a stop.
fn poll_batch<'c>(consumer: &'c Scorer, stop: &AtomicBool) -> Vec<BorrowedMessage<'c>> {
    let mut messages = Vec::new();
    let started = Instant::now();
    while messages.len() < BATCH
        && started.elapsed() < Duration::from_millis(200)
        && !stop.load(Ordering::SeqCst)
    {
        match consumer.poll(Duration::from_millis(50)) {
            None => {}
            Some(Ok(m)) => messages.push(m),
            // librdkafka reports a lost broker connection here and recovers
            // by itself; nothing was read, so there is nothing to lose.
            Some(Err(e)) => {
                eprintln!("consume: {e} (retrying)");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    messages
}

fn lag(consumer: &Scorer) -> i64 {
    let Ok(assignment) = consumer.assignment() else {
        return -1;
    };
    let Ok(positions) = consumer.position() else {
        return -1;
    };
    let mut total = 0;
    for e in assignment.elements() {
        let high = consumer
            .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(1))
            .map_or(0, |(_, h)| h);
        let at = positions
            .find_partition(e.topic(), e.partition())
            .and_then(|p| p.offset().to_raw())
            .filter(|o| *o >= 0)
            .unwrap_or(0);
        total += (high - at).max(0);
    }
    total
}
