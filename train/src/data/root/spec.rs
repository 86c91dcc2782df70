//! [`RootSpec`]: which tree to read and how NanoAOD-style collections map onto the padded
//! feature layout (`[data.root]` in `bead.toml`), and the parsing of feature names against it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How ROOT files are read: the tree, and the mapping of feature names onto branches.
///
/// A feature `<prefix><k>_<field>` whose prefix is in `objects` (say `j3_eta`, `j` → `Jet`) is
/// field `<field>` of the k-th object of the collection by descending `sort_by`, read from the
/// variable-length branch `Jet_eta[nJet]` and sorted by `Jet_pt`; events with fewer objects get
/// 0 (zero padding), extra objects are dropped. The slot count is whatever the feature names
/// ask for. A feature `<prefix>_<field>` whose prefix is in `singles` (`MET_pt`, `MET` →
/// `MET`) reads the branch `MET_pt`. Mapped branches are looked for first, then a branch named
/// like the feature itself (a flat tree), then `zero`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RootSpec {
    /// Tree to read; `None`: the only tree of the file, else the one called `Events`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree: Option<String>,
    /// Feature prefix → collection (`j` → `Jet`, `e` → `Electron`, `mu` → `Muon`).
    pub objects: BTreeMap<String, String>,
    /// Feature prefix → branch prefix of a per-event object (`MET` → `MET`).
    pub singles: BTreeMap<String, String>,
    /// Field the objects of a collection are ordered by (descending).
    pub sort_by: String,
    /// Features read as 0 when the tree has no branch for them: `MET_eta` (missing MET is
    /// transverse, and the data sets write its η as 0).
    pub zero: Vec<String>,
}

impl Default for RootSpec {
    fn default() -> Self {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        Self {
            tree: None,
            objects: map(&[("j", "Jet"), ("e", "Electron"), ("mu", "Muon")]),
            singles: map(&[("MET", "MET")]),
            sort_by: "pt".into(),
            zero: vec!["MET_eta".into()],
        }
    }
}

/// A feature name read against a [`RootSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mapped {
    /// Field `field` of the object in `slot` (0-based) of `collection`.
    Object {
        collection: String,
        field: String,
        slot: usize,
    },
    /// The branch `<prefix>_<field>` of a per-event object.
    Single { branch: String },
    /// Not covered by the mapping.
    None,
}

impl RootSpec {
    /// True for the defaults (so configurations that do not use ROOT serialize unchanged).
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }

    /// Problems with the mapping itself, if any.
    pub fn check(&self) -> Result<(), String> {
        for (p, c) in self.objects.iter().chain(&self.singles) {
            if p.is_empty() || p.contains('_') || c.is_empty() {
                return Err(format!(
                    "[data.root]: prefix `{p}` → `{c}`: prefixes must be non-empty without `_`, \
                     names non-empty"
                ));
            }
        }
        if let Some(p) = self
            .objects
            .keys()
            .find(|p| p.ends_with(|c: char| c.is_ascii_digit()))
        {
            return Err(format!(
                "[data.root] objects: prefix `{p}` ends in a digit (the slot number follows it)"
            ));
        }
        if self.sort_by.is_empty() {
            return Err("[data.root] sort_by is empty".into());
        }
        Ok(())
    }

    pub(super) fn map(&self, feature: &str) -> Mapped {
        let Some((head, field)) = feature.split_once('_') else {
            return Mapped::None;
        };
        if field.is_empty() {
            return Mapped::None;
        }
        let prefix = head.trim_end_matches(|c: char| c.is_ascii_digit());
        let digits = &head[prefix.len()..];
        if digits.is_empty() {
            return match self.singles.get(head) {
                Some(b) => Mapped::Single {
                    branch: format!("{b}_{field}"),
                },
                None => Mapped::None,
            };
        }
        match (self.objects.get(prefix), digits.parse::<usize>()) {
            (Some(c), Ok(k)) if k >= 1 && !digits.starts_with('0') => Mapped::Object {
                collection: c.clone(),
                field: field.to_string(),
                slot: k - 1,
            },
            _ => Mapped::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Mapped, RootSpec};

    #[test]
    fn feature_names_map_onto_collections() {
        let s = RootSpec::default();
        let obj = |c: &str, f: &str, slot| Mapped::Object {
            collection: c.into(),
            field: f.into(),
            slot,
        };
        assert_eq!(s.map("j10_phi"), obj("Jet", "phi", 9));
        assert_eq!(s.map("mu1_pt"), obj("Muon", "pt", 0));
        assert_eq!(s.map("e4_btag_score"), obj("Electron", "btag_score", 3));
        assert_eq!(
            s.map("MET_pt"),
            Mapped::Single {
                branch: "MET_pt".into()
            }
        );
        for name in [
            "j0_pt", "j01_pt", "x1_pt", "j1", "j1_", "met_pt", "Jet_pt", "j_pt",
        ] {
            assert_eq!(s.map(name), Mapped::None, "{name}");
        }
        let mut puppi = RootSpec::default();
        puppi.singles.insert("MET".into(), "PuppiMET".into());
        assert_eq!(
            puppi.map("MET_phi"),
            Mapped::Single {
                branch: "PuppiMET_phi".into()
            }
        );
        assert!(s.check().is_ok());
        puppi.objects.insert("j2".into(), "FatJet".into());
        assert!(puppi.check().unwrap_err().contains("j2"));
    }
}
