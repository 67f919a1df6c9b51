//! The manifest: a version's files `{path, size, digest}`, its canonical bytes and its two digests.
//!
//! Invariant: a `Manifest` value is valid (safe relative NFC paths, no duplicates, no file that is also
//! a directory) and sorted component by component, as OpenSSF Model Signing orders files. The
//! manifest digest (SHA-256 of the RFC 8785 bytes) is the version's identity; the OMS root digest
//! (SHA-256 over the raw file digests in order) is what OMS signatures name as their subject.
use std::collections::HashSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{Digest, Hasher};

mod path;

pub use path::{MAX_PATH_LEN, MAX_SEGMENT_LEN, PathRule, check_path, check_portable_path, path_order};

/// The `mediaType` every manifest carries; bump it if the layout ever changes.
pub const MEDIA_TYPE: &str = "application/vnd.registry.manifest.v1+json";
/// Most files in one manifest.
pub const MAX_FILES: usize = 100_000;
/// Largest file size a manifest can state (2^53 - 1, exact in every JSON implementation).
pub const MAX_FILE_SIZE: u64 = (1 << 53) - 1;

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// A path breaks the path rules.
    #[error("invalid path {path:?}: {reason}")]
    Path {
        /// The refused path (truncated).
        path: String,
        /// Which rule it breaks.
        reason: PathRule,
    },
    /// The same path appears twice.
    #[error("duplicate path {0:?}")]
    Duplicate(String),
    /// A path is both a file and a directory of another file.
    #[error("path {0:?} is a file and also a directory of another file")]
    FileIsDirectory(String),
    /// No files at all.
    #[error("a manifest must list at least one file")]
    Empty,
    /// Over [`MAX_FILES`].
    #[error("too many files: {0} (at most {MAX_FILES})")]
    TooManyFiles(usize),
    /// A size over [`MAX_FILE_SIZE`].
    #[error("file {0:?} is too large to describe")]
    SizeTooLarge(String),
    /// The sizes add up past [`MAX_FILE_SIZE`] (the total is stored and shown too).
    #[error("the files add up to more than 2^53 - 1 bytes")]
    TotalTooLarge,
    /// Unknown `mediaType`.
    #[error("unsupported manifest mediaType {0:?} (expected {MEDIA_TYPE})")]
    MediaType(String),
}

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative `/`-separated path (NFC, no `.`/`..`/empty segments, no backslash).
    #[schema(example = "tokenizer/vocab.txt")]
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the contents.
    pub digest: Digest,
}

/// A valid, ordered list of files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    files: Vec<FileEntry>,
}

impl Manifest {
    /// Validates `files` and puts them in canonical order.
    pub fn new(mut files: Vec<FileEntry>) -> Result<Self, ManifestError> {
        if files.is_empty() {
            return Err(ManifestError::Empty);
        }
        if files.len() > MAX_FILES {
            return Err(ManifestError::TooManyFiles(files.len()));
        }
        for f in &files {
            check_path(&f.path)
                .map_err(|reason| ManifestError::Path { path: f.path.chars().take(200).collect(), reason })?;
            if f.size > MAX_FILE_SIZE {
                return Err(ManifestError::SizeTooLarge(f.path.clone()));
            }
        }
        let total = files.iter().try_fold(0u64, |sum, f| sum.checked_add(f.size));
        if total.is_none_or(|t| t > MAX_FILE_SIZE) {
            return Err(ManifestError::TotalTooLarge);
        }
        files.sort_by(|a, b| path_order(&a.path, &b.path));
        for w in files.windows(2) {
            if w[0].path == w[1].path {
                return Err(ManifestError::Duplicate(w[0].path.clone()));
            }
        }
        let paths: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        for f in &files {
            let mut prefix = f.path.as_str();
            while let Some((dir, _)) = prefix.rsplit_once('/') {
                if paths.contains(dir) {
                    return Err(ManifestError::FileIsDirectory(dir.to_owned()));
                }
                prefix = dir;
            }
        }
        Ok(Self { files })
    }

