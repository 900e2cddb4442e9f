//! A synthetic gradient-boosted model of many full-depth trees, shared by
//! the `large_model` example (which measures how large generated code
//! compiles) and the export test of the rank walk, which only large
//! ensembles get.

use std::collections::BTreeMap;

use automl::data::Task;
use automl::model::estimator::{Combine, Estimator, Link, Rule, Tree, TreeEnsemble};
use automl::model::{Model, ModelMeta, FORMAT_VERSION};
use automl::prep::{ColumnKind, ColumnPrep, Encoding, Prep};
use rand::{Rng, SeedableRng};

/// A binary classifier of `trees` complete trees of `depth` levels of
/// splits over numeric columns `x0`, `x1`, …, thresholds uniform in
/// [-2, 2), seeded.
pub fn model(trees: usize, depth: u32, features: usize) -> Model {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    Model {
        format_version: FORMAT_VERSION,
        task: Task::Binary,
        target: "y".into(),
        classes: vec!["0".into(), "1".into()],
        prep: Prep {
            columns: (0..features)
                .map(|j| ColumnPrep {
                    name: format!("x{j}"),
                    kind: ColumnKind::Numeric,
                    encoding: Encoding::Number { fill: 0.0 },
                    missing_indicator: false,
                })
                .collect(),
            scaler: None,
            missing_markers: Vec::new(),
        },
        estimator: Estimator::Trees(TreeEnsemble {
            base: vec![0.0],
            trees: (0..trees)
                .map(|_| full_tree(&mut rng, depth, features))
                .collect(),
            combine: Combine::Sum,
            link: Link::Sigmoid,
        }),
        meta: ModelMeta {
            family: "gbdt".into(),
            params: BTreeMap::new(),
            model_id: format!("synthetic-{trees}x{depth}"),
            metric: "roc_auc".into(),
            cv_score: 0.5,
            trained_rows: 0,
            seed: 1,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            importance: None,
        },
        drift: None,
    }
}

/// A complete binary tree of `depth` levels of splits, nodes in
/// breadth-first order (children of node i at 2i+1 and 2i+2).
fn full_tree(rng: &mut impl Rng, depth: u32, features: usize) -> Tree {
    let nodes = (1usize << (depth + 1)) - 1;
    let splits = (1usize << depth) - 1;
    let mut t = Tree {
        output: 0,
        width: 1,
        rule: Rule::Less,
        feature: vec![-1; nodes],
        threshold: vec![0.0; nodes],
        left: vec![0; nodes],
        right: vec![0; nodes],
        values: vec![0.0; nodes],
        cover: Vec::new(),
    };
    for i in 0..nodes {
        if i < splits {
            t.feature[i] = rng.gen_range(0..features) as i32;
            t.threshold[i] = rng.gen_range(-2.0..2.0);
            t.left[i] = (2 * i + 1) as u32;
            t.right[i] = (2 * i + 2) as u32;
        } else {
            t.values[i] = rng.gen_range(-0.1..0.1);
        }
    }
    t
}
