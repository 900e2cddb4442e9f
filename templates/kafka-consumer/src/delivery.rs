//! At-least-once bookkeeping: the ledger of batches whose writes are not
//! all acknowledged, the producer's delivery callback that settles it (and
//! sets aside the outputs the broker refused, to be dead-lettered in their
//! place), and the commit of every leading batch that is settled.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::settings::Settings;
use crate::Scorer;

/// A batch whose writes are not all acknowledged yet.
#[derive(Default)]
pub struct OpenBatch {
    /// Writes sent minus writes acknowledged; an acknowledgement can arrive
    /// before the batch is sealed, so it may dip below zero meanwhile.
    unacked: i64,
    /// Whether every write of the batch has been sent.
    sealed: bool,
    /// Next offset to commit per partition.
    next: HashMap<i32, i64>,
}

/// What a write is, so that its delivery report can settle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A record's scores, to the output topic.
    Output,
    /// A flagged record's scores, to the alert topic.
    Alert,
    /// A record that could not be scored (or a refused output).
    DeadLetter,
    /// A challenger's output, to the shadow topic.
    Shadow,
    /// A report to the metrics topic: part of no batch.
    Report,
}

/// One write: its batch and the input record it stands for.
#[derive(Debug, Clone, Copy)]
pub struct Write {
    pub batch: usize,
    pub kind: Kind,
    pub partition: i32,
    pub offset: i64,
}

/// An output or alert the broker refused: it goes to the dead-letter topic
/// in its place, as a write of the same batch, so the batch stays open
/// until that is acknowledged.
pub struct Refused {
    pub write: Write,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub reason: String,
}

/// Open batches by number, and refused writes waiting to be dead-lettered.
#[derive(Default)]
pub struct Book {
    open: BTreeMap<usize, OpenBatch>,
    refused: Vec<Refused>,
}

/// The book, shared with the delivery callback.
pub type Ledger = Arc<Mutex<Book>>;

