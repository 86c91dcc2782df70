//! [`load_events`]: inspect every file, plan the columns, allocate the outputs once and fill
//! them in parallel, one job per Parquet row group or CSV or ROOT file, each writing its own disjoint
//! slices of the outputs.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use parquet::file::reader::SerializedFileReader;

use super::DataError;
use super::columns::{LabelSource, PassKind, Plan, plan};
use super::inspect::{FileInfo, Format, inspect, open_parquet};
use super::root::run_root;
use super::table::{Column, DataSpec, EventTable};
use super::{csv::run_csv, parquet::run_parquet};

/// Load events from `paths` (concatenated in that order) as described in the module docs.
///
/// * `vocabulary`: the trained model's source labels; every label must be one of them and the
///   table's `sources` is the vocabulary. `None`: `sources` is the sorted set of labels seen.
/// * `require_labels`: every file must provide labels (source column or file label). When
///   `false` and no file provides any, `labels` and `sources` come back empty.
pub fn load_events(
    paths: &[PathBuf],
    spec: &DataSpec,
    vocabulary: Option<&[String]>,
    require_labels: bool,
) -> Result<EventTable, DataError> {
    if paths.is_empty() {
        return Err(DataError::NoInputs);
    }
    let files = paths
        .iter()
        .map(|p| inspect(p, spec))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = plan(&files, spec, require_labels)?;
    let n: usize = files.iter().map(|f| f.rows).sum();
    let nf = plan.feature_names.len();
    if n > u32::MAX as usize {
        return Err(DataError::InvalidSpec(format!(
            "too many events ({n}); at most {} can be loaded",
            u32::MAX
        )));
    }
    let has_labels = plan.labels.iter().any(|l| !matches!(l, LabelSource::None));

    // One allocation per output, made only now that every footer has been checked (see
    // `footer`), and asked for fallibly: a table too large for memory is an error, not an abort.
    let too_large = |columns: usize, bytes_per_value: usize| DataError::TooLarge {
        rows: n,
        columns,
        gib: (n * columns * bytes_per_value) as f64 / (1u64 << 30) as f64,
    };
    let mut features = zeroed::<f32>(n * nf).ok_or_else(|| too_large(nf, 4))?;
    let mut labels = if has_labels {
        zeroed::<u32>(n).ok_or_else(|| too_large(1, 4))?
    } else {
        Vec::new()
    };
    let mut weights = match plan.weight {
        Some(_) => Some(zeroed::<f32>(n).ok_or_else(|| too_large(1, 4))?),
        None => None,
    };
    let mut pass = Vec::with_capacity(plan.passthrough.len());
    for (_, kind) in &plan.passthrough {
        pass.push(match kind {
            PassKind::Str => {
                Column::Str(zeroed(n).ok_or_else(|| too_large(1, std::mem::size_of::<String>()))?)
            }
            PassKind::I64 => Column::I64(zeroed(n).ok_or_else(|| too_large(1, 8))?),
            PassKind::F64 => Column::F64(zeroed(n).ok_or_else(|| too_large(1, 8))?),
        });
    }

    // jobs: one per row group (parquet) / file (csv), each with its disjoint output slices
    struct Job<'a> {
        file: usize,
        group: usize,
        /// first row of the job within its file
        file_row: usize,
        rows: usize,
        out: Out<'a>,
    }
    // The source vocabulary, when the events are labelled.
    let mut sources: Vec<String> = Vec::new();
    let mut jobs: Vec<Job<'_>> = Vec::new();
    let mut job_ranges = Vec::new(); // (global row start, rows, file)
    {
        let mut feat_rest: &mut [f32] = &mut features;
        let mut lab_rest: &mut [u32] = &mut labels;
        let mut w_rest: Option<&mut [f32]> = weights.as_deref_mut();
        let mut pass_rest: Vec<PassSlice<'_>> = pass
            .iter_mut()
            .map(|c| match c {
                Column::Str(v) => PassSlice::Str(v),
                Column::I64(v) => PassSlice::I64(v),
                Column::F64(v) => PassSlice::F64(v),
            })
            .collect();
        let mut global = 0usize;
        for (fi, f) in files.iter().enumerate() {
            let mut file_row = 0usize;
            for (gi, &rows) in f.groups.iter().enumerate() {
                if rows == 0 {
                    continue; // an empty row group (pyarrow writes them): nothing to read
                }
                let (a, b) = std::mem::take(&mut feat_rest).split_at_mut(rows * nf);
                feat_rest = b;
                let lab = if has_labels {
                    let (a, b) = std::mem::take(&mut lab_rest).split_at_mut(rows);
                    lab_rest = b;
                    Some(a)
                } else {
                    None
                };
                let w = w_rest.take().map(|s| {
                    let (a, b) = s.split_at_mut(rows);
                    w_rest = Some(b);
                    a
                });
                let mut p = Vec::with_capacity(pass_rest.len());
                for slot in pass_rest.iter_mut() {
                    let (a, b) = std::mem::replace(slot, PassSlice::I64(&mut [])).split_at(rows);
                    *slot = b;
                    p.push(a);
                }
                jobs.push(Job {
                    file: fi,
                    group: gi,
                    file_row,
                    rows,
                    out: Out {
                        features: a,
                        labels: lab,
                        weights: w,
                        pass: p,
                    },
                });
                job_ranges.push((global, rows, fi));
                file_row += rows;
                global += rows;
            }
        }

        let ctx = Ctx {
            files: &files,
            plan: &plan,
        };
        let njobs = jobs.len();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(njobs)
            .max(1);
        let results: Mutex<Vec<Option<Result<LocalLabels, DataError>>>> =
            Mutex::new((0..njobs).map(|_| None).collect());
        let failed = AtomicBool::new(false);
        let queue = Mutex::new(
            jobs.into_iter()
                .enumerate()
                .collect::<std::collections::VecDeque<_>>(),
        );
        // Each thread opens its own readers: `File` handles cloned by the parquet crate share
        // one file offset, so one reader must not be used from two threads at once.
        let worker = || {
            let mut readers: HashMap<usize, SerializedFileReader<File>> = HashMap::new();
            loop {
                let next = queue.lock().expect("queue lock").pop_front();
                let Some((k, job)) = next else { break };
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let mut out = job.out;
                let r = run_job(
                    &ctx,
                    &mut readers,
                    job.file,
                    job.group,
                    job.file_row,
                    job.rows,
                    &mut out,
                );
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                results.lock().expect("results lock")[k] = Some(r);
            }
        };
        if threads == 1 {
            worker();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(worker);
                }
            });
        }
        let results = results.into_inner().expect("results lock");
        let mut locals = Vec::with_capacity(njobs);
        for r in results {
            match r {
                Some(Ok(l)) => locals.push(l),
                Some(Err(e)) => return Err(e),
                // skipped after an earlier failure: the failure is reported below / above
                None => {}
            }
        }
        if locals.len() != njobs {
            unreachable!("a job was skipped without any job failing");
        }

        // labels: job-local indices -> vocabulary indices
        if has_labels {
            sources = match vocabulary {
                Some(v) => v.to_vec(),
                None => {
                    let mut all: Vec<String> = locals
                        .iter()
                        .flat_map(|l| l.names.iter().cloned())
                        .collect();
                    all.sort();
                    all.dedup();
                    all
                }
            };
            let index: HashMap<&str, u32> = sources
                .iter()
                .enumerate()
                .map(|(i, s)| (s.as_str(), i as u32))
                .collect();
            for (local, &(start, rows, fi)) in locals.iter().zip(&job_ranges) {
                let mut map = Vec::with_capacity(local.names.len());
                for (name, &row) in local.names.iter().zip(&local.first_row) {
                    let Some(&g) = index.get(name.as_str()) else {
                        return Err(DataError::UnknownSource {
                            path: files[fi].path.clone(),
                            row,
                            label: name.clone(),
                            known: sources.clone(),
                        });
                    };
                    map.push(g);
                }
                for l in &mut labels[start..start + rows] {
                    *l = map[*l as usize];
                }
            }
        }
    }
    Ok(EventTable {
        feature_names: plan.feature_names.clone(),
        features,
        labels,
        sources,
        weights,
        passthrough: plan
            .passthrough
            .iter()
            .map(|(n, _)| n.clone())
            .zip(pass)
            .collect(),
        file_rows: files.iter().map(|f| (f.path.clone(), f.rows)).collect(),
    })
}

