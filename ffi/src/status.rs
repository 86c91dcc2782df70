//! The status codes of both APIs, defined once: the cxx shared enum [`Status`] in `bridge.rs`.
//!
//! The C API returns its discriminants (`BEAD_OK`, `BEAD_ERR_*` in `include/bead/bead.h`) and
//! `bead::Status` in `include/bead/bead.hpp` mirrors it. Both headers are hand-written (they
//! carry the user documentation), so the tests below parse them and check every name, value
//! and description against this module: a header that drifts fails `cargo test`.

use std::ffi::{CStr, c_int};

use crate::bridge::ffi::Status;

impl Status {
    /// Every status, in code order.
    pub(crate) const ALL: [Status; 7] = [
        Status::Ok,
        Status::WrongLength,
        Status::NonFinite,
        Status::Internal,
        Status::InvalidArgument,
        Status::Load,
        Status::NoThreshold,
    ];

    /// The code the C API returns.
    pub(crate) fn code(self) -> c_int {
        c_int::from(self.repr)
    }

    /// Short description (`bead_status_str` in C, `bead::to_string` in C++).
    pub(crate) fn description(self) -> &'static CStr {
        match self {
            Status::Ok => c"ok",
            Status::WrongLength => c"wrong length",
            Status::NonFinite => c"non-finite input",
            Status::Internal => c"internal error",
            Status::InvalidArgument => c"invalid argument",
            Status::Load => c"model could not be loaded",
            Status::NoThreshold => c"no calibrated threshold",
            _ => c"unknown status code",
        }
    }

    /// The status whose C code is `code`.
    pub(crate) fn from_code(code: c_int) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// `WrongLength` → `BEAD_ERR_WRONG_LENGTH`; `Ok` → `BEAD_OK`.
    fn c_name(status: Status) -> String {
        let name = format!("{status:?}");
        if name == "Ok" {
            return "BEAD_OK".to_owned();
        }
        let mut upper = String::from("BEAD_ERR");
        for c in name.chars() {
            if c.is_ascii_uppercase() {
                upper.push('_');
            }
            upper.push(c.to_ascii_uppercase());
        }
        upper
    }

    fn header(name: &str) -> String {
        let path = format!(
            "{}/../include/bead/{name}",
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// What the headers must say: name → (value, description).
    fn expected(name: impl Fn(Status) -> String) -> BTreeMap<String, (i64, String)> {
        Status::ALL
            .iter()
            .map(|&s| {
                let description = s.description().to_str().unwrap().to_owned();
                (name(s), (i64::from(s.code()), description))
            })
            .collect()
    }

    #[test]
    fn all_lists_every_variant_once_in_code_order() {
        // cxx's `Debug` prints the variant name, or `Status(n)` for a value that is none.
        let named: Vec<u8> = (0..=u8::MAX)
            .filter(|&repr| !format!("{:?}", Status { repr }).starts_with("Status("))
            .collect();
        let listed: Vec<u8> = Status::ALL.iter().map(|s| s.repr).collect();
        assert_eq!(listed, named);
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
            assert_ne!(s.description(), c"unknown status code", "{s:?}");
        }
        assert_eq!(Status::from_code(-1), None);
        assert_eq!(Status::from_code(Status::ALL.len() as c_int), None);
    }

    #[test]
    fn c_header_defines_every_status() {
        let text = header("bead.h");
        let mut defined = BTreeMap::new();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("#define") {
                continue;
            }
            let (Some(name), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            if name == "BEAD_OK" || name.starts_with("BEAD_ERR_") {
                let value: i64 = value.parse().unwrap_or_else(|_| panic!("bead.h: {line}"));
                assert!(
                    defined.insert(name.to_owned(), value).is_none(),
                    "{name} twice"
                );
            }
        }
        let want: BTreeMap<String, i64> = expected(c_name)
            .into_iter()
            .map(|(name, (value, _))| (name, value))
            .collect();
        assert_eq!(
            defined, want,
            "bead.h status codes differ from ffi/src/bridge.rs"
        );
    }

    #[test]
    fn cpp_header_mirrors_every_status() {
        let text = header("bead.hpp");
        let start = text
            .find("enum class Status : std::uint8_t {")
            .expect("bead.hpp declares `enum class Status : std::uint8_t {`");
        let body = &text[start..];
        let body = &body[body.find('{').unwrap() + 1..body.find("};").unwrap()];
        let mut enumerators = BTreeMap::new();
        for line in body.lines() {
            let code = line.split("//").next().unwrap().trim();
            if code.is_empty() {
                continue;
            }
            let (name, value) = code
                .trim_end_matches(',')
                .split_once('=')
                .unwrap_or_else(|| panic!("bead.hpp: enumerator without a value: {line}"));
            let value: i64 = value.trim().parse().unwrap();
            enumerators.insert(name.trim().to_owned(), value);
        }
        // `to_string(Status)`: one `case Status::Name: return "description";` per status.
        let mut descriptions = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("case Status::") else {
                continue;
            };
            let (name, ret) = rest.split_once(':').unwrap();
            let description = ret.split('"').nth(1).unwrap_or_else(|| panic!("{line}"));
            descriptions.insert(name.to_owned(), description.to_owned());
        }
        let want = expected(|s| format!("{s:?}"));
        let want_values: BTreeMap<String, i64> =
            want.iter().map(|(n, (v, _))| (n.clone(), *v)).collect();
        let want_descriptions: BTreeMap<String, String> =
            want.into_iter().map(|(n, (_, d))| (n, d)).collect();
        assert_eq!(
            enumerators, want_values,
            "bead::Status differs from ffi/src/bridge.rs"
        );
        assert_eq!(
            descriptions, want_descriptions,
            "bead::to_string(Status) differs from ffi/src/status.rs"
        );
    }
}
