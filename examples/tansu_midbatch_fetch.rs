//! Whether a Kafka-protocol broker serves a fetch that starts inside a
//! record batch, as a consumer's does from a committed offset: produces
//! 1 000 records in one batch and 10 more one by one to a new topic, then
//! reads from offsets inside the first batch and prints, per start, the
//! runs of offsets that came back. Kafka returns the whole batch and the
//! client drops what precedes the start (one run, start to 1009). tansu
//! 0.6.0 with `memory://` storage answers with the *next* batch (runs of
//! 1000..1009, repeated), so the rest of the first batch is never read;
//! with `sqlite://` storage it is served. This is why `scripts/test.sh`
//! runs the broker on SQLite.
//!
//! ```sh
//! cargo run --release --example tansu_midbatch_fetch -- BROKERS
//! ```
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

fn main() {
    let brokers = std::env::args().nth(1).unwrap();
    let topic = format!("probe-{}", std::process::id());
    let ok = Command::new("tansu")
        .args([
            "topic",
            "create",
            &topic,
            "--broker",
            &format!("tcp://{brokers}"),
            "--partitions",
            "1",
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "100")
        .create()
        .unwrap();
    for i in 0..1000 {
        let k = i.to_string();
        producer
            .send(BaseRecord::to(&topic).key(&k).payload(&k))
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    for i in 1000..1010 {
        let k = i.to_string();
        producer
            .send(BaseRecord::to(&topic).key(&k).payload(&k))
            .unwrap();
        producer.flush(Duration::from_secs(10)).unwrap();
    }
    for start in [0i64, 1, 5, 17, 100, 333, 500, 998, 999] {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", format!("probe-{start}-{}", std::process::id()))
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(start))
            .unwrap();
        c.assign(&tpl).unwrap();
        let t = Instant::now();
        let mut first = None;
        let mut n = 0;
        let mut seq: Vec<i64> = Vec::new();
        while t.elapsed() < Duration::from_secs(5) {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                if first.is_none() {
                    first = Some(m.offset());
                }
                n += 1;
                seq.push(m.offset());
            }
        }
        // Runs of consecutive offsets, in the order they came.
        let mut runs: Vec<(i64, i64)> = Vec::new();
        for o in seq {
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == o => *end = o,
                _ => runs.push((o, o)),
            }
        }
        println!(
            "start {start}: first offset {first:?}, {n} records (want {}), runs {runs:?}",
            1010 - start
        );
    }
}
