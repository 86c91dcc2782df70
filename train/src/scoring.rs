//! Offline scoring of event files with an exported model (`bead score`), and the on-site
//! latency check (`bead bench`). Both run the same zero-allocation runtime that trigger code
//! links, so what is measured here is what is deployed.

use std::path::Path;
use std::sync::Arc;

use bead_infer::{BenchOptions, Model};
use rayon::prelude::*;
use serde_json::json;

use crate::data::{self, Column, DataSpec, EventTable, RootSpec};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Events per parallel work item.
const CHUNK: usize = 8192;

/// Load an ONNX model with the runtime.
pub fn load_model(path: &Path) -> Result<Model> {
    Ok(Model::load(path)?)
}

/// Read event files with the model's feature columns, in the model's order (ROOT files as
/// `root` says).
pub fn load_for_model(model: &Model, inputs: &[String], root: &RootSpec) -> Result<EventTable> {
    load_weighted(model, inputs, &Weights::Off, root)
}

/// Which per-event weights evaluation counts events with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Weights {
    /// The `weight` column when every file has one, else unit weights.
    #[default]
    Auto,
    /// This column (it must exist in every file).
    Column(String),
    /// Every event counts 1.
    Off,
}

impl Weights {
    /// From the command line: `--weight-column NAME` and `--no-weights`.
    pub fn from_flags(column: Option<String>, off: bool) -> Self {
        match (column, off) {
            (_, true) => Weights::Off,
            (Some(c), false) => Weights::Column(c),
            (None, false) => Weights::Auto,
        }
    }
}

/// [`load_for_model`] with per-event weights chosen by `weights`.
pub fn load_weighted(
    model: &Model,
    inputs: &[String],
    weights: &Weights,
    root: &RootSpec,
) -> Result<EventTable> {
    let files = data::expand_inputs(inputs)?;
    let spec = |column: Option<String>| DataSpec {
        features: Some(model.info().features.clone()),
        weight_column: column,
        root: root.clone(),
        ..DataSpec::default()
    };
    match weights {
        Weights::Off => Ok(data::load_events(&files, &spec(None), None, false)?),
        Weights::Column(c) => Ok(data::load_events(
            &files,
            &spec(Some(c.clone())),
            None,
            false,
        )?),
        Weights::Auto => {
            match data::load_events(&files, &spec(Some("weight".into())), None, false) {
                Err(data::DataError::MissingColumn { column, .. }) if column == "weight" => {
                    Ok(data::load_events(&files, &spec(None), None, false)?)
                }
                other => Ok(other?),
            }
        }
    }
}

/// Score every event of a table, in parallel, in input order.
pub fn score_table(model: &Model, table: &EventTable, progress: bool) -> Result<Vec<f32>> {
    let f = table.num_features();
    let mut scores = vec![0f32; table.len()];
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(table.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} events",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let bar = Arc::new(bar);
    scores
        .par_chunks_mut(CHUNK)
        .zip(table.features.par_chunks(CHUNK * f.max(1)))
        .try_for_each_init(
            || model.session(),
            |session, (out, events)| {
                session.score_batch(events, out)?;
                if let Some(bar) = bar.as_ref() {
                    bar.inc(out.len() as u64);
                }
                Ok::<(), Error>(())
            },
        )?;
    if let Some(bar) = bar.as_ref() {
        bar.finish_and_clear();
    }
    Ok(scores)
}

/// `bead score`: score files and write one row per event (score plus source, process and
/// event_id when the input has them) as CSV or Parquet. Returns the number of events.
pub fn score_files(
    model_path: &Path,
    inputs: &[String],
    root: &RootSpec,
    output: &Path,
    progress: bool,
) -> Result<usize> {
    let model = load_model(model_path)?;
    let table = load_for_model(&model, inputs, root)?;
    let scores = score_table(&model, &table, progress)?;
    let ext = output
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => write_csv(output, &table, &scores)?,
        "parquet" | "pq" => write_parquet(output, &table, &scores)?,
        _ => {
            return Err(Error::Config(format!(
                "{}: output must end in .csv or .parquet",
                output.display()
            )));
        }
    }
    Ok(scores.len())
}

