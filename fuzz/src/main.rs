//! `bead-fuzz`: runs mutants of valid models and event files through bead's loaders.
//!
//! ```text
//! bead-fuzz [run] [--seed S] [--iterations N] [--seconds T] [--targets model,parquet,csv,root]
//!                 [--jobs J] [--batch B] [--timeout T] [--root DIR] [--regressions DIR]
//!                 [--mismatches DIR]
//! bead-fuzz replay [DIR]
//! ```
//!
//! `run` hands batches of mutant indices to child processes (`bead-fuzz worker ...`), `jobs`
//! at a time, round-robin over the targets, until every target has run `iterations` mutants
//! or `seconds` have passed. A child announces each mutant before running it; when it dies
//! (abort, signal) or stays silent for `timeout` seconds, the announced mutant is the crash.
//! Panics are caught in the child and reported the same way. Every crash input is written to
//! `regressions/<target>/<kind>-<hash>.<ext>`, and the exit status is 1. A model that bead
//! loads but scores differently from tract is a mismatch: written to `--mismatches`
//! (default `fuzz/mismatches/`, not committed) with both scores, for `fuzz/triage.py`,
//! which asks ONNX Runtime for a third opinion.
//!
//! `replay` runs every regression input in this process (what `cargo test -p bead-fuzz`
//! does too).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bead_fuzz::{Corpus, Outcome, Target};

#[global_allocator]
static ALLOC: bead_fuzz::CappedAlloc = bead_fuzz::CappedAlloc;

const USAGE: &str = "usage: bead-fuzz [run] [--seed S] [--iterations N] [--seconds T] \
[--targets model,parquet,csv,root] [--jobs J] [--batch B] [--timeout SECONDS] [--root DIR] \
[--regressions DIR] [--mismatches DIR]\n       bead-fuzz replay [DIR]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("worker") => worker(args.get(1..).unwrap_or_default()),
        Some("replay") => replay(args.get(1..).unwrap_or_default()),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some("run") => run(args.get(1..).unwrap_or_default()),
        _ => run(&args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("bead-fuzz: {e}");
        ExitCode::from(2)
    })
}

/// The repository root: the nearest ancestor of the current directory with `data/sample`.
fn find_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    cwd.ancestors()
        .find(|d| d.join("data/sample").is_dir() && d.join("Cargo.toml").is_file())
        .map_or(cwd.clone(), Path::to_path_buf)
}

struct Options {
    seed: u64,
    iterations: u64,
    seconds: f64,
    targets: Vec<Target>,
    jobs: usize,
    batch: u64,
    timeout: Duration,
    root: PathBuf,
    regressions: PathBuf,
    mismatches: PathBuf,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let root = find_root();
    let mut o = Options {
        seed: 1,
        iterations: 2000,
        seconds: 60.0,
        targets: Target::ALL.to_vec(),
        jobs: std::thread::available_parallelism().map_or(1, usize::from),
        batch: 200,
        timeout: Duration::from_secs(30),
        regressions: root.join("fuzz/regressions"),
        mismatches: root.join("fuzz/mismatches"),
        root,
    };
    let mut regressions = None;
    let mut mismatches = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--seed" => o.seed = num(value)?,
            "--iterations" => o.iterations = num(value)?,
            "--seconds" => o.seconds = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--jobs" => o.jobs = num(value)?.max(1) as usize,
            "--batch" => o.batch = num(value)?.max(1),
            "--timeout" => o.timeout = Duration::from_secs(num(value)?.max(1)),
            "--root" => o.root = PathBuf::from(value),
            "--regressions" => regressions = Some(PathBuf::from(value)),
            "--mismatches" => mismatches = Some(PathBuf::from(value)),
            "--targets" => {
                o.targets = value
                    .split(',')
                    .map(|t| Target::from_name(t).ok_or_else(|| format!("unknown target {t}")))
                    .collect::<Result<_, _>>()?;
            }
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    o.regressions = regressions.unwrap_or_else(|| o.root.join("fuzz/regressions"));
    o.mismatches = mismatches.unwrap_or_else(|| o.root.join("fuzz/mismatches"));
    Ok(o)
}

/// Per-target counts.
#[derive(Debug, Default, Clone)]
struct Stats {
    run: u64,
    loaded: u64,
    refused: u64,
    mismatches: u64,
    crashes: u64,
}

/// A mutant that crashed (or disagreed with tract) and where its input went.
struct Finding {
    target: Target,
    index: u64,
    kind: &'static str,
    detail: String,
    file: PathBuf,
}

/// State shared by the job threads.
struct Shared {
    options: Options,
    corpus: Corpus,
    deadline: Instant,
    queue: Mutex<VecDeque<(Target, u64, u64)>>,
    stats: Mutex<Vec<(Target, Stats)>>,
    findings: Mutex<Vec<Finding>>,
}

impl Shared {
    fn count(&self, t: Target, f: impl FnOnce(&mut Stats)) {
        if let Ok(mut s) = self.stats.lock()
            && let Some((_, st)) = s.iter_mut().find(|(x, _)| *x == t)
        {
            f(st);
        }
    }

