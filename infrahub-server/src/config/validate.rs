//! Rules the field types cannot express: ranges, the database name pattern, distinct initial
//! tokens and complete SSO providers.

use super::database::is_valid_database_name;
use super::error::{ConfigError, ConfigErrorKind, Origins};
use super::{
    OAuth2GoogleSettings, OAuth2Provider, OAuth2Settings, OidcGoogleSettings, OidcProvider,
    OidcSettings, Settings,
};

impl Settings {
    /// Checks the rules that the field types cannot express.
    ///
    /// Ranges (`database.query_size_limit` >= 1, `workflow.worker_polling_interval` 1-30,
    /// ports >= 1, token lifetimes > 0, ...), the pattern of `database.database`, distinct
    /// `initial.admin_token` and `initial.agent_token`, and complete settings for every
    /// enabled SSO provider. [`Settings::load`] runs it; call it after changing settings in
    /// code.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_with(&Origins::default())
    }

    /// Validates, prefixing each message with where the offending key was set.
    pub(crate) fn validate_with(&self, origins: &Origins) -> Result<(), ConfigError> {
        let check = Checker { origins };
        let api = &self.api;
        for (key, value, min, max) in [
            (
                "api.request_header_timeout",
                api.request_header_timeout,
                1,
                Some(3600),
            ),
            (
                "api.request_body_timeout",
                api.request_body_timeout,
                1,
                Some(86_400),
            ),
            (
                "api.max_connections",
                api.max_connections,
                1,
                Some(1_000_000),
            ),
            ("api.shutdown_timeout", api.shutdown_timeout, 0, Some(3600)),
            ("api.graphql_max_depth", api.graphql_max_depth, 1, Some(256)),
            ("api.graphql_max_fields", api.graphql_max_fields, 1, None),
            ("api.graphql_max_aliases", api.graphql_max_aliases, 0, None),
            (
                "api.graphql_max_introspection_fields",
                api.graphql_max_introspection_fields,
                0,
                None,
            ),
        ] {
            check.range(key, value, min, max)?;
        }
        let db = &self.database;
        check.range("database.query_size_limit", db.query_size_limit, 1, None)?;
        check.range(
            "database.max_depth_search_hierarchy",
            db.max_depth_search_hierarchy,
            0,
            Some(20),
        )?;
        check.range("database.pool_size", db.pool_size, 1, Some(1024))?;
        check.range("database.query_timeout", db.query_timeout, 1, None)?;
        check.range("git.sync_interval", self.git.sync_interval, 1, Some(86_400))?;
        check.range(
            "git.python_processes",
            self.git.python_processes,
            1,
            Some(64),
        )?;
        if !(db.max_concurrent_queries_delay.is_finite() && db.max_concurrent_queries_delay >= 0.0)
        {
            return Err(check.invalid(
                "database.max_concurrent_queries_delay",
                &format!(
                    "must be a number >= 0, found {}",
                    db.max_concurrent_queries_delay
                ),
            ));
        }
        if let Some(name) = &db.database
            && !is_valid_database_name(name)
        {
            return Err(check.invalid(
                "database.database",
                &format!(
                    "must be a lowercase letter followed by lowercase letters, digits or dots, found \"{name}\""
                ),
            ));
        }
        let ports = [
            ("broker.port", self.broker.port),
            ("broker.rabbitmq_http_port", self.broker.rabbitmq_http_port),
            ("cache.port", self.cache.port),
            ("workflow.port", self.workflow.port),
        ];
        for (key, port) in ports {
            if let Some(port) = port {
                check.range(key, port.into(), 1, Some(65535))?;
            }
        }
        let broker = &self.broker;
        check.range(
            "broker.maximum_concurrent_messages",
            broker.maximum_concurrent_messages,
            1,
            None,
        )?;
        check.range("cache.database", self.cache.database.into(), 0, Some(15))?;
        check.range(
            "workflow.worker_polling_interval",
            self.workflow.worker_polling_interval,
            1,
            Some(30),
        )?;
        let security = &self.security;
        check.range(
            "security.access_token_lifetime",
            security.access_token_lifetime,
            1,
            None,
        )?;
        check.range(
            "security.refresh_token_lifetime",
            security.refresh_token_lifetime,
            1,
            None,
        )?;
        self.check_initial_tokens(&check)?;
        self.check_sso_providers(&check)
    }

    fn check_initial_tokens(&self, check: &Checker<'_>) -> Result<(), ConfigError> {
        let initial = &self.initial;
        if let (Some(admin), Some(agent)) = (&initial.admin_token, &initial.agent_token)
            && admin == agent
        {
            let admin_origin = check
                .origins
                .get("initial.admin_token")
                .map_or_else(String::new, |origin| format!(" (set by {origin})"));
            return Err(ConfigError::at(
                ConfigErrorKind::Conflict,
                "initial.agent_token",
                check.origins.get("initial.agent_token"),
                &format!(
                    "`initial.agent_token` must differ from `initial.admin_token`{admin_origin}"
                ),
            ));
        }
        Ok(())
    }

    fn check_sso_providers(&self, check: &Checker<'_>) -> Result<(), ConfigError> {
        let security = &self.security;
        let oauth2 = &security.oauth2_provider_settings;
        for provider in &security.oauth2_providers {
            let missing = match provider {
                OAuth2Provider::Google => oauth2.google.as_ref().map_or_else(
                    || OAuth2GoogleSettings::default().missing_keys(),
                    OAuth2GoogleSettings::missing_keys,
                ),
                OAuth2Provider::Provider1 | OAuth2Provider::Provider2 => {
                    let settings = match provider {
                        OAuth2Provider::Provider1 => oauth2.provider1.as_ref(),
                        _ => oauth2.provider2.as_ref(),
                    };
                    settings.map_or_else(
                        || OAuth2Settings::default().missing_keys(),
                        OAuth2Settings::missing_keys,
                    )
                }
            };
            check.provider("oauth2", provider.as_str(), &missing)?;
        }
        let oidc = &security.oidc_provider_settings;
        for provider in &security.oidc_providers {
            let missing = match provider {
                OidcProvider::Google => oidc.google.as_ref().map_or_else(
                    || OidcGoogleSettings::default().missing_keys(),
                    OidcGoogleSettings::missing_keys,
                ),
                OidcProvider::Provider1 | OidcProvider::Provider2 => {
                    let settings = match provider {
                        OidcProvider::Provider1 => oidc.provider1.as_ref(),
                        _ => oidc.provider2.as_ref(),
                    };
                    settings.map_or_else(
                        || OidcSettings::default().missing_keys(),
                        OidcSettings::missing_keys,
                    )
                }
            };
            check.provider("oidc", provider.as_str(), &missing)?;
        }
        Ok(())
    }
}

