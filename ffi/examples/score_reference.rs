//! Reference scores for the C/C++ tests, computed by `bead_infer` directly (no FFI).
//!
//! ```text
//! score_reference MODEL.onnx EVENTS.csv OUT_DIR
//! ```
//!
//! Reads the CSV (header row; columns matched by name to the model's features, others ignored),
//! and writes into OUT_DIR:
//!
//! - `events.bin`: the events as little-endian f32, row after row, in the model's feature order;
//! - `scores.txt`: a header line `bead-score-reference 1 <events> <features>`, then one line per
//!   event with the IEEE-754 bits of `Session::score` and of the same event's slot from one
//!   `Session::score_batch` over all events, as 8 hex digits each.
//!
//! `ffi/tests/cpp/test_bead.cpp` scores `events.bin` through the C++ and C APIs and requires the
//! same bits. Built and run by the CMake test `bead_reference` (`cargo build --release
//! --workspace --example score_reference`).

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;

fn read_events(csv: &Path, features: &[String]) -> Result<Vec<f32>, Box<dyn Error>> {
    let text = std::fs::read_to_string(csv)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty CSV")?
        .split(',')
        .map(str::trim)
        .collect();
    let columns = features
        .iter()
        .map(|f| {
            header
                .iter()
                .position(|h| h == f)
                .ok_or_else(|| format!("{}: missing feature column {f}", csv.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut events = Vec::new();
    for (row, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        for &c in &columns {
            let field = fields
                .get(c)
                .ok_or_else(|| format!("row {}: too few columns", row + 1))?;
            events.push(field.trim().parse::<f32>()?);
        }
    }
    Ok(events)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, csv, out_dir] = args.as_slice() else {
        return Err("usage: score_reference MODEL.onnx EVENTS.csv OUT_DIR".into());
    };
    let model = bead_infer::Model::load(model)?;
    let features = &model.info().features;
    let width = features.len();
    let events = read_events(Path::new(csv), features)?;
    let count = events.len() / width;

    let mut session = model.session();
    let mut batch = vec![0.0f32; count];
    // Non-finite events are still reported per event below; the batch marks them NaN.
    let _ = session.score_batch(&events, &mut batch);

    let mut scores = format!("bead-score-reference 1 {count} {width}\n");
    for (event, batch_score) in events.chunks_exact(width).zip(&batch) {
        let single = session.score(event)?;
        writeln!(
            scores,
            "{:08x} {:08x}",
            single.to_bits(),
            batch_score.to_bits()
        )?;
    }

    let out_dir = Path::new(out_dir);
    std::fs::create_dir_all(out_dir)?;
    let bytes: Vec<u8> = events.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(out_dir.join("events.bin"), bytes)?;
    std::fs::write(out_dir.join("scores.txt"), scores)?;
    eprintln!(
        "score_reference: {count} events x {width} features -> {}",
        out_dir.display()
    );
    Ok(())
}
