//! `automl export --onnx`: the whole model as one ONNX file that ONNX
//! Runtime (or any ONNX-ML runtime) scores from the raw columns. The
//! preprocessing is lowered here, from the fitted [`Prep`]; the estimator
//! lowers itself ([`crate::model::estimator::Kind::graph`]); the result is
//! written with the `onnx-protobuf` messages.
//!
//! Inputs: one 1-D tensor per input column, by name, in the model's
//! column order: doubles for numeric and true/false columns (NaN, ±inf or
//! a numeric `--na-values` marker for missing; true/false as 1/0), strings
//! for categorical ones (the empty string or a missing token for missing;
//! matched exactly, so pass them trimmed). Outputs follow `automl
//! predict`'s columns: `prediction` (the class name, or the value) and
//! `probabilities` for a supervised model, `cluster` (and `memberships`),
//! or `score` and `is_anomaly`.

use std::path::Path;

use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

use crate::data::cell::{parse_number, MISSING_TOKENS};
use crate::data::Task;
use crate::error::{Error, Result};
use crate::model::graph::{Attr, Graph, Node, Tensor, ML};
use crate::model::Model;
use crate::output::write_atomic;
use crate::prep::{ColumnPrep, Encoding};

/// The standard operator set the file is written for (ONNX 1.16).
pub const OPSET: i64 = 21;
/// The ONNX-ML operator set (version 5 has `TreeEnsemble` with double
/// thresholds and leaf values).
pub const ML_OPSET: i64 = 5;
/// ONNX IR version matching [`OPSET`].
const IR_VERSION: i64 = 10;
/// The rows dimension of every input and output.
const ROWS: &str = "N";

/// Writes `model` as an ONNX file at `path`, atomically.
pub fn write_onnx(model: &Model, path: &Path) -> Result<()> {
    let bytes = to_onnx(model).map_err(|reason| Error::Output {
        path: path.to_path_buf(),
        reason,
    })?;
    write_atomic(path, &bytes)
}

/// The ONNX file's bytes, or why the model can't be expressed in ONNX.
pub fn to_onnx(model: &Model) -> std::result::Result<Vec<u8>, String> {
    let outputs = output_names(model.task);
    if let Some(c) = model
        .input_columns()
        .into_iter()
        .find(|c| outputs.contains(c))
    {
        return Err(format!(
            "input column '{c}' has the name of an ONNX output; rename it to export"
        ));
    }
    let mut g = Graph::default();
    let features: Vec<String> = model
        .prep
        .columns
        .iter()
        .map(|c| encode_column(&mut g, c, &model.prep.missing_markers))
        .collect();
    let refs: Vec<&str> = features.iter().map(String::as_str).collect();
    let mut x = g.columns(&refs);
    if let Some(s) = &model.prep.scaler {
        x = g.standardise(&x, &s.mean, &s.scale);
    }
    let out = model
        .estimator
        .graph(&mut g, &x, model.output_width())
        .map_err(|e| format!("can't be expressed in ONNX operators: {e}"))?;
    let results = name_outputs(&mut g, model, &out);
    model_proto(model, g, &results)
        .write_to_bytes()
        .map_err(|e| e.to_string())
}

/// The outputs of a model for `task`, in order.
fn output_names(task: Task) -> &'static [&'static str] {
    match task {
        Task::Binary | Task::Multiclass => &["prediction", "probabilities"],
        Task::Regression => &["prediction"],
        Task::Cluster => &["cluster", "memberships"],
        Task::Anomaly => &["score", "is_anomaly"],
    }
}

/// An output: its name, element type and, for `[rows, k]`, its columns.
struct Output {
    name: &'static str,
    elem: DataType,
    columns: Option<usize>,
}

