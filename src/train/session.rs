//! The `train` example's run on one backend: a new run, `--resume` or `--eval`, in a staged
//! copy of `--out` that is swapped in only when the run succeeds; then the losses' CSV and plot
//! and a summary.

use std::path::PathBuf;
use std::sync::Arc;

use burn::module::Module;
use burn::tensor::backend::{AutodiffBackend, Backend, Device as _, DeviceId};
use burn_rotary::{RopeBackend, RopeConfig};

use super::checkpoint::{Checkpoint, Fingerprint, TrainState};
use super::cli::{Args, Mode};
use super::learner::{fit, RunPlan};
use super::{evaluate, Eval, TrainReport};
use crate::backend_choice::TrainTask;
use crate::data::Task;
use crate::plot::LineChart;
use crate::staging::Staging;

impl TrainTask for Args {
    type Output = Result<(), String>;

    fn run<B>(self, device: B::Device) -> Result<(), String>
    where
        B: AutodiffBackend + RopeBackend,
        B::InnerBackend: RopeBackend,
    {
        let (model_config, mut state, task) = match self.mode {
            Mode::New => {
                let task = self.task.load()?;
                (self.model, TrainState::new(self.train, self.task), task)
            }
            // The saved config, state and text, checked against each other.
            Mode::Resume | Mode::Eval => self.checkpoint.load_run()?,
        };
        let task = Arc::new(task);
        // Taken before training, so that the run records the text it trained on.
        let data_fingerprint = Fingerprint::of_data(&state.task)?;
        let eval_set = state.train.eval_set(&task, state.train.seq_len);
        let eval_what = format!(
            "fixed set of {} sequences of {} tokens",
            eval_set.len() * state.train.batch_size,
            state.train.seq_len
        );
        if self.mode == Mode::Eval {
            let model = self
                .checkpoint
                .load_model::<B::InnerBackend>(&model_config, &device)?;
            println!(
                "model of {} ({} steps) on {}",
                self.checkpoint.dir().display(),
                state.steps_done,
                B::name(&device)
            );
            println!(
                "eval ({eval_what}): {}",
                evaluate(&model, &eval_set, &device)
            );
            return Ok(());
        }
        if self.mode == Mode::Resume {
            state.check_resumable(&self.checkpoint, &state.task)?;
        }
        state.train.steps = self.steps.unwrap_or(state.train.steps);
        let steps_per_epoch = epoch_length(&state, self.steps_per_epoch)?;
        let devices = devices::<B>(&self.backend, self.devices)?;
        if !state.train.batch_size.is_multiple_of(devices.len()) {
            return Err(format!(
                "--batch-size {} is not a multiple of --devices {} (each device takes an equal \
                 share of every batch)",
                state.train.batch_size,
                devices.len()
            ));
        }
        // The weights to resume from, read from the user's folder (errors name its files). The
        // learner reads its checkpoint of the last epoch itself: checked here first, so that a
        // corrupted or foreign file is an error naming it, not a panic in the learner.
        let resumed = match self.mode {
            Mode::Resume => {
                let epoch = state.steps_done / steps_per_epoch;
                self.checkpoint.load_model_file::<B>(
                    &format!("checkpoint/model-{epoch}"),
                    &model_config,
                    &device,
                )?;
                Some(self.checkpoint.load_model::<B>(&model_config, &device)?)
            }
            _ => None,
        };
        let staging = Staging::begin(self.checkpoint.dir(), self.mode == Mode::Resume)?;
        let work = Checkpoint::new(staging.work());

        let model = match resumed {
            Some(model) => model,
            None => {
                B::seed(&device, state.train.seed);
                model_config.init::<B>(&device)
            }
        };
        let cfg = &state.train;
        println!(
            "training on {} x {} for {} steps{}: {} parameters ({} layers, d_model {}, {} heads, \
             {} kv heads, {}), batch {} x {} tokens{}, epochs of {steps_per_epoch} steps, task: {}",
            devices.len(),
            B::name(&device),
            cfg.steps,
            match state.steps_done {
                0 => String::new(),
                done => format!(" after {done}"),
            },
            model.num_params(),
            model_config.n_layers,
            model_config.d_model,
            model_config.n_heads,
            model_config.kv_heads(),
            describe_rope(&model_config.rope),
            cfg.batch_size,
            cfg.seq_len,
            match self.pack {
                true => " (rows packed with documents)",
                false => "",
            },
            task.describe()
        );
        let plan = RunPlan {
            steps_per_epoch,
            epochs_done: state.steps_done / steps_per_epoch,
            devices,
            log_every: self.log_every,
            pack: self.pack,
        };
        let (model, report) = fit(
            model,
            task.clone(),
            cfg,
            eval_set.clone(),
            &plan,
            work.dir(),
        );
        report
            .check_finite()
            .map_err(|e| format!("{e}; {} is left as it was", self.checkpoint.dir().display()))?;
        let eval = evaluate(&model, &eval_set, &device);

        state.steps_done += cfg.steps;
        state.steps_per_epoch = steps_per_epoch;
        state.fingerprint.data = data_fingerprint;
        state.packed = self.pack;
        work.save(&model, &model_config, &state)?;
        let plot = write_losses(&work, &report, task.vocab_size())?;
        staging.commit()?;
        let plot = self
            .checkpoint
            .path(plot.file_name().unwrap().to_str().unwrap());
        summary(&report, &eval, &eval_what, &task, &self.checkpoint, &plot);
        Ok(())
    }
}