fn write_csv(path: &Path, table: &EventTable, scores: &[f32]) -> Result<()> {
    let tmp = crate::manifest::tmp_path(path);
    let err = |source: csv::Error| Error::Csv {
        path: tmp.clone(),
        source,
    };
    let mut w = csv::Writer::from_path(&tmp).map_err(err)?;
    let mut header = vec!["score".to_string()];
    header.extend(table.passthrough.iter().map(|(n, _)| n.clone()));
    w.write_record(&header).map_err(err)?;
    let mut rec = Vec::with_capacity(header.len());
    for (i, s) in scores.iter().enumerate() {
        rec.clear();
        rec.push(format!("{s}"));
        for (_, col) in &table.passthrough {
            rec.push(col.value_string(i));
        }
        w.write_record(&rec).map_err(err)?;
    }
    w.flush().map_err(|e| Error::io(&tmp, e))?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn write_parquet(path: &Path, table: &EventTable, scores: &[f32]) -> Result<()> {
    use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType, ZstdLevel};
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, FloatType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;

    let perr = |source: parquet::errors::ParquetError| Error::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let mut fields = vec![Arc::new(
        Type::primitive_type_builder("score", PhysicalType::FLOAT)
            .with_repetition(Repetition::REQUIRED)
            .build()
            .map_err(perr)?,
    )];
    for (name, col) in &table.passthrough {
        let t = match col {
            Column::Str(_) => Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
                .with_logical_type(Some(LogicalType::String)),
            Column::I64(_) => Type::primitive_type_builder(name, PhysicalType::INT64),
            Column::F64(_) => Type::primitive_type_builder(name, PhysicalType::DOUBLE),
        };
        fields.push(Arc::new(
            t.with_repetition(Repetition::REQUIRED)
                .build()
                .map_err(perr)?,
        ));
    }
    let schema = Arc::new(
        Type::group_type_builder("bead_scores")
            .with_fields(fields)
            .build()
            .map_err(perr)?,
    );
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build(),
    );
    let tmp = crate::manifest::tmp_path(path);
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut writer = SerializedFileWriter::new(file, schema, props).map_err(perr)?;
    let mut rg = writer.next_row_group().map_err(perr)?;
    if let Some(mut c) = rg.next_column().map_err(perr)? {
        c.typed::<FloatType>()
            .write_batch(scores, None, None)
            .map_err(perr)?;
        c.close().map_err(perr)?;
    }
    for (_, col) in &table.passthrough {
        let Some(mut c) = rg.next_column().map_err(perr)? else {
            break;
        };
        match col {
            Column::Str(v) => {
                let b: Vec<ByteArray> = v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                c.typed::<ByteArrayType>()
                    .write_batch(&b, None, None)
                    .map_err(perr)?;
            }
            Column::I64(v) => {
                c.typed::<Int64Type>()
                    .write_batch(v, None, None)
                    .map_err(perr)?;
            }
            Column::F64(v) => {
                c.typed::<DoubleType>()
                    .write_batch(v, None, None)
                    .map_err(perr)?;
            }
        }
        c.close().map_err(perr)?;
    }
    rg.close().map_err(perr)?;
    writer.close().map_err(perr)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// What `bead bench` prints.
pub struct BenchOutput {
    /// Human-readable table.
    pub text: String,
    /// One JSON object (`p50_ns`, `p99_ns`, `events_per_s`, `allocations_per_call`, ...).
    pub json: String,
}