/// `len` default values (zeros), or `None` when the allocator refuses that size. The size is
/// asked for fallibly first, because `vec!` aborts the process on failure; `vec!` then gets
/// zeroed pages for numbers, which the OS maps lazily as the readers write them.
fn zeroed<T: Clone + Default>(len: usize) -> Option<Vec<T>> {
    Vec::<T>::new().try_reserve_exact(len).ok()?;
    Some(vec![T::default(); len])
}

pub(super) enum PassSlice<'a> {
    Str(&'a mut [String]),
    I64(&'a mut [i64]),
    F64(&'a mut [f64]),
}

impl<'a> PassSlice<'a> {
    fn split_at(self, mid: usize) -> (PassSlice<'a>, PassSlice<'a>) {
        match self {
            PassSlice::Str(s) => {
                let (a, b) = s.split_at_mut(mid);
                (PassSlice::Str(a), PassSlice::Str(b))
            }
            PassSlice::I64(s) => {
                let (a, b) = s.split_at_mut(mid);
                (PassSlice::I64(a), PassSlice::I64(b))
            }
            PassSlice::F64(s) => {
                let (a, b) = s.split_at_mut(mid);
                (PassSlice::F64(a), PassSlice::F64(b))
            }
        }
    }
}

/// A job's slices of the outputs (`rows` rows each).
pub(super) struct Out<'a> {
    pub(super) features: &'a mut [f32],
    pub(super) labels: Option<&'a mut [u32]>,
    pub(super) weights: Option<&'a mut [f32]>,
    pub(super) pass: Vec<PassSlice<'a>>,
}

pub(super) struct Ctx<'a> {
    pub(super) files: &'a [FileInfo],
    pub(super) plan: &'a Plan,
}