/// Steps per epoch: `--steps-per-epoch`, the saved run's when resuming, else 100 or the whole
/// run if shorter; it must divide the run's steps.
fn epoch_length(state: &TrainState, asked: Option<usize>) -> Result<usize, String> {
    let steps = state.train.steps;
    let length = match (state.steps_per_epoch, asked) {
        (0, Some(n)) => n,
        (0, None) => steps.min(100),
        (saved, Some(n)) if n != saved => {
            return Err(format!(
                "--steps-per-epoch {n}: the run being resumed has epochs of {saved} steps"
            ))
        }
        (saved, _) => saved,
    };
    if !steps.is_multiple_of(length) {
        return Err(format!(
            "--steps {steps} is not a whole number of epochs of {length} steps \
             (--steps-per-epoch)"
        ));
    }
    Ok(length)
}

/// `count` devices of `B`: devices `0..count` of the default device's kind (wgpu: discrete GPUs
/// `0..count`); on ndarray, whose one device is the CPU, `count` workers on it (at most one per
/// core).
fn devices<B: Backend>(backend: &str, count: usize) -> Result<Vec<B::Device>, String> {
    let first = B::Device::default();
    if count == 1 {
        return Ok(vec![first]);
    }
    if backend == "ndarray" {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        return match count <= cores {
            true => Ok(vec![first; count]),
            false => Err(format!(
                "--devices {count}: ndarray runs its workers on the CPU, which has {cores} cores"
            )),
        };
    }
    // wgpu's default device has no index: its devices are numbered per kind, discrete GPUs 0.
    let kind = match backend {
        "wgpu" => 0,
        _ => first.to_id().type_id,
    };
    let available = B::device_count(kind);
    if count > available {
        return Err(format!(
            "--devices {count}: {backend} has {available} device(s) of that kind here"
        ));
    }
    Ok((0..count)
        .map(|i| B::Device::from_id(DeviceId::new(kind, i as u16)))
        .collect())
}

fn describe_rope(rope: &RopeConfig) -> String {
    format!(
        "RoPE head_dim {} theta {} {:?}",
        rope.head_dim, rope.theta, rope.scaling
    )
}

/// Appends the run's losses to `losses.csv` (dropping steps it redoes) and plots them all,
/// with chance (a uniform guess over the `vocab` tokens) for scale.
fn write_losses(
    checkpoint: &Checkpoint,
    report: &TrainReport,
    vocab: usize,
) -> Result<PathBuf, String> {
    let csv_path = checkpoint.path("losses.csv");
    let first = report.losses.first().map_or(1, |&(step, _)| step);
    let mut losses: Vec<(f64, f64)> = match first {
        1 => Vec::new(),
        _ => std::fs::read_to_string(&csv_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (step, loss) = line.split_once(',')?;
                Some((step.parse().ok()?, loss.parse().ok()?))
            })
            .filter(|&(step, _)| step < first as f64)
            .collect(),
    };
    losses.extend(report.losses.iter().map(|&(s, l)| (s as f64, l)));
    let mut csv = String::from("step,loss\n");
    for (step, loss) in &losses {
        csv.push_str(&format!("{step},{loss}\n"));
    }
    std::fs::write(&csv_path, csv).map_err(|e| format!("cannot write losses.csv: {e}"))?;

    const WINDOW: usize = 25;
    let smoothed = losses.windows(WINDOW).map(|w| {
        let mean = w.iter().map(|(_, l)| l).sum::<f64>() / WINDOW as f64;
        (w[WINDOW - 1].0, mean)
    });
    let svg_path = checkpoint.path("loss.svg");
    LineChart::new("training loss")
        .x_label("step")
        .y_label("cross-entropy (nats)")
        .reference("chance", (vocab as f64).ln())
        .series("per step", losses.iter().copied())
        .series(format!("mean of {WINDOW}"), smoothed)
        .save(&svg_path)
        .map_err(|e| format!("cannot write {}: {e}", svg_path.display()))?;
    Ok(svg_path)
}

fn summary(
    report: &TrainReport,
    eval: &Eval,
    eval_what: &str,
    task: &Task,
    checkpoint: &Checkpoint,
    plot: &std::path::Path,
) {
    let tokens = report.tokens_per_second * report.seconds;
    println!(
        "trained {} steps ({:.0} tokens) in {:.1} s (evaluations included): {:.0} tokens/s",
        report.losses.len(),
        tokens,
        report.seconds,
        report.tokens_per_second
    );
    if let Task::Retrieval(r) = task {
        println!(
            "chance: loss {:.4} (uniform), retrieval accuracy {:.1}%",
            (task.vocab_size() as f64).ln(),
            100.0 / r.n_values as f64
        );
    }
    println!("eval ({eval_what}): {eval}");
    println!(
        "saved model.json, train.json, model.mpk, losses.csv, checkpoint/ to {}",
        checkpoint.dir().display()
    );
    println!("loss curve: {}", plot.display());
    println!(
        "loss: start {:.4} end {:.4}",
        report.first_loss(),
        report.last_loss()
    );
}