/// Builds errors that name the key and where it was set.
struct Checker<'a> {
    origins: &'a Origins,
}

impl Checker<'_> {
    fn invalid(&self, key: &str, rule: &str) -> ConfigError {
        ConfigError::at(
            ConfigErrorKind::InvalidValue,
            key,
            self.origins.get(key),
            &format!("`{key}` {rule}"),
        )
    }

    /// Requires `min <= value` and, when given, `value <= max`.
    fn range(&self, key: &str, value: u64, min: u64, max: Option<u64>) -> Result<(), ConfigError> {
        let rule = match max {
            Some(max) if min > 0 => format!("between {min} and {max}"),
            Some(max) => format!("at most {max}"),
            None => format!("at least {min}"),
        };
        if value < min || max.is_some_and(|max| value > max) {
            return Err(self.invalid(key, &format!("must be {rule}, found {value}")));
        }
        Ok(())
    }

    /// Requires every required key of an enabled SSO provider.
    fn provider(
        &self,
        protocol: &str,
        provider: &str,
        missing: &[&str],
    ) -> Result<(), ConfigError> {
        let Some(first) = missing.first() else {
            return Ok(());
        };
        let list_key = format!("security.{protocol}_providers");
        let table = format!("security.{protocol}_provider_settings.{provider}");
        let keys: Vec<String> = missing.iter().map(|key| format!("`{key}`")).collect();
        let variables: Vec<String> = missing
            .iter()
            .map(|key| {
                format!(
                    "INFRAHUB_{}_{}_{}",
                    protocol.to_ascii_uppercase(),
                    provider.to_ascii_uppercase(),
                    key.to_ascii_uppercase()
                )
            })
            .collect();
        Err(ConfigError::at(
            ConfigErrorKind::Missing,
            &format!("{table}.{first}"),
            self.origins.get(&list_key),
            &format!(
                "`{list_key}` enables `{provider}`, which needs {} in [{table}] (or {})",
                keys.join(", "),
                variables.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::config::Secret;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn file_error(text: &str) -> ConfigError {
        let loaded =
            Settings::load_text(Some((Path::new("infrahub.toml"), text)), &BTreeMap::new());
        match loaded {
            Ok(settings) => panic!("expected an error, loaded {settings:?}"),
            Err(err) => err,
        }
    }

    fn env_error(pairs: &[(&str, &str)]) -> ConfigError {
        match Settings::load(None, &env(pairs)) {
            Ok(settings) => panic!("expected an error, loaded {settings:?}"),
            Err(err) => err,
        }
    }

    #[test]
    fn api_limits_are_range_checked() {
        for (variable, value, message) in [
            (
                "INFRAHUB_API_REQUEST_HEADER_TIMEOUT",
                "0",
                "must be between 1 and 3600, found 0",
            ),
            (
                "INFRAHUB_API_REQUEST_BODY_TIMEOUT",
                "86401",
                "must be between 1 and 86400",
            ),
            (
                "INFRAHUB_API_MAX_CONNECTIONS",
                "0",
                "must be between 1 and 1000000",
            ),
            (
                "INFRAHUB_API_SHUTDOWN_TIMEOUT",
                "3601",
                "must be at most 3600",
            ),
            (
                "INFRAHUB_API_GRAPHQL_MAX_DEPTH",
                "257",
                "must be between 1 and 256",
            ),
            ("INFRAHUB_API_GRAPHQL_MAX_FIELDS", "0", "must be at least 1"),
            ("INFRAHUB_API_GRAPHQL_MAX_ALIASES", "-1", "expected"),
        ] {
            let err = env_error(&[(variable, value)]);
            assert!(err.to_string().contains(message), "{variable}: {err}");
        }
    }

    #[test]
    fn ranges_name_the_file_line() {
        let err = file_error("[database]\naddress = \"db\"\nquery_size_limit = 0\n");
        assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
        assert_eq!(err.key(), Some("database.query_size_limit"));
        assert_eq!(
            err.to_string(),
            "infrahub.toml:3: `database.query_size_limit` must be at least 1, found 0"
        );
        for (text, key) in [
            ("[git]\nsync_interval = 0\n", "git.sync_interval"),
            ("[git]\nsync_interval = 86401\n", "git.sync_interval"),
            ("[git]\npython_processes = 0\n", "git.python_processes"),
            ("[git]\npython_processes = 65\n", "git.python_processes"),
        ] {
            let err = file_error(text);
            assert_eq!(err.kind(), ConfigErrorKind::InvalidValue, "{text}");
            assert_eq!(err.key(), Some(key), "{text}");
        }
        let err = file_error("[workflow]\nworker_polling_interval = 31\n");
        assert_eq!(
            err.to_string(),
            "infrahub.toml:2: `workflow.worker_polling_interval` must be between 1 and 30, found 31"
        );
        let err = file_error("[database]\nmax_depth_search_hierarchy = 21\n");
        assert!(
            err.to_string().ends_with("must be at most 20, found 21"),
            "{err}"
        );
        let err = file_error("[cache]\ndatabase = 16\n");
        assert_eq!(
            err.to_string(),
            "infrahub.toml:2: `cache.database` must be at most 15, found 16"
        );
    }

    #[test]
    fn ranges_name_the_variable() {
        let err = env_error(&[("INFRAHUB_SECURITY_ACCESS_TOKEN_LIFETIME", "0")]);
        assert_eq!(
            err.to_string(),
            "INFRAHUB_SECURITY_ACCESS_TOKEN_LIFETIME=0: `security.access_token_lifetime` must be at least 1, found 0"
        );
        let err = env_error(&[("INFRAHUB_BROKER_PORT", "0")]);
        assert_eq!(
            err.to_string(),
            "INFRAHUB_BROKER_PORT=0: `broker.port` must be between 1 and 65535, found 0"
        );
        let err = env_error(&[("INFRAHUB_BROKER_MAXIMUM_CONCURRENT_MESSAGES", "0")]);
        assert_eq!(err.key(), Some("broker.maximum_concurrent_messages"));
        let err = env_error(&[("INFRAHUB_DB_MAX_CONCURRENT_QUERIES_DELAY", "-0.5")]);
        assert_eq!(
            err.to_string(),
            "INFRAHUB_DB_MAX_CONCURRENT_QUERIES_DELAY=-0.5: `database.max_concurrent_queries_delay` must be a number >= 0, found -0.5"
        );
    }

    #[test]
    fn database_name_follows_the_pattern() {
        let err = env_error(&[("INFRAHUB_DB_DATABASE", "Infrahub")]);
        assert_eq!(err.key(), Some("database.database"));
        assert!(
            err.to_string().starts_with(
                "INFRAHUB_DB_DATABASE=Infrahub: `database.database` must be a lowercase letter"
            ),
            "{err}"
        );
    }

    #[test]
    fn initial_tokens_must_differ_and_stay_hidden() {
        let text = "[initial]\nadmin_token = \"same-token\"\n";
        let loaded = Settings::load_text(
            Some((Path::new("infrahub.toml"), text)),
            &env(&[("INFRAHUB_INITIAL_AGENT_TOKEN", "same-token")]),
        );
        let Err(err) = loaded else {
            panic!("identical tokens were accepted");
        };
        assert_eq!(err.kind(), ConfigErrorKind::Conflict);
        assert_eq!(
            err.to_string(),
            "INFRAHUB_INITIAL_AGENT_TOKEN=***: `initial.agent_token` must differ from `initial.admin_token` (set by infrahub.toml:2)"
        );
    }

    #[test]
    fn enabled_sso_providers_need_their_settings() {
        let err = env_error(&[
            ("INFRAHUB_SECURITY_OAUTH2_PROVIDERS", "provider1"),
            ("INFRAHUB_OAUTH2_PROVIDER1_CLIENT_ID", "infrahub"),
            ("INFRAHUB_OAUTH2_PROVIDER1_CLIENT_SECRET", "secret"),
            (
                "INFRAHUB_OAUTH2_PROVIDER1_TOKEN_URL",
                "https://sso.example/token",
            ),
        ]);
        assert_eq!(err.kind(), ConfigErrorKind::Missing);
        assert_eq!(
            err.key(),
            Some("security.oauth2_provider_settings.provider1.authorization_url")
        );
        assert_eq!(
            err.to_string(),
            "INFRAHUB_SECURITY_OAUTH2_PROVIDERS=provider1: `security.oauth2_providers` enables `provider1`, which needs `authorization_url`, `userinfo_url` in [security.oauth2_provider_settings.provider1] (or INFRAHUB_OAUTH2_PROVIDER1_AUTHORIZATION_URL, INFRAHUB_OAUTH2_PROVIDER1_USERINFO_URL)"
        );
        let err = file_error("[security]\noidc_providers = [\"google\"]\n");
        assert!(
            err.to_string().starts_with("infrahub.toml:2: `security.oidc_providers` enables `google`, which needs `client_id`, `client_secret`"),
            "{err}"
        );
        let settings = Settings::load(
            None,
            &env(&[
                ("INFRAHUB_SECURITY_OIDC_PROVIDERS", "google"),
                ("INFRAHUB_OIDC_GOOGLE_CLIENT_ID", "infrahub"),
                ("INFRAHUB_OIDC_GOOGLE_CLIENT_SECRET", "secret"),
            ]),
        );
        assert!(settings.is_ok(), "{settings:?}");
    }

    #[test]
    fn validate_checks_settings_changed_in_code() {
        let mut settings = Settings::default();
        assert!(settings.validate().is_ok());
        settings.database.query_size_limit = 0;
        let err = settings.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`database.query_size_limit` must be at least 1, found 0"
        );
        let mut settings = Settings::default();
        settings.initial.admin_token = Some(Secret::new("token"));
        settings.initial.agent_token = Some(Secret::new("token"));
        assert_eq!(
            settings.validate().unwrap_err().kind(),
            ConfigErrorKind::Conflict
        );
    }
}
