//! Dataflow graphs in ONNX's operator vocabulary: what the preprocessing
//! and each estimator kind write when the model is lowered for
//! `automl export --onnx`. Plain data, no protobuf: the exporter turns a
//! graph into the ONNX file. Every value a kind passes on is a double
//! tensor of shape `[rows, width]` unless an operator says otherwise.
//!
//! The helpers here are the operator sequences several kinds share (the
//! links, the anomaly flag, squared distances), each mirroring its kernel
//! in [`super::kernels`] operation for operation, so that doubles go
//! through the same arithmetic in the same order wherever ONNX allows.

use super::kernels::Link;

/// The ONNX-ML operator domain (tree ensembles, label encoders).
pub const ML: &str = "ai.onnx.ml";

/// Constant data: an initializer or a tensor attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    /// 64-bit floats.
    Doubles(Vec<i64>, Vec<f64>),
    /// 64-bit integers.
    Ints(Vec<i64>, Vec<i64>),
    /// Unsigned bytes (the tree ensemble's split modes).
    Bytes(Vec<i64>, Vec<u8>),
    /// UTF-8 strings.
    Strings(Vec<i64>, Vec<String>),
}

/// An operator attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// One integer.
    Int(i64),
    /// Integers.
    Ints(Vec<i64>),
    /// Strings.
    Strings(Vec<String>),
    /// A tensor.
    Tensor(Tensor),
}

/// One operator application.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Operator name (`Add`, `TreeEnsemble`, …).
    pub op: &'static str,
    /// Operator domain: `""` for the standard operators or [`ML`].
    pub domain: &'static str,
    /// Input value names.
    pub inputs: Vec<String>,
    /// Output value names: one, or more for `node_pair`.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attrs: Vec<(&'static str, Attr)>,
}

/// A graph under construction: nodes in evaluation order and named
/// constants. Names are made here, so no two values clash.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    /// Nodes, each after the nodes its inputs come from.
    pub nodes: Vec<Node>,
    /// Initializers by name.
    pub constants: Vec<(String, Tensor)>,
    made: usize,
}

impl Graph {
    /// A fresh value name.
    fn name(&mut self, hint: &str) -> String {
        self.made += 1;
        format!("~{hint}{}", self.made)
    }

    /// A named constant.
    pub fn constant(&mut self, tensor: Tensor) -> String {
        let name = self.name("c");
        self.constants.push((name.clone(), tensor));
        name
    }

    /// A double constant of shape `dims`.
    pub fn doubles(&mut self, dims: &[usize], values: Vec<f64>) -> String {
        self.constant(Tensor::Doubles(shape(dims), values))
    }

    /// A double scalar, broadcast against anything.
    pub fn scalar(&mut self, value: f64) -> String {
        self.constant(Tensor::Doubles(Vec::new(), vec![value]))
    }

    /// An integer constant of shape `dims`.
    pub fn ints(&mut self, dims: &[usize], values: Vec<i64>) -> String {
        self.constant(Tensor::Ints(shape(dims), values))
    }

    /// A standard operator without attributes.
    pub fn op(&mut self, op: &'static str, inputs: &[&str]) -> String {
        self.node("", op, inputs, Vec::new())
    }

