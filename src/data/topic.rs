//! Training data from a Kafka topic: the JSON records the generated
//! consumer scores, read partition by partition (in partition order, each
//! from its start offset to the end of the log as it was when the read
//! began, or until `max_records`), written out as the CSV file they amount
//! to and loaded like any CSV, so a model trained from a topic is the model
//! trained from the file its records came from. Fields become columns in
//! the order they first appear; a field a record lacks, or `null`, is
//! missing; `true`/`false` become their text, numbers their shortest text.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;

use super::csv_line;
use crate::error::{Error, Result};

/// How long a request to the brokers may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a partition may give nothing before its end before the read
/// gives up.
const STALL: Duration = Duration::from_secs(30);

/// Where to read: the brokers, the topic, from when, how many at most.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicSource {
    /// Bootstrap servers.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// Read records from this time on (milliseconds since the Unix epoch);
    /// from the beginning of each partition without it.
    pub since_ms: Option<i64>,
    /// Records to read at most.
    pub max_records: Option<usize>,
}

/// The offsets read from one partition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionRange {
    /// The partition.
    pub partition: i32,
    /// The first offset read.
    pub first: i64,
    /// The last offset read.
    pub last: i64,
    /// Records read.
    pub records: usize,
}

/// A topic read into a CSV file.
#[derive(Debug)]
pub struct TopicData {
    /// The records as CSV (kept until the run ends).
    pub file: tempfile::NamedTempFile,
    /// What was read from each partition that had records.
    pub ranges: Vec<PartitionRange>,
    /// Records that are not JSON objects of plain values: partition,
    /// offset and why (they are not in the table).
    pub refused: Vec<(i32, i64, String)>,
}

/// A record as read: its partition, offset and value.
pub type Record = (i32, i64, Option<Vec<u8>>);

/// One record's fields in their order; the last of a repeated key wins.
struct Fields(Vec<(String, Json)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Fields, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<Fields, M::Error> {
                let mut fields: Vec<(String, Json)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Json>()? {
                    match fields.iter_mut().find(|(name, _)| *name == k) {
                        Some(slot) => slot.1 = v,
                        None => fields.push((k, v)),
                    }
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(Object)
    }
}

/// A field's cell text, or why it has none.
fn cell(name: &str, value: &Json) -> std::result::Result<String, String> {
    match value {
        Json::Null => Ok(String::new()),
        Json::Bool(b) => Ok(b.to_string()),
        Json::Number(n) => Ok(n.to_string()),
        Json::String(s) => Ok(s.clone()),
        Json::Array(_) | Json::Object(_) => Err(format!(
            "field '{name}': expected a number, a string or null"
        )),
    }
}

/// The records as CSV text: a header of every field in the order it first
/// appears, a line per readable record; the others with their reasons.
pub fn records_to_csv(
    payloads: &[(i32, i64, Option<Vec<u8>>)],
) -> (String, Vec<(i32, i64, String)>) {
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<BTreeMap<usize, String>> = Vec::new();
    let mut refused = Vec::new();
    for (partition, offset, payload) in payloads {
        let parsed = payload
            .as_deref()
            .ok_or_else(|| "no value".to_string())
            .and_then(|p| {
                serde_json::from_slice::<Fields>(p).map_err(|e| format!("not a JSON object: {e}"))
            })
            .and_then(|Fields(fields)| {
                fields
                    .iter()
                    .map(|(name, value)| Ok((name.clone(), cell(name, value)?)))
                    .collect::<std::result::Result<Vec<(String, String)>, String>>()
            });
        let cells = match parsed {
            Ok(cells) => cells,
            Err(why) => {
                refused.push((*partition, *offset, why));
                continue;
            }
        };
        let mut row = BTreeMap::new();
        for (name, text) in cells {
            let at = columns.iter().position(|c| *c == name).unwrap_or_else(|| {
                columns.push(name);
                columns.len() - 1
            });
            row.insert(at, text);
        }
        rows.push(row);
    }
    let mut text = csv_line(&columns);
    for row in rows {
        let cells: Vec<String> = (0..columns.len())
            .map(|c| row.get(&c).cloned().unwrap_or_default())
            .collect();
        text.push_str(&csv_line(&cells));
    }
    (text, refused)
}

fn kafka_error(source: &TopicSource, e: impl std::fmt::Display) -> Error {
    Error::data(format!("kafka topic {}", source.topic), e.to_string())
}

/// Reads `source` into a CSV file, calling `progress(records read)` as it
/// goes.
pub fn read(source: &TopicSource, progress: &mut dyn FnMut(usize)) -> Result<TopicData> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &source.brokers)
        .set("group.id", "automl-train")
        .set("enable.auto.commit", "false")
        // The end of the log as the broker reports it when a fetch reaches
        // it: some brokers' watermark requests lag their fetches.
        .set("enable.partition.eof", "true")
        .create()
        .map_err(|e| kafka_error(source, e))?;
    let partitions = partitions(&consumer, source)?;
    let mut payloads = Vec::new();
    let mut ranges = Vec::new();
    for p in partitions {
        let limit = source.max_records.map(|m| m.saturating_sub(payloads.len()));
        if limit == Some(0) {
            break;
        }
        let read = read_partition(&consumer, source, p, limit, &mut |n| {
            progress(payloads.len() + n)
        })?;
        if let (Some(first), Some(last)) = (read.first(), read.last()) {
            ranges.push(PartitionRange {
                partition: p,
                first: first.1,
                last: last.1,
                records: read.len(),
            });
        }
        payloads.extend(read);
    }
    if payloads.is_empty() {
        return Err(kafka_error(source, "has no records to read from there"));
    }
    let (text, refused) = records_to_csv(&payloads);
    let mut file = tempfile::Builder::new()
        .prefix("automl-topic-")
        .suffix(".csv")
        .tempfile()
        .map_err(|e| Error::output(std::env::temp_dir(), e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| Error::output(file.path(), e))?;
    Ok(TopicData {
        file,
        ranges,
        refused,
    })
}

