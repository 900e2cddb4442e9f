//! The consumer as a platform part: drift monitoring against the training
//! distributions, and champion and challenger scored side by side by two
//! consumers of one group.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;
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

/// The titanic champion's consumer built with a linear challenger.
fn challenged() -> &'static (Scorer, PathBuf) {
    static CHALLENGED: OnceLock<(Scorer, PathBuf)> = OnceLock::new();
    CHALLENGED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("challenger");
        train(
            &dataset("titanic.csv"),
            "survived",
            &run,
            2,
            &["--include", "linear"],
        );
        let challenger = run.join("model.json");
        let challenger_arg = challenger.to_str().unwrap().to_string();
        let scorer = build(
            dir,
            &scorer().model,
            "titanic-challenged",
            &["--challenger", &challenger_arg],
        );
        (scorer, challenger)
    })
}

/// Every record of `topic` (one partition) with its key, read until
/// `want` arrived or a minute passed.
fn keyed_bodies(brokers: &str, topic: &str, want: usize) -> Vec<(String, Json)> {
    read_topic(brokers, topic, want, Duration::from_secs(60))
}

#[test]
fn two_challenged_consumers_with_drift_share_four_partitions_and_lose_nothing() {
    let _turn = turn();
    let (s, challenger) = challenged();
    let t = topics("challenged");
    let (shadow, metrics_topic) = (unique("challenged-shadow"), unique("challenged-metrics"));
    create_topic(&t.brokers, &shadow, 1);
    create_topic(&t.brokers, &metrics_topic, 1);
    let (mut records, csv) = titanic_records();
    records.extend(
        MALFORMED
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("bad-{i}"), m.to_string())),
    );
    let extra = [
        "--shadow",
        &shadow,
        "--metrics-topic",
        &metrics_topic,
        "--drift-seconds",
        "1",
        "--stats-seconds",
        "1",
    ];
    let group = unique("challenged-group");
    let a = start_with(&s.binary, &t, &group, &extra);
    let b = start_with(&s.binary, &t, &group, &extra);
    settle(&[&a, &b]);
    produce(&t.brokers, &t.input, &records);
    let outcomes = collect(&t, records.len(), Duration::from_secs(120));
    let scored: Vec<&Outcome> = outcomes.iter().filter(|o| o.body.is_some()).collect();
    let shadows = keyed_bodies(&t.brokers, &shadow, scored.len());
    // Agreement is reported every second; wait for a report of each.
    std::thread::sleep(Duration::from_millis(2500));
    let logs = [Arc::clone(&a.log), Arc::clone(&b.log)];
    let (read_a, read_b) = (stop_model(a, "ensemble-"), stop_model(b, "ensemble-"));
    // The counters line ends with the agreement when there was some.
    let agreement_lines: usize = logs
        .iter()
        .map(|log| {
            let log = log.lock().unwrap();
            log.lines()
                .filter(|l| l.starts_with("counters:") && l.contains(" compared="))
                .count()
        })
        .sum();
    assert!(
        agreement_lines > 0,
        "no counters line reports the agreement"
    );
    assert!(
        read_a > 0 && read_b > 0,
        "{read_a} and {read_b} records read"
    );

    // in = out + dead-lettered, each input offset once.
    let inputs = input_offsets(&t, records.len());
    let sources: BTreeSet<(i32, i64)> = outcomes.iter().map(|o| o.source).collect();
    assert_eq!(outcomes.len(), records.len(), "no record twice");
    assert_eq!(sources, inputs, "every input offset once");
    assert_eq!(scored.len(), 891);
    // The shadow topic: one challenger output per scored record, same key
    // and source, equal to `automl predict` with the challenger.
    assert_eq!(shadows.len(), scored.len(), "one shadow output per output");
    let shadow_sources: BTreeSet<(String, i64, i64)> = shadows
        .iter()
        .map(|(k, body)| {
            let src = &body["source"];
            let (p, o) = (
                src["partition"].as_i64().unwrap(),
                src["offset"].as_i64().unwrap(),
            );
            (k.clone(), p, o)
        })
        .collect();
    let output_sources: BTreeSet<(String, i64, i64)> = scored
        .iter()
        .map(|o| (o.key.clone(), i64::from(o.source.0), o.source.1))
        .collect();
    assert_eq!(shadow_sources, output_sources);
    let dir = tempfile::tempdir().unwrap();
    let (data, expected) = (dir.path().join("rows.csv"), dir.path().join("expected.csv"));
    std::fs::write(&data, &csv).unwrap();
    predict(challenger, &data, &expected);
    let expected = std::fs::read_to_string(expected).unwrap();
    let expected: Vec<Vec<&str>> = expected
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let challenger_id = shadows[0].1["model_id"].as_str().unwrap().to_string();
    let champion_id = scored[0].body.as_ref().unwrap()["model_id"].clone();
    assert_ne!(
        champion_id,
        challenger_id.as_str(),
        "the shadow holds the challenger's"
    );
    let mut equal = 0;
    for (key, body) in &shadows {
        let row = &expected[key.parse::<usize>().unwrap()];
        assert_eq!(body["prediction"], row[0], "row {key}");
        let p1 = body["probabilities"]["1"].as_f64().unwrap();
        assert_eq!(
            p1.to_bits(),
            row[2].parse::<f64>().unwrap().to_bits(),
            "row {key}"
        );
        let output = scored.iter().find(|o| &o.key == key).unwrap();
        equal += usize::from(output.body.as_ref().unwrap()["prediction"] == body["prediction"]);
    }
    // Agreement and drift reports on the metrics topic; the agreement
    // reports together cover every record both models scored.
    let reports = read_topic(
        &t.brokers,
        &metrics_topic,
        usize::MAX,
        Duration::from_secs(5),
    );
    let agreement: Vec<&Json> = reports
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r["kind"] == "agreement")
        .collect();
    let compared: u64 = agreement
        .iter()
        .map(|r| r["window"].as_u64().unwrap())
        .sum();
    assert_eq!(compared, 891, "{agreement:?}");
    let agreed: f64 = agreement
        .iter()
        .map(|r| r["equal_share"].as_f64().unwrap() * r["window"].as_f64().unwrap())
        .sum();
    assert!((agreed - equal as f64).abs() < 1e-6, "{agreed} vs {equal}");
    assert!(agreement
        .iter()
        .all(|r| r["challenger"] == challenger_id.as_str()));
    assert!(reports.iter().any(|(_, r)| r["kind"] == "drift"));
    let mad: f64 = agreement
        .iter()
        .map(|r| r["mean_abs_diff"].as_f64().unwrap() * r["window"].as_f64().unwrap())
        .sum::<f64>()
        / 891.0;
    eprintln!(
        "challenged group: {} in, {} out, {} dead-lettered, {} shadow; champion and challenger agree on {equal} of 891, mean absolute difference {mad:.6} over {} reports",
        inputs.len(),
        scored.len(),
        outcomes.len() - scored.len(),
        shadows.len(),
        agreement.len()
    );
}
