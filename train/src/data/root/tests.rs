//! ROOT reading against the uproot-written fixtures of `train/tests/data/root` (their values
//! are spelled out in `make_fixtures.py` there).

use std::path::PathBuf;

use crate::data::testutil::{strs, tmpdir};
use crate::data::{Column, DataError, DataSpec, EventTable, RootSpec, load_events};

fn fixture(name: &str) -> PathBuf {
    // At run time first: a shared target directory may hold a build from another checkout.
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    PathBuf::from(dir).join("tests/data/root").join(name)
}

fn spec(features: &[&str]) -> DataSpec {
    DataSpec {
        features: Some(strs(features)),
        ..DataSpec::default()
    }
}

fn load(name: &str, s: &DataSpec) -> Result<EventTable, DataError> {
    load_events(&[fixture(name)], s, None, false)
}

#[test]
fn flat_tree_features_labels_weights_and_passthrough() {
    let s = DataSpec {
        weight_column: Some("weight".into()),
        ..spec(&["MET_pt", "MET_eta", "MET_phi", "j1_pt", "j1_eta", "n_small"])
    };
    // Three trees, one called Events: that one.
    let t = load_events(&[fixture("flat.root")], &s, None, true).unwrap();
    assert_eq!(t.len(), 5);
    assert_eq!(t.row(0), &[10.5, 0.0, 0.1f64 as f32, 50.0, 1.5, 1.0]);
    assert_eq!(t.row(4), &[4.0, 0.0, 3.0, 70.0, 2.5, 255.0]);
    assert_eq!(t.sources, strs(&["gen-a", "gen-b", "gen-c"]));
    assert_eq!(t.labels, vec![0, 1, 0, 2, 1]);
    assert_eq!(t.weights, Some(vec![1.0, 0.5, 2.0, 1.0, 1.0]));
    assert_eq!(
        t.passthrough_column("event_id"),
        Some(&Column::I64(vec![
            1_000_000_000_000,
            1_000_000_000_001,
            7,
            8,
            9
        ]))
    );
    assert_eq!(
        t.passthrough_column("process"),
        Some(&Column::Str(strs(&["qcd", "ttbar", "qcd", "wjet", "zjet"])))
    );

    // Default features: every branch that is not metadata; unusable ones are errors.
    let e = load("flat.root", &DataSpec::default()).unwrap_err();
    assert!(
        matches!(&e, DataError::UnusableColumn { column, detail, .. }
            if column == "flag" && detail.contains("bool") && detail.contains("tree `Events`")),
        "{e}"
    );
    let ignored = DataSpec {
        ignore: strs(&["flag", "arr", "nPad", "Pad_x"]),
        ..DataSpec::default()
    };
    let d = load("flat.root", &ignored).unwrap();
    assert_eq!(
        d.feature_names,
        strs(&["MET_pt", "MET_eta", "MET_phi", "j1_pt", "j1_eta", "n_small"])
    );
    assert_eq!(d.features, t.features);
}

#[test]
fn every_codec_reads_the_same_values() {
    // ZSTD (Friends), LZ4 (Lz4): x = i % 5.
    for tree in ["Friends", "Lz4"] {
        let mut s = spec(&["x"]);
        s.root.tree = Some(tree.into());
        let t = load("flat.root", &s).unwrap();
        let want: Vec<f32> = (0..2000).map(|i| (i % 5) as f32).collect();
        assert_eq!(t.features, want, "{tree}");
    }
    // ZLIB (flat.root) and LZMA (nano.root): 400 values i % 7 per event, sorted descending.
    for file in ["flat.root", "nano.root"] {
        // 57 each of 6..1, then 58 zeros, then padding.
        let mut s = spec(&["p1_x", "p57_x", "p58_x", "p342_x", "p343_x", "p401_x"]);
        s.root.objects.insert("p".into(), "Pad".into());
        s.root.sort_by = "x".into();
        let t = load(file, &s).unwrap();
        assert!(t.len() >= 4);
        for r in 0..t.len() {
            assert_eq!(t.row(r), &[6.0, 6.0, 5.0, 1.0, 0.0, 0.0], "{file} row {r}");
        }
    }
}

#[test]
fn nanoaod_collections_are_sorted_padded_and_truncated() {
    let names = [
        "MET_pt", "MET_eta", "MET_phi", "e1_pt", "e1_eta", "e1_phi", "e2_pt", "mu1_pt", "mu1_eta",
        "j1_pt", "j1_eta", "j1_phi", "j2_pt", "j2_eta", "j2_phi", "j3_pt", "j3_eta", "j3_phi",
    ];
    // The only tree of the file (not called Events).
    let t = load_events(&[fixture("nano.root")], &spec(&names), None, true).unwrap();
    let want: [[f32; 18]; 4] = [
        [
            150.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 5.0, 2.0, 100.0, 1.0, 1.0, 50.0, 0.5, 2.0, 30.0,
            0.3, 3.0,
        ],
        [
            12.0, 0.0, -0.5, 25.0, 0.2, 1.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
            0.0,
        ],
        // a tie at 40: file order
        [
            33.0, 0.0, 1.0, 80.0, -0.8, -2.8, 8.0, 0.0, 0.0, 90.0, 0.9, 0.7, 40.0, -1.0, 0.5, 40.0,
            -2.0, 0.6,
        ],
        // twelve jets, three slots
        [
            4.5,
            0.0,
            -1.0,
            0.0,
            0.0,
            0.0,
            0.0,
            61.0,
            -0.5,
            16.0,
            1.1f64 as f32,
            -1.1f64 as f32,
            15.0,
            1.0,
            -1.0,
            14.0,
            0.9f64 as f32,
            -0.9f64 as f32,
        ],
    ];
    for (r, w) in want.iter().enumerate() {
        let got = t.row(r);
        for (k, (g, w)) in got.iter().zip(w).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                "row {r} {}: {g} vs {w}",
                names[k]
            );
        }
    }
    assert_eq!(t.sources, strs(&["nano-a", "nano-b"]));
    assert_eq!(t.labels, vec![0, 0, 1, 0]);

    // A renamed per-event object without branches falls back to the branch named like the
    // feature.
    let mut s = spec(&["MET_pt"]);
    s.root.singles.insert("MET".into(), "Missing".into());
    s.root.zero.clear();
    let e = load("nano.root", &s).unwrap();
    assert_eq!(e.features, vec![150.0, 12.0, 33.0, 4.5]);
}

