//! The plan of a training run, decided from the settings and the loaded
//! data before any fit: the dataset, the metric, the families that can run,
//! how rows are held out for validation, and the detectors' contamination.

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::TrainSettings;
use std::path::Path;

use crate::data::split::{folds, HOLDOUT_ROWS};
use crate::data::topic::TopicData;
use crate::data::{self, Dataset, Target, Task};
use crate::error::{Error, Result};
use crate::learners::Family;
use crate::metrics::Metric;
use crate::prep;

/// Clustering scores on at most this many rows: the silhouette compares
/// every pair of them.
pub const CLUSTER_SCORE_ROWS: usize = 2_000;

/// What the run will do.
#[derive(Debug)]
pub struct Plan {
    /// The data, split into inputs and target.
    pub dataset: Dataset,
    /// The primary metric.
    pub metric: Metric,
    /// Families to search.
    pub families: Vec<Family>,
    /// Held-out rows of each validation fold.
    pub held_out: Vec<Vec<usize>>,
    /// Share of rows a detector flags (anomaly detection only).
    pub contamination: Option<f64>,
    /// Times the folds were cut (supervised tasks; 1 otherwise).
    pub repeats: usize,
    /// What the plan changed from the settings, for the user.
    pub notes: Vec<String>,
    /// The records read from a Kafka topic, when the data came from one.
    pub topic: Option<TopicData>,
}

impl Plan {
    /// Loads the data and decides the run.
    pub fn new(s: &TrainSettings) -> Result<Plan> {
        Plan::reading(s, &mut |_| {})
    }

    /// [`Plan::new`], calling `progress(records read)` while it reads a
    /// Kafka topic.
    pub fn reading(s: &TrainSettings, progress: &mut dyn FnMut(usize)) -> Result<Plan> {
        let topic = match &s.kafka {
            Some(source) => Some(data::topic::read(source, progress)?),
            None => None,
        };
        let path = topic.as_ref().map_or(s.data.as_path(), |t| t.file.path());
        let dataset = load_dataset(s, path)?;
        let metric = metric(s, &dataset)?;
        let families = families(s, dataset.task, dataset.inputs.rows)?;
        let mut notes = Vec::new();
        notes.extend(topic.as_ref().map(topic_note));
        if s.task.is_none() {
            notes.push(task_reason(&dataset));
        }
        notes.extend(mostly_numbers(&dataset.inputs));
        notes.extend(rare_gaps(&dataset.inputs));
        let k = fold_count(&dataset, s.folds, &mut notes)?;
        let repeats = if dataset.task.is_supervised() {
            s.repeats.times(dataset.inputs.rows)
        } else {
            1
        };
        let held_out = held_out_rows(&dataset, s, k, repeats);
        let contamination = s.contamination_for(dataset.task);
        Ok(Plan {
            repeats,
            dataset,
            metric,
            families,
            held_out,
            contamination,
            notes,
            topic,
        })
    }

    /// The file the data was loaded from: `--data`, or the CSV a topic's
    /// records were written to.
    pub fn data_path<'a>(&'a self, s: &'a TrainSettings) -> &'a Path {
        self.topic
            .as_ref()
            .map_or(s.data.as_path(), |t| t.file.path())
    }

    /// The validation scheme as `run.json` names it.
    pub fn validation(&self) -> String {
        match (self.dataset.task, self.held_out.len()) {
            (Task::Cluster, _) => format!("all rows, scored on {}", self.held_out[0].len()),
            (_, 1) => "holdout".into(),
            (_, n) if self.repeats > 1 && n == self.repeats => {
                format!("{} holdout splits", self.repeats)
            }
            (_, n) if self.repeats > 1 => format!("{}×{}-fold", self.repeats, n / self.repeats),
            (_, k) => format!("{k}-fold"),
        }
    }
}

/// What was read from a topic: records per partition and offsets, and
/// the records left out.
fn topic_note(t: &TopicData) -> String {
    let ranges: Vec<String> = t
        .ranges
        .iter()
        .map(|r| format!("partition {} offsets {}–{}", r.partition, r.first, r.last))
        .collect();
    let records: usize = t.ranges.iter().map(|r| r.records).sum();
    let mut note = format!("read {records} records: {}", ranges.join(", "));
    if let Some((p, o, why)) = t.refused.first() {
        note.push_str(&format!(
            "; {} left out of the table, not JSON objects of plain values (the first, partition {p} offset {o}: {why})",
            t.refused.len()
        ));
    }
    note
}

fn load_dataset(s: &TrainSettings, path: &Path) -> Result<Dataset> {
    let table = data::load(path, &s.na_values)?;
    match (s.task, &s.target) {
        (Some(task), _) if !task.is_supervised() => {
            data::prepare_unsupervised(table, task, s.label.as_deref(), &s.ignore)
        }
        (_, Some(target)) => data::prepare(table, target, &s.ignore, s.task),
        (_, None) => Err(Error::Settings(
            "--target is required (or --task cluster / --task anomaly, which take none)".into(),
        )),
    }
}

