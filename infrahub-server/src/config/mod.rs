//! Typed server configuration: `infrahub.toml` plus `INFRAHUB_*` environment variables.
//!
//! The sections, keys, defaults and environment variable names follow upstream Infrahub, so an
//! existing `infrahub.toml` or container environment keeps working. A few keys are additions for
//! the embedded default deployment (`main.data_dir`, the `embedded`/`memory`/`local` drivers);
//! `docs/configuration.md` lists every key.
//!
//! Values are resolved in this order, later wins: built-in defaults, the configuration file,
//! the environment. Unknown keys in the file, values of the wrong type and out-of-range values
//! are errors that name the key and where it was set (`infrahub.toml:12`, or
//! `INFRAHUB_DB_PORT=abc`). Unknown `INFRAHUB_*` variables are ignored, because the SDK and the
//! test suites use the same prefix.
//!
//! # Examples
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use infrahub_server::config::{BrokerDriver, DatabaseType, Settings};
//!
//! // No file and no environment: the embedded, single-process deployment.
//! let settings = Settings::load(None, &BTreeMap::new())?;
//! assert_eq!(settings.database.db_type, DatabaseType::Embedded);
//! assert_eq!(settings.broker.driver, BrokerDriver::Memory);
//!
//! // The environment selects a distributed deployment.
//! let env = BTreeMap::from([
//!     ("INFRAHUB_DB_TYPE".to_owned(), "neo4j".to_owned()),
//!     ("INFRAHUB_DB_ADDRESS".to_owned(), "database.internal".to_owned()),
//!     ("INFRAHUB_BROKER_DRIVER".to_owned(), "rabbitmq".to_owned()),
//!     ("INFRAHUB_BROKER_TLS_ENABLED".to_owned(), "true".to_owned()),
//! ]);
//! let settings = Settings::load(None, &env)?;
//! assert_eq!(settings.database.database_uri(), "bolt://database.internal:7687");
//! assert_eq!(settings.broker.service_port(), 5671);
//! # Ok::<(), infrahub_server::config::ConfigError>(())
//! ```

/// Declares a configuration enum whose variants have fixed names in TOML and the environment.
macro_rules! config_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$variant_meta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every accepted name, in declaration order.
            pub(crate) const NAMES: &'static [&'static str] = &[$($text),+];

            /// The name of this value in `infrahub.toml` and in the environment.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod broker;
mod cache;
mod database;
mod env;
mod error;
mod file;
mod general;
mod initial;
mod observability;
mod registry;
mod secret;
mod security;
mod sso;
mod storage;
mod validate;
mod value;
mod workflow;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use broker::{BrokerDriver, BrokerSettings};
pub use cache::{CacheDriver, CacheSettings};
pub use database::{DatabaseSettings, DatabaseType};
pub use error::{ConfigError, ConfigErrorKind};
pub use general::{
    ApiSettings, DevelopmentSettings, EnterpriseFeature, ExperimentalFeaturesSettings, GitSettings,
    HttpSettings, MainSettings, MiscellaneousSettings, PolicySettings,
};
pub use initial::InitialSettings;
pub use observability::{
    AnalyticsSettings, LoggingSettings, RemoteLoggingSettings, TraceExporterType, TraceSettings,
    TraceTransportProtocol,
};
pub use secret::Secret;
pub use security::{OAuth2Provider, OidcProvider, SecuritySettings};
pub use sso::{
    OAuth2GoogleSettings, OAuth2ProviderSettings, OAuth2Settings, OidcGoogleSettings,
    OidcProviderSettings, OidcSettings, UserInfoMethod,
};
pub use storage::{LocalStorageSettings, S3StorageSettings, StorageDriver, StorageSettings};
pub use workflow::{ExtraLogLevel, WorkflowDriver, WorkflowSettings};

use error::Origins;

/// Environment variable naming the configuration file when no path is given explicitly.
pub const CONFIG_PATH_ENV: &str = "INFRAHUB_CONFIG";