#[test]
fn missing_wrong_and_inconsistent_branches_name_file_tree_and_branch() {
    let nano = fixture("nano.root");
    let name = nano.display().to_string();
    let cases: [(&[&str], &str, &str); 4] = [
        (&["j1_mass"], "Jet_mass", "no such branch"),
        (&["j1_bad"], "Jet_bad", "bool[]"),
        (&["Jet_pt"], "Jet_pt", "variable-length array"),
        (&["j1_pt", "nope"], "nope", "no such branch"),
    ];
    for (features, branch, what) in cases {
        let e = load("nano.root", &spec(features)).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&name)
                && msg.contains("tree `nano`")
                && msg.contains(branch)
                && msg.contains(what),
            "{features:?}: {msg}"
        );
    }
    // Tau_eta is counted apart from Tau_pt: per-event lengths differ.
    let mut s = spec(&["t1_eta"]);
    s.root.objects.insert("t".into(), "Tau".into());
    let e = load("nano.root", &s).unwrap_err();
    assert!(
        matches!(&e, DataError::RootBranch { branch, message, .. }
            if branch == "Tau_eta" && message.contains("row 0") && message.contains("Tau_pt")),
        "{e}"
    );
    // A missing weight branch, a wrong-type feature, a missing tree.
    let s = DataSpec {
        weight_column: Some("w".into()),
        ..spec(&["MET_pt"])
    };
    let e = load("nano.root", &s).unwrap_err();
    assert!(
        matches!(&e, DataError::MissingColumn { tree: Some(t), column, .. } if t == "nano" && column == "w"),
        "{e}"
    );
    assert!(e.to_string().contains("branch `w` not found"), "{e}");
    let e = load("flat.root", &spec(&["flag"])).unwrap_err();
    assert!(
        matches!(&e, DataError::NonNumeric { column, detail, .. }
            if column == "flag" && detail == "bool branch in tree `Events`"),
        "{e}"
    );
    let e = load("flat.root", &spec(&["arr"])).unwrap_err();
    assert!(e.to_string().contains("fixed-size array"), "{e}");
    let mut s = spec(&["x"]);
    s.root.tree = Some("Nope".into());
    let e = load("flat.root", &s).unwrap_err();
    assert!(
        matches!(&e, DataError::NoTree { trees, .. } if trees == &strs(&["Events", "Friends", "Lz4"])),
        "{e}"
    );
    assert!(e.to_string().contains("no tree `Nope`"), "{e}");
}

#[test]
fn truncated_corrupt_and_foreign_files_are_errors_not_panics() {
    let d = tmpdir("root-corrupt");
    let features = [
        "MET_pt", "MET_phi", "j1_pt", "j2_eta", "e1_pt", "mu1_phi", "p1_x",
    ];
    let mut s = spec(&features);
    s.root.objects.insert("p".into(), "Pad".into());
    for name in ["nano.root", "flat.root"] {
        let good = std::fs::read(fixture(name)).unwrap();
        let mut s = s.clone();
        if name == "flat.root" {
            s.features = Some(strs(&["MET_pt", "j1_eta", "source"]));
        }
        let try_bytes = |bytes: &[u8], what: String| {
            let p = d.join("x.root");
            std::fs::write(&p, bytes).unwrap();
            // Must return (an error, or values for a harmless change), never panic.
            let r = load_events(&[p], &s, None, false);
            if let Err(e) = &r {
                assert!(!e.to_string().is_empty(), "{what}");
            }
        };
        for cut in (0..good.len()).step_by(193) {
            try_bytes(&good[..cut], format!("{name} cut at {cut}"));
        }
        for at in (0..good.len()).step_by(37) {
            let mut bad = good.clone();
            bad[at] ^= 0xA5;
            try_bytes(&bad, format!("{name} byte {at}"));
        }
    }
    let p = d.join("text.root");
    std::fs::write(&p, "this is not a ROOT file").unwrap();
    let e = load_events(&[p], &s, None, false).unwrap_err();
    assert!(matches!(e, DataError::Root { .. }), "{e}");
}

#[test]
fn root_spec_round_trips_through_toml() {
    let text = "tree = \"Events\"\nobjects = { j = \"FatJet\" }\nsingles = {}\nzero = []\n";
    let s: RootSpec = toml::from_str(text).unwrap();
    assert_eq!(s.tree.as_deref(), Some("Events"));
    assert_eq!(s.objects.len(), 1);
    assert_eq!(s.sort_by, "pt");
    assert!(toml::from_str::<RootSpec>("trees = \"x\"").is_err());
}