/// Renames the estimator's `[rows, w]` outputs as `automl predict`'s
/// columns: the class names by the first most probable class, a value, a
/// cluster index, or a score and flag.
fn name_outputs(g: &mut Graph, model: &Model, out: &str) -> Vec<Output> {
    let w = model.output_width();
    let first = |g: &mut Graph| {
        let column = g.slice(out, 0, 1);
        g.squeeze(&column)
    };
    let mut named = Vec::new();
    let mut emit = |g: &mut Graph, value: String, name, elem, columns| {
        g.nodes.push(identity(&value, name));
        named.push(Output {
            name,
            elem,
            columns,
        });
    };
    match model.task {
        Task::Binary | Task::Multiclass => {
            let attrs = vec![("axis", Attr::Int(1)), ("keepdims", Attr::Int(0))];
            let index = g.node("", "ArgMax", &[out], attrs);
            let classes = Tensor::Strings(vec![model.classes.len() as i64], model.classes.clone());
            let classes = g.constant(classes);
            let label = g.op("Gather", &[&classes, &index]);
            emit(g, label, "prediction", DataType::STRING, None);
            emit(
                g,
                out.to_string(),
                "probabilities",
                DataType::DOUBLE,
                Some(w),
            );
        }
        Task::Regression => {
            let value = first(g);
            emit(g, value, "prediction", DataType::DOUBLE, None);
        }
        Task::Cluster => {
            let value = first(g);
            let cluster = g.node("", "Cast", &[&value], vec![("to", Attr::Int(7))]);
            emit(g, cluster, "cluster", DataType::INT64, None);
            if w > 1 {
                let memberships = g.slice(out, 1, w);
                emit(g, memberships, "memberships", DataType::DOUBLE, Some(w - 1));
            }
        }
        Task::Anomaly => {
            let score = first(g);
            emit(g, score, "score", DataType::DOUBLE, None);
            let column = g.slice(out, 1, 2);
            let flag = g.squeeze(&column);
            let flag = g.node("", "Cast", &[&flag], vec![("to", Attr::Int(9))]);
            emit(g, flag, "is_anomaly", DataType::BOOL, None);
        }
    }
    named
}

/// A node that gives `value` the output name `name`.
fn identity(value: &str, name: &str) -> Node {
    Node {
        op: "Identity",
        domain: "",
        inputs: vec![value.to_string()],
        outputs: vec![name.to_string()],
        attrs: Vec::new(),
    }
}

/// One input column's features, `[rows, width]`, as
/// [`ColumnPrep::encode`] writes them.
fn encode_column(g: &mut Graph, column: &ColumnPrep, markers: &[String]) -> String {
    let input = column.name.as_str();
    match &column.encoding {
        Encoding::Number { fill } | Encoding::Flag { fill } => {
            number(g, input, *fill, column.missing_indicator, markers)
        }
        Encoding::OneHot { levels } => {
            let index = level_index(g, input, levels, markers);
            let positions = g.ints(&[levels.len()], (0..levels.len() as i64).collect());
            let hot = g.op("Equal", &[&index, &positions]);
            let mut parts = vec![g.to_double(&hot)];
            if column.missing_indicator {
                parts.push(missing_level(g, &index, levels.len()));
            }
            joined(g, parts)
        }
        Encoding::Frequency {
            levels,
            shares,
            missing,
        } => {
            let index = level_index(g, input, levels, markers);
            let table = [shares.as_slice(), &[*missing, 0.0]].concat();
            let table = g.doubles(&[table.len()], table);
            let mut parts = vec![g.op("Gather", &[&table, &index])];
            if column.missing_indicator {
                parts.push(missing_level(g, &index, levels.len()));
            }
            joined(g, parts)
        }
    }
}

/// A number column: missing (NaN, infinite, or a numeric marker) becomes
/// `fill`, with the 0/1 indicator after it.
fn number(g: &mut Graph, input: &str, fill: f64, indicator: bool, markers: &[String]) -> String {
    let v = g.unsqueeze(input, 1);
    let nan = g.op("IsNaN", &[&v]);
    let inf = g.op("IsInf", &[&v]);
    let mut missing = g.op("Or", &[&nan, &inf]);
    for marker in markers.iter().filter_map(|m| parse_number(m)) {
        let m = g.scalar(marker);
        let is = g.op("Equal", &[&v, &m]);
        missing = g.op("Or", &[&missing, &is]);
    }
    let fill = g.scalar(fill);
    let mut parts = vec![g.op("Where", &[&missing, &fill, &v])];
    if indicator {
        parts.push(g.to_double(&missing));
    }
    joined(g, parts)
}

/// A categorical column's level as `[rows, 1]` integers: its index among
/// `levels`, `levels.len()` for missing, one more for an unseen level.
fn level_index(g: &mut Graph, input: &str, levels: &[String], markers: &[String]) -> String {
    let l = levels.len() as i64;
    let mut keys: Vec<String> = levels.to_vec();
    let mut values: Vec<i64> = (0..l).collect();
    for token in MISSING_TOKENS
        .iter()
        .copied()
        .chain(markers.iter().map(String::as_str))
    {
        if !keys.iter().any(|k| k == token) {
            keys.push(token.to_string());
            values.push(l);
        }
    }
    let attrs = vec![
        ("keys_strings", Attr::Strings(keys)),
        ("values_int64s", Attr::Ints(values)),
        ("default_int64", Attr::Int(l + 1)),
    ];
    let index = g.node(ML, "LabelEncoder", &[input], attrs);
    g.unsqueeze(&index, 1)
}

