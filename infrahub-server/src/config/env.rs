//! Applying `INFRAHUB_*` (and upstream's `AWS_*`) environment variables over the file values.
//!
//! Only variables named by the registry are read; any other variable, including the SDK's own
//! `INFRAHUB_ADDRESS` or `INFRAHUB_API_TOKEN`, is ignored. Names match case-insensitively, as
//! upstream's settings library does, with an exact upper-case match preferred.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::error::{ConfigError, Origin, Origins};
use super::registry;

/// Looks variables up by exact name, then case-insensitively.
struct Lookup<'a> {
    exact: &'a BTreeMap<String, String>,
    folded: BTreeMap<String, (&'a str, &'a str)>,
}

impl<'a> Lookup<'a> {
    fn new(env: &'a BTreeMap<String, String>) -> Self {
        let mut folded = BTreeMap::new();
        for (name, value) in env {
            folded
                .entry(name.to_ascii_uppercase())
                .or_insert((name.as_str(), value.as_str()));
        }
        Self { exact: env, folded }
    }

    /// Returns the variable's actual name and its value.
    fn get(&self, name: &str) -> Option<(&'a str, &'a str)> {
        match self.exact.get_key_value(name) {
            Some((name, value)) => Some((name.as_str(), value.as_str())),
            None => self.folded.get(name).copied(),
        }
    }
}

/// Sets every key whose variable is present in `env`, recording the variable as its origin.
///
/// # Errors
///
/// The first variable (in key order) whose value does not parse as its key's type.
pub(crate) fn apply(
    env: &BTreeMap<String, String>,
    tree: &mut Table,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let lookup = Lookup::new(env);
    for spec in registry::keys() {
        let Some((name, raw)) = spec.env.iter().find_map(|name| lookup.get(name)) else {
            continue;
        };
        let shown = if spec.kind.is_secret() {
            "***".to_owned()
        } else {
            super::value::shorten(raw)
        };
        let origin = Origin::Env {
            name: name.to_owned(),
            value: shown,
        };
        match spec.kind.parse_env(raw) {
            Ok(value) => {
                insert(tree, &spec.path, value)?;
                origins.set(&spec.path, origin);
            }
            Err(kind) => {
                let detail = format!(
                    "expected {} (key `{}`)",
                    spec.kind.env_expectation(),
                    spec.path
                );
                return Err(ConfigError::at(kind, &spec.path, Some(&origin), &detail));
            }
        }
    }
    Ok(())
}

