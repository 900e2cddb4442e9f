//! Throughput and latency of a generated Kafka consumer on loopback:
//! produces N records (titanic rows as JSON) to a fresh 4-partition topic
//! while C consumer instances of one group score it, then reads the output
//! back. Records/s = N / (last output time − first input time); latency =
//! output record time − input record time (both set by producers on this
//! machine). MODE turns on what the consumer also does: `plain` (the
//! default), `drift` (`--drift-seconds 5`), `challenger` (a consumer built
//! with one, writing to a shadow topic) or `both`. Usage (broker from
//! `scripts/test.sh` or your own):
//!
//! ```sh
//! cargo run --release --example kafka_bench -- BROKERS CONSUMER_BINARY N C [MODE]
//! ```

use std::process::{Child, Command};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// An output record: its source partition and offset, and its time.
type Scored = (i64, i64, i64);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if !(5..=6).contains(&args.len()) {
        return Err("usage: kafka_bench BROKERS CONSUMER_BINARY N CONSUMERS [MODE]".into());
    }
    let (brokers, binary) = (&args[1], &args[2]);
    let (n, consumers): (usize, usize) = (args[3].parse()?, args[4].parse()?);
    let mode = args.get(5).map_or("plain", String::as_str);
    let tag = std::process::id();
    let (input, output, dlq) = (
        format!("bench-in-{tag}"),
        format!("bench-out-{tag}"),
        format!("bench-dlq-{tag}"),
    );
    let (shadow, metrics) = (
        format!("bench-shadow-{tag}"),
        format!("bench-metrics-{tag}"),
    );
    let extra: Vec<&str> = match mode {
        "plain" => vec![],
        "drift" => vec!["--metrics-topic", &metrics, "--drift-seconds", "5"],
        "challenger" => vec!["--metrics-topic", &metrics, "--shadow", &shadow],
        "both" => vec![
            "--metrics-topic",
            &metrics,
            "--drift-seconds",
            "5",
            "--shadow",
            &shadow,
        ],
        other => return Err(format!("unknown mode {other}").into()),
    };
    let topics = [
        (&input, "4"),
        (&output, "1"),
        (&dlq, "1"),
        (&shadow, "1"),
        (&metrics, "1"),
    ];
    for (topic, partitions) in topics {
        let broker = format!("tcp://{brokers}");
        let status = Command::new("tansu")
            .args([
                "topic",
                "create",
                topic,
                "--broker",
                &broker,
                "--partitions",
                partitions,
            ])
            .status()?;
        if !status.success() {
            return Err(format!("cannot create {topic}").into());
        }
    }
    let group = format!("bench-{tag}");
    let children: Vec<Child> = (0..consumers)
        .map(|_| {
            Command::new(binary)
                .args([
                    "--brokers",
                    brokers,
                    "--input",
                    &input,
                    "--output",
                    &output,
                    "--dead-letter",
                    &dlq,
                    "--group",
                    &group,
                ])
                .args(["--stats-seconds", "5"])
                .args(&extra)
                .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    // Let the group settle before the clock starts.
    std::thread::sleep(Duration::from_secs(8));
    let rows = titanic_rows()?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()?;
    for i in 0..n {
        let value = &rows[i % rows.len()];
        let key = i.to_string();
        let mut record = BaseRecord::to(&input).key(&key).payload(value);
        while let Err((_, r)) = producer.send(record) {
            record = r;
            producer.poll(Duration::from_millis(1));
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60))?;
    let read =
        read_times(brokers, &input, 4, n).and_then(|t| Ok((t, read_outputs(brokers, &output, n)?)));
    // Stop the consumers whatever happened, so none is left running.
    for mut c in children {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        c.wait()?;
    }
    let (input_times, output) = read?;
    let first_in = input_times.iter().flatten().copied().min().unwrap_or(0);
    let last_out = output.iter().map(|(_, _, t)| *t).max().unwrap_or(0);
    let mut latency: Vec<i64> = output
        .iter()
        .map(|(p, o, t)| t - input_times[*p as usize][*o as usize])
        .collect();
    latency.sort_unstable();
    let pct = |q: f64| latency[((latency.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "consumers={consumers} mode={mode} records={} seconds={:.2} records_per_s={:.0} p50_ms={} p99_ms={}",
        output.len(),
        (last_out - first_in) as f64 / 1000.0,
        output.len() as f64 * 1000.0 / (last_out - first_in).max(1) as f64,
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}

fn titanic_rows() -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/titanic.csv"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    Ok(lines
        .map(|line| {
            let object: serde_json::Map<String, serde_json::Value> = header
                .iter()
                .zip(line.split(','))
                .map(|(h, c)| {
                    let v = if c.is_empty() {
                        serde_json::Value::Null
                    } else {
                        c.parse::<f64>()
                            .map_or(serde_json::Value::from(c), serde_json::Value::from)
                    };
                    (h.to_string(), v)
                })
                .collect();
            serde_json::Value::Object(object).to_string()
        })
        .collect())
}

fn millis(t: Timestamp) -> i64 {
    t.to_millis().unwrap_or(0)
}

/// CreateTime of every input record, by partition and offset.
fn read_times(brokers: &str, topic: &str, partitions: i32, n: usize) -> Result<Vec<Vec<i64>>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-reader")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let mut times = vec![Vec::new(); partitions as usize];
    let mut seen = 0;
    while seen < n {
        if let Some(m) = c.poll(Duration::from_secs(10)) {
            let m = m?;
            let slot = &mut times[m.partition() as usize];
            if slot.len() <= m.offset() as usize {
                slot.resize(m.offset() as usize + 1, 0);
            }
            slot[m.offset() as usize] = millis(m.timestamp());
            seen += 1;
        } else {
            return Err("input topic read timed out".into());
        }
    }
    Ok(times)
}

/// (source partition, source offset, CreateTime) of every output record.
/// A reader that follows the topic while it is being written can stall
/// against tansu (seen at ~70 000 of 100 000 records, all of which a fresh
/// reader then finds), so a stalled pass starts again from the beginning.
fn read_outputs(brokers: &str, topic: &str, n: usize) -> Result<Vec<Scored>> {
    for _attempt in 0..6 {
        let out = read_pass(brokers, topic, n)?;
        if out.len() == n {
            return Ok(out);
        }
    }
    Err(format!("fewer than {n} outputs arrived").into())
}

/// One pass from the beginning, until `n` records or 10 s without one.
fn read_pass(brokers: &str, topic: &str, n: usize) -> Result<Vec<Scored>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-reader")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
    c.assign(&tpl)?;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some(m) = c.poll(Duration::from_secs(10)) else {
            break;
        };
        let m = m?;
        let body: serde_json::Value = serde_json::from_slice(m.payload().unwrap_or_default())?;
        let source = &body["source"];
        out.push((
            source["partition"].as_i64().unwrap_or(0),
            source["offset"].as_i64().unwrap_or(0),
            millis(m.timestamp()),
        ));
    }
    Ok(out)
}