/// The 0/1 missing indicator of a level index.
fn missing_level(g: &mut Graph, index: &str, levels: usize) -> String {
    let missing = g.ints(&[], vec![levels as i64]);
    let is = g.op("Equal", &[index, &missing]);
    g.to_double(&is)
}

/// One value, or the parts side by side.
fn joined(g: &mut Graph, parts: Vec<String>) -> String {
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_default();
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    g.columns(&refs)
}

/// The file: inputs, the graph, outputs, and what made it.
fn model_proto(model: &Model, g: Graph, outputs: &[Output]) -> ModelProto {
    let mut graph = GraphProto::new();
    graph.name = format!("automl {}", model.meta.model_id);
    graph.input = model
        .prep
        .columns
        .iter()
        .map(|c| {
            let elem = match c.encoding {
                Encoding::OneHot { .. } | Encoding::Frequency { .. } => DataType::STRING,
                _ => DataType::DOUBLE,
            };
            value_info(&c.name, elem, None)
        })
        .collect();
    graph.output = outputs
        .iter()
        .map(|o| value_info(o.name, o.elem, o.columns))
        .collect();
    graph.initializer = g
        .constants
        .into_iter()
        .map(|(name, t)| tensor(&name, t))
        .collect();
    graph.node = g.nodes.into_iter().map(node).collect();
    let mut proto = ModelProto::new();
    proto.ir_version = IR_VERSION;
    proto.producer_name = "automl".into();
    proto.producer_version = env!("CARGO_PKG_VERSION").into();
    proto.doc_string = format!(
        "{} model {} predicting '{}' (automl export --onnx)",
        model.task, model.meta.model_id, model.target
    );
    proto.opset_import = vec![opset("", OPSET), opset(ML, ML_OPSET)];
    proto.metadata_props = [
        ("task", model.task.to_string()),
        ("target", model.target.clone()),
        ("family", model.meta.family.clone()),
        ("model_id", model.meta.model_id.clone()),
        ("classes", model.classes.join("\n")),
    ]
    .into_iter()
    .map(|(key, value)| {
        let mut e = StringStringEntryProto::new();
        e.key = key.into();
        e.value = value;
        e
    })
    .collect();
    proto.graph = Some(graph).into();
    proto
}

fn opset(domain: &str, version: i64) -> OperatorSetIdProto {
    let mut o = OperatorSetIdProto::new();
    o.domain = domain.into();
    o.version = version;
    o
}

/// An input or output: `[N]`, or `[N, columns]`.
fn value_info(name: &str, elem: DataType, columns: Option<usize>) -> ValueInfoProto {
    let mut rows = tensor_shape_proto::Dimension::new();
    rows.set_dim_param(ROWS.into());
    let mut shape = TensorShapeProto::new();
    shape.dim.push(rows);
    if let Some(c) = columns {
        let mut dim = tensor_shape_proto::Dimension::new();
        dim.set_dim_value(c as i64);
        shape.dim.push(dim);
    }
    let mut t = type_proto::Tensor::new();
    t.elem_type = elem as i32;
    t.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.set_tensor_type(t);
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = Some(ty).into();
    v
}

fn node(n: Node) -> NodeProto {
    let mut p = NodeProto::new();
    p.name = n.outputs[0].clone();
    p.op_type = n.op.into();
    p.domain = n.domain.into();
    p.input = n.inputs;
    p.output = n.outputs;
    p.attribute = n
        .attrs
        .into_iter()
        .map(|(name, a)| attribute(name, a))
        .collect();
    p
}

fn attribute(name: &str, a: Attr) -> AttributeProto {
    let mut p = AttributeProto::new();
    p.name = name.into();
    let kind = match a {
        Attr::Int(i) => {
            p.i = i;
            AttributeType::INT
        }
        Attr::Ints(v) => {
            p.ints = v;
            AttributeType::INTS
        }
        Attr::Strings(v) => {
            p.strings = v.into_iter().map(String::into_bytes).collect();
            AttributeType::STRINGS
        }
        Attr::Tensor(t) => {
            p.t = Some(tensor("", t)).into();
            AttributeType::TENSOR
        }
    };
    p.type_ = kind.into();
    p
}