/// Sets the value at a dotted path, creating the tables on the way.
fn insert(tree: &mut Table, path: &str, value: Value) -> Result<(), ConfigError> {
    let mut table = tree;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        if segments.peek().is_none() {
            table.insert(segment.to_owned(), value);
            return Ok(());
        }
        let entry = table
            .entry(segment.to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        table = match entry {
            Value::Table(next) => next,
            _ => return Err(ConfigError::internal(&format!("`{path}` is not a table"))),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::config::{BrokerDriver, CacheDriver, ConfigErrorKind, DatabaseType, Settings};

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load(None, &env(pairs))
    }

    fn error(pairs: &[(&str, &str)]) -> ConfigError {
        match load(pairs) {
            Ok(settings) => panic!("expected an error, loaded {settings:?}"),
            Err(err) => err,
        }
    }

    #[test]
    fn variables_set_keys_of_every_section() {
        let settings = load(&[
            ("INFRAHUB_ALLOW_ANONYMOUS_ACCESS", "false"),
            ("INFRAHUB_DATA_DIR", "/var/lib/infrahub"),
            ("INFRAHUB_DB_TYPE", "memgraph"),
            ("INFRAHUB_DB_ADDRESS", "graph.internal"),
            ("INFRAHUB_DB_PORT", "7688"),
            ("INFRAHUB_BROKER_ADDRESS", "bus.internal"),
            ("INFRAHUB_BROKER_DRIVER", "nats"),
            ("INFRAHUB_CACHE_DRIVER", "redis"),
            ("INFRAHUB_INITIAL_ADMIN_PASSWORD", "s3cret"),
            ("INFRAHUB_SECURITY_SECRET_KEY", "signing-key"),
            ("INFRAHUB_STORAGE_DRIVER", "s3"),
            ("INFRAHUB_STORAGE_LOCAL_PATH", "/srv/objects"),
            ("INFRAHUB_STORAGE_BUCKET_NAME", "artifacts"),
            ("INFRAHUB_LOGGING_REMOTE_ENABLE", "1"),
            ("INFRAHUB_MISC_RESPONSE_DELAY", "2"),
        ])
        .unwrap();
        assert!(!settings.main.allow_anonymous_access);
        assert_eq!(settings.main.data_dir, PathBuf::from("/var/lib/infrahub"));
        assert_eq!(settings.database.db_type, DatabaseType::Memgraph);
        assert_eq!(
            settings.database.database_uri(),
            "bolt://graph.internal:7688"
        );
        assert_eq!(settings.broker.address, "bus.internal");
        assert_eq!(settings.broker.service_port(), 4222);
        assert_eq!(settings.cache.driver, CacheDriver::Redis);
        assert_eq!(settings.initial.admin_password.expose(), "s3cret");
        let secret_key = settings
            .security
            .secret_key
            .as_ref()
            .map(|key| key.expose());
        assert_eq!(secret_key, Some("signing-key"));
        assert_eq!(settings.storage_local_path(), PathBuf::from("/srv/objects"));
        assert_eq!(settings.storage.s3.bucket_name, "artifacts");
        assert!(settings.logging.remote.enable);
        assert_eq!(settings.miscellaneous.response_delay, 2);
    }

    #[test]
    fn tls_variables_of_database_broker_and_cache() {
        let settings = load(&[
            ("INFRAHUB_DB_TLS_ENABLED", "true"),
            ("INFRAHUB_DB_TLS_INSECURE", "yes"),
            ("INFRAHUB_DB_TLS_CA_FILE", "/certs/db.pem"),
            ("INFRAHUB_BROKER_DRIVER", "rabbitmq"),
            ("INFRAHUB_BROKER_TLS_ENABLED", "True"),
            ("INFRAHUB_BROKER_TLS_CA_FILE", "/certs/bus.pem"),
            ("INFRAHUB_CACHE_TLS_ENABLED", "1"),
            ("INFRAHUB_CACHE_TLS_INSECURE", "on"),
            ("INFRAHUB_CACHE_TLS_CA_FILE", "/certs/cache.pem"),
        ])
        .unwrap();
        let db = &settings.database;
        assert!(db.tls_enabled && db.tls_insecure);
        assert_eq!(db.tls_ca_file.as_deref(), Some(Path::new("/certs/db.pem")));
        let broker = &settings.broker;
        assert!(broker.tls_enabled && !broker.tls_insecure);
        assert_eq!(broker.driver, BrokerDriver::RabbitMq);
        assert_eq!(broker.service_port(), 5671);
        assert_eq!(
            broker.tls_ca_file.as_deref(),
            Some(Path::new("/certs/bus.pem"))
        );
        let cache = &settings.cache;
        assert!(cache.tls_enabled && cache.tls_insecure);
        assert_eq!(
            cache.tls_ca_file.as_deref(),
            Some(Path::new("/certs/cache.pem"))
        );
        let err = error(&[("INFRAHUB_CACHE_TLS_ENABLED", "sure")]);
        assert_eq!(
            err.to_string(),
            "INFRAHUB_CACHE_TLS_ENABLED=sure: expected a boolean (true/false, 1/0, yes/no, on/off) (key `cache.tls_enabled`)"
        );
    }

    #[test]
    fn unknown_and_sdk_variables_are_ignored() {
        let settings = load(&[
            ("INFRAHUB_ADDRESS", "http://localhost:8000"),
            ("INFRAHUB_API_TOKEN", "06438eb2-8019-4776-878c-0941b1f1d1ec"),
            ("INFRAHUB_USERNAME", "admin"),
            ("INFRAHUB_TEST_REDIS_URL", "redis://localhost"),
            ("INFRAHUB_DB_NOT_A_KEY", "whatever"),
            ("PATH", "/usr/bin"),
        ])
        .unwrap();
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn wrong_values_name_the_variable() {
        let err = error(&[("INFRAHUB_DB_PORT", "abc")]);
        assert_eq!(err.kind(), ConfigErrorKind::InvalidType);
        assert_eq!(err.key(), Some("database.port"));
        assert_eq!(
            err.to_string(),
            "INFRAHUB_DB_PORT=abc: expected an integer 0-65535 (key `database.port`)"
        );
        let err = error(&[("INFRAHUB_BROKER_PORT", "70000")]);
        assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
        assert!(
            err.to_string()
                .starts_with("INFRAHUB_BROKER_PORT=70000: expected an integer 0-65535"),
            "{err}"
        );
        let err = error(&[("INFRAHUB_DB_TYPE", "postgres")]);
        assert_eq!(
            err.to_string(),
            "INFRAHUB_DB_TYPE=postgres: expected one of: embedded, neo4j, memgraph (key `database.db_type`)"
        );
        let err = error(&[("INFRAHUB_SECURITY_OAUTH2_PROVIDERS", "google,github")]);
        assert!(err.to_string().starts_with("INFRAHUB_SECURITY_OAUTH2_PROVIDERS=google,github: expected a JSON array or a comma-separated list of: google, provider1, provider2"), "{err}");
    }

    #[test]
    fn lists_accept_json_and_commas() {
        let settings = load(&[
            (
                "INFRAHUB_API_CORS_ALLOW_ORIGINS",
                r#"["https://a.example", "https://b.example"]"#,
            ),
            (
                "INFRAHUB_GIT_APPEND_GIT_SUFFIX",
                "github.com, git.example.com",
            ),
        ])
        .unwrap();
        assert_eq!(
            settings.api.cors_allow_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(
            settings.git.append_git_suffix,
            ["github.com", "git.example.com"]
        );
        let err = error(&[("INFRAHUB_API_CORS_ALLOW_ORIGINS", "[\"https://a.example\"")]);
        assert!(
            err.to_string()
                .contains("expected a JSON array of strings or a comma-separated list"),
            "{err}"
        );
    }

    #[test]
    fn aws_aliases_and_their_priority() {
        let settings = load(&[
            ("AWS_ACCESS_KEY_ID", "key-id"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_S3_BUCKET_NAME", "from-aws"),
            ("AWS_S3_ENDPOINT_URL", "https://minio.internal"),
            ("INFRAHUB_STORAGE_ENDPOINT_URL", "https://s3.internal"),
            ("AWS_S3_USE_SSL", "false"),
        ])
        .unwrap();
        let s3 = &settings.storage.s3;
        assert_eq!(s3.access_key_id.expose(), "key-id");
        assert_eq!(s3.secret_access_key.expose(), "secret");
        assert_eq!(s3.bucket_name, "from-aws");
        // The INFRAHUB_ name wins over the AWS_ one, as upstream lists it first.
        assert_eq!(s3.endpoint_url, "https://s3.internal");
        assert!(!s3.use_ssl);
    }

    #[test]
    fn names_match_case_insensitively_preferring_exact_case() {
        let settings = load(&[("infrahub_db_address", "lower.internal")]).unwrap();
        assert_eq!(settings.database.address, "lower.internal");
        let settings = load(&[
            ("INFRAHUB_DB_ADDRESS", "exact.internal"),
            ("infrahub_db_address", "lower.internal"),
        ])
        .unwrap();
        assert_eq!(settings.database.address, "exact.internal");
    }

    #[test]
    fn sso_provider_variables_build_the_provider_table() {
        let settings = load(&[
            ("INFRAHUB_SECURITY_OIDC_PROVIDERS", r#"["provider1"]"#),
            ("INFRAHUB_OIDC_PROVIDER1_CLIENT_ID", "infrahub"),
            ("INFRAHUB_OIDC_PROVIDER1_CLIENT_SECRET", "oidc-secret"),
            (
                "INFRAHUB_OIDC_PROVIDER1_DISCOVERY_URL",
                "https://id.example/.well-known/openid-configuration",
            ),
            ("INFRAHUB_OIDC_PROVIDER1_SCOPES", "openid,email"),
        ])
        .unwrap();
        let provider = settings.security.oidc_provider_settings.provider1.unwrap();
        assert_eq!(provider.client_id.as_deref(), Some("infrahub"));
        assert_eq!(provider.scopes, ["openid", "email"]);
        assert_eq!(provider.display_label, "Single Sign on");
    }

    #[test]
    fn secret_values_are_masked_in_errors() {
        let tree = &mut Table::new();
        let origins = &mut Origins::default();
        apply(&env(&[("INFRAHUB_DB_PASSWORD", "hunter2")]), tree, origins).unwrap();
        let origin = origins.get("database.password").map(ToString::to_string);
        assert_eq!(origin.as_deref(), Some("INFRAHUB_DB_PASSWORD=***"));
    }
}