/// Whole-number regression targets with at most this many distinct values
/// get a note that they may be classes.
const FEW_VALUES: usize = 20;

/// How the task was inferred, and a hint when a numeric target looks like
/// classes (digit labels, ratings).
fn task_reason(data: &Dataset) -> String {
    let name = &data.target_name;
    match &data.target {
        Target::Classes { labels, .. } if labels.len() == 2 => format!(
            "task {}: target '{name}' has two values ('{}', '{}')",
            data.task, labels[0], labels[1]
        ),
        Target::Classes { labels, .. } => format!(
            "task {}: target '{name}' holds text with {} classes",
            data.task,
            labels.len()
        ),
        Target::Values(v) => {
            let distinct: std::collections::BTreeSet<u64> = v.iter().map(|x| x.to_bits()).collect();
            let whole = v.iter().all(|x| x.fract() == 0.0);
            let hint = if whole && distinct.len() <= FEW_VALUES {
                "; they are whole numbers, so if they are classes use --task multiclass"
            } else {
                ""
            };
            format!(
                "task regression: target '{name}' is numeric with {} distinct values{hint}",
                distinct.len()
            )
        }
        Target::Unlabelled(_) => format!("task {}", data.task),
    }
}

/// Notes for text columns that are numbers but for a few cells: they are
/// read as numbers with those cells missing (see `prep::MOSTLY_NUMBERS`).
fn mostly_numbers(table: &data::Table) -> Vec<String> {
    let mut notes = Vec::new();
    for (name, column) in table.names.iter().zip(&table.columns) {
        if let Some((bad, present, first)) = prep::unreadable_numbers(column) {
            notes.push(format!(
                "column '{name}' is read as numbers: {bad} of {present} cells are not numbers \
                 (such as '{first}') and count as missing, in training and when scoring \
                 (name such markers with --na-values)"
            ));
        }
    }
    notes
}

/// A note for each column with a few gaps only: imputed, no indicator.
fn rare_gaps(table: &data::Table) -> Vec<String> {
    let kinds = prep::Prep::kinds(table);
    let mut notes = Vec::new();
    for ((name, column), kind) in table.names.iter().zip(&table.columns).zip(kinds) {
        let missing = prep::missing_rows(column, kind);
        if (1..prep::MIN_MISSING_ROWS).contains(&missing) {
            notes.push(format!(
                "column '{name}' is missing in {missing} training row(s) only: too few to learn \
                 from, so those cells are imputed without a missing indicator"
            ));
        }
    }
    notes
}

/// The folds the data can fill: every fold needs a row of every class (or,
/// without classes, two rows), so too many folds are lowered with a note,
/// and data too small for two folds is refused. A fold with a class
/// missing would score a meaningless 0.5 AUC or an undefined R².
fn fold_count(data: &Dataset, asked: usize, notes: &mut Vec<String>) -> Result<usize> {
    let (most, why) = match &data.target {
        Target::Classes { labels, y } => {
            let mut counts = vec![0usize; labels.len()];
            y.iter().for_each(|&c| counts[c] += 1);
            let (c, m) = counts
                .iter()
                .enumerate()
                .min_by_key(|(_, m)| **m)
                .unwrap_or((0, &0));
            let rows = if *m == 1 { "row" } else { "rows" };
            let why = format!(
                "class '{}' of '{}' has {m} {rows}",
                labels[c], data.target_name
            );
            (*m, why)
        }
        Target::Values(_) | Target::Unlabelled(_) => {
            let n = data.inputs.rows;
            (
                n / 2,
                format!("the data has {n} rows, two per fold at least"),
            )
        }
    };
    if data.task == Task::Cluster || asked <= most {
        return Ok(asked);
    }
    if most < 2 {
        return Err(Error::Schema(format!(
            "too few rows to cross-validate: {why}; two folds are the least"
        )));
    }
    notes.push(format!("--folds {asked} lowered to {most}: {why}"));
    Ok(most)
}

/// The asked metric, or the task's default; it must apply to the task.
fn metric(s: &TrainSettings, dataset: &Dataset) -> Result<Metric> {
    let labelled = dataset.labelled();
    let metric = s
        .metric
        .unwrap_or(Metric::default_for(dataset.task, labelled));
    if !metric.fits(dataset.task, labelled) {
        return Err(Error::Settings(format!(
            "metric {metric} does not apply to a{} {} task",
            if dataset.task.is_supervised() || labelled {
                ""
            } else {
                "n unlabelled"
            },
            dataset.task
        )));
    }
    Ok(metric)
}

