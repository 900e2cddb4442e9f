#!/usr/bin/env bash
# Property-based fuzzing on stable Rust: the proptest properties over the
# CSV loader (any text; rectangular grids of awkward cells, through
# preparing and encoding), the cell readers the generated code embeds, and
# the model loader (damaged model files of every supervised family, then
# scoring what loads), with CASES generated cases each (default a million;
# the test suite runs 2 000). Prints each property's result and time.
# Usage: bench/fuzz.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-1000000}
for property in data::tests::any_csv_loads_or_is_refused \
  data::tests::any_grid_of_cells_trains_its_preprocessing \
  data::tests::cell_readers_take_any_value \
  model::tests::a_damaged_model_file_is_refused_or_scores_without_panicking \
  model::tests::arbitrary_text_is_refused_as_a_model; do
  start=$(date +%s)
  if PROPTEST_CASES=$cases cargo test --release --quiet --lib "$property" -- --exact >/dev/null 2>"target/fuzz-$$.err"; then
    verdict="0 panics, 0 failures"
  else
    verdict="FAILED: $(grep -m1 -E 'minimal failing|panicked' "target/fuzz-$$.err" || echo see target/fuzz-$$.err)"
  fi
  printf '%s: %s cases in %s s, %s\n' "$property" "$cases" "$(( $(date +%s) - start ))" "$verdict"
done
