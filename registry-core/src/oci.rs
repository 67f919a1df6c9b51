//! A version as an OCI artifact (CNCF ModelPack shape) and its attestations as OCI referrers: pure
//! functions from what the transparency log already binds (the manifest, the model name, the
//! version label), so anyone can recompute the OCI digest of a version. The output of generator
//! [`GENERATOR`] is frozen: a change is a new generator beside it, never an edit (tests pin bytes).
//!
//! Layers are our blobs, raw (`application/vnd.cncf.model.<kind>.v1.raw`): a layer digest is a blob
//! digest, so nothing is copied. The config names `NS/NAME` and the label and nothing server-side
//! (no times, no log index), so the same version always has the same OCI digest and two versions
//! with the same files do not share one.
use serde_json::{Value, json};

use crate::manifest::Manifest;
use crate::{Digest, ModelName, VersionLabel, canonical};

/// The generator of [`model_artifact`]'s output.
pub const GENERATOR: &str = "oci-modelpack-v1";
/// The OCI image manifest media type (every manifest served).
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image index media type (referrers answers).
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// ModelPack's artifact type.
pub const MODEL_ARTIFACT_TYPE: &str = "application/vnd.cncf.model.manifest.v1+json";
/// ModelPack's config media type.
pub const MODEL_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.model.config.v1+json";
/// The empty descriptor's media type (referrer configs).
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty config's bytes.
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// A bare DSSE envelope's media type (cosign's `.att` layers).
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// A Sigstore bundle v0.3's media type.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The largest manifest served: what containers/image reads (`iolimits.MaxManifestBodySize`).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Annotation holding the registry's own manifest digest (what `/v1` and the log name).
pub const MANIFEST_DIGEST_ANNOTATION: &str = "dev.registry.manifest.digest";

/// A version's OCI artifact: its config and manifest, exact bytes, with their digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The ModelPack config (canonical JSON).
    pub config: Vec<u8>,
    /// Its digest.
    pub config_digest: Digest,
    /// The OCI image manifest (canonical JSON).
    pub manifest: Vec<u8>,
    /// Its digest: the version's OCI digest.
    pub digest: Digest,
}

/// Why no artifact could be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OciError {
    /// Over [`MAX_MANIFEST_BYTES`].
    #[error("{files} files: the OCI manifest would be {bytes} bytes, over the 4 MiB OCI clients read")]
    TooLarge {
        /// Files in the version.
        files: usize,
        /// Manifest size.
        bytes: usize,
    },
}

/// The ModelPack layer media type of a file, by documented rules over its lowercased path (first
/// match wins): configs and tokenizers, docs, code, datasets, and weights for everything else.
pub fn layer_media_type(path: &str) -> &'static str {
    let lower = path.to_ascii_lowercase();
    let file = lower.rsplit('/').next().unwrap_or(&lower);
    let ext = file.rsplit_once('.').map_or("", |(_, e)| e);
    let starts = |p: &[&str]| p.iter().any(|s| file.starts_with(s));
    let exts = |e: &[&str]| e.contains(&ext);
    if matches!(
        file,
        "config.json"
            | "generation_config.json"
            | "special_tokens_map.json"
            | "preprocessor_config.json"
            | "added_tokens.json"
            | "merges.txt"
            | "tokenizer.model"
    ) || (file.starts_with("tokenizer") && ext == "json")
        || file.starts_with("vocab.")
        || ext == "tiktoken"
    {
        return "application/vnd.cncf.model.weight.config.v1.raw";
    }
    if starts(&["readme", "license", "licence", "notice", "model_card"]) || exts(&["md", "rst", "pdf"]) {
        return "application/vnd.cncf.model.doc.v1.raw";
    }
    if exts(&["py", "ipynb", "sh", "js", "ts", "rs", "go", "c", "cc", "cpp", "h", "java", "toml", "cfg"])
        || (file.starts_with("requirements") && ext == "txt")
        || file == "dockerfile"
    {
        return "application/vnd.cncf.model.code.v1.raw";
    }
    let in_data_dir = lower.split('/').rev().skip(1).any(|s| matches!(s, "data" | "dataset" | "datasets"));
    if exts(&["csv", "tsv", "parquet", "jsonl", "arrow", "tfrecord"]) || in_data_dir {
        return "application/vnd.cncf.model.dataset.v1.raw";
    }
    "application/vnd.cncf.model.weight.v1.raw"
}

