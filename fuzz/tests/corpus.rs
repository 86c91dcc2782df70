//! The Parquet files of `fuzz/corpus/parquet/` (written by `fuzz/corpus/make.py`) hold the same
//! events in different encodings, page versions and codecs: each must load to exactly what
//! pyarrow's defaults give, so that the page checks (`bead_train`'s `page_check`) accept every
//! valid layout they walk, and a feature with nulls is refused naming it.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use bead_train::{DataSpec, EventTable, load_events};

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("corpus/parquet")
    .join(name)
}

fn spec() -> DataSpec {
    DataSpec {
        source_column: Some("source".into()),
        weight_column: Some("weight".into()),
        passthrough: vec!["event_id".into()],
        ..DataSpec::default()
    }
}

fn load(name: &str) -> Result<EventTable, String> {
    load_events(&[corpus(name)], &spec(), None, false).map_err(|e| e.to_string())
}

#[test]
fn every_encoding_loads_the_same_events() {
    let reference = load("defaults.parquet").unwrap();
    assert_eq!(reference.len(), 300);
    assert_eq!(reference.sources.len(), 3);
    for name in [
        "v2_delta_bss_zstd.parquet",
        "v2_delta_bss_none.parquet",
        "v1_delta_length_gzip.parquet",
        "v1_delta_length_none.parquet",
    ] {
        let t = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(t.feature_names, reference.feature_names, "{name}");
        assert_eq!(t.features, reference.features, "{name}");
        let names = |t: &EventTable| -> Vec<String> {
            t.labels
                .iter()
                .map(|&l| t.sources[l as usize].clone())
                .collect()
        };
        assert_eq!(names(&t), names(&reference), "{name}");
        assert_eq!(t.weights, reference.weights, "{name}");
        let ids = |t: &EventTable| {
            let c = t.passthrough_column("event_id").unwrap();
            (0..t.len()).map(|i| c.value_string(i)).collect::<Vec<_>>()
        };
        assert_eq!(ids(&t), ids(&reference), "{name}");
    }
}

#[test]
fn nulls_in_a_feature_are_refused_by_name_in_every_layout() {
    for name in ["v2_nulls_dictionary.parquet", "v1_nulls_snappy.parquet"] {
        let e = load(name).err().unwrap_or_else(|| panic!("{name} loaded"));
        assert!(e.contains("j1_eta"), "{name}: {e}");
    }
}
