//! Single sign-on provider settings: `[security.oauth2_provider_settings.*]` and
//! `[security.oidc_provider_settings.*]`.
//!
//! Each provider is configured by its table in the file or by its own environment prefix
//! (`INFRAHUB_OAUTH2_PROVIDER1_CLIENT_ID`, `INFRAHUB_OIDC_GOOGLE_CLIENT_SECRET`, ...). Keys that
//! upstream requires (client id and secret, the endpoints of custom providers) are optional
//! here so that file and environment can each supply part; validation requires them for every
//! provider listed in `security.oauth2_providers` or `security.oidc_providers`.

use serde::{Deserialize, Serialize};

use super::Secret;
use super::general::strings;

config_enum! {
    /// How the user info endpoint of a provider is called.
    #[derive(Default)]
    pub enum UserInfoMethod {
        /// HTTP GET (the default).
        #[default]
        Get => "get",
        /// HTTP POST.
        Post => "post",
    }
}

/// The scopes requested by default: `openid`, `profile`, `email`.
fn default_scopes() -> Vec<String> {
    strings(&["openid", "profile", "email"])
}

/// Google's Cloud Identity endpoint listing the groups of a user.
const GOOGLE_CLOUDIDENTITY_URL: &str =
    "https://cloudidentity.googleapis.com/v1/groups/-/memberships:searchDirectGroups";

/// `[security.oauth2_provider_settings]`: the OAuth2 providers that can be enabled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuth2ProviderSettings {
    /// Google (env prefix `INFRAHUB_OAUTH2_GOOGLE_`).
    pub google: Option<OAuth2GoogleSettings>,
    /// First custom provider (env prefix `INFRAHUB_OAUTH2_PROVIDER1_`).
    pub provider1: Option<OAuth2Settings>,
    /// Second custom provider (env prefix `INFRAHUB_OAUTH2_PROVIDER2_`).
    pub provider2: Option<OAuth2Settings>,
}

/// A custom OAuth2 provider (`provider1`, `provider2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuth2Settings {
    /// Client id of the application registered at the provider; required. Env
    /// `<prefix>CLIENT_ID`.
    pub client_id: Option<String>,
    /// Client secret registered at the provider (secret); required. Env `<prefix>CLIENT_SECRET`.
    pub client_secret: Option<Secret>,
    /// Authorization endpoint; required. Env `<prefix>AUTHORIZATION_URL`.
    pub authorization_url: Option<String>,
    /// Token endpoint; required. Env `<prefix>TOKEN_URL`.
    pub token_url: Option<String>,
    /// User info endpoint; required. Env `<prefix>USERINFO_URL`.
    pub userinfo_url: Option<String>,
    /// Requested scopes. Default `["openid", "profile", "email"]`; env `<prefix>SCOPES`.
    pub scopes: Vec<String>,
    /// Label of the login button. Default `Single Sign on`; env `<prefix>DISPLAY_LABEL`.
    pub display_label: String,
    /// Icon of the login button. Default `mdi:account-key`; env `<prefix>ICON`.
    pub icon: String,
    /// Method of the user info call. Default `get`; env `<prefix>USERINFO_METHOD`.
    pub userinfo_method: UserInfoMethod,
}

impl Default for OAuth2Settings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            authorization_url: None,
            token_url: None,
            userinfo_url: None,
            scopes: default_scopes(),
            display_label: "Single Sign on".to_owned(),
            icon: "mdi:account-key".to_owned(),
            userinfo_method: UserInfoMethod::Get,
        }
    }
}

impl OAuth2Settings {
    /// Returns the required keys that are unset.
    pub(crate) fn missing_keys(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        let required = [
            ("client_id", self.client_id.is_some()),
            ("client_secret", self.client_secret.is_some()),
            ("authorization_url", self.authorization_url.is_some()),
            ("token_url", self.token_url.is_some()),
            ("userinfo_url", self.userinfo_url.is_some()),
        ];
        for (key, present) in required {
            if !present {
                missing.push(key);
            }
        }
        missing
    }
}

