//! Opening a blob store from a URL: memory, a local directory, or a bucket on S3, GCS or Azure.
use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::multipart::MultipartStore;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;

use super::{BlobError, BlobStore, DEFAULT_TIMEOUT};

/// Parts of a remote store behind one prefix: the object, multipart and signing views.
fn remote<T>(store: T, prefix: &str) -> (Arc<dyn ObjectStore>, Arc<dyn MultipartStore>, Arc<dyn Signer>)
where
    T: ObjectStore + MultipartStore + Signer,
{
    let p = Arc::new(PrefixStore::new(store, prefix));
    (p.clone(), p.clone(), p)
}

impl BlobStore {
    /// Opens the store named by `url`: `file:///abs/dir`, a plain directory path, `memory://`, or
    /// `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` configured by the
    /// standard environment variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ALLOW_HTTP`, keys...) and
    /// then `options` (object_store configuration keys such as `aws_endpoint`, from the config file).
    pub fn from_url_with(url: &str, options: &[(String, String)]) -> Result<Self, BlobError> {
        if url == "memory://" || url == "memory:" {
            let m = Arc::new(InMemory::new());
            return Ok(Self {
                store: m.clone(),
                multipart: Some(m),
                signer: None,
                local_root: None,
                description: "memory://".into(),
                timeout: DEFAULT_TIMEOUT,
            });
        }
        if let Some((scheme @ ("s3" | "gs" | "az"), rest)) = url.split_once("://") {
            return Self::open_remote(url, scheme, rest, options);
        }
        Self::open_local(url)
    }

    /// [`BlobStore::from_url_with`] without extra options.
    pub fn from_url(url: &str) -> Result<Self, BlobError> {
        Self::from_url_with(url, &[])
    }

    /// A bucket (`rest` is `BUCKET[/PREFIX]`) on S3, GCS or Azure.
    fn open_remote(
        url: &str,
        scheme: &str,
        rest: &str,
        options: &[(String, String)],
    ) -> Result<Self, BlobError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        if bucket.is_empty() {
            return Err(BlobError::Url(url.into()));
        }
        let bucket_url = format!("{scheme}://{bucket}");
        let bad_option = |k: &str| BlobError::Url(format!("{url}: unknown store option {k:?}"));
        let (store, multipart, signer) = match scheme {
            "s3" => {
                let mut b = AmazonS3Builder::from_env().with_url(&bucket_url);
                for (k, v) in options {
                    b = b.with_config(k.parse().map_err(|_| bad_option(k))?, v);
                }
                remote(b.build()?, prefix)
            }
            "gs" => {
                let mut b = GoogleCloudStorageBuilder::from_env().with_url(&bucket_url);
                for (k, v) in options {
                    b = b.with_config(k.parse().map_err(|_| bad_option(k))?, v);
                }
                remote(b.build()?, prefix)
            }
            _ => {
                let mut b = MicrosoftAzureBuilder::from_env().with_url(&bucket_url);
                for (k, v) in options {
                    b = b.with_config(k.parse().map_err(|_| bad_option(k))?, v);
                }
                remote(b.build()?, prefix)
            }
        };
        Ok(Self {
            store,
            multipart: Some(multipart),
            signer: Some(signer),
            local_root: None,
            description: format!("{bucket_url}/{prefix}"),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// A local directory (`file:///abs/dir` or a plain path), created if missing.
    fn open_local(url: &str) -> Result<Self, BlobError> {
        let dir = match url.split_once("://") {
            Some(("file", rest)) => {
                let u = url::Url::parse(url).map_err(|_| BlobError::Url(url.into()))?;
                if !rest.starts_with('/') {
                    return Err(BlobError::Url(url.into()));
                }
                u.to_file_path().map_err(|_| BlobError::Url(url.into()))?
            }
            Some(_) => return Err(BlobError::Url(url.into())),
            None => PathBuf::from(url),
        };
        std::fs::create_dir_all(&dir).map_err(|e| BlobError::Url(format!("{url}: {e}")))?;
        let dir = dir.canonicalize().map_err(|e| BlobError::Url(format!("{url}: {e}")))?;
        // fsync: an acknowledged upload survives a power cut, as the database row pointing at it does.
        let store = LocalFileSystem::new_with_prefix(&dir)?.with_fsync(true);
        Ok(Self {
            store: Arc::new(store),
            multipart: None,
            signer: None,
            description: format!("file://{}", dir.display()),
            local_root: Some(dir),
            timeout: DEFAULT_TIMEOUT,
        })
    }
}