fn tensor(name: &str, t: Tensor) -> TensorProto {
    let mut p = TensorProto::new();
    p.name = name.into();
    let (dims, kind) = match t {
        Tensor::Doubles(dims, v) => {
            p.double_data = v;
            (dims, DataType::DOUBLE)
        }
        Tensor::Ints(dims, v) => {
            p.int64_data = v;
            (dims, DataType::INT64)
        }
        Tensor::Bytes(dims, v) => {
            p.int32_data = v.into_iter().map(i32::from).collect();
            (dims, DataType::UINT8)
        }
        Tensor::Strings(dims, v) => {
            p.string_data = v.into_iter().map(String::into_bytes).collect();
            (dims, DataType::STRING)
        }
    };
    p.dims = dims;
    p.data_type = kind as i32;
    p
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;
    use crate::model::estimator::{Estimator, Linear, Link};
    use crate::model::{ModelMeta, FORMAT_VERSION};
    use crate::prep::{ColumnKind, Prep};

    fn model() -> Model {
        let column = |name: &str, kind, encoding| ColumnPrep {
            name: name.into(),
            kind,
            encoding,
            missing_indicator: true,
        };
        Model {
            format_version: FORMAT_VERSION,
            task: Task::Binary,
            target: "y".into(),
            classes: vec!["no".into(), "yes".into()],
            prep: Prep {
                columns: vec![
                    column("age", ColumnKind::Numeric, Encoding::Number { fill: 30.0 }),
                    column(
                        "town",
                        ColumnKind::Categorical,
                        Encoding::OneHot {
                            levels: vec!["a".into(), "b".into()],
                        },
                    ),
                ],
                scaler: None,
                missing_markers: vec!["-999".into()],
            },
            estimator: Estimator::Linear(Linear {
                weights: vec![0.1, 0.5, -0.2, 0.3, 0.7],
                intercept: vec![-1.0],
                link: Link::Sigmoid,
            }),
            meta: ModelMeta {
                family: "linear".into(),
                params: BTreeMap::new(),
                model_id: "linear-1".into(),
                metric: "roc_auc".into(),
                cv_score: 0.5,
                trained_rows: 10,
                seed: 1,
                tool_version: "0".into(),
                importance: None,
            },
            drift: None,
        }
    }

    /// The typed inputs and outputs the book documents, and a graph whose
    /// every node reads only inputs, constants and earlier nodes' outputs.
    #[test]
    fn the_file_has_the_documented_inputs_and_outputs_in_a_well_formed_graph() {
        let bytes = to_onnx(&model()).unwrap();
        let proto = ModelProto::parse_from_bytes(&bytes).unwrap();
        let graph = proto.graph.as_ref().unwrap();
        let typed = |v: &ValueInfoProto| {
            let t = v.type_.tensor_type();
            let dims = t.shape.dim.len();
            (v.name.clone(), t.elem_type, dims)
        };
        let inputs: Vec<_> = graph.input.iter().map(typed).collect();
        let outputs: Vec<_> = graph.output.iter().map(typed).collect();
        let (double, string) = (DataType::DOUBLE as i32, DataType::STRING as i32);
        assert_eq!(
            inputs,
            [("age".into(), double, 1), ("town".into(), string, 1)]
        );
        assert_eq!(
            outputs,
            [
                ("prediction".into(), string, 1),
                ("probabilities".into(), double, 2)
            ]
        );
        let mut known: HashSet<&str> = graph.input.iter().map(|v| v.name.as_str()).collect();
        known.extend(graph.initializer.iter().map(|t| t.name.as_str()));
        for node in &graph.node {
            for input in &node.input {
                assert!(
                    known.contains(input.as_str()),
                    "{} reads unknown {input}",
                    node.op_type
                );
            }
            known.extend(node.output.iter().map(String::as_str));
        }
        assert!(graph.output.iter().all(|o| known.contains(o.name.as_str())));
        let opsets: Vec<_> = proto
            .opset_import
            .iter()
            .map(|o| (o.domain.as_str(), o.version))
            .collect();
        assert_eq!(opsets, [("", OPSET), (ML, ML_OPSET)]);
    }

    #[test]
    fn a_column_named_like_an_output_is_refused() {
        let mut m = model();
        m.prep.columns[0].name = "prediction".into();
        let e = to_onnx(&m).unwrap_err();
        assert!(e.contains("input column 'prediction'"), "{e}");
    }
}