/// Google as an OAuth2 provider; the endpoints default to Google's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuth2GoogleSettings {
    /// Client id of the application registered at Google; required. Env
    /// `INFRAHUB_OAUTH2_GOOGLE_CLIENT_ID`.
    pub client_id: Option<String>,
    /// Client secret (secret); required. Env `INFRAHUB_OAUTH2_GOOGLE_CLIENT_SECRET`.
    pub client_secret: Option<Secret>,
    /// Authorization endpoint. Default `https://accounts.google.com/o/oauth2/auth`; env
    /// `INFRAHUB_OAUTH2_GOOGLE_AUTHORIZATION_URL`.
    pub authorization_url: String,
    /// Token endpoint. Default `https://oauth2.googleapis.com/token`; env
    /// `INFRAHUB_OAUTH2_GOOGLE_TOKEN_URL`.
    pub token_url: String,
    /// User info endpoint. Default `https://www.googleapis.com/oauth2/v3/userinfo`; env
    /// `INFRAHUB_OAUTH2_GOOGLE_USERINFO_URL`.
    pub userinfo_url: String,
    /// Requested scopes. Default `["openid", "profile", "email"]`; env
    /// `INFRAHUB_OAUTH2_GOOGLE_SCOPES`.
    pub scopes: Vec<String>,
    /// Label of the login button. Default `Google`; env `INFRAHUB_OAUTH2_GOOGLE_DISPLAY_LABEL`.
    pub display_label: String,
    /// Icon of the login button. Default `mdi:google`; env `INFRAHUB_OAUTH2_GOOGLE_ICON`.
    pub icon: String,
    /// Method of the user info call. Default `get`; env
    /// `INFRAHUB_OAUTH2_GOOGLE_USERINFO_METHOD`.
    pub userinfo_method: UserInfoMethod,
    /// Reads the user's groups from the Cloud Identity API (needs an extra scope). Default
    /// `false`; env `INFRAHUB_OAUTH2_GOOGLE_FETCH_GROUPS`.
    pub fetch_groups: bool,
    /// Cloud Identity endpoint used by `fetch_groups`. Default Google's `searchDirectGroups`
    /// endpoint; env `INFRAHUB_OAUTH2_GOOGLE_CLOUDIDENTITY_URL`.
    pub cloudidentity_url: String,
}

impl Default for OAuth2GoogleSettings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            authorization_url: "https://accounts.google.com/o/oauth2/auth".to_owned(),
            token_url: "https://oauth2.googleapis.com/token".to_owned(),
            userinfo_url: "https://www.googleapis.com/oauth2/v3/userinfo".to_owned(),
            scopes: default_scopes(),
            display_label: "Google".to_owned(),
            icon: "mdi:google".to_owned(),
            userinfo_method: UserInfoMethod::Get,
            fetch_groups: false,
            cloudidentity_url: GOOGLE_CLOUDIDENTITY_URL.to_owned(),
        }
    }
}

impl OAuth2GoogleSettings {
    /// Returns the required keys that are unset.
    pub(crate) fn missing_keys(&self) -> Vec<&'static str> {
        client_missing(self.client_id.is_some(), self.client_secret.is_some())
    }
}

/// `[security.oidc_provider_settings]`: the OpenID Connect providers that can be enabled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcProviderSettings {
    /// Google (env prefix `INFRAHUB_OIDC_GOOGLE_`).
    pub google: Option<OidcGoogleSettings>,
    /// First custom provider (env prefix `INFRAHUB_OIDC_PROVIDER1_`).
    pub provider1: Option<OidcSettings>,
    /// Second custom provider (env prefix `INFRAHUB_OIDC_PROVIDER2_`).
    pub provider2: Option<OidcSettings>,
}

/// A custom OpenID Connect provider (`provider1`, `provider2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSettings {
    /// Client id of the application registered at the provider; required. Env
    /// `<prefix>CLIENT_ID`.
    pub client_id: Option<String>,
    /// Client secret registered at the provider (secret); required. Env `<prefix>CLIENT_SECRET`.
    pub client_secret: Option<Secret>,
    /// Discovery URL (`.../.well-known/openid-configuration`); required. Env
    /// `<prefix>DISCOVERY_URL`.
    pub discovery_url: Option<String>,
    /// Requested scopes. Default `["openid", "profile", "email"]`; env `<prefix>SCOPES`.
    pub scopes: Vec<String>,
    /// Icon of the login button. Default `mdi:account-key`; env `<prefix>ICON`.
    pub icon: String,
    /// Label of the login button. Default `Single Sign on`; env `<prefix>DISPLAY_LABEL`.
    pub display_label: String,
    /// Method of the user info call. Default `get`; env `<prefix>USERINFO_METHOD`.
    pub userinfo_method: UserInfoMethod,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            discovery_url: None,
            scopes: default_scopes(),
            icon: "mdi:account-key".to_owned(),
            display_label: "Single Sign on".to_owned(),
            userinfo_method: UserInfoMethod::Get,
        }
    }
}

impl OidcSettings {
    /// Returns the required keys that are unset.
    pub(crate) fn missing_keys(&self) -> Vec<&'static str> {
        let mut missing = client_missing(self.client_id.is_some(), self.client_secret.is_some());
        if self.discovery_url.is_none() {
            missing.push("discovery_url");
        }
        missing
    }
}

