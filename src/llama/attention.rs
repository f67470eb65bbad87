//! Causal grouped-query attention in chunks of queries, so a long context never holds
//! `heads × n²` scores.

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

/// Score elements (`f32`) one attention chunk may hold: queries are taken in chunks so that a
/// 32k-token context needs ~256 MiB of scores per layer instead of `heads × n²` floats.
const SCORE_BUDGET: usize = 1 << 22;

/// Causal grouped-query attention of `seq` queries that follow `past` cached keys, in chunks of
/// queries (each sees only the keys up to its own position).
///
/// # Shapes
/// - q: `[batch, heads, seq, head_dim]`
/// - k, v: `[batch, kv_heads, past + seq, head_dim]`
/// - output: `[batch, heads, seq, head_dim]`
pub fn causal_attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    past: usize,
) -> Tensor<B, 4> {
    let [batch, heads, seq, head_dim] = q.dims();
    let kv_heads = k.dims()[1];
    assert!(
        kv_heads > 0 && heads % kv_heads == 0 && k.dims()[2] == past + seq && v.dims() == k.dims(),
        "causal_attention: q {:?}, k {:?}, v {:?} with {past} past tokens",
        q.dims(),
        k.dims(),
        v.dims()
    );
    let group = heads / kv_heads;
    let device = q.device();
    let scale = (head_dim as f64).powf(-0.5);
    let chunk = (SCORE_BUDGET / (heads * batch * (past + seq)).max(1)).clamp(16, seq.max(16));
    let mut outputs = Vec::new();
    for start in (0..seq).step_by(chunk) {
        let end = (start + chunk).min(seq);
        let (rows, keys) = (end - start, past + end);
        // Each kv head's query group as one matrix: [batch, kv_heads, group * rows, head_dim].
        let q = q.clone().slice([0..batch, 0..heads, start..end]).reshape([
            batch,
            kv_heads,
            group * rows,
            head_dim,
        ]);
        let k = k.clone().slice([0..batch, 0..kv_heads, 0..keys]);
        let v = v.clone().slice([0..batch, 0..kv_heads, 0..keys]);
        let scores = q.mul_scalar(scale).matmul(k.swap_dims(2, 3));
        let query_pos = Tensor::<B, 1, Int>::arange(
            past as i64 + start as i64..past as i64 + end as i64,
            &device,
        );
        let key_pos = Tensor::<B, 1, Int>::arange(0..keys as i64, &device);
        let future = key_pos
            .reshape([1, keys])
            .greater(query_pos.reshape([rows, 1]));
        let mask =
            Tensor::<B, 2>::zeros([rows, keys], &device).mask_fill(future, f32::NEG_INFINITY);
        let scores = scores.reshape([batch, kv_heads, group, rows, keys]) + mask.unsqueeze::<5>();
        let weights = softmax(scores, 4).reshape([batch, kv_heads, group * rows, keys]);
        outputs.push(weights.matmul(v).reshape([batch, heads, rows, head_dim]));
    }
    Tensor::cat(outputs, 2)
}
