//! Why this tool's trees are not linfa-trees 0.8.1 (issue: use linfa-trees
//! wherever a seeded run stays reproducible). Its split search and its leaf
//! labels read class counts out of a `HashMap`, whose iteration order is
//! random per map: the same data and settings, fitted again in the same
//! process, give different models. Here twenty classes of five rows each
//! on a feature that can't be split: every fit is a single leaf whose label
//! is the "modal" class of a twenty-way tie, and each fit picks its own.
//! A leaf also holds only that label, no class shares, so a fitted tree
//! gives no probabilities (AUC and log loss need them). Usage:
//!
//! ```sh
//! cargo run --release --example linfa_trees_repro
//! ```

use std::collections::BTreeSet;

use linfa::prelude::*;
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows = 100;
    let x = Array2::from_elem((rows, 1), 1.0_f64);
    let y: Array1<usize> = (0..rows).map(|r| r % 20).collect();
    let data = Dataset::new(x, y);
    let mut labels = BTreeSet::new();
    for _ in 0..50 {
        let tree = DecisionTree::params().fit(&data)?;
        let predicted = tree.predict(data.records());
        labels.insert(predicted[0]);
    }
    println!(
        "linfa-trees 0.8.1: 50 fits of the same data and settings predicted {} different labels: {:?}",
        labels.len(),
        labels
    );
    if labels.len() > 1 {
        println!(
            "not reproducible: the tree families stay on smartcore and the trees written here"
        );
    }
    Ok(())
}
