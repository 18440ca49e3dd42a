//! `[security]`: authentication tokens and single sign-on.

use serde::{Deserialize, Serialize};

use super::Secret;
use super::sso::{OAuth2ProviderSettings, OidcProviderSettings};

/// Thirty days, in seconds.
const THIRTY_DAYS: u64 = 30 * 24 * 3600;

config_enum! {
    /// An OAuth2 provider slot.
    pub enum OAuth2Provider {
        /// Google.
        Google => "google",
        /// First custom provider.
        Provider1 => "provider1",
        /// Second custom provider.
        Provider2 => "provider2",
    }
}

config_enum! {
    /// An OpenID Connect provider slot.
    pub enum OidcProvider {
        /// Google.
        Google => "google",
        /// First custom provider.
        Provider1 => "provider1",
        /// Second custom provider.
        Provider2 => "provider2",
    }
}

/// `[security]`: authentication tokens and single sign-on. Environment prefix
/// `INFRAHUB_SECURITY_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// Lifetime of access tokens in seconds, above 0. Default `3600`; env
    /// `INFRAHUB_SECURITY_ACCESS_TOKEN_LIFETIME`.
    pub access_token_lifetime: u64,
    /// Lifetime of refresh tokens in seconds, above 0. Default `2592000` (30 days); env
    /// `INFRAHUB_SECURITY_REFRESH_TOKEN_LIFETIME`.
    pub refresh_token_lifetime: u64,
    /// Key signing authentication tokens (secret). Default unset: the server generates a
    /// random key, so tokens do not survive a restart and are not shared between servers;
    /// env `INFRAHUB_SECURITY_SECRET_KEY`.
    pub secret_key: Option<Secret>,
    /// Enabled OAuth2 providers, among `google`, `provider1`, `provider2`. Default `[]`; env
    /// `INFRAHUB_SECURITY_OAUTH2_PROVIDERS`.
    pub oauth2_providers: Vec<OAuth2Provider>,
    /// `[security.oauth2_provider_settings]`: settings of each OAuth2 provider.
    pub oauth2_provider_settings: OAuth2ProviderSettings,
    /// Enabled OpenID Connect providers, among `google`, `provider1`, `provider2`. Default
    /// `[]`; env `INFRAHUB_SECURITY_OIDC_PROVIDERS`.
    pub oidc_providers: Vec<OidcProvider>,
    /// `[security.oidc_provider_settings]`: settings of each OpenID Connect provider.
    pub oidc_provider_settings: OidcProviderSettings,
    /// Disallows untrusted Jinja2 filters in computed attributes. Default `true`; env
    /// `INFRAHUB_SECURITY_RESTRICT_UNTRUSTED_JINJA2_FILTERS`.
    pub restrict_untrusted_jinja2_filters: bool,
    /// Group given to SSO users whose provider sends no groups. Default unset; env
    /// `INFRAHUB_SECURITY_SSO_USER_DEFAULT_GROUP`.
    pub sso_user_default_group: Option<String>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            access_token_lifetime: 3600,
            refresh_token_lifetime: THIRTY_DAYS,
            secret_key: None,
            oauth2_providers: Vec::new(),
            oauth2_provider_settings: OAuth2ProviderSettings::default(),
            oidc_providers: Vec::new(),
            oidc_provider_settings: OidcProviderSettings::default(),
            restrict_untrusted_jinja2_filters: true,
            sso_user_default_group: None,
        }
    }
}

impl SecuritySettings {
    /// Returns true when at least one SSO provider (OAuth2 or OpenID Connect) is enabled.
    pub fn sso_enabled(&self) -> bool {
        !self.oauth2_providers.is_empty() || !self.oidc_providers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream_but_leave_the_secret_key_unset() {
        let security = SecuritySettings::default();
        assert_eq!(security.access_token_lifetime, 3600);
        assert_eq!(security.refresh_token_lifetime, 2_592_000);
        assert!(security.secret_key.is_none());
        assert!(security.oauth2_providers.is_empty() && security.oidc_providers.is_empty());
        assert!(security.oauth2_provider_settings.google.is_none());
        assert!(security.restrict_untrusted_jinja2_filters);
        assert!(security.sso_user_default_group.is_none());
        assert!(!security.sso_enabled());
    }

    #[test]
    fn providers_parse_from_their_names() {
        let providers: Vec<OAuth2Provider> =
            serde_json::from_str(r#"["google", "provider2"]"#).unwrap();
        assert_eq!(
            providers,
            [OAuth2Provider::Google, OAuth2Provider::Provider2]
        );
        assert!(serde_json::from_str::<Vec<OidcProvider>>(r#"["github"]"#).is_err());
        let security = SecuritySettings {
            oidc_providers: vec![OidcProvider::Provider1],
            ..SecuritySettings::default()
        };
        assert!(security.sso_enabled());
    }
}