/// Labels seen by one job, in first-seen order, with the file row of their first occurrence.
#[derive(Default)]
pub(super) struct LocalLabels {
    names: Vec<String>,
    first_row: Vec<usize>,
    last: usize,
}

impl LocalLabels {
    pub(super) fn intern(&mut self, s: &str, file_row: usize) -> u32 {
        if self.names.get(self.last).is_some_and(|n| n == s) {
            return self.last as u32;
        }
        let i = match self.names.iter().position(|n| n == s) {
            Some(i) => i,
            None => {
                self.names.push(s.to_string());
                self.first_row.push(file_row);
                self.names.len() - 1
            }
        };
        self.last = i;
        i as u32
    }
}

/// Where a column read by a job goes.
#[derive(Clone, Copy)]
pub(super) enum Target {
    Feature(usize),
    Label,
    Weight,
    Pass(usize),
}

pub(super) fn targets(ctx: &Ctx<'_>, fi: usize) -> Vec<(usize, Target)> {
    let f = &ctx.files[fi];
    let plan = ctx.plan;
    let mut t: Vec<(usize, Target)> = plan.feature_cols[fi]
        .iter()
        .enumerate()
        .map(|(j, &ci)| (ci, Target::Feature(j)))
        .collect();
    if matches!(plan.labels[fi], LabelSource::Column) {
        let ci = f
            .columns
            .iter()
            .position(|c| c.name == plan.source_column)
            .expect("checked in plan");
        t.push((ci, Target::Label));
    }
    if let Some(w) = &plan.weight {
        let ci = f
            .columns
            .iter()
            .position(|c| &c.name == w)
            .expect("checked in plan");
        t.push((ci, Target::Weight));
    }
    for (k, (name, _)) in plan.passthrough.iter().enumerate() {
        let ci = f
            .columns
            .iter()
            .position(|c| &c.name == name)
            .expect("checked in plan");
        t.push((ci, Target::Pass(k)));
    }
    t
}

