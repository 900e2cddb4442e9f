//! How much CPU a training run still uses after the library's `train` has
//! returned (issue: abandoned work must stop). It stops a run while a trial
//! is in flight, as a library caller's `Stop` or Ctrl-C would, then counts
//! the process's CPU seconds over the next few seconds. Linux only (reads
//! `/proc/self/stat`). Usage:
//!
//! ```sh
//! cargo run --release --example abandoned_work -- DATA TARGET FAMILY STOP_AFTER_SECONDS
//! ```

use std::time::{Duration, Instant};

use automl::learners::Family;
use automl::search::budget::Stop;
use automl::train::{train, TrainSettings};

/// Seconds watched after `train` returns.
const WATCH: Duration = Duration::from_secs(5);

/// User plus system CPU seconds of this process so far.
fn cpu_seconds() -> Result<f64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th of the whole line, in clock ticks (100 a second).
    let rest = stat.rsplit_once(')').ok_or("odd /proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: abandoned_work DATA TARGET FAMILY STOP_AFTER_SECONDS".into());
    }
    let family = <Family as clap::ValueEnum>::from_str(&args[3], true)?;
    let stop_after = Duration::from_secs_f64(args[4].parse()?);
    let out = std::env::temp_dir().join(format!("abandoned-work-{}", std::process::id()));
    let settings = TrainSettings {
        time_budget: Some(600.0),
        families: vec![family],
        out: out.clone(),
        ..TrainSettings::new(&args[1], &args[2])
    }
    .validate()?;
    let stop = Stop::new();
    let stopper = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(stop_after);
        stopper.request();
    });
    let started = Instant::now();
    let result = train(&settings, started, &stop, &mut |_| {});
    let returned = started.elapsed().as_secs_f64();
    let before = cpu_seconds()?;
    std::thread::sleep(WATCH);
    let after = cpu_seconds()?;
    let _ = std::fs::remove_dir_all(&out);
    let ended = match result {
        Ok(r) => format!("{} trials", r.leaderboard.rows.len()),
        Err(e) => format!("error: {e}"),
    };
    println!(
        "stop at {:.1} s, train returned at {returned:.2} s ({ended}); CPU in the {} s after: {:.2} s",
        stop_after.as_secs_f64(),
        WATCH.as_secs(),
        after - before
    );
    Ok(())
}
