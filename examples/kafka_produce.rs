//! Produces N titanic rows as JSON records (fields in the file's order,
//! cycling through the rows) to TOPIC, created with P partitions, for
//! `bench/train_from_topic.sh`.
//! Usage: `cargo run --release --example kafka_produce -- BROKERS TOPIC N P`

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value as Json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: kafka_produce BROKERS TOPIC N PARTITIONS".into());
    }
    let (brokers, topic, n): (&str, &str, usize) = (&args[1], &args[2], args[3].parse()?);
    let created = std::process::Command::new("tansu")
        .args([
            "topic",
            "create",
            topic,
            "--broker",
            &format!("tcp://{brokers}"),
            "--partitions",
            &args[4],
        ])
        .status()?;
    if !created.success() {
        return Err(format!("cannot create {topic}").into());
    }
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/titanic.csv"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty file")?.split(',').collect();
    let records: Vec<String> = lines
        .map(|line| {
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
            format!("{{{}}}", fields.join(","))
        })
        .collect();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .create()?;
    for i in 0..n {
        let value = &records[i % records.len()];
        let key = i.to_string();
        loop {
            match producer.send(BaseRecord::to(topic).key(&key).payload(value)) {
                Ok(()) => break,
                Err(_) => {
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(())
}