    /// Regenerates mutant `index`, writes it to the regressions folder (a crash) or the
    /// mismatches folder (with the scores beside it, for `fuzz/triage.py`), records it.
    fn record(&self, target: Target, index: u64, kind: &'static str, detail: String) {
        let bytes = bead_fuzz::mutant(&self.corpus, target, self.options.seed, index);
        let folder = if kind == "mismatch" {
            &self.options.mismatches
        } else {
            &self.options.regressions
        };
        let dir = folder.join(target.name());
        let file = dir.join(format!(
            "{kind}-{}.{}",
            bead_fuzz::fingerprint(&bytes),
            target.extension()
        ));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&file, &bytes))
            .and_then(|()| match kind {
                "mismatch" => std::fs::write(file.with_extension("txt"), format!("{detail}\n")),
                _ => Ok(()),
            });
        if let Err(e) = written {
            eprintln!("bead-fuzz: cannot write {}: {e}", file.display());
        }
        eprintln!(
            "bead-fuzz: {kind} in {target} mutant {index} ({}): {detail}",
            file.display()
        );
        if let Ok(mut f) = self.findings.lock() {
            f.push(Finding {
                target,
                index,
                kind,
                detail,
                file,
            });
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let options = parse(args)?;
    let corpus = Corpus::load(&options.root)?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(options.seconds.max(0.0));
    let mut queue = VecDeque::new();
    let mut from = 0;
    while from < options.iterations {
        let n = options.batch.min(options.iterations - from);
        for t in &options.targets {
            queue.push_back((*t, from, n));
        }
        from += n;
    }
    let shared = Arc::new(Shared {
        stats: Mutex::new(
            options
                .targets
                .iter()
                .map(|t| (*t, Stats::default()))
                .collect(),
        ),
        queue: Mutex::new(queue),
        findings: Mutex::new(Vec::new()),
        corpus,
        deadline,
        options,
    });
    let jobs: Vec<_> = (0..shared.options.jobs)
        .map(|_| {
            let s = Arc::clone(&shared);
            std::thread::spawn(move || {
                while Instant::now() < s.deadline {
                    let next = s.queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some((t, from, n)) = next else { break };
                    if let Err(e) = run_batch(&s, t, from, from + n) {
                        eprintln!("bead-fuzz: {e}");
                        break;
                    }
                }
            })
        })
        .collect();
    for j in jobs {
        let _ = j.join();
    }
    let o = &shared.options;
    println!(
        "bead-fuzz: seed {}, {:.1} s, {} jobs, corpus {} models, {} parquet, {} csv, {} root",
        o.seed,
        start.elapsed().as_secs_f64(),
        o.jobs,
        shared.corpus.inputs(Target::Model).len(),
        shared.corpus.inputs(Target::Parquet).len(),
        shared.corpus.inputs(Target::Csv).len(),
        shared.corpus.inputs(Target::Root).len(),
    );
    let stats = shared.stats.lock().map(|s| s.clone()).unwrap_or_default();
    for (t, s) in &stats {
        println!(
            "  {t:<8} {:>7} mutants: {:>6} loaded, {:>7} refused, {} crashes, {} mismatches",
            s.run, s.loaded, s.refused, s.crashes, s.mismatches
        );
    }
    let total: u64 = stats.iter().map(|(_, s)| s.run).sum();
    println!("  total    {total:>7} mutants");
    let findings = shared
        .findings
        .lock()
        .map(|mut f| std::mem::take(&mut *f))
        .unwrap_or_default();
    for f in &findings {
        println!(
            "  {} {} #{}: {} -> {}",
            f.kind,
            f.target,
            f.index,
            f.detail,
            f.file.display()
        );
    }
    // A mismatch with tract is reported for triage (tract itself is wrong on some of them,
    // see fuzz/triage.py); only crashes fail the run.
    Ok(if findings.iter().all(|f| f.kind == "mismatch") {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A line from the child, or the end of its output.
enum Event {
    Begin(u64),
    End(u64, String),
}

fn spawn_worker(s: &Shared, t: Target, from: u64, to: u64) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    Command::new(exe)
        .arg("worker")
        .arg(&s.options.root)
        .arg(t.name())
        .arg(s.options.seed.to_string())
        .arg(from.to_string())
        .arg(to.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start a worker: {e}"))
}

/// Runs mutants `from..to` of `t` in child processes, one after another, restarting after
/// each crash.
fn run_batch(s: &Shared, t: Target, mut from: u64, to: u64) -> Result<(), String> {
    while from < to {
        let mut child = spawn_worker(s, t, from, to)?;
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().ok_or("no worker stdout")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut parts = line.splitn(3, ' ');
                let ev = match (parts.next(), parts.next().and_then(|i| i.parse().ok())) {
                    (Some("B"), Some(i)) => Event::Begin(i),
                    (Some("E"), Some(i)) => Event::End(i, parts.next().unwrap_or("").to_owned()),
                    _ => continue,
                };
                if tx.send(ev).is_err() {
                    break;
                }
            }
        });
        // The last few KB of the child's stderr, for the crash report.
        let stderr_tail = Arc::new(Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let tail = Arc::clone(&stderr_tail);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut t) = tail.lock() {
                        t.push_str(&String::from_utf8_lossy(buf.get(..n).unwrap_or_default()));
                        let excess = t.len().saturating_sub(4096);
                        if excess > 0 {
                            let cut = t.ceil_char_boundary(excess);
                            t.drain(..cut);
                        }
                    }
                }
            });
        }
        let mut pending: Option<u64> = None;
        loop {
            let now = Instant::now();
            if now >= s.deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(());
            }
            match rx.recv_timeout(s.options.timeout.min(s.deadline - now)) {
                Ok(Event::Begin(i)) => pending = Some(i),
                Ok(Event::End(i, outcome)) => {
                    pending = None;
                    from = i + 1;
                    s.count(t, |st| st.run += 1);
                    let (kind, detail) = outcome.split_once(' ').unwrap_or((&outcome, ""));
                    match kind {
                        "loaded" => s.count(t, |st| st.loaded += 1),
                        "refused" => s.count(t, |st| st.refused += 1),
                        "mismatch" => {
                            s.count(t, |st| st.mismatches += 1);
                            s.record(t, i, "mismatch", detail.to_owned());
                        }
                        _ => {
                            s.count(t, |st| st.crashes += 1);
                            s.record(t, i, "panic", detail.to_owned());
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if Instant::now() >= s.deadline {
                        continue;
                    }
                    let _ = child.kill();
                    let _ = child.wait();
                    let i = pending.unwrap_or(from);
                    s.count(t, |st| {
                        st.run += 1;
                        st.crashes += 1;
                    });
                    let secs = s.options.timeout.as_secs();
                    s.record(t, i, "hang", format!("no answer within {secs} s"));
                    from = i + 1;
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = child.wait().map_err(|e| format!("worker: {e}"))?;
                    if let Some(i) = pending {
                        // Give the stderr reader a moment to drain.
                        std::thread::sleep(Duration::from_millis(50));
                        let tail = stderr_tail.lock().map(|t| t.clone()).unwrap_or_default();
                        let last = tail.lines().rev().find(|l| !l.trim().is_empty());
                        s.count(t, |st| {
                            st.run += 1;
                            st.crashes += 1;
                        });
                        let detail = format!("worker died ({status}): {}", last.unwrap_or(""));
                        s.record(t, i, "abort", detail);
                        from = i + 1;
                    } else if !status.success() || from < to {
                        return Err(format!("worker for {t} {from}..{to} failed: {status}"));
                    }
                    break;
                }
            }
        }
    }
    Ok(())
}