/// Counts acknowledgements per batch, sets refused outputs aside, and counts
/// failed dead letters, so a batch with one is never committed.
pub struct Deliveries {
    pub failed: Arc<AtomicUsize>,
    pub ledger: Ledger,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<Write>;
    /// A write the broker acknowledged settles one write of its batch. A
    /// refused output or alert settles nothing yet: it is set aside for a
    /// dead letter. A refused dead letter can go nowhere, so its batch (and
    /// every later one) is never committed; the failure is counted under
    /// the ledger's lock, so a commit that holds the lock sees it.
    fn delivery(&self, result: &DeliveryResult<'_>, write: Box<Write>) {
        if write.kind == Kind::Report {
            if let Err((e, m)) = result {
                eprintln!("warning: a report to {} was lost: {e}", m.topic());
            }
            return;
        }
        let Ok(mut book) = self.ledger.lock() else {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return;
        };
        // A refused shadow output is the challenger's loss, not the
        // record's: logged, and its batch settled as for a delivery.
        if let (Kind::Shadow, Err((e, m))) = (write.kind, result) {
            eprintln!(
                "warning: the broker refused a shadow output to {} (offset {}): {e}",
                m.topic(),
                write.offset
            );
            book.open.entry(write.batch).or_default().unacked -= 1;
            return;
        }
        match result {
            Ok(_) => book.open.entry(write.batch).or_default().unacked -= 1,
            // A dead letter the broker refused whole is sent again truncated,
            // with its own reason; a truncated one refused can go nowhere.
            Err((e, m))
                if write.kind != Kind::DeadLetter
                    || m.payload().is_some_and(|p| p.len() > TRUNCATED_PAYLOAD) =>
            {
                let refused = format!("the broker refused the write to {}: {e}", m.topic());
                let reason = match write.kind {
                    Kind::DeadLetter => match error_header(m) {
                        Some(first) => format!("{first}; {refused}"),
                        None => refused,
                    },
                    _ => refused,
                };
                book.refused.push(Refused {
                    write: *write,
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    reason,
                });
            }
            Err((e, _)) => {
                eprintln!("delivery of a dead letter failed: {e}");
                self.failed.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// Bytes of a dead letter's payload kept when the whole record can't be sent.
pub const TRUNCATED_PAYLOAD: usize = 1024;

/// A dead letter's `automl.error` header.
fn error_header(m: &rdkafka::message::BorrowedMessage<'_>) -> Option<String> {
    use rdkafka::message::Headers;
    m.headers()?
        .iter()
        .find(|h| h.key == "automl.error")
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Records that batch `number` has sent all `sent` writes.
pub fn seal(ledger: &Ledger, number: usize, next: HashMap<i32, i64>, sent: i64) {
    if let Ok(mut book) = ledger.lock() {
        let batch = book.open.entry(number).or_default();
        batch.unacked += sent;
        batch.sealed = true;
        batch.next = next;
    }
}

pub fn open_batches(ledger: &Ledger) -> usize {
    ledger.lock().map_or(0, |b| b.open.len())
}

/// The refused writes set aside since the last call.
pub fn take_refused(ledger: &Ledger) -> Vec<Refused> {
    ledger
        .lock()
        .map(|mut b| std::mem::take(&mut b.refused))
        .unwrap_or_default()
}

/// Why a record could not be enqueued.
#[derive(Debug)]
pub enum SendError {
    /// Larger than the producer may send (`message.max.bytes`).
    TooLarge,
    /// Anything else librdkafka refused.
    Other(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::TooLarge => {
                f.write_str("produce: the record is larger than message.max.bytes")
            }
            SendError::Other(e) => write!(f, "produce: {e}"),
        }
    }
}

/// Enqueues a record, waiting while the producer's queue is full.
pub fn send(
    producer: &ThreadedProducer<Deliveries>,
    mut record: BaseRecord<'_, [u8], [u8], Box<Write>>,
) -> Result<(), SendError> {
    use rdkafka::error::KafkaError::MessageProduction;
    use rdkafka::types::RDKafkaErrorCode::{MessageSizeTooLarge, QueueFull};
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((MessageProduction(QueueFull), r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((MessageProduction(MessageSizeTooLarge), _)) => return Err(SendError::TooLarge),
            Err((e, _)) => return Err(SendError::Other(e.to_string())),
        }
    }
}

/// Commits the offsets of the leading batches whose writes (and every
/// earlier batch's) are all acknowledged. After a failed delivery nothing
/// more is committed: the process exits and the records are read again.
pub fn commit_acknowledged(
    consumer: &Scorer,
    ledger: &Ledger,
    failed: &AtomicUsize,
    s: &Settings,
    mode: CommitMode,
) -> Result<(), String> {
    let mut done: HashMap<i32, i64> = HashMap::new();
    {
        let mut book = ledger
            .lock()
            .map_err(|_| "the delivery ledger is poisoned")?;
        // Read under the lock the delivery callback counts failures under.
        if failed.load(Ordering::SeqCst) > 0 {
            return Err(
                "some dead letters were not delivered; exiting without committing them".into(),
            );
        }
        while let Some(entry) = book.open.first_entry() {
            if !(entry.get().sealed && entry.get().unacked == 0) {
                break;
            }
            done.extend(entry.remove().next);
        }
    }
    if done.is_empty() {
        return Ok(());
    }
    let mut offsets = TopicPartitionList::new();
    for (partition, offset) in done {
        offsets
            .add_partition_offset(&s.input, partition, Offset::Offset(offset))
            .map_err(|e| e.to_string())?;
    }
    // A partition revoked by a rebalance can't be committed; its new owner
    // re-reads from the last commit, so that is a duplicate, not a loss.
    if let Err(e) = consumer.commit(&offsets, mode) {
        eprintln!("commit skipped: {e}");
    }
    Ok(())
}
