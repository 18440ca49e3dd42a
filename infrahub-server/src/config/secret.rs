//! A configuration value that must never be printed: passwords, keys and tokens.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A secret string (password, key, token) that prints and serializes as `***`.
///
/// `Debug`, `Display` and `Serialize` all produce `***`, so logging or serializing a settings
/// struct never reveals the value; [`Secret::expose`] is the one way to read it. It
/// deserializes from a plain string.
///
/// # Examples
///
/// ```
/// use infrahub_server::config::Secret;
///
/// let password = Secret::new("hunter2");
/// assert_eq!(format!("{password:?} {password}"), "*** ***");
/// assert_eq!(password.expose(), "hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// What a secret prints as.
const REDACTED: &str = "***";

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value itself; keep it out of logs and error messages.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Returns true when the secret is the empty string (for example no cache password).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::config::Settings;

    /// Every secret of the configuration, set through the file.
    const SECRETS_FILE: &str = r#"
[database]
password = "file-db-password"

[broker]
password = "file-broker-password"

[initial]
admin_password = "file-admin-password"
admin_token = "file-admin-token"

[security]
secret_key = "file-secret-key"
oauth2_providers = ["provider1"]

[security.oauth2_provider_settings.provider1]
client_id = "client"
client_secret = "file-oauth2-client-secret"
authorization_url = "https://sso.example.com/authorize"
token_url = "https://sso.example.com/token"
userinfo_url = "https://sso.example.com/userinfo"

[storage.s3]
AWS_SECRET_ACCESS_KEY = "file-aws-secret"
"#;

    fn secrets_env() -> BTreeMap<String, String> {
        [
            ("INFRAHUB_CACHE_PASSWORD", "env-cache-password"),
            ("INFRAHUB_INITIAL_AGENT_TOKEN", "env-agent-token"),
            ("INFRAHUB_INITIAL_AGENT_PASSWORD", "env-agent-password"),
            ("INFRAHUB_ANALYTICS_API_KEY", "env-analytics-key"),
            (
                "INFRAHUB_OIDC_GOOGLE_CLIENT_SECRET",
                "env-oidc-client-secret",
            ),
            ("AWS_ACCESS_KEY_ID", "env-aws-key-id"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    fn load_secrets() -> Settings {
        Settings::load_text(
            Some((Path::new("infrahub.toml"), SECRETS_FILE)),
            &secrets_env(),
        )
        .unwrap()
    }

    const ALL_VALUES: &[&str] = &[
        "file-db-password",
        "file-broker-password",
        "file-admin-password",
        "file-admin-token",
        "file-secret-key",
        "file-oauth2-client-secret",
        "file-aws-secret",
        "env-cache-password",
        "env-agent-token",
        "env-agent-password",
        "env-analytics-key",
        "env-oidc-client-secret",
        "env-aws-key-id",
    ];

    #[test]
    fn debug_display_and_serialize_hide_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.to_string(), "***");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn deserializes_from_a_plain_string() {
        let secret: Secret = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert!(serde_json::from_str::<Secret>("12").is_err());
    }

    #[test]
    fn settings_debug_never_shows_a_secret_from_file_or_env() {
        let settings = load_secrets();
        // The values did arrive where they belong...
        assert_eq!(settings.database.password.expose(), "file-db-password");
        assert_eq!(settings.cache.password.expose(), "env-cache-password");
        assert_eq!(settings.storage.s3.access_key_id.expose(), "env-aws-key-id");
        let google = settings.security.oidc_provider_settings.google.as_ref();
        let google_secret = google.and_then(|google| google.client_secret.as_ref());
        assert_eq!(
            google_secret.map(Secret::expose),
            Some("env-oidc-client-secret")
        );
        // ...and none of them is printed.
        let debug = format!("{settings:?}");
        let pretty = format!("{settings:#?}");
        for value in ALL_VALUES {
            assert!(!debug.contains(value), "{value} leaked in Debug");
            assert!(!pretty.contains(value), "{value} leaked in pretty Debug");
        }
    }

    #[test]
    fn redacted_json_hides_secrets_and_keeps_other_values() {
        let settings = load_secrets();
        let json = settings.redacted_json();
        let text = json.to_string();
        for value in ALL_VALUES {
            assert!(!text.contains(value), "{value} leaked in redacted_json");
        }
        assert_eq!(json["database"]["password"], "***");
        assert_eq!(json["security"]["secret_key"], "***");
        assert_eq!(json["initial"]["agent_token"], "***");
        assert_eq!(json["storage"]["s3"]["secret_access_key"], "***");
        assert!(json["analytics"]["address"].is_null());
        // Unset optional secrets stay null rather than pretending to hold a value.
        assert!(Settings::default().redacted_json()["security"]["secret_key"].is_null());
        // Non-secret values are shown as they are.
        assert_eq!(json["database"]["username"], "neo4j");
        assert_eq!(
            json["security"]["oauth2_provider_settings"]["provider1"]["client_id"],
            "client"
        );
        // Every section is there.
        let sections = json.as_object().map(|map| map.len());
        assert_eq!(sections, Some(18));
    }
}