/// The message of the last panic on this thread, recorded by the worker's panic hook.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// `bead-fuzz worker ROOT TARGET SEED FROM TO`: runs mutants `FROM..TO`, announcing each
/// (`B i`) before and reporting it (`E i loaded|refused|mismatch ...|panic ...`) after.
fn worker(args: &[String]) -> Result<ExitCode, String> {
    let [root, target, seed, from, to] = args else {
        return Err("worker ROOT TARGET SEED FROM TO".to_owned());
    };
    let target = Target::from_name(target).ok_or("unknown target")?;
    let num = |v: &String| v.parse::<u64>().map_err(|e| format!("{v}: {e}"));
    let (seed, from, to) = (num(seed)?, num(from)?, num(to)?);
    let corpus = Corpus::load(Path::new(root))?;
    let dir = tempfile::Builder::new()
        .prefix("bead-fuzz-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut m) = LAST_PANIC.lock() {
            *m = info.to_string().replace('\n', " ");
        }
    }));
    let mut out = std::io::stdout().lock();
    for i in from..to {
        let bytes = bead_fuzz::mutant(&corpus, target, seed, i);
        writeln!(out, "B {i}")
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string())?;
        let r = std::panic::catch_unwind(|| bead_fuzz::run(target, &bytes, dir.path()));
        let line = match r {
            Ok(Outcome::Loaded) => "loaded".to_owned(),
            Ok(Outcome::Refused(_)) => "refused".to_owned(),
            Ok(Outcome::Mismatch(m)) => format!("mismatch {}", m.replace('\n', " ")),
            Err(_) => format!(
                "panic {}",
                LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default()
            ),
        };
        writeln!(out, "E {i} {line}")
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `bead-fuzz replay [DIR]`: every regression input, in this process.
fn replay(args: &[String]) -> Result<ExitCode, String> {
    let dir = args
        .first()
        .map_or_else(|| find_root().join("fuzz/regressions"), PathBuf::from);
    let tmp = tempfile::Builder::new()
        .prefix("bead-fuzz-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let files = bead_fuzz::regressions(&dir);
    for (t, path) in &files {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let outcome = bead_fuzz::run(*t, &bytes, tmp.path());
        println!("{}: {outcome:?}", path.display());
    }
    println!("{} regression inputs replayed", files.len());
    Ok(ExitCode::SUCCESS)
}