/// The complete server configuration, one field per section of `infrahub.toml`.
///
/// `Settings::default()` is the embedded single-process deployment; [`Settings::load`] applies a
/// configuration file and the environment on top of it and validates the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `[main]`: general server behaviour (env prefix `INFRAHUB_`).
    pub main: MainSettings,
    /// `[api]`: CORS settings of the HTTP API (env prefix `INFRAHUB_API_`).
    pub api: ApiSettings,
    /// `[git]`: Git repository handling (env prefix `INFRAHUB_GIT_`).
    pub git: GitSettings,
    /// `[dev]`: development-only switches (env prefix `INFRAHUB_DEV_`).
    pub dev: DevelopmentSettings,
    /// `[http]`: outgoing HTTP requests such as webhooks (env prefix `INFRAHUB_HTTP_`).
    pub http: HttpSettings,
    /// `[database]`: the graph database (env prefix `INFRAHUB_DB_`).
    pub database: DatabaseSettings,
    /// `[broker]`: the message bus (env prefix `INFRAHUB_BROKER_`).
    pub broker: BrokerSettings,
    /// `[cache]`: the cache and distributed locks (env prefix `INFRAHUB_CACHE_`).
    pub cache: CacheSettings,
    /// `[workflow]`: the task runtime (env prefix `INFRAHUB_WORKFLOW_`).
    pub workflow: WorkflowSettings,
    /// `[miscellaneous]`: assorted tuning knobs (env prefix `INFRAHUB_MISC_`).
    pub miscellaneous: MiscellaneousSettings,
    /// `[logging]`: remote error reporting (env prefix `INFRAHUB_LOGGING_REMOTE_`).
    pub logging: LoggingSettings,
    /// `[analytics]`: product analytics (env prefix `INFRAHUB_ANALYTICS_`).
    pub analytics: AnalyticsSettings,
    /// `[initial]`: values used once, when the database is initialized (env prefix
    /// `INFRAHUB_INITIAL_`).
    pub initial: InitialSettings,
    /// `[policy]`: proposed change policies (env prefix `INFRAHUB_POLICY_`).
    pub policy: PolicySettings,
    /// `[security]`: authentication and single sign-on (env prefix `INFRAHUB_SECURITY_`).
    pub security: SecuritySettings,
    /// `[storage]`: the object store for files and artifacts (env prefix `INFRAHUB_STORAGE_`).
    pub storage: StorageSettings,
    /// `[trace]`: OpenTelemetry tracing (env prefix `INFRAHUB_TRACE_`).
    pub trace: TraceSettings,
    /// `[experimental_features]`: opt-in features (env prefix `INFRAHUB_EXPERIMENTAL_`).
    pub experimental_features: ExperimentalFeaturesSettings,
}

impl Settings {
    /// Loads the configuration: defaults, then the file, then the environment, then validation.
    ///
    /// The file is `config_path` when given, else the path in `INFRAHUB_CONFIG` from `env`, else
    /// there is no file. A file that was named but does not exist is an error. `env` is the
    /// process environment in the binary (`std::env::vars().collect()`) and an explicit map in
    /// tests; this function never reads the process environment itself.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key and where it was set when the file cannot be read or
    /// parsed, holds an unknown key or a value of the wrong type, when a known variable of `env`
    /// holds a value of the wrong type, or when a value is out of range.
    pub fn load(
        config_path: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let file = match config_path {
            Some(path) => Some((path.to_path_buf(), "given explicitly")),
            None => env
                .get(CONFIG_PATH_ENV)
                .filter(|path| !path.is_empty())
                .map(|path| (PathBuf::from(path), "named by INFRAHUB_CONFIG")),
        };
        let text = match &file {
            Some((path, how)) => Some(file::read(path, how)?),
            None => None,
        };
        let file = file.as_ref().map(|(path, _)| path.as_path());
        Self::load_text(file.zip(text.as_deref()), env)
    }

