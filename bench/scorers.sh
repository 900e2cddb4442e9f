# Shared by bench/codegen.sh, bench/inference.sh and bench/tree_lanes.sh
# (sourced, with BIN set):
# the generated module's timing harness, its compilation, and the synthetic
# models' rows.

# A timing harness: parse every row once, then time predict over all rows,
# then predict_batch over them in batches of 1 000; prints both, ns per row.
# Given a third argument, a CSV of the same rows encoded (score_speed
# --encode), also times predict_row and predict_rows (batches of 1 000) on
# them and prints those two after, for runtimes fed encoded rows.
harness() {
  cat <<'RS'
mod model;
use std::hint::black_box;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).expect("csv");
    let repeats: usize = args[2].parse().expect("repeats");
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().expect("header").split(',').collect();
    let index: Vec<usize> = model::INPUT_COLUMNS.iter().map(|c| names.iter().position(|n| n == c).expect("column")).collect();
    let rows: Vec<[model::Value<'_>; model::INPUT_COLUMNS.len()]> = lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            std::array::from_fn(|i| if cells[index[i]].is_empty() { model::Value::Missing } else { model::Value::Text(cells[index[i]]) })
        })
        .collect();
    let per_row = |t: std::time::Instant| t.elapsed().as_nanos() as f64 / (repeats * rows.len()) as f64;
    let started = std::time::Instant::now();
    for _ in 0..repeats {
        for row in &rows {
            let _ = black_box(model::predict(black_box(row)));
        }
    }
    let single = per_row(started);
    let started = std::time::Instant::now();
    for _ in 0..repeats {
        for batch in rows.chunks(1000) {
            model::predict_batch(black_box(batch), |i, p| {
                black_box((i, p.is_ok()));
            });
        }
    }
    let batch = per_row(started);
    let Some(encoded) = args.get(3) else {
        println!("{single:.1} {batch:.1}");
        return;
    };
    let text = std::fs::read_to_string(encoded).expect("encoded csv");
    let x: Vec<[f64; model::FEATURES]> = text
        .lines()
        .map(|line| {
            let v: Vec<f64> = line.split(',').map(|c| c.parse().expect("number")).collect();
            std::array::from_fn(|j| v[j])
        })
        .collect();
    let started = std::time::Instant::now();
    for _ in 0..repeats {
        for row in &x {
            black_box(model::predict_row(black_box(row)));
        }
    }
    let encoded_single = per_row(started);
    let started = std::time::Instant::now();
    for _ in 0..repeats {
        for batch in x.chunks(1000) {
            model::predict_rows(black_box(batch), |i, p| {
                black_box((i, p));
            });
        }
    }
    println!("{single:.1} {batch:.1} {encoded_single:.1} {:.1}", per_row(started));
}
RS
}

# Exports model.json $1 as Rust into folder $2 with the harness, compiles it
# to $2/h as a user's release build would; prints rustc's peak memory (KB).
compile_harness() { # model.json dir
  "$BIN" export --rust --model "$1" --out "$2/model.rs"
  harness > "$2/main.rs"
  { /usr/bin/time -f "%M" rustc --edition 2021 -C opt-level=3 -C codegen-units=1 "$2/main.rs" -o "$2/h" >/dev/null; } 2>&1 | tail -1
}

# The synthetic models' rows: 2 000 rows of 20 columns x0..x19, uniform on
# [-3, 3], seeded, written to $1.
synthetic_rows() {
  python3 - "$1" <<'PY'
import random, sys
random.seed(1)
with open(sys.argv[1], "w") as f:
    f.write(",".join(f"x{j}" for j in range(20)) + "\n")
    for _ in range(2000):
        f.write(",".join(f"{random.uniform(-3, 3):.4f}" for _ in range(20)) + "\n")
PY
}