    /// Checks that every path is portable ([`check_portable_path`]) and that no two differ only in
    /// case, as files or as a file and a directory: on a case-insensitive file system (Windows, macOS by
    /// default) one would overwrite or shadow the other.
    pub fn check_portable(&self) -> Result<(), ManifestError> {
        let refuse =
            |path: &str, reason| ManifestError::Path { path: path.chars().take(200).collect(), reason };
        for f in &self.files {
            check_portable_path(&f.path).map_err(|reason| refuse(&f.path, reason))?;
        }
        let mut folded: HashSet<String> = HashSet::new();
        for f in &self.files {
            if !folded.insert(f.path.to_lowercase()) {
                return Err(refuse(&f.path, PathRule::CaseCollision));
            }
        }
        for f in &self.files {
            let mut prefix = f.path.as_str();
            while let Some((dir, _)) = prefix.rsplit_once('/') {
                if folded.contains(&dir.to_lowercase()) {
                    return Err(refuse(&f.path, PathRule::DirectoryCaseCollision));
                }
                prefix = dir;
            }
        }
        Ok(())
    }

    /// The files, in canonical order.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// Sum of the file sizes (at most [`MAX_FILE_SIZE`]: `new` refuses more).
    pub fn total_size(&self) -> u64 {
        self.files.iter().fold(0u64, |sum, f| sum.saturating_add(f.size))
    }

