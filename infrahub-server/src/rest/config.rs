//! `GET /api/config`: the public part of the configuration the web frontend reads, in
//! upstream's shape.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::config::{OAuth2Provider, OidcProvider, Settings};

/// What upstream reports as its installation type.
const INSTALLATION_TYPE: &str = "community";

/// `GET /api/config`: `{main, logging, analytics, experimental_features, sso,
/// installation_type, policy}`. Always public, like upstream's.
pub(super) async fn get_config(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(public_config(&state.settings))
}

/// The public configuration document.
pub(crate) fn public_config(settings: &Settings) -> Value {
    let mut main = json!(settings.main);
    // Our addition to `[main]`, not part of upstream's public answer.
    if let Some(object) = main.as_object_mut() {
        object.shift_remove("data_dir");
    }
    let analytics = &settings.analytics;
    json!({
        "main": main,
        "logging": settings.logging,
        // The analytics key is meant for browsers: upstream serves it to the frontend.
        "analytics": {
            "enable": analytics.enable,
            "address": analytics.address,
            "api_key": analytics.api_key.as_ref().map(|key| key.expose()),
        },
        "experimental_features": settings.experimental_features,
        "sso": sso(settings),
        "installation_type": INSTALLATION_TYPE,
        "policy": settings.policy,
    })
}

/// The enabled SSO providers with their login button and endpoints.
fn sso(settings: &Settings) -> Value {
    let security = &settings.security;
    let mut providers = Vec::new();
    for provider in &security.oauth2_providers {
        let configured = &security.oauth2_provider_settings;
        let (label, icon) = match provider {
            OAuth2Provider::Google => {
                let google = configured.google.clone().unwrap_or_default();
                (google.display_label, google.icon)
            }
            OAuth2Provider::Provider1 | OAuth2Provider::Provider2 => {
                let custom = if *provider == OAuth2Provider::Provider1 {
                    &configured.provider1
                } else {
                    &configured.provider2
                };
                let custom = custom.clone().unwrap_or_default();
                (custom.display_label, custom.icon)
            }
        };
        providers.push(provider_json(provider.as_str(), &label, &icon, "oauth2"));
    }
    for provider in &security.oidc_providers {
        let configured = &security.oidc_provider_settings;
        let (label, icon) = match provider {
            OidcProvider::Google => {
                let google = configured.google.clone().unwrap_or_default();
                (google.display_label, google.icon)
            }
            OidcProvider::Provider1 | OidcProvider::Provider2 => {
                let custom = if *provider == OidcProvider::Provider1 {
                    &configured.provider1
                } else {
                    &configured.provider2
                };
                let custom = custom.clone().unwrap_or_default();
                (custom.display_label, custom.icon)
            }
        };
        providers.push(provider_json(provider.as_str(), &label, &icon, "oidc"));
    }
    let enabled = !providers.is_empty();
    json!({"providers": providers, "enabled": enabled})
}

fn provider_json(name: &str, label: &str, icon: &str, protocol: &str) -> Value {
    json!({
        "name": name,
        "display_label": label,
        "icon": icon,
        "protocol": protocol,
        "authorize_path": format!("/api/{protocol}/{name}/authorize"),
        "token_path": format!("/api/{protocol}/{name}/token"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_upstream_keys_in_upstream_order() {
        let config = public_config(&Settings::default());
        let keys: Vec<&String> = config.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "main",
                "logging",
                "analytics",
                "experimental_features",
                "sso",
                "installation_type",
                "policy"
            ]
        );
        let main: Vec<&String> = config["main"].as_object().unwrap().keys().collect();
        assert_eq!(
            main,
            [
                "docs_index_path",
                "internal_address",
                "allow_anonymous_access",
                "anonymous_access_role",
                "telemetry_optout",
                "telemetry_endpoint",
                "permission_backends",
                "public_url",
                "schema_strict_mode"
            ]
        );
        assert_eq!(config["sso"], json!({"providers": [], "enabled": false}));
        assert_eq!(config["analytics"]["api_key"], Value::Null);
        assert_eq!(
            config["policy"],
            json!({"required_proposed_change_approvals": 0, "revoke_proposed_change_approvals": false})
        );
    }

    #[test]
    fn enabled_providers_are_listed_with_their_endpoints() {
        let mut settings = Settings::default();
        settings.security.oidc_providers = vec![OidcProvider::Google];
        settings.security.oauth2_providers = vec![OAuth2Provider::Provider1];
        let sso = &public_config(&settings)["sso"];
        assert_eq!(sso["enabled"], true);
        assert_eq!(sso["providers"][0]["name"], "provider1");
        assert_eq!(
            sso["providers"][0]["authorize_path"],
            "/api/oauth2/provider1/authorize"
        );
        assert_eq!(sso["providers"][1]["display_label"], "Google");
        assert_eq!(sso["providers"][1]["token_path"], "/api/oidc/google/token");
    }
}
