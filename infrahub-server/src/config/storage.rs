//! `[storage]`: the object store holding uploaded files and generated artifacts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Secret;

config_enum! {
    /// Where objects (files, artifacts) are stored.
    #[derive(Default)]
    pub enum StorageDriver {
        /// A local directory (the default).
        #[default]
        Local => "local",
        /// An S3-compatible bucket.
        S3 => "s3",
    }
}

/// `[storage]`: the object store. Environment prefix `INFRAHUB_STORAGE_`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Store implementation: `local` or `s3`. Default `local`; env `INFRAHUB_STORAGE_DRIVER`.
    pub driver: StorageDriver,
    /// `[storage.local]`: settings of the `local` driver.
    pub local: LocalStorageSettings,
    /// `[storage.s3]`: settings of the `s3` driver.
    pub s3: S3StorageSettings,
}

impl StorageSettings {
    /// Returns the directory of the local store: `local.path`, or `<data_dir>/storage`.
    pub fn local_path(&self, data_dir: &Path) -> PathBuf {
        match &self.local.path {
            Some(path) => path.clone(),
            None => data_dir.join("storage"),
        }
    }
}

/// `[storage.local]`: the local directory store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalStorageSettings {
    /// Directory of the store. Default unset, meaning `<main.data_dir>/storage` (upstream:
    /// `/opt/infrahub/storage`); env `INFRAHUB_STORAGE_LOCAL_PATH`.
    pub path: Option<PathBuf>,
}

/// `[storage.s3]`: the S3-compatible bucket store.
///
/// Besides the key names below, the file accepts upstream's spellings of these keys
/// (`AWS_ACCESS_KEY_ID`, `AWS_S3_BUCKET_NAME`, `INFRAHUB_STORAGE_BUCKET_NAME`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3StorageSettings {
    /// Access key id (secret). Default empty; env `AWS_ACCESS_KEY_ID`.
    #[serde(alias = "AWS_ACCESS_KEY_ID")]
    pub access_key_id: Secret,
    /// Secret access key (secret). Default empty; env `AWS_SECRET_ACCESS_KEY`.
    #[serde(alias = "AWS_SECRET_ACCESS_KEY")]
    pub secret_access_key: Secret,
    /// Bucket name. Default empty; env `INFRAHUB_STORAGE_BUCKET_NAME` or `AWS_S3_BUCKET_NAME`.
    #[serde(alias = "INFRAHUB_STORAGE_BUCKET_NAME", alias = "AWS_S3_BUCKET_NAME")]
    pub bucket_name: String,
    /// Endpoint URL, for S3-compatible services other than AWS. Default empty; env
    /// `INFRAHUB_STORAGE_ENDPOINT_URL` or `AWS_S3_ENDPOINT_URL`.
    #[serde(alias = "INFRAHUB_STORAGE_ENDPOINT_URL", alias = "AWS_S3_ENDPOINT_URL")]
    pub endpoint_url: String,
    /// Uses HTTPS. Default `true`; env `INFRAHUB_STORAGE_USE_SSL` or `AWS_S3_USE_SSL`.
    #[serde(alias = "INFRAHUB_STORAGE_USE_SSL", alias = "AWS_S3_USE_SSL")]
    pub use_ssl: bool,
    /// Canned ACL of new objects. Default `private`; env `INFRAHUB_STORAGE_DEFAULT_ACL` or
    /// `AWS_DEFAULT_ACL`.
    #[serde(alias = "INFRAHUB_STORAGE_DEFAULT_ACL", alias = "AWS_DEFAULT_ACL")]
    pub default_acl: String,
    /// Signs object URLs with query-string authentication. Default `false`; env
    /// `INFRAHUB_STORAGE_QUERYSTRING_AUTH` or `AWS_QUERYSTRING_AUTH`.
    #[serde(
        alias = "INFRAHUB_STORAGE_QUERYSTRING_AUTH",
        alias = "AWS_QUERYSTRING_AUTH"
    )]
    pub querystring_auth: bool,
    /// Custom domain serving the bucket. Default empty; env `INFRAHUB_STORAGE_CUSTOM_DOMAIN` or
    /// `AWS_S3_CUSTOM_DOMAIN`.
    #[serde(
        alias = "INFRAHUB_STORAGE_CUSTOM_DOMAIN",
        alias = "AWS_S3_CUSTOM_DOMAIN"
    )]
    pub custom_domain: String,
}

impl Default for S3StorageSettings {
    fn default() -> Self {
        Self {
            access_key_id: Secret::default(),
            secret_access_key: Secret::default(),
            bucket_name: String::new(),
            endpoint_url: String::new(),
            use_ssl: true,
            default_acl: "private".to_owned(),
            querystring_auth: false,
            custom_domain: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_path_defaults_under_the_data_dir() {
        let storage = StorageSettings::default();
        assert_eq!(storage.driver, StorageDriver::Local);
        assert_eq!(
            storage.local_path(Path::new("/var/lib/infrahub")),
            PathBuf::from("/var/lib/infrahub/storage")
        );
        let storage = StorageSettings {
            local: LocalStorageSettings {
                path: Some(PathBuf::from("/srv/objects")),
            },
            ..StorageSettings::default()
        };
        assert_eq!(
            storage.local_path(Path::new("/var/lib/infrahub")),
            PathBuf::from("/srv/objects")
        );
    }

    #[test]
    fn s3_defaults_match_upstream() {
        let s3 = S3StorageSettings::default();
        assert!(s3.access_key_id.is_empty() && s3.secret_access_key.is_empty());
        assert_eq!(s3.bucket_name, "");
        assert_eq!(s3.endpoint_url, "");
        assert!(s3.use_ssl);
        assert_eq!(s3.default_acl, "private");
        assert!(!s3.querystring_auth);
        assert_eq!(s3.custom_domain, "");
    }

    #[test]
    fn s3_accepts_upstream_key_spellings() {
        let s3: S3StorageSettings = toml::from_str(
            "AWS_S3_BUCKET_NAME = \"artifacts\"\nAWS_ACCESS_KEY_ID = \"key\"\nuse_ssl = false",
        )
        .unwrap();
        assert_eq!(s3.bucket_name, "artifacts");
        assert_eq!(s3.access_key_id.expose(), "key");
        assert!(!s3.use_ssl);
    }
}