    /// Loads from configuration text already in memory (`file` is its path and content).
    pub(crate) fn load_text(
        file: Option<(&Path, &str)>,
        env: &BTreeMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let mut origins = Origins::default();
        let mut tree = match file {
            Some((path, text)) => file::parse(path, text, &mut origins)?,
            None => toml::Table::new(),
        };
        env::apply(env, &mut tree, &mut origins)?;
        let settings: Settings = toml::Value::Table(tree)
            .try_into()
            .map_err(|err: toml::de::Error| ConfigError::internal(err.message()))?;
        settings.validate_with(&origins)?;
        Ok(settings)
    }

    /// Returns every section as JSON with each secret replaced by `"***"` (or `null` when unset).
    ///
    /// Meant for startup logs and configuration endpoints: the output never holds a secret.
    pub fn redacted_json(&self) -> serde_json::Value {
        // `Secret` serializes as "***", so plain serialization is already redacted.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Returns the directory of the local object store: `storage.local.path`, or
    /// `<main.data_dir>/storage` when it is unset.
    pub fn storage_local_path(&self) -> PathBuf {
        self.storage.local_path(&self.main.data_dir)
    }

    /// How this process keeps Git repositories: `git.repositories_directory` (under
    /// `main.data_dir` when relative) and `git.sync_interval`.
    pub fn git_options(&self) -> infrahub_worker::repositories::GitOptions {
        infrahub_worker::repositories::GitOptions {
            repositories_directory: self.main.data_dir.join(&self.git.repositories_directory),
            sync_interval: std::time::Duration::from_secs(self.git.sync_interval.max(1)),
            python: infrahub_worker::python::PythonOptions {
                executable: self.git.python_executable.clone(),
                processes: usize::try_from(self.git.python_processes.clamp(1, 64)).unwrap_or(2),
            },
            server_address: self.main.internal_address.clone(),
            ..infrahub_worker::repositories::GitOptions::default()
        }
    }

    /// Returns the enterprise features that the policy settings turn on.
    pub fn enterprise_features(&self) -> Vec<EnterpriseFeature> {
        self.policy.enterprise_features()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    /// A configuration file in a fresh temporary directory, removed on drop.
    struct TempFile {
        dir: PathBuf,
        path: PathBuf,
    }

    impl TempFile {
        fn new(text: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("infrahub-config-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("infrahub.toml");
            std::fs::write(&path, text).unwrap();
            Self { dir, path }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn defaults_equal_upstream_apart_from_the_embedded_deployment() {
        // Upstream's defaults (secrets shown as redacted)...
        let mut expected = json!({
            "main": {
                "docs_index_path": "/opt/infrahub/docs/build/search-index.json",
                "internal_address": null,
                "allow_anonymous_access": true,
                "anonymous_access_role": "Anonymous User",
                "telemetry_optout": false,
                "telemetry_endpoint": "https://telemetry.opsmill.cloud/infrahub",
                "permission_backends": ["infrahub.permissions.LocalPermissionBackend"],
                "public_url": null,
                "schema_strict_mode": true
            },
            "api": {
                "cors_allow_origins": [],
                "cors_allow_methods": ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"],
                "cors_allow_headers": ["accept", "authorization", "content-type", "user-agent",
                                       "x-csrftoken", "x-requested-with"],
                "cors_allow_credentials": true,
                "request_header_timeout": 10,
                "request_body_timeout": 60,
                "max_connections": 1024,
                "shutdown_timeout": 10,
                "graphql_max_depth": 32,
                "graphql_max_fields": 10000,
                "graphql_max_aliases": 500,
                "graphql_max_introspection_fields": 8
            },
            "git": {
                "repositories_directory": "repositories",
                "sync_interval": 10,
                "python_executable": "python3",
                "python_processes": 2,
                "append_git_suffix": ["github.com", "gitlab.com"]
            },
            "dev": {"frontend_redirect_sso": false, "allow_enterprise_configuration": false},
            "http": {"timeout": 10, "tls_insecure": false, "tls_ca_bundle": null},
            "database": {
                "db_type": "neo4j", "protocol": "bolt", "username": "neo4j", "password": "***",
                "address": "localhost", "port": 7687, "database": null, "policy": null,
                "tls_enabled": false, "tls_insecure": false, "tls_ca_file": null,
                "query_size_limit": 5000, "max_depth_search_hierarchy": 5, "retry_limit": 3,
                "max_concurrent_queries": 0, "max_concurrent_queries_delay": 0.01
            },
            "broker": {
                "enable": true, "tls_enabled": false, "tls_insecure": false, "tls_ca_file": null,
                "username": "infrahub", "password": "***", "address": "localhost", "port": null,
                "rabbitmq_http_port": null, "namespace": "infrahub",
                "maximum_message_retries": 10, "maximum_concurrent_messages": 2,
                "virtualhost": "/", "driver": "rabbitmq"
            },
            "cache": {
                "enable": true, "address": "localhost", "port": null, "database": 0,
                "driver": "redis", "username": "", "password": "***", "tls_enabled": false,
                "tls_insecure": false, "tls_ca_file": null
            },
            "workflow": {
                "enable": true, "address": "localhost", "port": null, "tls_enabled": false,
                "driver": "worker", "default_worker_type": "infrahubasync", "extra_loggers": [],
                "extra_log_level": "INFO", "worker_polling_interval": 2
            },
            "miscellaneous": {
                "print_query_details": false, "start_background_runner": true,
                "maximum_validator_execution_time": 1800, "response_delay": 0
            },
            "logging": {"remote": {"enable": false, "frontend_dsn": null, "api_server_dsn": null,
                                   "git_agent_dsn": null}},
            "analytics": {"enable": true, "address": null, "api_key": null},
            "initial": {"default_branch": "main", "admin_token": null, "admin_password": "***",
                        "agent_token": null, "agent_password": null},
            "policy": {"required_proposed_change_approvals": 0,
                       "revoke_proposed_change_approvals": false},
            "security": {
                "access_token_lifetime": 3600, "refresh_token_lifetime": 2_592_000,
                "secret_key": "***", "oauth2_providers": [],
                "oauth2_provider_settings": {"google": null, "provider1": null, "provider2": null},
                "oidc_providers": [],
                "oidc_provider_settings": {"google": null, "provider1": null, "provider2": null},
                "restrict_untrusted_jinja2_filters": true, "sso_user_default_group": null
            },
            "storage": {
                "driver": "local",
                "local": {"path": "/opt/infrahub/storage"},
                "s3": {"access_key_id": "***", "secret_access_key": "***", "bucket_name": "",
                       "endpoint_url": "", "use_ssl": true, "default_acl": "private",
                       "querystring_auth": false, "custom_domain": ""}
            },
            "trace": {"enable": false, "insecure": true, "exporter_type": "console",
                      "exporter_protocol": "grpc", "exporter_endpoint": null},
            "experimental_features": {"graphql_enums": false, "value_db_index": false}
        });
        // ...and the deliberate differences of the embedded default deployment.
        expected["main"]["data_dir"] = json!("./infrahub-data");
        expected["database"]["db_type"] = json!("embedded");
        // Bolt connection keys upstream does not have.
        expected["database"]["pool_size"] = json!(16);
        expected["database"]["query_timeout"] = json!(60);
        expected["database"]["startup_timeout"] = json!(60);
        expected["broker"]["driver"] = json!("memory");
        expected["cache"]["driver"] = json!("memory");
        expected["workflow"]["driver"] = json!("local");
        expected["storage"]["local"]["path"] = json!(null); // <data_dir>/storage
        expected["security"]["secret_key"] = json!(null); // generated by the server
        assert_eq!(Settings::default().redacted_json(), expected);
        let settings = Settings::default();
        assert_eq!(settings.database.password.expose(), "admin");
        assert_eq!(settings.broker.password.expose(), "infrahub");
        assert_eq!(settings.initial.admin_password.expose(), "infrahub");
        assert_eq!(
            settings.storage_local_path(),
            PathBuf::from("./infrahub-data/storage")
        );
    }

    #[test]
    fn no_file_and_no_environment_gives_the_defaults() {
        let settings = Settings::load(None, &BTreeMap::new()).unwrap();
        assert_eq!(settings, Settings::default());
        assert!(settings.database.is_embedded());
        assert!(settings.enterprise_features().is_empty());
    }

    #[test]
    fn file_overrides_defaults_and_environment_overrides_file() {
        let file = TempFile::new(
            "[main]\ndata_dir = \"/var/lib/infrahub\"\n\n[database]\ndb_type = \"neo4j\"\naddress = \"file-db\"\nport = 7000\n\n[broker]\ndriver = \"rabbitmq\"\n",
        );
        let settings = Settings::load(Some(&file.path), &BTreeMap::new()).unwrap();
        assert_eq!(settings.main.data_dir, PathBuf::from("/var/lib/infrahub"));
        assert_eq!(settings.database.db_type, DatabaseType::Neo4j);
        assert_eq!(settings.database.database_uri(), "bolt://file-db:7000");
        assert_eq!(settings.broker.driver, BrokerDriver::RabbitMq);
        // Keys the file does not mention keep their defaults.
        assert_eq!(settings.database.username, "neo4j");
        assert_eq!(settings.cache, CacheSettings::default());

        let env = env(&[
            ("INFRAHUB_DB_ADDRESS", "env-db"),
            ("INFRAHUB_BROKER_PORT", "5673"),
        ]);
        let settings = Settings::load(Some(&file.path), &env).unwrap();
        assert_eq!(settings.database.database_uri(), "bolt://env-db:7000");
        assert_eq!(settings.broker.service_port(), 5673);
        assert_eq!(settings.broker.driver, BrokerDriver::RabbitMq);
    }

    #[test]
    fn infrahub_config_names_the_file_unless_a_path_is_given() {
        let named = TempFile::new("[database]\naddress = \"named-by-env\"\n");
        let given = TempFile::new("[database]\naddress = \"given\"\n");
        let named_path = named.path.to_string_lossy().into_owned();
        let env = env(&[(CONFIG_PATH_ENV, named_path.as_str())]);
        let settings = Settings::load(None, &env).unwrap();
        assert_eq!(settings.database.address, "named-by-env");
        let settings = Settings::load(Some(&given.path), &env).unwrap();
        assert_eq!(settings.database.address, "given");
        // An empty INFRAHUB_CONFIG means no file.
        let settings = Settings::load(None, &self::env(&[(CONFIG_PATH_ENV, "")])).unwrap();
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn a_named_file_that_does_not_exist_is_an_error() {
        let missing = std::env::temp_dir().join(format!("missing-{}.toml", uuid::Uuid::new_v4()));
        let err = Settings::load(Some(&missing), &BTreeMap::new()).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            format!(
                "configuration file `{}` (given explicitly) does not exist",
                missing.display()
            )
        );
        let missing_text = missing.to_string_lossy().into_owned();
        let err =
            Settings::load(None, &env(&[(CONFIG_PATH_ENV, missing_text.as_str())])).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::NotFound);
        assert!(
            err.to_string().contains("(named by INFRAHUB_CONFIG)"),
            "{err}"
        );
    }

    #[test]
    fn a_directory_is_not_a_readable_file() {
        let file = TempFile::new("");
        let err = Settings::load(Some(&file.dir), &BTreeMap::new()).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Io);
        assert!(
            err.to_string()
                .starts_with("cannot read configuration file"),
            "{err}"
        );
    }

    #[test]
    fn errors_in_a_real_file_name_its_path_and_line() {
        let file = TempFile::new("[database]\n\nport = \"x\"\n");
        let err = Settings::load(Some(&file.path), &BTreeMap::new()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}:3: `database.port`", file.path.display())),
            "{err}"
        );
    }
}
