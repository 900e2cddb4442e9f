//! Resumable runs: `automl train --resume` continues the very search a run
//! stopped (its trials replayed), after it finished or was killed.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{automl, dataset, train};

/// The leaderboard without its timing columns: ids, parameters, metrics
/// and status, in rank order.
fn ranking(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("leaderboard.json")).unwrap();
    let board: serde_json::Value = serde_json::from_str(&text).unwrap();
    board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {}",
                r["rank"], r["model_id"], r["params"], r["metrics"], r["status"]
            )
        })
        .collect()
}

fn checkpointed_trials(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let checkpoint: serde_json::Value = serde_json::from_str(&text).unwrap();
    checkpoint["trials"].as_array().unwrap().len()
}

fn resume(run: &Path, more: usize) {
    automl()
        .args([
            "train",
            "--quiet",
            "--max-trials",
            &more.to_string(),
            "--resume",
        ])
        .arg(run)
        .assert()
        .success();
}

#[test]
fn twenty_trials_equal_ten_resumed_for_ten_more() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, halves) = (dir.path().join("whole"), dir.path().join("halves"));
    train(&dataset("titanic.csv"), "survived", &whole, 20, &[]);
    train(&dataset("titanic.csv"), "survived", &halves, 10, &[]);
    assert_eq!(checkpointed_trials(&halves.join("checkpoint.json")), 10);
    resume(&halves, 10);
    assert_eq!(checkpointed_trials(&halves.join("checkpoint.json")), 20);
    assert_eq!(ranking(&halves), ranking(&whole));
    assert_eq!(ranking(&whole).len(), 21, "20 trials and the ensemble");
    let model = |run: &Path| std::fs::read(run.join("model.json")).unwrap();
    assert_eq!(
        model(&halves),
        model(&whole),
        "the same model, byte for byte"
    );
}

#[test]
fn a_killed_run_resumes_from_its_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_automl"))
        .args([
            "train",
            "--target",
            "survived",
            "--max-trials",
            "100000",
            "--seed",
            "7",
            "--quiet",
            "--data",
        ])
        .arg(dataset("titanic.csv"))
        .arg("--out")
        .arg(&run)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let partial = run.join(".checkpoint.json");
    let started = Instant::now();
    while !(partial.exists() && checkpointed_trials(&partial) >= 5) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint written"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL: nothing of the run's own ends it.
    child.wait().unwrap();
    assert!(
        !run.join("leaderboard.json").exists(),
        "killed before writing its outputs"
    );
    let done = checkpointed_trials(&partial);
    resume(&run, 3);
    assert!(
        !partial.exists(),
        "a finished run keeps only checkpoint.json"
    );
    assert_eq!(checkpointed_trials(&run.join("checkpoint.json")), done + 3);
    // The same search as a run of that many trials that was never killed.
    let whole = dir.path().join("whole");
    train(&dataset("titanic.csv"), "survived", &whole, done + 3, &[]);
    assert_eq!(ranking(&run), ranking(&whole));
}

#[test]
fn resuming_refuses_changed_data_and_other_settings() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("titanic.csv");
    std::fs::copy(dataset("titanic.csv"), &data).unwrap();
    let run = dir.path().join("run");
    train(&data, "survived", &run, 3, &[]);
    let before = std::fs::read(run.join("leaderboard.json")).unwrap();
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&data, text.replacen(",22.0,", ",23.0,", 1)).unwrap();
    automl()
        .args(["train", "--max-trials", "2", "--resume"])
        .arg(&run)
        .assert()
        .code(3)
        .stderr(predicates::str::contains(
            "has changed since the run being resumed",
        ));
    assert_eq!(
        std::fs::read(run.join("leaderboard.json")).unwrap(),
        before,
        "nothing written"
    );
    automl()
        .args(["train", "--target", "survived", "--resume"])
        .arg(&run)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot be used with"));
    automl()
        .args(["train", "--max-trials", "2", "--resume"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("has no checkpoint"));
}