fn descriptor(media_type: &str, digest: &Digest, size: usize) -> Value {
    json!({"mediaType": media_type, "digest": digest.to_string(), "size": size})
}

/// The OCI artifact of `model@label` whose files are `manifest` (ModelPack v1, generator
/// [`GENERATOR`]).
pub fn model_artifact(
    model: &ModelName,
    label: &VersionLabel,
    manifest: &Manifest,
) -> Result<Artifact, OciError> {
    let files = manifest.files();
    let config = json!({
        "config": {},
        "descriptor": {"name": model.to_string(), "version": label.as_str()},
        "modelfs": {
            "type": "layers",
            "diffIds": files.iter().map(|f| f.digest.to_string()).collect::<Vec<_>>(),
        },
    });
    let config = canonical::to_vec(&config).unwrap_or_default();
    let config_digest = Digest::of(&config);
    let layers: Vec<Value> = files
        .iter()
        .map(|f| {
            json!({
                "mediaType": layer_media_type(&f.path),
                "digest": f.digest.to_string(),
                "size": f.size,
                "annotations": {
                    "org.cncf.model.filepath": f.path,
                    "org.cncf.model.file.mediatype.untested": "true",
                    "org.opencontainers.image.title": f.path,
                },
            })
        })
        .collect();
    let body = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": MODEL_ARTIFACT_TYPE,
        "config": descriptor(MODEL_CONFIG_MEDIA_TYPE, &config_digest, config.len()),
        "layers": layers,
        "annotations": {
            "org.opencontainers.image.title": model.to_string(),
            "org.opencontainers.image.version": label.as_str(),
            MANIFEST_DIGEST_ANNOTATION: manifest.digest().to_string(),
        },
    });
    let bytes = canonical::to_vec(&body).unwrap_or_default();
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(OciError::TooLarge { files: files.len(), bytes: bytes.len() });
    }
    Ok(Artifact { config, config_digest, digest: Digest::of(&bytes), manifest: bytes })
}

/// The media type an attestation is served under: a Sigstore bundle's own `mediaType` (v0.3 is
/// [`BUNDLE_V03_MEDIA_TYPE`]), or [`DSSE_MEDIA_TYPE`] for a bare DSSE envelope.
pub fn attestation_media_type(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("mediaType").and_then(Value::as_str).map(str::to_owned))
        .filter(|t| t.starts_with("application/vnd.dev.sigstore.bundle"))
        .unwrap_or_else(|| DSSE_MEDIA_TYPE.to_owned())
}