fn families(s: &TrainSettings, task: Task, rows: usize) -> Result<Vec<Family>> {
    let asked: Vec<Family> = if s.families.is_empty() {
        Family::ALL.to_vec()
    } else {
        s.families.clone()
    };
    let usable: Vec<Family> = asked.into_iter().filter(|f| f.fits(task, rows)).collect();
    if usable.is_empty() {
        return Err(Error::Settings(format!(
            "none of the chosen families handles a {task} task"
        )));
    }
    Ok(usable)
}

/// Held-out rows of each fold. Clustering fits on every row and scores a
/// sample; detectors always get k folds, which stability compares; large
/// supervised data uses one holdout split.
fn held_out_rows(data: &Dataset, s: &TrainSettings, k: usize, repeats: usize) -> Vec<Vec<usize>> {
    let n = data.inputs.rows;
    match data.task {
        Task::Cluster => {
            let mut rows: Vec<usize> = (0..n).collect();
            let mut rng = rand::rngs::StdRng::seed_from_u64(s.seed);
            rows.shuffle(&mut rng);
            rows.truncate(CLUSTER_SCORE_ROWS);
            rows.sort_unstable();
            vec![rows]
        }
        Task::Anomaly => folds(&data.target, k, s.seed),
        _ => {
            let k = if n > HOLDOUT_ROWS { 1 } else { k };
            // Each repeat cuts the folds from its own seed.
            (0..repeats as u64)
                .flat_map(|r| {
                    folds(
                        &data.target,
                        k,
                        s.seed.wrapping_add(r.wrapping_mul(REPEAT_SEED)),
                    )
                })
                .collect()
        }
    }
}

/// Added to the seed, times the repeat, for each repeat's folds.
const REPEAT_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::settings::{Repeats, AUTO_REPEATS, MAX_REPEATS};

    fn settings(file: &str, target: &str, repeats: Repeats) -> TrainSettings {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("datasets")
            .join(file);
        TrainSettings {
            repeats,
            ..TrainSettings::new(data, target)
        }
    }

    fn iris(repeats: usize) -> TrainSettings {
        settings("iris.csv", "species", Repeats::Times(repeats))
    }

    /// Penguins' two rows without measurements are too few for missing
    /// indicators: the plan says so for each of the four columns, and not
    /// for `sex`, whose eleven gaps get one.
    #[test]
    fn rare_gaps_are_imputed_with_a_note() {
        let plan = Plan::new(&settings("penguins.csv", "species", Repeats::Auto)).unwrap();
        let rare: Vec<&String> = plan
            .notes
            .iter()
            .filter(|n| n.contains("too few"))
            .collect();
        assert_eq!(rare.len(), 4, "{rare:?}");
        assert!(rare[0].contains("'bill_length_mm' is missing in 2 training row(s)"));
        assert!(!plan.notes.iter().any(|n| n.contains("'sex'")));
    }

    /// `auto` repeats the folds on small data only, and never for
    /// clustering.
    #[test]
    fn auto_repeats_small_supervised_data_only() {
        let small = Plan::new(&settings("iris.csv", "species", Repeats::Auto)).unwrap();
        assert_eq!(small.repeats, AUTO_REPEATS);
        assert_eq!(small.held_out.len(), 5 * AUTO_REPEATS);
        let large = Plan::new(&settings("titanic.csv", "survived", Repeats::Auto)).unwrap();
        assert_eq!((large.repeats, large.validation()), (1, "5-fold".into()));
    }

    #[test]
    fn repeats_cut_the_folds_again_from_other_seeds() {
        let plan = Plan::new(&iris(2).validate().unwrap()).unwrap();
        assert_eq!(plan.held_out.len(), 10);
        assert_eq!(plan.validation(), "2×5-fold");
        for repeat in plan.held_out.chunks(5) {
            let mut rows: Vec<usize> = repeat.iter().flatten().copied().collect();
            rows.sort_unstable();
            assert_eq!(
                rows,
                (0..150).collect::<Vec<_>>(),
                "each repeat covers every row once"
            );
        }
        assert_ne!(plan.held_out[..5], plan.held_out[5..], "the repeats differ");
        let once = Plan::new(&iris(1).validate().unwrap()).unwrap();
        assert_eq!(
            once.held_out[..],
            plan.held_out[..5],
            "the first repeat is the plain folds"
        );
        assert_eq!(once.validation(), "5-fold");
    }

    #[test]
    fn repeats_out_of_range_are_refused() {
        for repeats in [0, MAX_REPEATS + 1] {
            let e = iris(repeats).validate().unwrap_err().to_string();
            assert!(
                e.contains("--repeats must be auto or between 1 and 10"),
                "{e}"
            );
        }
    }
}
