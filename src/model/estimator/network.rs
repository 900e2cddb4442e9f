//! A multilayer perceptron: dense layers with ReLU between them, then a
//! link (softmax over classes, identity for a value).

use serde::{Deserialize, Serialize};

use super::{all_finite, ensure, link_fits, Kind, LinkDef, Lowered, Shape, Table};
use crate::model::graph::{Attr, Graph};
use crate::model::kernels::{self, Link};

/// Layer sizes (inputs first, outputs last) and every layer's weights and
/// biases, flat, in the layout `kernels::network` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Values per layer: features, hidden widths, outputs.
    pub sizes: Vec<u32>,
    /// Each layer's weights, row-major (one row per output), in order.
    pub weights: Vec<f64>,
    /// Each layer's biases, in order.
    pub biases: Vec<f64>,
    /// Link on the last layer's values.
    #[serde(with = "LinkDef")]
    pub link: Link,
}

impl Network {
    /// The widest layer: the scratch the kernel needs.
    pub fn widest(&self) -> usize {
        self.sizes.iter().copied().max().unwrap_or(0) as usize
    }

    /// The network's tables, one more (`extra`: the link, or a detector's
    /// threshold) and the call of `kernels::KERNEL` over them, which takes
    /// the layers, `extra`, two scratch buffers, `x` and `out`.
    pub fn lower_into(&self, kernel: &str, extra: (&'static str, Table)) -> Lowered {
        let name = extra.0;
        Lowered::new(
            vec![
                ("SIZES", Table::U32s(self.sizes.clone())),
                ("WEIGHTS", Table::F64s(self.weights.clone())),
                ("BIASES", Table::F64s(self.biases.clone())),
                extra,
                ("WIDEST", Table::Usize(self.widest())),
            ],
            format!(
                "kernels::{kernel}(
    &SIZES,
    &WEIGHTS,
    &BIASES,
    {name},
    &mut [0.0; WIDEST],
    &mut [0.0; WIDEST],
    x,
    out,
);"
            ),
        )
    }

    /// [`kernels::layers`] as ONNX operators over `x`: each layer a `Gemm`
    /// with its bias, ReLU between layers; the last layer's raw values.
    pub fn graph_layers(&self, g: &mut Graph, x: &str) -> String {
        let (mut a, mut w_at, mut b_at) = (x.to_string(), 0, 0);
        let count = self.sizes.len() - 1;
        for (l, (inputs, outputs)) in self.layer_pairs().enumerate() {
            let w = g.doubles(&[outputs, inputs], self.weights[w_at..w_at + inputs * outputs].to_vec());
            let b = g.doubles(&[outputs], self.biases[b_at..b_at + outputs].to_vec());
            let z = g.node("", "Gemm", &[&a, &w, &b], vec![("transB", Attr::Int(1))]);
            a = if l + 1 < count { g.op("Relu", &[&z]) } else { z };
            w_at += inputs * outputs;
            b_at += outputs;
        }
        a
    }

    fn layer_pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.sizes
            .windows(2)
            .map(|w| (w[0] as usize, w[1] as usize))
    }
}

impl Kind for Network {
    fn shape(&self) -> Shape {
        Shape::Supervised
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        let (mut a, mut b) = (vec![0.0; self.widest()], vec![0.0; self.widest()]);
        let (sizes, weights, biases) = (&self.sizes, &self.weights, &self.biases);
        kernels::network(sizes, weights, biases, self.link, &mut a, &mut b, x, out);
    }

    fn check(&self, d: usize, w: usize) -> Result<(), String> {
        ensure(self.sizes.len() >= 2 && self.sizes[0] as usize == d, || {
            format!("layer sizes {:?} do not start at {d} features", self.sizes)
        })?;
        let weights: usize = self.layer_pairs().map(|(i, o)| i * o).sum();
        let biases: usize = self.layer_pairs().map(|(_, o)| o).sum();
        ensure(
            self.weights.len() == weights && self.biases.len() == biases,
            || {
                format!(
                    "{} weights and {} biases for layers {:?}",
                    self.weights.len(),
                    self.biases.len(),
                    self.sizes
                )
            },
        )?;
        let last = self.sizes[self.sizes.len() - 1] as usize;
        link_fits(self.link, last, w)
    }

    fn summary(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(u32::to_string).collect();
        format!(
            "neural network {} (ReLU), link {:?}",
            sizes.join(" → "),
            self.link
        )
        .to_lowercase()
    }

    fn finite(&self) -> bool {
        all_finite(&self.weights) && all_finite(&self.biases)
    }

    fn lower(&self) -> Lowered {
        self.lower_into("network", ("LINK", Table::Link(self.link)))
    }

    fn graph(&self, g: &mut Graph, x: &str, _w: usize) -> Result<String, String> {
        let last = self.graph_layers(g, x);
        Ok(g.link(self.link, &last))
    }
}
