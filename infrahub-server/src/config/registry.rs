//! The list of every configuration key: its dotted path, kind, environment variables and the
//! extra spellings the file accepts.
//!
//! The file reader and the environment reader both work from this list, so a key exists in
//! exactly one place; a test checks it against the fields of `Settings`.

use std::sync::LazyLock;

use super::value::Kind;
use super::{
    BrokerDriver, CacheDriver, DatabaseType, ExtraLogLevel, OAuth2Provider, OidcProvider,
    StorageDriver, TraceExporterType, TraceTransportProtocol, UserInfoMethod, WorkflowDriver,
};

/// One configuration key.
#[derive(Debug)]
pub(crate) struct KeySpec {
    /// Dotted path, `database.port`.
    pub(crate) path: String,
    /// Environment variables that set the key, the first present wins.
    pub(crate) env: Vec<String>,
    /// Other names of the key accepted in the file (upstream's spellings).
    pub(crate) file_aliases: Vec<&'static str>,
    /// Type of the value.
    pub(crate) kind: Kind,
}

impl KeySpec {
    /// Returns the last segment of the path, the key's name within its table.
    pub(crate) fn name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }

    /// Returns the dotted path of the table holding the key (`""` for the root).
    pub(crate) fn table(&self) -> &str {
        self.path.rsplit_once('.').map_or("", |(table, _)| table)
    }
}

/// A port.
const U16: Kind = Kind::U16;
/// A small integer.
const U8: Kind = Kind::U8;
/// Any non-negative integer.
const U64: Kind = Kind::U64;

static KEYS: LazyLock<Vec<KeySpec>> = LazyLock::new(build);

/// Returns every key, in the order of the fields of `Settings`.
pub(crate) fn keys() -> &'static [KeySpec] {
    &KEYS
}

/// Finds the key named `name` (or one of its file aliases) in the table `table`.
pub(crate) fn find(table: &str, name: &str) -> Option<&'static KeySpec> {
    keys()
        .iter()
        .filter(|spec| spec.table() == table)
        .find(|spec| spec.name() == name || spec.file_aliases.contains(&name))
}

/// Returns true when `path` is a table (a section or subsection) rather than a key.
pub(crate) fn is_table(path: &str) -> bool {
    path.is_empty()
        || keys().iter().any(|spec| {
            spec.path
                .strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('.'))
        })
}