    /// An operator of `domain` with attributes.
    pub fn node(
        &mut self,
        domain: &'static str,
        op: &'static str,
        inputs: &[&str],
        attrs: Vec<(&'static str, Attr)>,
    ) -> String {
        let output = self.name(&op.to_lowercase());
        self.nodes.push(Node {
            op,
            domain,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![output.clone()],
            attrs,
        });
        output
    }

    /// A standard operator with two outputs (`TopK`'s values and indices).
    pub fn node_pair(
        &mut self,
        op: &'static str,
        inputs: &[&str],
        attrs: Vec<(&'static str, Attr)>,
    ) -> (String, String) {
        let first = self.node("", op, inputs, attrs);
        let second = self.name(&op.to_lowercase());
        if let Some(node) = self.nodes.last_mut() {
            node.outputs.push(second.clone());
        }
        (first, second)
    }

    /// `Concat` along the columns.
    pub fn columns(&mut self, parts: &[&str]) -> String {
        self.node("", "Concat", parts, vec![("axis", Attr::Int(1))])
    }

    /// Columns `from..to` of a `[rows, width]` value.
    pub fn slice(&mut self, value: &str, from: usize, to: usize) -> String {
        let starts = self.ints(&[1], vec![from as i64]);
        let ends = self.ints(&[1], vec![to as i64]);
        let axes = self.ints(&[1], vec![1]);
        self.op("Slice", &[value, &starts, &ends, &axes])
    }

    /// [`crate::prep::kernels::standardise`] of `[rows, d]` features.
    pub fn standardise(&mut self, x: &str, mean: &[f64], scale: &[f64]) -> String {
        let m = self.doubles(&[mean.len()], mean.to_vec());
        let s = self.doubles(&[scale.len()], scale.to_vec());
        let centred = self.op("Sub", &[x, &m]);
        self.op("Div", &[&centred, &s])
    }

    /// `op` (`ReduceSum`, `ReduceMin`, …) along `axis`, which is kept (as
    /// width 1) with `keep`.
    pub fn reduce(&mut self, op: &'static str, value: &str, axis: usize, keep: bool) -> String {
        let axes = self.ints(&[1], vec![axis as i64]);
        self.node(
            "",
            op,
            &[value, &axes],
            vec![("keepdims", Attr::Int(i64::from(keep)))],
        )
    }

    /// The index of the first smallest (`ArgMin`) or largest (`ArgMax`)
    /// value of each row, as a `[rows, 1]` double, as
    /// [`super::kernels::argmax`] breaks ties.
    pub fn first_index(&mut self, op: &'static str, value: &str) -> String {
        let attrs = vec![("axis", Attr::Int(1)), ("keepdims", Attr::Int(1))];
        let index = self.node("", op, &[value], attrs);
        self.to_double(&index)
    }

    /// A `[rows, 1]` value as `[rows]`.
    pub fn squeeze(&mut self, value: &str) -> String {
        let axes = self.ints(&[1], vec![1]);
        self.op("Squeeze", &[value, &axes])
    }

    /// `value` with a second axis of width 1: `[rows, 1, …]`.
    pub fn unsqueeze(&mut self, value: &str, axis: usize) -> String {
        let axes = self.ints(&[1], vec![axis as i64]);
        self.op("Unsqueeze", &[value, &axes])
    }

    /// A 0/1 double from a boolean value.
    pub fn to_double(&mut self, value: &str) -> String {
        self.node("", "Cast", &[value], vec![("to", Attr::Int(DOUBLE))])
    }

    /// [`super::kernels::apply_link`] over raw outputs `[rows, raw]`.
    pub fn link(&mut self, link: Link, raw: &str) -> String {
        match link {
            Link::Identity => raw.to_string(),
            Link::Sigmoid => {
                let p = self.sigmoid(raw);
                let one = self.scalar(1.0);
                let q = self.op("Sub", &[&one, &p]);
                self.columns(&[&q, &p])
            }
            Link::Softmax => self.node("", "Softmax", &[raw], vec![("axis", Attr::Int(1))]),
        }
    }

    /// [`super::kernels::sigmoid`]: `1 / (1 + exp(-z))`.
    fn sigmoid(&mut self, z: &str) -> String {
        let minus = self.op("Neg", &[z]);
        let e = self.op("Exp", &[&minus]);
        let one = self.scalar(1.0);
        let denominator = self.op("Add", &[&one, &e]);
        self.op("Div", &[&one, &denominator])
    }

    /// A detector's `[rows, 2]` output: the score `[rows, 1]` and
    /// [`super::kernels::flag`] of it.
    pub fn score_and_flag(&mut self, score: &str, threshold: f64) -> String {
        let t = self.scalar(threshold);
        let above = self.op("Greater", &[score, &t]);
        let flag = self.to_double(&above);
        self.columns(&[score, &flag])
    }

    /// [`super::kernels::squared_distance`] from every row `[rows, d]` to
    /// every one of `points` (row-major, `d` values each): `[rows, count]`.
    pub fn squared_distances(&mut self, x: &str, points: &[f64], d: usize) -> String {
        let count = points.len() / d.max(1);
        let p = self.doubles(&[1, count, d], points.to_vec());
        let rows = self.unsqueeze(x, 1);
        let diff = self.op("Sub", &[&rows, &p]);
        let square = self.op("Mul", &[&diff, &diff]);
        self.reduce("ReduceSum", &square, 2, false)
    }
}

/// ONNX's element type code for doubles.
pub const DOUBLE: i64 = 11;

fn shape(dims: &[usize]) -> Vec<i64> {
    dims.iter().map(|&d| d as i64).collect()
}
