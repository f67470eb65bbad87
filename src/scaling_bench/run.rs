//! Running the benchmark: the tasks, the models (cached or trained), the scoring and
//! fine-tuning jobs, and the rows they make.

use std::path::Path;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use burn_rotary::RopeBackend;
use serde::Serialize;

use super::eval::EvalSet;
use super::jobs::run_jobs;
use super::models::{finetune_config, init_model, train_model, ModelCache};
use super::scoring::{FineTune, Job, Scorer, Setup, Units};
use super::{BenchConfig, BenchResults, Row, TaskKind};
use crate::data::Task;
use crate::model::{Transformer, TransformerConfig};
use crate::progress::run_bar;
use crate::scaling_methods::{extension_ratio, Method};
use crate::train::TrainConfig;

/// Bumped when a change makes cached models stale.
const CACHE_FORMAT: u32 = 2;

/// The identity of the model of a task and seed, fine-tuned with a method and config if given.
type IdentityOf<'a> =
    dyn Fn(&Setup, u64, Option<(&'static str, &TrainConfig)>) -> serde_json::Value + 'a;

/// Everything that determines a model's weights.
#[derive(Serialize)]
struct Identity<'a> {
    format: u32,
    backend: &'a str,
    task: &'a serde_json::Value,
    model: &'a TransformerConfig,
    train: &'a TrainConfig,
    finetune: Option<(&'a str, &'a TrainConfig)>,
}

/// Runs the benchmark on `B` (an autodiff backend, for training), caching models in
/// `<out>/models` (`retrain`: ignore cached ones, replace them once the new ones are done).
/// A progress bar over the whole run goes to stderr when `progress`.
pub fn run<B>(
    config: &BenchConfig,
    out: &Path,
    retrain: bool,
    progress: bool,
    device: &B::Device,
) -> Result<BenchResults, String>
where
    B: AutodiffBackend + RopeBackend,
    B::InnerBackend: RopeBackend,
{
    let start = Instant::now();
    config.validate()?;
    let lengths = config.lengths();
    let l = config.train_len();
    let corpus = config.text.load()?;
    corpus.check(*lengths.last().expect("lengths"), l + 1)?;
    let setups = setups(config, &corpus);
    let backend = std::any::type_name::<B>();
    let identity = |s: &Setup, seed: u64, ft: Option<(&'static str, &TrainConfig)>| {
        let train = s.train.clone().with_seed(seed);
        serde_json::to_value(Identity {
            format: CACHE_FORMAT,
            backend,
            task: &s.identity,
            model: &s.model,
            train: &train,
            finetune: ft,
        })
        .expect("identity serialises")
    };
    let cache = ModelCache::new(out.join("models"));
    let bar = run_bar(progress);
    let units = Units;

    // Models, drawn in a fixed order on this thread; the untrained ones are trained in jobs.
    let mut models: Vec<Option<Transformer<B>>> = Vec::new();
    let mut to_train = Vec::new();
    for (t, s) in setups.iter().enumerate() {
        for &seed in &config.seeds {
            let id = identity(s, seed, None);
            let label = format!("{}-seed{seed}", s.kind.name());
            let cached = (!retrain)
                .then(|| cache.load::<B>(&label, &id, &s.model, device))
                .flatten();
            if cached.is_none() {
                let model = init_model::<B>(&s.model, seed, device);
                to_train.push((models.len(), t, seed, label, id, model));
            }
            models.push(cached);
        }
    }
    let finetunes = finetune_jobs(config, &setups, &cache, retrain, &identity, device);
    let total = to_train
        .iter()
        .map(|j| units.train(&setups[j.1].train))
        .sum::<f64>()
        + finetunes.iter().filter(|f| f.cached.is_none()).count() as f64
            * config.finetune_len().map_or(0.0, |n| {
                units.train(&finetune_config(&config.train, config.finetune_steps, n))
            })
        + units.scoring(config, &setups);
    bar.set_length(total.round().max(1.0) as u64);

    let train_start = Instant::now();
    let trained_count = to_train.len();
    bar.set_message(format!("training {trained_count} models"));
    let trained = run_jobs(
        to_train,
        config.workers,
        |(i, t, seed, label, id, model)| {
            let s = &setups[t];
            let train = s.train.clone().with_seed(seed);
            let cost = units.train(&train) / train.steps as f64;
            let model = train_model(model, &s.task, &train, device, &|_| bar.inc(cost as u64))
                .map_err(|e| format!("{label}: {e}; nothing was cached or written"));
            (i, label, id, model)
        },
    );
    // A diverged model is neither cached nor scored: the run fails, earlier outputs stay.
    let trained: Vec<_> = trained
        .into_iter()
        .map(|(i, label, id, model)| model.map(|m| (i, label, id, m)))
        .collect::<Result<_, _>>()?;
    for (i, label, id, model) in trained {
        cache.save(&label, &id, &model)?;
        models[i] = Some(model);
    }
    let train_seconds = train_start.elapsed().as_secs_f64();

    bar.set_message("scoring and fine-tuning");
    let n_seeds = config.seeds.len();
    let mut jobs: Vec<Job<B>> = finetunes
        .into_iter()
        .map(|mut f| {
            if f.cached.is_none() {
                f.base = models[f.seed].clone();
            }
            Job::FineTune(Box::new(f))
        })
        .collect();
    for (t, _) in setups.iter().enumerate() {
        for method in Method::ALL {
            for seed in 0..n_seeds {
                let model = Box::new(models[t * n_seeds + seed].as_ref().expect("model").valid());
                jobs.push(Job::Score {
                    task: t,
                    seed,
                    method,
                    model,
                });
            }
        }
    }
    let scorer = Scorer {
        config,
        setups: &setups,
        device,
        bar: &bar,
        units: &units,
    };
    let outputs = run_jobs(jobs, config.workers, |job| scorer.run(job));
    bar.finish_and_clear();
    let outputs = outputs.into_iter().collect::<Result<Vec<_>, _>>()?;

    let mut rows: Vec<Row> = Vec::new();
    for output in outputs {
        let (key, scores, notes, tuned) = output;
        if let Some((label, id, model)) = tuned {
            cache.save(&label, &id, &model)?;
        }
        let (t, method, seed) = key;
        for (i, (&len, score)) in lengths.iter().zip(scores).enumerate() {
            let factor = match method.strip_suffix("+ft") {
                Some(_) => config.finetune_ratio as f64,
                None => extension_ratio(l, len),
            };
            let kind = setups[t].kind;
            let row = match rows
                .iter_mut()
                .position(|r| r.task == kind && r.method == method && r.length == len)
            {
                Some(p) => &mut rows[p],
                None => {
                    rows.push(Row {
                        task: kind,
                        method: method.clone(),
                        length: len,
                        factor,
                        scores: Vec::new(),
                        note: String::new(),
                    });
                    rows.last_mut().expect("pushed")
                }
            };
            debug_assert_eq!(row.scores.len(), seed);
            row.scores.push(score);
            if !notes[i].is_empty() {
                let sep = if row.note.is_empty() { "" } else { "; " };
                row.note = format!("{}{sep}{}", row.note, notes[i]);
            }
        }
    }
    let fine_tuned_last = |r: &Row| (r.task != TaskKind::Text, r.method.ends_with("+ft"));
    rows.sort_by_key(fine_tuned_last);

    let m = &config.model;
    Ok(BenchResults {
        train_len: l,
        lengths,
        depths: config.depths.clone(),
        seeds: config.seeds.clone(),
        rows,
        corpus: format!("{}; FNV-1a {:016x}", corpus.source, corpus.fingerprint),
        model: format!(
            "{} layers, d_model {}, {} query heads sharing {} key/value heads of dim {}, d_ff {}, \
             RoPE theta {}{}",
            m.n_layers,
            m.d_model,
            m.n_heads,
            m.kv_heads(),
            m.head_dim(),
            m.d_ff,
            m.rope.theta,
            if config.retrieval.is_some() {
                " (the retrieval model: a separate output head, unit-variance embeddings)"
            } else {
                ""
            }
        ),
        head_dim: m.head_dim(),
        theta: m.rope.theta,
        finetune: config.finetune_len().map(|n| (config.finetune_steps, n)),
        models_source: format!(
            "{trained_count} of {} models trained ({train_seconds:.0} s), the rest loaded from {} \
             (fine-tuned ones too)",
            setups.len() * n_seeds,
            out.join("models").display()
        ),
        retrieval: config.retrieval,
        workers: config.workers,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The tasks of the run: text, then retrieval (if any).
fn setups(config: &BenchConfig, corpus: &super::corpus::Corpus) -> Vec<Setup> {
    let lengths = config.lengths();
    let bt = config.eval_batch_tokens;
    let text = &corpus.text;
    let mut setups = vec![Setup {
        kind: TaskKind::Text,
        task: Task::Bytes(text.clone()),
        model: TransformerConfig {
            vocab_size: crate::data::ByteText::VOCAB_SIZE,
            ..config.model.clone()
        },
        train: config.train.clone(),
        identity: serde_json::json!({ "text": format!("{:016x}", corpus.fingerprint) }),
        eval: lengths
            .iter()
            .map(|&n| EvalSet::text(&text.test, config.eval_tokens, bt, n))
            .collect(),
        search: lengths
            .iter()
            .map(|&n| EvalSet::text(&text.validation, config.search_tokens, bt, n))
            .collect(),
    }];
    if let Some(r) = config.retrieval {
        let per = |tokens: usize, n: usize| (tokens / n).max(2);
        setups.push(Setup {
            kind: TaskKind::Retrieval,
            task: Task::Retrieval(r),
            model: config.retrieval_model(&r),
            train: config
                .retrieval_train
                .clone()
                .with_seq_len(config.train_len()),
            identity: serde_json::json!({ "retrieval": r }),
            eval: lengths
                .iter()
                .map(|&n| {
                    let seed = 0xE7A1_5E75 ^ n as u64;
                    EvalSet::retrieval(&r, &config.depths, config.eval_per_depth, bt, seed, n)
                })
                .collect(),
            search: lengths
                .iter()
                .map(|&n| {
                    let seed = 0x10_6E5E_A7C4 ^ n as u64;
                    let count = per(config.search_tokens, n);
                    EvalSet::retrieval(&r, &[0.0, 0.5, 1.0], count, bt, seed, n)
                })
                .collect(),
        });
    }
    setups
}

fn finetune_jobs<B>(
    config: &BenchConfig,
    setups: &[Setup],
    cache: &ModelCache,
    retrain: bool,
    identity: &IdentityOf,
    device: &B::Device,
) -> Vec<FineTune<B>>
where
    B: AutodiffBackend + RopeBackend,
{
    let Some(len) = config.finetune_len() else {
        return Vec::new();
    };
    let tune = finetune_config(&config.train, config.finetune_steps, len);
    let text = &setups[0];
    let mut jobs = Vec::new();
    for method in Method::ALL
        .into_iter()
        .filter(|m| m.fine_tuned_in_literature())
    {
        for (seed, &s) in config.seeds.iter().enumerate() {
            let id = identity(text, s, Some((method.name(), &tune)));
            let label = format!("text-seed{s}-{}-ft{len}", method.name());
            let cached = (!retrain)
                .then(|| cache.load::<B::InnerBackend>(&label, &id, &text.model, device))
                .flatten();
            jobs.push(FineTune {
                seed,
                method,
                label,
                identity: id,
                base: None,
                cached,
            });
        }
    }
    jobs
}
