//! The consumer as a platform part: drift monitoring against the training
//! distributions (and, below it, champion and challenger).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::BaseConsumer;
use serde_json::Value as Json;

use super::*;

/// `n` titanic records drawn with replacement (a fixed LCG, so every run
/// draws the same), keyed by draw number.
fn drawn(n: usize) -> Vec<(String, String)> {
    let (records, _) = titanic_records();
    let mut state: u64 = 7;
    (0..n)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let pick = (state >> 33) as usize % records.len();
            (i.to_string(), records[pick].1.clone())
        })
        .collect()
}

/// The same records with `column` moved up by `by` (missing stays missing).
fn shifted(records: &[(String, String)], column: &str, by: f64) -> Vec<(String, String)> {
    records
        .iter()
        .map(|(k, v)| {
            let mut body: Json = serde_json::from_str(v).unwrap();
            if let Some(x) = body[column].as_f64() {
                body[column] = Json::from(x + by);
            }
            (format!("shifted-{k}"), body.to_string())
        })
        .collect()
}

/// The first drift report on `reports` made at or after `after_ms` whose
/// window holds `window` records.
fn report_after(reader: &BaseConsumer, after_ms: u128, window: u64) -> Json {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let Some(Ok(m)) = reader.poll(Duration::from_millis(200)) else {
            continue;
        };
        let report: Json = serde_json::from_slice(m.payload().unwrap()).unwrap();
        assert_eq!(report["kind"], "drift");
        let at = report["at_ms"].as_u64().unwrap_or(0);
        if u128::from(at) >= after_ms && report["window"] == window {
            return report;
        }
    }
    panic!("no drift report over {window} records came after {after_ms}");
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn psi_of(report: &Json) -> BTreeMap<String, f64> {
    report["psi"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .collect()
}

#[test]
fn drift_monitoring_flags_the_shifted_column_and_only_that_column() {
    let _turn = turn();
    let s = scorer();
    let t = topics("drift");
    let metrics_topic = unique("drift-metrics");
    create_topic(&t.brokers, &metrics_topic, 1);
    let addr = format!("127.0.0.1:{}", free_port());
    let extra = [
        "--drift-seconds",
        "1",
        "--drift-window",
        "3000",
        "--metrics-topic",
        &metrics_topic,
        "--metrics-addr",
        &addr,
    ];
    let consumer = start_with(&s.binary, &t, &unique("drift-group"), &extra);
    settle(&[&consumer]);
    let reports = reader(&t, "drift-reports", &[&metrics_topic], 1);

    // Records drawn from the training rows: every series stays small.
    let records = drawn(3000);
    produce(&t.brokers, &t.input, &records);
    assert_eq!(collect(&t, 3000, Duration::from_secs(60)).len(), 3000);
    let same = psi_of(&report_after(&reports, now_ms(), 3000));
    eprintln!("PSI of records drawn from training: {same:?}");
    assert_eq!(same.len(), 12, "11 input columns and the prediction");
    for (series, psi) in &same {
        assert!(*psi < 0.1, "{series}: PSI {psi} on training-like records");
    }

    // The same draws with age 40 years older: age alone drifts.
    produce(&t.brokers, &t.input, &shifted(&records, "age", 40.0));
    assert_eq!(collect(&t, 6000, Duration::from_secs(60)).len(), 6000);
    let report = report_after(&reports, now_ms(), 3000);
    let moved = psi_of(&report);
    eprintln!("PSI with age shifted by 40: {moved:?}");
    assert!(moved["age"] > 0.25, "age: PSI {}", moved["age"]);
    assert_eq!(report["drifted"][0], "age");
    for (series, psi) in moved
        .iter()
        .filter(|(s, _)| *s != "age" && *s != "prediction")
    {
        assert!(*psi < 0.1, "{series}: PSI {psi} although only age moved");
    }
    let page = scrape(&addr);
    let log = consumer.log.lock().unwrap().clone();
    stop(consumer);
    assert!(log.contains("warning: drift in 'age'"), "{log}");
    let gauge = page
        .lines()
        .find_map(|l| l.strip_prefix("automl_drift_psi{series=\"age\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(gauge.is_some_and(|v| v > 0.25), "{page}");
}
