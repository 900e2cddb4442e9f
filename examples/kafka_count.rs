//! Counts the records of a topic from its beginning (all partitions), until
//! nothing new arrives for 10 s. A diagnostic for the Kafka benchmark.
//! Usage: `cargo run --release --example kafka_count -- BROKERS TOPIC PARTITIONS`

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        return Err("usage: kafka_count BROKERS TOPIC PARTITIONS".into());
    }
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args[1])
        .set("group.id", "kafka-count")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..args[3].parse::<i32>()? {
        tpl.add_partition_offset(&args[2], p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let mut count = 0u64;
    while let Some(m) = c.poll(Duration::from_secs(10)) {
        m?;
        count += 1;
    }
    println!("{count}");
    Ok(())
}
