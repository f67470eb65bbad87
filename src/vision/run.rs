//! Running the benchmark: models drawn in a fixed order, trained in jobs, then scored with every
//! method at every grid in jobs, with one progress bar over the whole run.

use std::time::Instant;

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use burn_rotary::RopeBackend;

use super::model::{Encoding, Vit};
use super::task::ImageBatch;
use super::{Method, Row, Score, VitBenchConfig, VitResults};
use crate::data::SplitMix;
use crate::scaling_bench::jobs::run_jobs;

/// Training accuracy is averaged over this many last steps.
const TAIL_STEPS: usize = 20;

/// Runs the benchmark on `B` (an autodiff backend, for training); a progress bar over the whole
/// run goes to stderr when `progress`.
pub fn run<B>(
    config: &VitBenchConfig,
    progress: bool,
    device: &B::Device,
) -> Result<VitResults, String>
where
    B: AutodiffBackend + RopeBackend,
    B::InnerBackend: RopeBackend,
{
    let start = Instant::now();
    config.validate()?;
    for method in Method::ALL {
        for &side in &config.grids {
            if let Some(Err(e)) = method.rope(&config.model(method.encoding()), side) {
                return Err(format!("--theta: {}: {e}", config.theta));
            }
        }
    }
    let task = config.task();
    let encodings = [Encoding::Rope2d, Encoding::Learned];
    let bar = crate::progress::run_bar(progress);
    let seq = |side: usize| side * side;
    let train_units =
        (config.steps * config.batch_size) as f64 * 3.0 * units(seq(config.train_grid));
    let eval_units: f64 = config
        .grids
        .iter()
        .map(|&side| config.eval_images_at(side) as f64 * units(seq(side)))
        .sum();
    let total = encodings.len() as f64 * config.seeds.len() as f64 * train_units
        + (Method::ALL.len() * config.seeds.len()) as f64 * eval_units;
    bar.set_length(total.round().max(1.0) as u64);

    // Every weight drawn here, on this thread, in a fixed order; the training runs in jobs.
    let mut to_train = Vec::new();
    for encoding in encodings {
        for (s, &seed) in config.seeds.iter().enumerate() {
            B::seed(device, seed);
            let model = config.model(encoding).init::<B>(device);
            model.visit(&mut DrawWeights);
            to_train.push((encoding, s, seed, model));
        }
    }
    let train_start = Instant::now();
    bar.set_message(format!("training {} models", to_train.len()));
    let step_units = (train_units / config.steps as f64).round() as u64;
    let trained = run_jobs(to_train, config.workers, |(encoding, s, seed, model)| {
        train(model, config, seed, device, &|| bar.inc(step_units))
            .map(|(model, accuracy)| (encoding, s, model.valid(), accuracy))
            .map_err(|e| format!("{encoding:?} model of seed {seed}: {e}; nothing was written"))
    });
    // A diverged model is not scored: the run fails, earlier outputs stay as they were.
    let trained = trained.into_iter().collect::<Result<Vec<_>, _>>()?;
    let train_seconds = train_start.elapsed().as_secs_f64();

    bar.set_message("scoring");
    let eval_sets: Vec<Vec<ImageBatch>> = config
        .grids
        .iter()
        .map(|&side| {
            let seed = 0xE7A1_5E75 ^ side as u64;
            task.eval_set(
                seed,
                config.eval_images_at(side),
                side,
                config.eval_batch_tokens,
            )
        })
        .collect();
    // One job per model, method and grid, the largest grids first.
    let mut jobs = Vec::new();
    for g in (0..config.grids.len()).rev() {
        for (m, method) in Method::ALL.into_iter().enumerate() {
            for (encoding, s, model, _) in &trained {
                if *encoding == method.encoding() {
                    jobs.push((m, g, *s, model.clone()));
                }
            }
        }
    }
    let scores = run_jobs(jobs, config.workers, |(m, g, s, model)| {
        let (method, side) = (Method::ALL[m], config.grids[g]);
        let rope_config = &config.model(method.encoding());
        let model = match method.rope(rope_config, side) {
            Some(rope) => model.with_rope(&rope.expect("checked above"), device),
            None => model.with_grid(side),
        };
        let score = evaluate(&model, &eval_sets[g], device);
        bar.inc((config.eval_images_at(side) as f64 * units(seq(side))).round() as u64);
        (m, g, s, score)
    });
    bar.finish_and_clear();

    let mut rows: Vec<Row> = Vec::new();
    for method in Method::ALL {
        for &grid in &config.grids {
            rows.push(Row {
                method,
                grid,
                scores: Vec::new(),
            });
        }
    }
    let mut sorted = scores;
    sorted.sort_by_key(|&(m, g, s, _)| (m, g, s));
    for (m, g, _, score) in sorted {
        rows[m * config.grids.len() + g].scores.push(score);
    }
    let train_accuracy = encodings
        .iter()
        .map(|&e| {
            let per_seed = trained.iter().filter(|t| t.0 == e).map(|t| t.3).collect();
            (e, per_seed)
        })
        .collect();
    Ok(VitResults {
        config: config.clone(),
        seeds: config.seeds.clone(),
        rows,
        train_accuracy,
        train_seconds,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Work of one image of `seq` tokens through the model's forward pass, in units of one token at
/// no length: attention adds about `seq / 320` (d_model 64, d_ff 128).
fn units(seq: usize) -> f64 {
    seq as f64 * (1.0 + seq as f64 / 320.0)
}

/// Trains `model` on the task at the training grid with the data of `seed`; returns it with its
/// training accuracy over the last steps, or an error if the training diverged (a loss that
/// is not finite: NaN weights stay NaN, so the last step's loss tells). `on_step` is called
/// after each step.
pub fn train<B>(
    mut model: Vit<B>,
    config: &VitBenchConfig,
    seed: u64,
    device: &B::Device,
    on_step: &dyn Fn(),
) -> Result<(Vit<B>, f64), String>
where
    B: AutodiffBackend + RopeBackend,
{
    let task = config.task();
    let side = config.train_grid;
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .with_grad_clipping(Some(burn::grad_clipping::GradientClippingConfig::Norm(1.0)))
        .init::<B, Vit<B>>();
    let mut rng = SplitMix::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x7A5C);
    let (mut correct, mut seen, mut last_loss) = (0, 0, f64::NAN);
    for i in 0..config.steps {
        let batch = task.batch(&mut rng, config.batch_size, side);
        let (tokens, labels) = batch.to_tensors::<B>(device);
        let logits = model.forward(tokens, side);
        if i + TAIL_STEPS >= config.steps {
            correct += hits(logits.clone().inner(), &batch.labels);
            seen += batch.batch;
        }
        let loss = CrossEntropyLossConfig::new()
            .init(device)
            .forward(logits, labels);
        if i + 1 == config.steps {
            last_loss = scalar(loss.clone());
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(config.learning_rate_at(i), model, grads);
        on_step();
    }
    if !last_loss.is_finite() {
        return Err(format!(
            "training diverged (loss {last_loss} at step {})",
            config.steps
        ));
    }
    Ok((model, correct as f64 / seen.max(1) as f64))
}

/// Loss and accuracy of `model` on `set`.
pub fn evaluate<B: RopeBackend>(model: &Vit<B>, set: &[ImageBatch], device: &B::Device) -> Score {
    let (mut loss_sum, mut correct, mut count) = (0.0, 0, 0);
    for batch in set {
        let (tokens, labels) = batch.to_tensors::<B>(device);
        let logits = model.forward(tokens, batch.side);
        correct += hits(logits.clone(), &batch.labels);
        let loss = CrossEntropyLossConfig::new()
            .init(device)
            .forward(logits, labels);
        loss_sum += scalar(loss) * batch.batch as f64;
        count += batch.batch;
    }
    let loss = loss_sum / count.max(1) as f64;
    Score {
        loss,
        // NaN logits pick class 0: an accuracy from them would look like chance. Loudly NaN.
        accuracy: match loss.is_finite() {
            true => correct as f64 / count.max(1) as f64,
            false => f64::NAN,
        },
    }
}

/// How many rows of `logits` have their largest value at the label.
fn hits<B: Backend>(logits: Tensor<B, 2>, labels: &[i64]) -> usize {
    let predicted = logits.argmax(1).into_data().convert::<i64>();
    let predicted = predicted.to_vec::<i64>().expect("i64 predictions");
    predicted.iter().zip(labels).filter(|(p, l)| p == l).count()
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data().convert::<f64>().to_vec::<f64>().expect("f64")[0]
}

/// Touches every float parameter, which draws a lazily initialised one.
struct DrawWeights;

impl<B: Backend> ModuleVisitor<B> for DrawWeights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}