/// The topic's partitions, in order.
fn partitions(consumer: &BaseConsumer, source: &TopicSource) -> Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(&source.topic), TIMEOUT)
        .map_err(|e| kafka_error(source, e))?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == source.topic)
        .ok_or_else(|| kafka_error(source, "does not exist"))?;
    if let Some(e) = topic.error() {
        return Err(kafka_error(source, format!("{e:?}")));
    }
    let mut ids: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    if ids.is_empty() {
        return Err(kafka_error(source, "does not exist (no partitions)"));
    }
    Ok(ids)
}

/// One partition's records from the start offset to the end of the log
/// (where a fetch finds no more), `limit` at most: (partition, offset,
/// value).
fn read_partition(
    consumer: &BaseConsumer,
    source: &TopicSource,
    p: i32,
    limit: Option<usize>,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Record>> {
    let start = start_offset(consumer, source, p)?;
    let mut out = Vec::new();
    if limit == Some(0) {
        return Ok(out);
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&source.topic, p, start)
        .map_err(|e| kafka_error(source, e))?;
    consumer
        .assign(&assignment)
        .map_err(|e| kafka_error(source, e))?;
    let mut quiet = std::time::Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                out.push((p, m.offset(), m.payload().map(<[u8]>::to_vec)));
                quiet = std::time::Instant::now();
                if out.len() % 1000 == 0 {
                    progress(out.len());
                }
                if limit.is_some_and(|l| out.len() >= l) {
                    break;
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(kafka_error(source, e)),
            None if quiet.elapsed() > STALL => {
                let secs = STALL.as_secs();
                return Err(kafka_error(
                    source,
                    format!("partition {p} gave nothing for {secs} s"),
                ));
            }
            None => {}
        }
    }
    progress(out.len());
    Ok(out)
}

/// Where partition `p` is read from: its beginning, or the first record
/// written at or after `since_ms` (its end if there is none).
fn start_offset(consumer: &BaseConsumer, source: &TopicSource, p: i32) -> Result<Offset> {
    let Some(ms) = source.since_ms else {
        return Ok(Offset::Beginning);
    };
    let mut at = TopicPartitionList::new();
    at.add_partition_offset(&source.topic, p, Offset::Offset(ms))
        .map_err(|e| kafka_error(source, e))?;
    let found = consumer
        .offsets_for_times(at, TIMEOUT)
        .map_err(|e| kafka_error(source, e))?;
    Ok(found
        .find_partition(&source.topic, p)
        .map_or(Offset::End, |e| e.offset()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_the_csv_they_came_from() {
        let records = [
            r#"{"a": 1, "b": "x, y", "c": true}"#,
            r#"{"b": "z", "a": 2.5, "d": null}"#,
            r#"[1, 2]"#,
            r#"{"a": {"nested": 1}}"#,
            r#"{"a": 3, "a": 4}"#,
        ];
        let payloads: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (0, i as i64, Some(r.as_bytes().to_vec())))
            .chain([(1, 0, None)])
            .collect();
        let (text, refused) = records_to_csv(&payloads);
        assert_eq!(text, "a,b,c,d\n1,\"x, y\",true,\n2.5,z,,\n4,,,\n");
        let offsets: Vec<(i32, i64)> = refused.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(offsets, [(0, 2), (0, 3), (1, 0)]);
        assert!(refused[1].2.contains("field 'a': expected a number"));
    }
}