/// The referrer manifest of one attestation (`body`, its exact stored bytes) about the artifact
/// `subject` (the version's OCI manifest digest and size): one layer holding the body, the empty
/// config, the predicate type in annotations. No time and no verification status (status changes
/// over time; clients verify).
pub fn attestation_artifact(
    subject: &Digest,
    subject_size: usize,
    body: &[u8],
    predicate_type: &str,
) -> (Vec<u8>, Digest) {
    let media = attestation_media_type(body);
    let digest = Digest::of(body);
    let title = format!("attestation-{}.json", &digest.hex()[..12]);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": media,
        "config": descriptor(EMPTY_MEDIA_TYPE, &Digest::of(EMPTY_CONFIG), EMPTY_CONFIG.len()),
        "layers": [{
            "mediaType": media,
            "digest": digest.to_string(),
            "size": body.len(),
            "annotations": {"org.opencontainers.image.title": title},
        }],
        "subject": descriptor(MANIFEST_MEDIA_TYPE, subject, subject_size),
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": predicate_type,
        },
    });
    let bytes = canonical::to_vec(&manifest).unwrap_or_default();
    let d = Digest::of(&bytes);
    (bytes, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::FileEntry;

    fn files(paths: &[(&str, &[u8])]) -> Manifest {
        Manifest::new(
            paths
                .iter()
                .map(|(p, b)| FileEntry { path: (*p).into(), size: b.len() as u64, digest: Digest::of(b) })
                .collect(),
        )
        .unwrap()
    }

    fn three() -> Manifest {
        files(&[("model.safetensors", b"weights"), ("config.json", b"{}"), ("README.md", b"# m")])
    }

    #[test]
    fn the_artifact_bytes_are_pinned() {
        let m = ModelName::parse("fraud/detector").unwrap();
        let a = model_artifact(&m, &VersionLabel::parse("1.0+cu121").unwrap(), &three()).unwrap();
        let text = String::from_utf8(a.config.clone()).unwrap();
        assert!(text.starts_with(r#"{"config":{},"descriptor":{"name":"fraud/detector","version":"1.0+cu121"},"modelfs":{"diffIds":["sha256:"#), "{text}");
        assert_eq!(a.digest, Digest::of(&a.manifest));
        // Frozen: a change to any byte of generator v1's output fails here (make a v2 instead).
        assert_eq!(a.digest.to_string(), PINNED, "{}", String::from_utf8_lossy(&a.manifest));
    }

    const PINNED: &str = "sha256:a94b4d94586931503cfcf44ef67316bb118aad64a0b8ae85ef5f78be7927e9ef";

    #[test]
    fn same_inputs_same_bytes_and_another_label_another_digest() {
        let m = ModelName::parse("fraud/detector").unwrap();
        let a = model_artifact(&m, &VersionLabel::parse("1").unwrap(), &three()).unwrap();
        let b = model_artifact(&m, &VersionLabel::parse("1").unwrap(), &three()).unwrap();
        let c = model_artifact(&m, &VersionLabel::parse("2").unwrap(), &three()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.digest, c.digest);
        let v: Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(v["artifactType"], MODEL_ARTIFACT_TYPE);
        assert_eq!(v["config"]["digest"], a.config_digest.to_string());
        assert_eq!(v["layers"].as_array().unwrap().len(), 3);
        for l in v["layers"].as_array().unwrap() {
            assert_eq!(
                l["annotations"]["org.opencontainers.image.title"],
                l["annotations"]["org.cncf.model.filepath"]
            );
        }
        assert_eq!(v["annotations"][MANIFEST_DIGEST_ANNOTATION], three().digest().to_string());
    }

    #[test]
    fn layer_types_follow_the_documented_rules() {
        for (path, kind) in [
            ("config.json", "weight.config"),
            ("tok/tokenizer_config.json", "weight.config"),
            ("vocab.txt", "weight.config"),
            ("cl100k.tiktoken", "weight.config"),
            ("README.md", "doc"),
            ("LICENSE", "doc"),
            ("docs/guide.rst", "doc"),
            ("train.py", "code"),
            ("requirements-dev.txt", "code"),
            ("Dockerfile", "code"),
            ("eval.csv", "dataset"),
            ("data/shard-0.bin", "dataset"),
            ("model-00001-of-00002.safetensors", "weight"),
            ("model.gguf", "weight"),
            ("data", "weight"),
        ] {
            assert_eq!(layer_media_type(path), format!("application/vnd.cncf.model.{kind}.v1.raw"), "{path}");
        }
    }

    #[test]
    fn too_many_files_is_a_clear_error_not_a_broken_manifest() {
        let many: Vec<FileEntry> = (0..12_000)
            .map(|i| FileEntry {
                path: format!("checkpoints/sharded/tensor-parallel-rank-0/part-{i:05}-of-12000.safetensors"),
                size: 1,
                digest: Digest::of(format!("{i}").as_bytes()),
            })
            .collect();
        let m = Manifest::new(many).unwrap();
        let got = model_artifact(&ModelName::parse("a/b").unwrap(), &VersionLabel::parse("1").unwrap(), &m);
        assert!(
            matches!(got, Err(OciError::TooLarge { files: 12_000, .. })),
            "{:?}",
            got.map(|a| a.manifest.len())
        );
    }

    #[test]
    fn a_referrer_carries_the_exact_body_and_names_its_subject() {
        let body = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","x":1}"#;
        let subject = Digest::of(b"manifest");
        let (bytes, d) = attestation_artifact(&subject, 100, body, "https://slsa.dev/provenance/v1");
        assert_eq!(d, Digest::of(&bytes));
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["artifactType"], BUNDLE_V03_MEDIA_TYPE);
        assert_eq!(v["layers"][0]["digest"], Digest::of(body).to_string());
        assert_eq!(v["subject"]["digest"], subject.to_string());
        assert_eq!(
            v["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let (_, dsse) = attestation_artifact(&subject, 100, br#"{"payloadType":"x"}"#, "p");
        assert_ne!(dsse, d);
        assert_eq!(attestation_media_type(br#"{"payloadType":"x"}"#), DSSE_MEDIA_TYPE);
    }
}
