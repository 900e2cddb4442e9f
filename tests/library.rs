//! The crate as a library: a caller's `train` that is stopped while a trial
//! is in flight returns with none of its work still running. Its own test
//! binary, so that no other test's threads share the CPU count it reads.

use std::io::Write;
use std::time::{Duration, Instant};

use automl::learners::Family;
use automl::search::budget::Stop;
use automl::train::{train, TrainSettings};

/// User plus system CPU seconds of this process (Linux `/proc`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let rest = stat.rsplit_once(')').expect("a command name").1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// 6 000 rows of 1 000 classes: one gradient-boosting trial fits 1 000 boosters
/// per fold, several seconds of work, cancellable between boosters.
fn many_classes(path: &std::path::Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "a,b,label").unwrap();
    for r in 0..6000u64 {
        let k = r % 1000;
        let wobble = (r * 7919 % 1000) as f64 / 1000.0;
        writeln!(f, "{},{},c{k}", k as f64 + wobble, (k % 17) as f64 - wobble).unwrap();
    }
}

#[test]
fn a_stopped_train_call_leaves_no_work_running() {
    let dir = std::env::temp_dir().join(format!("automl-library-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("many.csv");
    many_classes(&data);
    let settings = TrainSettings {
        time_budget: None,
        max_trials: Some(3),
        families: vec![Family::Gbdt],
        out: dir.join("out"),
        ..TrainSettings::new(data, "label")
    }
    .validate()
    .unwrap();
    let stop = Stop::new();
    let stopper = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        stopper.request();
    });
    let started = Instant::now();
    let result = train(&settings, started, &stop, &mut |_| {});
    let returned = started.elapsed();
    let before = cpu_seconds();
    std::thread::sleep(Duration::from_secs(2));
    let after = cpu_seconds() - before;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(result.is_err(), "stopped before a trial finished");
    assert!(
        returned < Duration::from_secs(4),
        "returned {returned:?} after starting"
    );
    assert!(after < 0.2, "{after} CPU seconds used after train returned");
}