/// Returns the names allowed directly in `table` (`""` for the root), in declaration order.
pub(crate) fn children(table: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for spec in keys() {
        let rest = if table.is_empty() {
            Some(spec.path.as_str())
        } else {
            spec.path
                .strip_prefix(table)
                .and_then(|rest| rest.strip_prefix('.'))
        };
        if let Some(name) = rest.and_then(|rest| rest.split('.').next())
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    names
}

/// Collects keys section by section.
struct Builder {
    keys: Vec<KeySpec>,
}

impl Builder {
    /// Adds keys of `table` whose variable is `env_prefix` followed by the upper-cased name.
    fn section(&mut self, table: &str, env_prefix: &str, entries: &[(&str, Kind)]) {
        for (name, kind) in entries {
            let env = format!("{env_prefix}{}", name.to_ascii_uppercase());
            self.key(&format!("{table}.{name}"), *kind, &[&env], &[]);
        }
    }

    /// Adds one key with explicit variable names and file aliases.
    fn key(&mut self, path: &str, kind: Kind, env: &[&str], file_aliases: &[&'static str]) {
        self.keys.push(KeySpec {
            path: path.to_owned(),
            env: env.iter().map(|name| (*name).to_owned()).collect(),
            file_aliases: file_aliases.to_vec(),
            kind,
        });
    }
}

/// Builds the list of keys.
fn build() -> Vec<KeySpec> {
    use Kind::{Bool, Enum, Float, List, Secret, Str};

    let mut b = Builder { keys: Vec::new() };
    b.section(
        "main",
        "INFRAHUB_",
        &[
            ("data_dir", Str),
            ("docs_index_path", Str),
            ("internal_address", Str),
            ("allow_anonymous_access", Bool),
            ("anonymous_access_role", Str),
            ("telemetry_optout", Bool),
            ("telemetry_endpoint", Str),
            ("permission_backends", List),
            ("public_url", Str),
            ("schema_strict_mode", Bool),
        ],
    );
    b.section(
        "api",
        "INFRAHUB_API_",
        &[
            ("cors_allow_origins", List),
            ("cors_allow_methods", List),
            ("cors_allow_headers", List),
            ("cors_allow_credentials", Bool),
            ("request_header_timeout", U64),
            ("request_body_timeout", U64),
            ("max_connections", U64),
            ("shutdown_timeout", U64),
            ("graphql_max_depth", U64),
            ("graphql_max_fields", U64),
            ("graphql_max_aliases", U64),
            ("graphql_max_introspection_fields", U64),
        ],
    );
    b.section(
        "git",
        "INFRAHUB_GIT_",
        &[
            ("repositories_directory", Str),
            ("sync_interval", U64),
            ("append_git_suffix", List),
            ("python_executable", Str),
            ("python_processes", U64),
        ],
    );
    b.section(
        "dev",
        "INFRAHUB_DEV_",
        &[
            ("frontend_redirect_sso", Bool),
            ("allow_enterprise_configuration", Bool),
        ],
    );
    b.section(
        "http",
        "INFRAHUB_HTTP_",
        &[
            ("timeout", U64),
            ("tls_insecure", Bool),
            ("tls_ca_bundle", Str),
        ],
    );
    // Upstream names this variable INFRAHUB_DB_TYPE, not INFRAHUB_DB_DB_TYPE.
    b.key(
        "database.db_type",
        Enum(DatabaseType::NAMES),
        &["INFRAHUB_DB_TYPE"],
        &[],
    );
    b.section(
        "database",
        "INFRAHUB_DB_",
        &[
            ("protocol", Str),
            ("username", Str),
            ("password", Secret),
            ("address", Str),
            ("port", U16),
            ("database", Str),
            ("policy", Str),
            ("tls_enabled", Bool),
            ("tls_insecure", Bool),
            ("tls_ca_file", Str),
            ("query_size_limit", U64),
            ("max_depth_search_hierarchy", U64),
            ("retry_limit", U64),
            ("max_concurrent_queries", U64),
            ("max_concurrent_queries_delay", Float),
            ("pool_size", U64),
            ("query_timeout", U64),
            ("startup_timeout", U64),
        ],
    );
    b.section(
        "broker",
        "INFRAHUB_BROKER_",
        &[
            ("enable", Bool),
            ("tls_enabled", Bool),
            ("tls_insecure", Bool),
            ("tls_ca_file", Str),
            ("username", Str),
            ("password", Secret),
            ("address", Str),
            ("port", U16),
            ("rabbitmq_http_port", U16),
            ("namespace", Str),
            ("maximum_message_retries", U64),
            ("maximum_concurrent_messages", U64),
            ("virtualhost", Str),
            ("driver", Enum(BrokerDriver::NAMES)),
        ],
    );
    b.section(
        "cache",
        "INFRAHUB_CACHE_",
        &[
            ("enable", Bool),
            ("address", Str),
            ("port", U16),
            ("database", U8),
            ("driver", Enum(CacheDriver::NAMES)),
            ("username", Str),
            ("password", Secret),
            ("tls_enabled", Bool),
            ("tls_insecure", Bool),
            ("tls_ca_file", Str),
        ],
    );
    b.section(
        "workflow",
        "INFRAHUB_WORKFLOW_",
        &[
            ("enable", Bool),
            ("address", Str),
            ("port", U16),
            ("tls_enabled", Bool),
            ("driver", Enum(WorkflowDriver::NAMES)),
            ("default_worker_type", Str),
            ("extra_loggers", List),
            ("extra_log_level", Enum(ExtraLogLevel::NAMES)),
            ("worker_polling_interval", U64),
        ],
    );
    b.section(
        "miscellaneous",
        "INFRAHUB_MISC_",
        &[
            ("print_query_details", Bool),
            ("start_background_runner", Bool),
            ("maximum_validator_execution_time", U64),
            ("response_delay", U64),
        ],
    );
    b.section(
        "logging.remote",
        "INFRAHUB_LOGGING_REMOTE_",
        &[
            ("enable", Bool),
            ("frontend_dsn", Str),
            ("api_server_dsn", Str),
            ("git_agent_dsn", Str),
        ],
    );
    b.section(
        "analytics",
        "INFRAHUB_ANALYTICS_",
        &[("enable", Bool), ("address", Str), ("api_key", Secret)],
    );
    b.section(
        "initial",
        "INFRAHUB_INITIAL_",
        &[
            ("default_branch", Str),
            ("admin_token", Secret),
            ("admin_password", Secret),
            ("agent_token", Secret),
            ("agent_password", Secret),
        ],
    );
    b.section(
        "policy",
        "INFRAHUB_POLICY_",
        &[
            ("required_proposed_change_approvals", U64),
            ("revoke_proposed_change_approvals", Bool),
        ],
    );
    security(&mut b);
    storage(&mut b);
    b.section(
        "trace",
        "INFRAHUB_TRACE_",
        &[
            ("enable", Bool),
            ("insecure", Bool),
            ("exporter_type", Enum(TraceExporterType::NAMES)),
            ("exporter_protocol", Enum(TraceTransportProtocol::NAMES)),
            ("exporter_endpoint", Str),
        ],
    );
    b.section(
        "experimental_features",
        "INFRAHUB_EXPERIMENTAL_",
        &[("graphql_enums", Bool), ("value_db_index", Bool)],
    );
    b.keys
}

/// The `security` section with its per-provider subsections.
fn security(b: &mut Builder) {
    use Kind::{Bool, Enum, EnumList, List, Secret, Str};

    let prefix = "INFRAHUB_SECURITY_";
    b.section(
        "security",
        prefix,
        &[
            ("access_token_lifetime", U64),
            ("refresh_token_lifetime", U64),
            ("secret_key", Secret),
            ("oauth2_providers", EnumList(OAuth2Provider::NAMES)),
        ],
    );
    let google_extra = [("fetch_groups", Bool), ("cloudidentity_url", Str)];
    for provider in OAuth2Provider::NAMES {
        let mut entries = vec![
            ("client_id", Str),
            ("client_secret", Secret),
            ("authorization_url", Str),
            ("token_url", Str),
            ("userinfo_url", Str),
            ("scopes", List),
            ("display_label", Str),
            ("icon", Str),
            ("userinfo_method", Enum(UserInfoMethod::NAMES)),
        ];
        if *provider == "google" {
            entries.extend(google_extra);
        }
        let table = format!("security.oauth2_provider_settings.{provider}");
        let env_prefix = format!("INFRAHUB_OAUTH2_{}_", provider.to_ascii_uppercase());
        b.section(&table, &env_prefix, &entries);
    }
    b.section(
        "security",
        prefix,
        &[("oidc_providers", EnumList(OidcProvider::NAMES))],
    );
    for provider in OidcProvider::NAMES {
        let mut entries = vec![
            ("client_id", Str),
            ("client_secret", Secret),
            ("discovery_url", Str),
            ("scopes", List),
            ("icon", Str),
            ("display_label", Str),
            ("userinfo_method", Enum(UserInfoMethod::NAMES)),
        ];
        if *provider == "google" {
            entries.extend(google_extra);
        }
        let table = format!("security.oidc_provider_settings.{provider}");
        let env_prefix = format!("INFRAHUB_OIDC_{}_", provider.to_ascii_uppercase());
        b.section(&table, &env_prefix, &entries);
    }
    b.section(
        "security",
        prefix,
        &[
            ("restrict_untrusted_jinja2_filters", Bool),
            ("sso_user_default_group", Str),
        ],
    );
}

/// The `storage` section; S3 keys carry upstream's variable names and file spellings.
fn storage(b: &mut Builder) {
    use Kind::{Bool, Enum, Secret, Str};

    b.key(
        "storage.driver",
        Enum(StorageDriver::NAMES),
        &["INFRAHUB_STORAGE_DRIVER"],
        &[],
    );
    b.key(
        "storage.local.path",
        Str,
        &["INFRAHUB_STORAGE_LOCAL_PATH"],
        &[],
    );
    let s3: [(&str, Kind, &[&'static str]); 8] = [
        ("access_key_id", Secret, &["AWS_ACCESS_KEY_ID"]),
        ("secret_access_key", Secret, &["AWS_SECRET_ACCESS_KEY"]),
        (
            "bucket_name",
            Str,
            &["INFRAHUB_STORAGE_BUCKET_NAME", "AWS_S3_BUCKET_NAME"],
        ),
        (
            "endpoint_url",
            Str,
            &["INFRAHUB_STORAGE_ENDPOINT_URL", "AWS_S3_ENDPOINT_URL"],
        ),
        (
            "use_ssl",
            Bool,
            &["INFRAHUB_STORAGE_USE_SSL", "AWS_S3_USE_SSL"],
        ),
        (
            "default_acl",
            Str,
            &["INFRAHUB_STORAGE_DEFAULT_ACL", "AWS_DEFAULT_ACL"],
        ),
        (
            "querystring_auth",
            Bool,
            &["INFRAHUB_STORAGE_QUERYSTRING_AUTH", "AWS_QUERYSTRING_AUTH"],
        ),
        (
            "custom_domain",
            Str,
            &["INFRAHUB_STORAGE_CUSTOM_DOMAIN", "AWS_S3_CUSTOM_DOMAIN"],
        ),
    ];
    for (name, kind, names) in s3 {
        // The variables double as the key's spellings in the file, as upstream accepts.
        b.key(&format!("storage.s3.{name}"), kind, names, names);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::config::{
        OAuth2GoogleSettings, OAuth2Settings, OidcGoogleSettings, OidcSettings, Settings,
    };

    /// Collects the dotted paths of the leaves of a JSON tree (arrays are leaves).
    fn leaves(prefix: &str, value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (name, child) in map {
                    let path = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    leaves(&path, child, out);
                }
            }
            _ => {
                out.insert(prefix.to_owned());
            }
        }
    }

    #[test]
    fn every_field_of_settings_is_a_key_and_every_key_a_field() {
        // Fill the optional provider tables so their fields appear in the serialization.
        let mut settings = Settings::default();
        let oauth2 = &mut settings.security.oauth2_provider_settings;
        oauth2.google = Some(OAuth2GoogleSettings::default());
        oauth2.provider1 = Some(OAuth2Settings::default());
        oauth2.provider2 = Some(OAuth2Settings::default());
        let oidc = &mut settings.security.oidc_provider_settings;
        oidc.google = Some(OidcGoogleSettings::default());
        oidc.provider1 = Some(OidcSettings::default());
        oidc.provider2 = Some(OidcSettings::default());

        let mut fields = BTreeSet::new();
        leaves("", &settings.redacted_json(), &mut fields);
        let registered: BTreeSet<String> = keys().iter().map(|spec| spec.path.clone()).collect();
        assert_eq!(fields, registered);
        assert_eq!(registered.len(), keys().len(), "a key is registered twice");
    }

    #[test]
    fn every_key_has_a_variable_and_variables_are_unique() {
        let mut seen = BTreeSet::new();
        for spec in keys() {
            assert!(!spec.env.is_empty(), "{} has no variable", spec.path);
            for name in &spec.env {
                assert!(seen.insert(name.clone()), "{name} sets two keys");
            }
        }
        let port = keys().iter().find(|spec| spec.path == "database.port");
        assert_eq!(
            port.map(|spec| spec.env.clone()),
            Some(vec!["INFRAHUB_DB_PORT".to_owned()])
        );
    }

    #[test]
    fn tables_and_children_follow_the_structure() {
        assert!(is_table("storage") && is_table("storage.s3") && is_table(""));
        assert!(!is_table("storage.driver") && !is_table("stor"));
        assert_eq!(children("storage"), ["driver", "local", "s3"]);
        assert_eq!(children("")[0], "main");
        assert_eq!(children("").len(), 18);
        assert_eq!(
            find("storage.s3", "AWS_S3_BUCKET_NAME").map(|spec| spec.path.as_str()),
            Some("storage.s3.bucket_name")
        );
        assert!(find("database", "adress").is_none());
    }

    #[test]
    fn the_documentation_lists_every_key_and_variable() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let docs = std::fs::read_to_string(path).unwrap();
        for spec in keys() {
            assert!(
                docs.contains(&format!("`{}`", spec.name())),
                "docs/configuration.md does not mention key {}",
                spec.path
            );
            // Provider variables are documented by prefix (`INFRAHUB_OAUTH2_PROVIDER1_*`).
            if spec.path.contains("_provider_settings.") {
                continue;
            }
            for name in &spec.env {
                assert!(
                    docs.contains(name.as_str()),
                    "docs/configuration.md does not mention {name}"
                );
            }
        }
    }
}