    /// The RFC 8785 bytes: `{"files":[...],"mediaType":"..."}`.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        crate::canonical::to_vec(self).expect("a manifest is plain strings and integers")
    }

    /// The manifest digest: the version's identity.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.canonical_bytes())
    }

    /// The OpenSSF Model Signing root digest: SHA-256 over the raw file digests in path order.
    pub fn oms_root_digest(&self) -> Digest {
        let mut h = Hasher::new();
        for f in &self.files {
            h.update(f.digest.as_bytes());
        }
        h.finalize()
    }

    /// Distinct blob digests, in first-seen order.
    pub fn blob_digests(&self) -> Vec<Digest> {
        let mut seen = HashSet::new();
        self.files.iter().map(|f| f.digest).filter(|d| seen.insert(*d)).collect()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestDoc<F> {
    #[serde(rename = "mediaType")]
    media_type: String,
    files: F,
}

/// A version's files. Canonical JSON (RFC 8785) of this object, files in component-wise path order,
/// is hashed into the manifest digest. (Schema only: the wire form of [`Manifest`].)
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ManifestSchema {
    /// Always `application/vnd.registry.manifest.v1+json`.
    #[schema(rename = "mediaType", example = "application/vnd.registry.manifest.v1+json")]
    media_type: String,
    /// The files, in component-wise path order.
    files: Vec<FileEntry>,
}

impl Serialize for Manifest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ManifestDoc { media_type: MEDIA_TYPE.to_owned(), files: &self.files }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Manifest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let doc = ManifestDoc::<Vec<FileEntry>>::deserialize(d)?;
        if doc.media_type != MEDIA_TYPE {
            return Err(serde::de::Error::custom(ManifestError::MediaType(doc.media_type)));
        }
        Manifest::new(doc.files).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Manifest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <ManifestSchema as utoipa::PartialSchema>::schema()
    }
}
impl utoipa::ToSchema for Manifest {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push(("FileEntry".into(), <FileEntry as utoipa::PartialSchema>::schema()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(path: &str, content: &[u8]) -> FileEntry {
        FileEntry { path: path.into(), size: content.len() as u64, digest: Digest::of(content) }
    }

    /// The directory in tests/fixtures/oms-small, signed there by model_signing 1.1.1.
    fn oms_small() -> Manifest {
        Manifest::new(vec![
            entry("weights.bin", b"hello"),
            entry("tokenizer-extra.txt", b"extra"),
            entry("config.json", b"{}"),
            entry("tokenizer/vocab.txt", b"vocab"),
        ])
        .expect("valid")
    }

    #[test]
    fn files_sort_component_by_component() {
        let m = oms_small();
        let paths: Vec<&str> = m.files().iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["config.json", "tokenizer/vocab.txt", "tokenizer-extra.txt", "weights.bin"]);
    }

    #[test]
    fn oms_root_digest_matches_model_signing() {
        // `model_signing sign key` on the same four files put this digest in its statement subject.
        assert_eq!(
            oms_small().oms_root_digest().hex(),
            "00a81a5110b31c78a97f3daa327c09525125109a37bc45140465592e7760ecb3"
        );
    }

    #[test]
    fn canonical_bytes_and_digest_are_fixed() {
        let m = Manifest::new(vec![entry("b.txt", b"hello"), entry("a.txt", b"")]).expect("valid");
        let s = String::from_utf8(m.canonical_bytes()).expect("utf8");
        assert_eq!(
            s,
            concat!(
                r#"{"files":[{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","path":"a.txt","size":0},"#,
                r#"{"digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","path":"b.txt","size":5}],"#,
                r#""mediaType":"application/vnd.registry.manifest.v1+json"}"#
            )
        );
        assert_eq!(m.digest(), Digest::of(s.as_bytes()));
    }

    #[test]
    fn json_round_trip_keeps_the_digest() {
        let m = oms_small();
        let back: Manifest = serde_json::from_slice(&m.canonical_bytes()).expect("parses");
        assert_eq!(back, m);
        assert_eq!(back.digest(), m.digest());
    }

    #[test]
    fn names_that_differ_only_in_case_are_not_portable() {
        let m =
            |paths: &[&str]| Manifest::new(paths.iter().map(|p| entry(p, b"x")).collect()).expect("valid");
        assert!(m(&["Model.bin", "model.bin"]).check_portable().is_err());
        assert!(m(&["README", "readme/x"]).check_portable().is_err());
        assert!(m(&["Ä", "ä"]).check_portable().is_err());
        assert_eq!(m(&["A/x", "A/y", "b"]).check_portable(), Ok(()));
    }

    #[test]
    fn duplicates_empty_and_file_dirs_are_rejected() {
        assert_eq!(
            Manifest::new(vec![entry("a", b"1"), entry("a", b"2")]),
            Err(ManifestError::Duplicate("a".into()))
        );
        assert_eq!(Manifest::new(vec![]), Err(ManifestError::Empty));
        assert_eq!(
            Manifest::new(vec![entry("a", b"1"), entry("a/b/c", b"2")]),
            Err(ManifestError::FileIsDirectory("a".into()))
        );
    }

    #[test]
    fn a_manifest_whose_sizes_add_up_past_2_pow_53_is_rejected() {
        // 2,049 files of the largest allowed size add up to more than u64::MAX; summing them used to
        // panic in debug builds (a 500 from the server) and wrap around in release builds.
        for n in [2, 2049] {
            let files = (0..n)
                .map(|i| FileEntry { path: format!("f{i}"), size: MAX_FILE_SIZE, digest: Digest::of(b"") })
                .collect();
            assert_eq!(Manifest::new(files), Err(ManifestError::TotalTooLarge));
        }
        assert_eq!(oms_small().total_size(), 17);
    }

    #[test]
    fn unknown_media_type_and_fields_are_rejected() {
        let bad = r#"{"mediaType":"x","files":[]}"#;
        assert!(serde_json::from_str::<Manifest>(bad).is_err());
        let extra = r#"{"mediaType":"application/vnd.registry.manifest.v1+json","files":[],"x":1}"#;
        assert!(serde_json::from_str::<Manifest>(extra).is_err());
    }

    proptest! {
        #[test]
        fn order_of_input_does_not_change_the_digest(
            mut names in prop::collection::btree_set("[a-c]{1,3}(/[a-c]{1,3}){0,2}", 1..12),
            seed in any::<u64>()
        ) {
            // Drop names that are directories of others, which no real directory can hold.
            let all: Vec<String> = names.iter().cloned().collect();
            names.retain(|n| !all.iter().any(|o| o.starts_with(&format!("{n}/"))));
            let files: Vec<FileEntry> = names.iter().map(|n| entry(n, n.as_bytes())).collect();
            let mut shuffled = files.clone();
            let k = (seed as usize) % shuffled.len();
            shuffled.rotate_left(k);
            shuffled.reverse();
            let a = Manifest::new(files).expect("valid");
            let b = Manifest::new(shuffled).expect("valid");
            prop_assert_eq!(a.digest(), b.digest());
            prop_assert_eq!(a.oms_root_digest(), b.oms_root_digest());
        }

        #[test]
        fn manifest_json_parser_never_panics(s in "\\PC{0,200}") {
            let _ = serde_json::from_str::<Manifest>(&s);
        }
    }
}