/// `bead bench`: time the runtime on this machine (against tract with `reference`, against
/// ONNX Runtime through python3 with `onnxruntime`).
pub fn bench(
    model_path: &Path,
    events: Option<&str>,
    repetitions: usize,
    reference: bool,
    onnxruntime: bool,
    allocations: &dyn Fn() -> u64,
) -> Result<BenchOutput> {
    let model = load_model(model_path)?;
    let bytes = std::fs::read(model_path).map_err(|e| Error::io(model_path, e))?;
    let f = model.num_features();
    let events: Vec<f32> = match events {
        Some(p) => load_for_model(&model, &[p.to_string()], &RootSpec::default())?.features,
        None => {
            // Synthetic events: positive, O(100) values, so that log/sin/cos paths run as
            // they do on real data.
            let mut rng = Rng::new(1);
            (0..4096 * f)
                .map(|_| (rng.uniform() * 200.0) as f32)
                .collect()
        }
    };
    let opts = BenchOptions {
        repetitions,
        reference,
        ..BenchOptions::default()
    };
    let mut r = bead_infer::bench_model(&model, &events, &opts, allocations)?;
    r.load_ms = Some(bead_infer::measure_load(
        &bytes,
        &model_path.display().to_string(),
        9,
    )?);
    let ort = onnxruntime.then(|| {
        bead_infer::onnxruntime_batch(&model_path.display().to_string(), r.batch_size, 2.0)
    });
    if let Some(Ok(ns)) = &ort {
        r.onnxruntime_batch_ns = Some(*ns);
    }
    let mut text = format!(
        "model {} ({} features, score {}), kernel {}\n{:<28} {:>10} {:>10} {:>14} {:>12}\n",
        model_path.display(),
        f,
        model.info().score,
        r.kernel,
        "path",
        "p50 ns",
        "p99 ns",
        "events/s",
        "allocs/call"
    );
    let mut row = |name: &str, l: &bead_infer::Latency| {
        text.push_str(&format!(
            "{:<28} {:>10.1} {:>10.1} {:>14.3e} {:>12.3}\n",
            name, l.p50_ns, l.p99_ns, l.events_per_s, l.allocations_per_event
        ));
    };
    row("bead single event", &r.single);
    row(&format!("bead batch {}", r.batch_size), &r.batch);
    if let Some(l) = &r.reference_single {
        row("tract SimpleState, batch 1", l);
    }
    if let Some(l) = &r.reference_batch {
        row(&format!("tract SimpleState, batch {}", r.batch_size), l);
    }
    if let Some(s) = r.speedup_single() {
        text.push_str(&format!("speed-up over tract at batch 1: {s:.1}x\n"));
    }
    text.push_str(&bench_ratios(&r, ort.as_ref()));
    let lat = |l: &bead_infer::Latency| {
        json!({"p50_ns": l.p50_ns, "p99_ns": l.p99_ns, "events_per_s": l.events_per_s,
               "allocations_per_call": l.allocations_per_event})
    };
    let json = json!({
        "model": model_path.display().to_string(),
        "kernel": r.kernel,
        "features": f,
        "p50_ns": r.single.p50_ns,
        "p99_ns": r.single.p99_ns,
        "events_per_s": r.single.events_per_s,
        "allocations_per_call": r.single.allocations_per_event,
        "batch": lat(&r.batch),
        "batch_size": r.batch_size,
        "tract_single": r.reference_single.as_ref().map(lat),
        "tract_batch": r.reference_batch.as_ref().map(lat),
        "speedup_vs_tract_single": r.speedup_single(),
        "matrix_only_p50_ns": r.matrix_only.p50_ns,
        "overhead_vs_matrix": r.overhead_vs_matrix(),
        "flops_per_event": r.flops_per_event,
        "fma_peak_gflops": r.fma_peak_flops * 1e-9,
        "batch_peak_fraction": r.peak_fraction(),
        "load_ms": r.load_ms,
        "onnxruntime_batch_ns": r.onnxruntime_batch_ns,
        "clock_ns_per_group": r.clock_ns,
        "speedup_vs_onnxruntime_batch": r.speedup_vs_onnxruntime_batch(),
        "onnxruntime_error": ort.and_then(|o| o.err()),
    })
    .to_string();
    Ok(BenchOutput { text, json })
}

/// The ratio lines of `bead bench`: overhead over the bare matrix products, FMA-peak fraction
/// of the batch path, load time, ONNX Runtime.
fn bench_ratios(r: &bead_infer::BenchReport, ort: Option<&Result<f64, String>>) -> String {
    let mut t = format!(
        "single event / gemv steps alone (p50): {:.2}x ({:.1} ns of matrix products)\n\
         batch {}: {:.0} matrix flops/event, {:.1}% of this core's FMA peak ({:.0} GFLOP/s)\n",
        r.overhead_vs_matrix(),
        r.matrix_only.p50_ns,
        r.batch_size,
        r.flops_per_event,
        100.0 * r.peak_fraction(),
        r.fma_peak_flops * 1e-9,
    );
    t.push_str(&format!(
        "single-event times exclude the timing's own cost: {:.0} ns per group of 16 calls\n",
        r.clock_ns
    ));
    if let Some(ms) = r.load_ms {
        t.push_str(&format!("model load: {ms:.2} ms\n"));
    }
    match ort {
        Some(Ok(ns)) => t.push_str(&format!(
            "onnxruntime 1 thread, batch {}: {ns:.1} ns/event; bead is {:.2}x faster\n",
            r.batch_size,
            r.speedup_vs_onnxruntime_batch().unwrap_or(f64::NAN)
        )),
        Some(Err(e)) => t.push_str(&format!("onnxruntime: {e}\n")),
        None => {}
    }
    t
}