/// Google as an OpenID Connect provider; the discovery URL defaults to Google's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcGoogleSettings {
    /// Client id of the application registered at Google; required. Env
    /// `INFRAHUB_OIDC_GOOGLE_CLIENT_ID`.
    pub client_id: Option<String>,
    /// Client secret (secret); required. Env `INFRAHUB_OIDC_GOOGLE_CLIENT_SECRET`.
    pub client_secret: Option<Secret>,
    /// Discovery URL. Default `https://accounts.google.com/.well-known/openid-configuration`;
    /// env `INFRAHUB_OIDC_GOOGLE_DISCOVERY_URL`.
    pub discovery_url: String,
    /// Requested scopes. Default `["openid", "profile", "email"]`; env
    /// `INFRAHUB_OIDC_GOOGLE_SCOPES`.
    pub scopes: Vec<String>,
    /// Icon of the login button. Default `mdi:google`; env `INFRAHUB_OIDC_GOOGLE_ICON`.
    pub icon: String,
    /// Label of the login button. Default `Google`; env `INFRAHUB_OIDC_GOOGLE_DISPLAY_LABEL`.
    pub display_label: String,
    /// Method of the user info call. Default `get`; env `INFRAHUB_OIDC_GOOGLE_USERINFO_METHOD`.
    pub userinfo_method: UserInfoMethod,
    /// Reads the user's groups from the Cloud Identity API (needs an extra scope). Default
    /// `false`; env `INFRAHUB_OIDC_GOOGLE_FETCH_GROUPS`.
    pub fetch_groups: bool,
    /// Cloud Identity endpoint used by `fetch_groups`. Default Google's `searchDirectGroups`
    /// endpoint; env `INFRAHUB_OIDC_GOOGLE_CLOUDIDENTITY_URL`.
    pub cloudidentity_url: String,
}

impl Default for OidcGoogleSettings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            discovery_url: "https://accounts.google.com/.well-known/openid-configuration"
                .to_owned(),
            scopes: default_scopes(),
            icon: "mdi:google".to_owned(),
            display_label: "Google".to_owned(),
            userinfo_method: UserInfoMethod::Get,
            fetch_groups: false,
            cloudidentity_url: GOOGLE_CLOUDIDENTITY_URL.to_owned(),
        }
    }
}

impl OidcGoogleSettings {
    /// Returns the required keys that are unset.
    pub(crate) fn missing_keys(&self) -> Vec<&'static str> {
        client_missing(self.client_id.is_some(), self.client_secret.is_some())
    }
}

/// The client credential keys that are unset.
fn client_missing(has_id: bool, has_secret: bool) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !has_id {
        missing.push("client_id");
    }
    if !has_secret {
        missing.push("client_secret");
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream() {
        let custom = OAuth2Settings::default();
        assert_eq!(custom.scopes, ["openid", "profile", "email"]);
        assert_eq!(custom.display_label, "Single Sign on");
        assert_eq!(custom.icon, "mdi:account-key");
        assert_eq!(custom.userinfo_method, UserInfoMethod::Get);
        let google = OAuth2GoogleSettings::default();
        assert_eq!(google.token_url, "https://oauth2.googleapis.com/token");
        assert_eq!(google.display_label, "Google");
        assert!(!google.fetch_groups);
        let oidc = OidcGoogleSettings::default();
        assert_eq!(
            oidc.discovery_url,
            "https://accounts.google.com/.well-known/openid-configuration"
        );
        assert_eq!(oidc.icon, "mdi:google");
        assert_eq!(OidcSettings::default().icon, "mdi:account-key");
    }

    #[test]
    fn missing_keys_lists_required_values() {
        assert_eq!(
            OAuth2Settings::default().missing_keys(),
            [
                "client_id",
                "client_secret",
                "authorization_url",
                "token_url",
                "userinfo_url"
            ]
        );
        assert_eq!(
            OAuth2GoogleSettings::default().missing_keys(),
            ["client_id", "client_secret"]
        );
        let oidc = OidcSettings {
            client_id: Some("id".to_owned()),
            client_secret: Some(Secret::new("secret")),
            ..OidcSettings::default()
        };
        assert_eq!(oidc.missing_keys(), ["discovery_url"]);
        let google = OidcGoogleSettings {
            client_id: Some("id".to_owned()),
            client_secret: Some(Secret::new("secret")),
            ..OidcGoogleSettings::default()
        };
        assert!(google.missing_keys().is_empty());
    }
}
