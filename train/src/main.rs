//! The `bead` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use bead_train::{
    CONFIG_TEMPLATE, Error, EvaluateOptions, ExportOptions, ModelKind, Result, RunOptions,
    Schedule, ScoreHead, TrainConfig, TrainedModel, export_to_file,
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bead",
    version,
    about = "Generator-robust anomaly detection for triggers: train, export, score, evaluate, calibrate, bench"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented default bead.toml into DIR.
    Init {
        /// Directory to create the config in.
        dir: PathBuf,
    },
    /// Train a model into a model directory.
    Train(TrainArgs),
    /// Export a trained model (preprocessing, encoder, score head) to ONNX.
    Export {
        /// Model directory written by `bead train`.
        #[arg(long)]
        model: PathBuf,
        /// Score head (default Σμ²: chosen on validation signals by `bead robustness`).
        #[arg(long, value_enum, default_value = "mu2")]
        score: ScoreHead,
        /// Output ONNX file.
        #[arg(long, short)]
        output: PathBuf,
        /// Also output the latent mean `mu`.
        #[arg(long)]
        with_mu: bool,
        /// Store network weights as float16.
        #[arg(long)]
        f16: bool,
    },
    /// Make a float model exported by another tool (PyTorch, tf2onnx, hls4ml/QONNX) a bead
    /// model: check that the runtime runs every node and record the feature names.
    Import {
        /// ONNX model to import.
        model: PathBuf,
        /// Event columns feeding the graph input, in column order: comma-separated, or @FILE
        /// with one name per line.
        #[arg(long)]
        features: String,
        /// Output ONNX file.
        #[arg(long, short)]
        output: PathBuf,
        /// Name recorded for the score (default: the graph output's name).
        #[arg(long)]
        score_name: Option<String>,
        /// Graph input fed with the features (when the graph has several).
        #[arg(long, visible_alias = "input-name")]
        input: Option<String>,
        /// Graph output that is the anomaly score (when the graph has several). Written as
        /// `--output-name` because `-o/--output` is the file.
        #[arg(long = "output-name", visible_alias = "graph-output")]
        graph_output: Option<String>,
    },
    /// Score event files with an exported ONNX model (parallel, input order kept).
    Score {
        /// ONNX model written by `bead export`.
        #[arg(long)]
        model: PathBuf,
        /// Event files (Parquet, CSV or ROOT) or globs.
        #[arg(long, num_args = 1.., required = true)]
        input: Vec<String>,
        /// Output file (.csv or .parquet).
        #[arg(long, short)]
        output: PathBuf,
        /// ROOT input: the tree to read (default: the only tree of the file, else `Events`).
        #[arg(long)]
        tree: Option<String>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Detection power per signal and false-positive inflation per background source, for
    /// every score head; optional JSON report and plots.
    Evaluate {
        /// Model directory (all heads, thresholds from its validation split) or ONNX file
        /// (its head, thresholds from its metadata).
        #[arg(long)]
        model: PathBuf,
        /// Background files or globs (grouped by their source column, else by file).
        #[arg(long, num_args = 1.., required = true)]
        background: Vec<String>,
        /// Signal files or globs (one signal per file).
        #[arg(long, num_args = 1.., required = true)]
        signal: Vec<String>,
        /// Target FPR for the threshold whose inflation is reported.
        #[arg(long, default_value_t = 1e-3)]
        fpr: f64,
        /// Write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write PNG plots into this directory.
        #[arg(long)]
        plots: Option<PathBuf>,
        /// Per-event weight column (default: `weight` when every file has one).
        #[arg(long, conflicts_with = "no_weights")]
        weight_column: Option<String>,
        /// Count every event as 1.
        #[arg(long)]
        no_weights: bool,
        /// ROOT input: the tree to read (default: the only tree of the file, else `Events`).
        #[arg(long)]
        tree: Option<String>,
    },
    /// Compute thresholds on validation background and store them in the model directory and
    /// its exported ONNX files (or in one ONNX file, on --background).
    Calibrate {
        /// Model directory, or an ONNX file (an imported model; needs --background).
        #[arg(long)]
        model: PathBuf,
        /// Target false-positive rates.
        #[arg(long, num_args = 1.., default_values_t = [1e-2, 1e-3])]
        fpr: Vec<f64>,
        /// Target accept rate in Hz (with --input-rate-hz; replaces --fpr).
        #[arg(long, requires = "input_rate_hz")]
        rate_hz: Option<f64>,
        /// Input rate in Hz of the trigger stream.
        #[arg(long)]
        input_rate_hz: Option<f64>,
        /// Further exported ONNX files to update (every *.onnx in the model directory is).
        #[arg(long, num_args = 1..)]
        onnx: Vec<PathBuf>,
        /// Calibrate on these background files (default: the training sources' validation
        /// split). Every event of the files counts, whatever its source.
        #[arg(long, num_args = 1..)]
        background: Vec<String>,
        /// Per-event weight column of the background files (default: `weight` when present).
        #[arg(long, conflicts_with = "no_weights")]
        weight_column: Option<String>,
        /// Count every background event as 1.
        #[arg(long)]
        no_weights: bool,
        /// ROOT input: the tree to read (default: the only tree of the file, else `Events`).
        #[arg(long)]
        tree: Option<String>,
    },
    /// Leave one source out: train on the others, calibrate on them, and measure the
    /// false-positive inflation of the unseen source for every head, over several seeds;
    /// plus the single-source baselines. Writes robustness.json, robustness.md and PNGs.
    Robustness {
        /// Training files or globs (several sources, labelled by the source column).
        #[arg(long, num_args = 1.., required = true)]
        train: Vec<String>,
        /// Background test files or globs (the left-out source's test events come from here).
        #[arg(long, num_args = 1.., required = true)]
        test: Vec<String>,
        /// Signal files or globs (one signal per file; split in validation and test halves).
        #[arg(long, num_args = 1..)]
        signal: Vec<String>,
        /// Calibration background files (default: the trained sources' validation split).
        #[arg(long, num_args = 1..)]
        calibration: Vec<String>,
        /// TOML configuration of the model to test (default settings otherwise).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Epochs per training (overrides the config).
        #[arg(long)]
        epochs: Option<usize>,
        /// Seeds per experiment (the config's seed, +1, +2, ...).
        #[arg(long, default_value_t = 3)]
        seeds: usize,
        /// Target false-positive rates.
        #[arg(long, num_args = 1.., default_values_t = [1e-1, 1e-2, 1e-3])]
        fpr: Vec<f64>,
        /// Per-event weight column (overrides the config).
        #[arg(long, conflicts_with = "no_weights")]
        weight_column: Option<String>,
        /// Count every event as 1 even if the config names a weight column.
        #[arg(long)]
        no_weights: bool,
        /// Skip the single-source baselines.
        #[arg(long)]
        no_single_source: bool,
        /// ROOT input: the tree to read (default: the only tree of the file, else `Events`).
        #[arg(long)]
        tree: Option<String>,

        /// Trainings run in parallel (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Output directory.
        #[arg(long, short)]
        out: PathBuf,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Measure single-event latency, throughput and allocations of an ONNX model here.
    Bench {
        /// ONNX model written by `bead export`.
        #[arg(long)]
        model: PathBuf,
        /// Events to score (default: 4096 synthetic events).
        #[arg(long)]
        events: Option<String>,
        /// Single-event calls to time.
        #[arg(long, default_value_t = 1_000_000)]
        repetitions: usize,
        /// Skip the tract comparison.
        #[arg(long)]
        no_reference: bool,
        /// Also time ONNX Runtime (one thread, batch 1024) on the file, through python3 and
        /// the `onnxruntime` package (benches/onnxruntime_batch.py), and print the ratio.
        #[arg(long)]
        onnxruntime: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    /// TOML configuration (optional: flags alone are enough).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Training files (Parquet, CSV or ROOT) or globs; overrides [data] train.
    // `[data]` is the TOML table in the --help text, not a rustdoc link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, num_args = 1..)]
    train: Vec<String>,
    /// Output model directory.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Model family.
    #[arg(long, value_enum)]
    model: Option<ModelKind>,
    /// Maximum number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Seed for initialisation, split, shuffling and noise.
    #[arg(long)]
    seed: Option<u64>,
    /// Events per step.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Constant SupCon weight λ (0 turns it off).
    #[arg(long)]
    supcon_weight: Option<f64>,
    /// Constant NT-Xent weight (0 turns it off).
    #[arg(long)]
    ntxent_weight: Option<f64>,
    /// Column holding the source label.
    #[arg(long)]
    source_column: Option<String>,
    /// ROOT input: the tree to read (default: the only tree of the file, else `Events`);
    /// overrides [data.root] tree.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long)]
    tree: Option<String>,
    /// Continue from the last checkpoint in the output directory.
    #[arg(long)]
    resume: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

impl TrainArgs {
    fn config(&self) -> Result<(TrainConfig, PathBuf)> {
        let mut c = match &self.config {
            Some(p) => TrainConfig::from_file(p)?,
            None => TrainConfig::default(),
        };
        if !self.train.is_empty() {
            c.data.train = self.train.clone();
        }
        if let Some(m) = self.model {
            c.model.kind = m;
        }
        if let Some(e) = self.epochs {
            c.optim.epochs = e;
        }
        if let Some(s) = self.seed {
            c.optim.seed = s;
        }
        if let Some(b) = self.batch_size {
            c.optim.batch_size = b;
        }
        if let Some(w) = self.supcon_weight {
            c.loss.supcon = Schedule::constant(w);
        }
        if let Some(w) = self.ntxent_weight {
            c.loss.ntxent = Schedule::constant(w);
        }
        if let Some(s) = &self.source_column {
            c.data.source_column = s.clone();
        }
        if self.tree.is_some() {
            c.data.root.tree = self.tree.clone();
        }
        let out = self
            .out
            .clone()
            .or_else(|| c.out.as_ref().map(PathBuf::from))
            .ok_or_else(|| Error::Config("no output directory: give --out DIR".into()))?;
        c.out = Some(out.display().to_string());
        c.validate()?;
        Ok((c, out))
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Robustness {
            train,
            test,
            signal,
            calibration,
            config,
            epochs,
            seeds,
            fpr,
            weight_column,
            no_weights,
            no_single_source,
            tree,
            jobs,
            out,
            quiet,
        } => {
            let mut c = match &config {
                Some(p) => TrainConfig::from_file(p)?,
                None => TrainConfig::default(),
            };
            c.data.train = train;
            if let Some(e) = epochs {
                c.optim.epochs = e;
            }
            if weight_column.is_some() {
                c.data.weight_column = weight_column;
            }
            if no_weights {
                c.data.weight_column = None;
            }
            if tree.is_some() {
                c.data.root.tree = tree;
            }
            c.out = None;
            let opts = bead_train::robustness::RobustnessOptions {
                config: c,
                test,
                signal,
                calibration,
                seeds,
                fprs: fpr,
                out: out.clone(),
                single_source: !no_single_source,
                jobs: jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                progress: !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let report = bead_train::robustness::robustness(&opts)?;
            println!("{}", bead_train::robustness::markdown(&report));
            eprintln!(
                "wrote {}/robustness.json, robustness.md and inflation_*.png",
                out.display()
            );
        }
        Command::Init { dir } => {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let path = dir.join("bead.toml");
            if path.exists() {
                return Err(Error::Config(format!(
                    "{} exists; not overwriting",
                    path.display()
                )));
            }
            std::fs::write(&path, CONFIG_TEMPLATE).map_err(|e| Error::io(&path, e))?;
            println!("wrote {}", path.display());
        }
        Command::Train(args) => {
            let (config, out) = args.config()?;
            let outcome = bead_train::train(
                &config,
                &out,
                &RunOptions {
                    resume: args.resume,
                    progress: !args.quiet,
                },
            )?;
            let last = outcome.metrics.last();
            println!(
                "trained {} on {} sources into {}: best validation loss {:.5} at epoch {}{}",
                config.model.kind.name(),
                outcome.manifest.sources.len(),
                out.display(),
                outcome.manifest.best_validation_loss,
                outcome.manifest.best_epoch + 1,
                last.map(|m| format!(", {:.0} events/s", m.events_per_s))
                    .unwrap_or_default()
            );
        }
        Command::Export {
            model,
            score,
            output,
            with_mu,
            f16,
        } => {
            let trained = TrainedModel::load(&model)?;
            let opts = ExportOptions {
                score,
                with_mu,
                f16,
            };
            export_to_file(&trained, &opts, &output)?;
            // Load it back: the file must pass our own checks before anyone deploys it.
            let loaded = bead_infer::Model::load(&output)?;
            println!(
                "wrote {} (score {}, {} features, kernel {})",
                output.display(),
                score.name(),
                loaded.num_features(),
                loaded.kernel_name()
            );
        }
        Command::Import {
            model,
            features,
            output,
            score_name,
            input,
            graph_output,
        } => {
            let mut opts = bead_infer::ImportOptions::new(bead_infer::parse_features(&features)?);
            opts.score_name = score_name;
            opts.input = input;
            opts.output = graph_output;
            let report = bead_infer::import_file(&model, &output, &opts)?;
            println!("wrote {}: {report}", output.display());
        }
        Command::Score {
            model,
            input,
            output,
            tree,
            quiet,
        } => {
            let root = bead_train::RootSpec {
                tree,
                ..Default::default()
            };
            let n = bead_train::score_files(&model, &input, &root, &output, !quiet)?;
            println!("scored {n} events into {}", output.display());
        }
        Command::Evaluate {
            model,
            background,
            signal,
            fpr,
            json,
            plots,
            weight_column,
            no_weights,
            tree,
        } => {
            let report = bead_train::evaluate(
                &model,
                &EvaluateOptions {
                    background,
                    signal,
                    target_fpr: fpr,
                    plots: plots.clone(),
                    weights: bead_train::Weights::from_flags(weight_column, no_weights),
                    tree,
                },
            )?;
            println!("{}", bead_train::summary(&report));
            if let Some(path) = json {
                let text =
                    serde_json::to_string_pretty(&report).map_err(|source| Error::Serialize {
                        what: "report",
                        source,
                    })?;
                std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
                println!("report written to {}", path.display());
            }
            if let Some(dir) = plots {
                println!("plots written to {}", dir.display());
            }
        }
        Command::Calibrate {
            model,
            fpr,
            rate_hz,
            input_rate_hz,
            onnx,
            background,
            weight_column,
            no_weights,
            tree,
        } => {
            let opts = bead_train::CalibrationOptions {
                fprs: fpr,
                rate_hz: rate_hz.zip(input_rate_hz),
                extra_onnx: onnx,
                background,
                weights: bead_train::Weights::from_flags(weight_column, no_weights),
                tree,
            };
            let (heads, files) = if model.is_file() {
                let list = bead_train::calibrate_onnx(&model, &opts)?;
                let name = bead_infer::Model::load(&model)?.info().score.clone();
                (vec![(name, list)], vec![model])
            } else {
                let (manifest, files) = bead_train::calibrate(&model, &opts)?;
                (manifest.thresholds.into_iter().collect(), files)
            };
            for (head, list) in &heads {
                for t in list {
                    let above = t
                        .calibration
                        .as_ref()
                        .map(|c| {
                            format!(
                                " ({:.1} weighted events above, {})",
                                c.above.sum_w, c.sample
                            )
                        })
                        .unwrap_or_default();
                    println!(
                        "{head:<9} FPR {:<8} threshold {:.6}{above}",
                        t.fpr, t.threshold
                    );
                }
            }
            for f in files {
                println!("updated {}", f.display());
            }
        }
        Command::Bench {
            model,
            events,
            repetitions,
            no_reference,
            onnxruntime,
            json,
        } => {
            let report = bead_train::bench(
                &model,
                events.as_deref(),
                repetitions,
                !no_reference,
                onnxruntime,
                &|| alloc_counter::count(),
            );
            match (report, json) {
                (Ok(r), true) => println!("{}", r.json),
                (Ok(r), false) => println!("{}", r.text),
                // Scripts reading `--json` get an object on stdout even on failure.
                (Err(e), true) => {
                    println!("{}", serde_json::json!({ "error": e.to_string() }));
                    return Err(e);
                }
                (Err(e), false) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Counts heap allocations so that `bead bench` can report allocations per call. Allocation
/// itself goes to mimalloc: training makes many short-lived 1 MiB tensors (SupCon's B×B
/// matrices), which glibc maps and unmaps on every op (1.8x slower SupCon steps measured).
mod alloc_counter {
    use mimalloc::MiMalloc as System;
    use std::alloc::{GlobalAlloc, Layout};
    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNT: AtomicU64 = AtomicU64::new(0);

    struct Counting;

    // Safety: forwards to the system allocator unchanged; only counts calls.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            COUNT.fetch_add(1, Ordering::Relaxed);
            // Safety: same contract as the caller's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // Safety: same contract as the caller's.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            COUNT.fetch_add(1, Ordering::Relaxed);
            // Safety: same contract as the caller's.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Allocations so far.
    pub fn count() -> u64 {
        COUNT.load(Ordering::Relaxed)
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