fn run_job(
    ctx: &Ctx<'_>,
    readers: &mut HashMap<usize, SerializedFileReader<File>>,
    fi: usize,
    group: usize,
    file_row: usize,
    rows: usize,
    out: &mut Out<'_>,
) -> Result<LocalLabels, DataError> {
    let mut local = LocalLabels::default();
    if let LabelSource::File(l) = &ctx.plan.labels[fi] {
        local.intern(l, file_row);
        if let Some(lab) = out.labels.as_deref_mut() {
            lab.fill(0);
        }
    }
    match ctx.files[fi].format {
        Format::Parquet => {
            let reader = match readers.entry(fi) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(open_parquet(&ctx.files[fi].path)?)
                }
            };
            run_parquet(ctx, reader, fi, group, file_row, rows, out, &mut local)?
        }
        Format::Csv => run_csv(ctx, fi, rows, out, &mut local)?,
        Format::Root => run_root(ctx, fi, rows, out, &mut local)?,
    }
    Ok(local)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::zeroed;
    use crate::data::testutil::strs;
    use crate::data::{DataSpec, expand_inputs, load_events};

    /// The shipped sample and (when present) the full data set, with the default spec.
    #[test]
    fn shipped_sample_loads() {
        // BEAD_SAMPLE_DIR overrides (for building this module outside the workspace)
        let root = std::env::var_os("BEAD_SAMPLE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(
                    &std::env::var("CARGO_MANIFEST_DIR")
                        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
                )
                .join("..")
                .join("data")
                .join("sample")
            });
        if !root.exists() {
            eprintln!("skipping: {} not found", root.display());
            return;
        }
        let paths = expand_inputs(&[format!("{}/train/*.parquet", root.display())]).unwrap();
        let t = load_events(&paths, &DataSpec::default(), None, true).unwrap();
        assert_eq!(t.len(), 7500);
        assert_eq!(t.num_features(), 57);
        assert_eq!(t.feature_names[0], "MET_pt");
        assert_eq!(
            t.sources,
            strs(&["pythia-simple-a14", "pythia-simple-monash", "pythia-vincia"])
        );
        let csv =
            load_events(&[root.join("events.csv")], &DataSpec::default(), None, true).unwrap();
        assert_eq!(csv.feature_names, t.feature_names);
        let test = load_events(
            &[root.join("test/pythia-simple-monash.parquet")],
            &DataSpec::default(),
            Some(&t.sources),
            true,
        )
        .unwrap();
        assert_eq!(&test.features[..200 * 57], &csv.features[..]);

        // The full data set beside the checkout has the same layout: the defaults load it.
        let full = Path::new(
            &std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
        )
        .join("../../shared/data");
        if !full.exists() {
            eprintln!("skipping the full data set: {} not found", full.display());
            return;
        }
        for split in ["train", "test", "signals"] {
            let paths = expand_inputs(&[format!("{}/{split}/*.parquet", full.display())]).unwrap();
            let t = load_events(&paths, &DataSpec::default(), None, true).unwrap();
            assert_eq!(t.feature_names, test.feature_names, "{split}");
            let kept: Vec<&str> = t.passthrough.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(kept, ["source", "process", "event_id"], "{split}");
        }
    }

    #[test]
    fn outputs_too_large_to_allocate_are_refused_not_aborted() {
        assert_eq!(zeroed::<f32>(3), Some(vec![0.0; 3]));
        assert_eq!(
            zeroed::<String>(2),
            Some(vec![String::new(), String::new()])
        );
        assert_eq!(zeroed::<f32>(usize::MAX / 8), None);
    }
}
