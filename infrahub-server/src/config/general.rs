//! Small sections: `main`, `api`, `git`, `http`, `dev`, `miscellaneous`,
//! `experimental_features` and `policy`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[main]`: general server behaviour. Environment prefix `INFRAHUB_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MainSettings {
    /// Directory holding the embedded database, the local object store and other state of the
    /// embedded deployment (our addition). Default `./infrahub-data`; env `INFRAHUB_DATA_DIR`.
    pub data_dir: PathBuf,
    /// Path of the pre-built documentation search index. Default
    /// `/opt/infrahub/docs/build/search-index.json`; env `INFRAHUB_DOCS_INDEX_PATH`.
    pub docs_index_path: PathBuf,
    /// Address other Infrahub components use to reach this server. Default unset; env
    /// `INFRAHUB_INTERNAL_ADDRESS`.
    pub internal_address: Option<String>,
    /// Whether anonymous users may read data. Default `true`; env
    /// `INFRAHUB_ALLOW_ANONYMOUS_ACCESS`.
    pub allow_anonymous_access: bool,
    /// Role whose permissions anonymous users get. Default `Anonymous User`; env
    /// `INFRAHUB_ANONYMOUS_ACCESS_ROLE`.
    pub anonymous_access_role: String,
    /// Disables anonymous usage reporting. Default `false`; env `INFRAHUB_TELEMETRY_OPTOUT`.
    pub telemetry_optout: bool,
    /// Where usage reports are sent. Default `https://telemetry.opsmill.cloud/infrahub`; env
    /// `INFRAHUB_TELEMETRY_ENDPOINT`.
    pub telemetry_endpoint: String,
    /// Permission backends, consulted in order. Default
    /// `["infrahub.permissions.LocalPermissionBackend"]`; env `INFRAHUB_PERMISSION_BACKENDS`.
    pub permission_backends: Vec<String>,
    /// Public URL of this server, needed by some SSO setups. Default unset; env
    /// `INFRAHUB_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// Strict schema validation; when `false`, `human_friendly_id` need not be unique. Default
    /// `true`; env `INFRAHUB_SCHEMA_STRICT_MODE`.
    pub schema_strict_mode: bool,
}

impl Default for MainSettings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./infrahub-data"),
            docs_index_path: PathBuf::from("/opt/infrahub/docs/build/search-index.json"),
            internal_address: None,
            allow_anonymous_access: true,
            anonymous_access_role: "Anonymous User".to_owned(),
            telemetry_optout: false,
            telemetry_endpoint: "https://telemetry.opsmill.cloud/infrahub".to_owned(),
            permission_backends: strings(&["infrahub.permissions.LocalPermissionBackend"]),
            public_url: None,
            schema_strict_mode: true,
        }
    }
}

/// `[api]`: cross-origin (CORS) rules of the HTTP API, and (our additions) the limits that keep
/// one client from exhausting the server: connection timeouts and count, the work a GraphQL
/// document may ask for, and the time in-flight requests get at shutdown. Environment prefix
/// `INFRAHUB_API_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// Origins allowed to make cross-site requests. Default `[]`; env
    /// `INFRAHUB_API_CORS_ALLOW_ORIGINS`.
    pub cors_allow_origins: Vec<String>,
    /// HTTP methods allowed in cross-site requests. Default
    /// `["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]`; env
    /// `INFRAHUB_API_CORS_ALLOW_METHODS`.
    pub cors_allow_methods: Vec<String>,
    /// Non-standard headers allowed in cross-site requests. Default `["accept",
    /// "authorization", "content-type", "user-agent", "x-csrftoken", "x-requested-with"]`; env
    /// `INFRAHUB_API_CORS_ALLOW_HEADERS`.
    pub cors_allow_headers: Vec<String>,
    /// Whether cookies may accompany cross-site requests. Default `true`; env
    /// `INFRAHUB_API_CORS_ALLOW_CREDENTIALS`.
    pub cors_allow_credentials: bool,
    /// Seconds a connection has to send a request's headers, counted from when the server
    /// starts waiting for that request: a new connection, or a kept-alive one after its
    /// previous answer (so it is also the idle timeout of kept-alive connections). Default 10,
    /// 1-3600; env `INFRAHUB_API_REQUEST_HEADER_TIMEOUT`. *Our addition.*
    pub request_header_timeout: u64,
    /// Seconds a request has to send its whole body once its headers arrived. Default 60,
    /// 1-86400; env `INFRAHUB_API_REQUEST_BODY_TIMEOUT`. *Our addition.*
    pub request_body_timeout: u64,
    /// Most connections served at once; more wait in the listen queue. Capped below the
    /// process's open-file limit. Default 1024, 1-1000000; env `INFRAHUB_API_MAX_CONNECTIONS`.
    /// *Our addition.*
    pub max_connections: u64,
    /// Seconds requests in flight get to finish after SIGTERM or Ctrl-C before the server
    /// exits anyway. Default 10, 0-3600; env `INFRAHUB_API_SHUTDOWN_TIMEOUT`. *Our addition.*
    pub shutdown_timeout: u64,
    /// Deepest nesting of selections a GraphQL document may have, fragments expanded. Default
    /// 32, 1-256; env `INFRAHUB_API_GRAPHQL_MAX_DEPTH`. *Our addition.*
    pub graphql_max_depth: u64,
    /// Most fields a GraphQL document may select, each fragment counted every time it is
    /// spread. Default 10000, at least 1; env `INFRAHUB_API_GRAPHQL_MAX_FIELDS`. *Our
    /// addition.*
    pub graphql_max_fields: u64,
    /// Most aliased fields a GraphQL document may hold, fragments expanded. Default 500; env
    /// `INFRAHUB_API_GRAPHQL_MAX_ALIASES`. *Our addition.*
    pub graphql_max_aliases: u64,
    /// Most introspection fields (`__schema`, `__type`) a GraphQL document may select,
    /// fragments expanded. Default 8; env `INFRAHUB_API_GRAPHQL_MAX_INTROSPECTION_FIELDS`.
    /// *Our addition.*
    pub graphql_max_introspection_fields: u64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            cors_allow_origins: Vec::new(),
            cors_allow_methods: strings(&["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]),
            cors_allow_headers: strings(&[
                "accept",
                "authorization",
                "content-type",
                "user-agent",
                "x-csrftoken",
                "x-requested-with",
            ]),
            cors_allow_credentials: true,
            request_header_timeout: 10,
            request_body_timeout: 60,
            max_connections: 1024,
            shutdown_timeout: 10,
            graphql_max_depth: 32,
            graphql_max_fields: 10_000,
            graphql_max_aliases: 500,
            graphql_max_introspection_fields: 8,
        }
    }
}

/// `[git]`: Git repository handling. Environment prefix `INFRAHUB_GIT_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GitSettings {
    /// Directory where repositories are mirrored (one bare mirror per repository and
    /// process); a relative path is under `main.data_dir`. Default `repositories`; env
    /// `INFRAHUB_GIT_REPOSITORIES_DIRECTORY`.
    pub repositories_directory: PathBuf,
    /// Seconds between two fetches of the read-write repositories (new commits on their
    /// default branch are imported), 1-86400. Default `10`; env `INFRAHUB_GIT_SYNC_INTERVAL`.
    pub sync_interval: u64,
    /// Domains whose HTTP URLs get `.git` appended. Default `["github.com", "gitlab.com"]`; env
    /// `INFRAHUB_GIT_APPEND_GIT_SUFFIX`.
    pub append_git_suffix: Vec<String>,
    /// The Python interpreter that runs repositories' Python transforms; it needs the
    /// `infrahub-sdk` package. Default `python3` (found on `PATH`); env
    /// `INFRAHUB_GIT_PYTHON_EXECUTABLE`. Not an upstream setting (upstream's worker is Python).
    pub python_executable: PathBuf,
    /// How many Python processes run transforms at once, 1-64. Default `2`; env
    /// `INFRAHUB_GIT_PYTHON_PROCESSES`. Not an upstream setting.
    pub python_processes: u64,
}

impl Default for GitSettings {
    fn default() -> Self {
        Self {
            repositories_directory: PathBuf::from("repositories"),
            sync_interval: 10,
            append_git_suffix: strings(&["github.com", "gitlab.com"]),
            python_executable: PathBuf::from("python3"),
            python_processes: 2,
        }
    }
}

/// `[http]`: outgoing HTTP requests (webhooks, SSO providers). Environment prefix
/// `INFRAHUB_HTTP_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Connection timeout in seconds. Default `10`; env `INFRAHUB_HTTP_TIMEOUT`.
    pub timeout: u64,
    /// Skips verification of server certificates. Default `false`; env
    /// `INFRAHUB_HTTP_TLS_INSECURE`.
    pub tls_insecure: bool,
    /// Custom CA bundle in PEM format, as a file path or inline PEM text. Default unset; env
    /// `INFRAHUB_HTTP_TLS_CA_BUNDLE`.
    pub tls_ca_bundle: Option<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout: 10,
            tls_insecure: false,
            tls_ca_bundle: None,
        }
    }
}

/// `[dev]`: switches for local development only. Environment prefix `INFRAHUB_DEV_`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevelopmentSettings {
    /// Lets the frontend perform the SSO redirection. Default `false`; env
    /// `INFRAHUB_DEV_FRONTEND_REDIRECT_SSO`.
    pub frontend_redirect_sso: bool,
    /// Accepts enterprise settings without enabling the features. Default `false`; env
    /// `INFRAHUB_DEV_ALLOW_ENTERPRISE_CONFIGURATION`.
    pub allow_enterprise_configuration: bool,
}

/// `[miscellaneous]`: assorted tuning knobs. Environment prefix `INFRAHUB_MISC_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MiscellaneousSettings {
    /// Logs details of every database query. Default `false`; env
    /// `INFRAHUB_MISC_PRINT_QUERY_DETAILS`.
    pub print_query_details: bool,
    /// Starts the background runner with the server. Default `true`; env
    /// `INFRAHUB_MISC_START_BACKGROUND_RUNNER`.
    pub start_background_runner: bool,
    /// Longest time a validator may run, in seconds. Default `1800`; env
    /// `INFRAHUB_MISC_MAXIMUM_VALIDATOR_EXECUTION_TIME`.
    pub maximum_validator_execution_time: u64,
    /// Delay added to every API request, in seconds (for testing). Default `0`; env
    /// `INFRAHUB_MISC_RESPONSE_DELAY`.
    pub response_delay: u64,
}

impl Default for MiscellaneousSettings {
    fn default() -> Self {
        Self {
            print_query_details: false,
            start_background_runner: true,
            maximum_validator_execution_time: 1800,
            response_delay: 0,
        }
    }
}

/// `[experimental_features]`: opt-in features. Environment prefix `INFRAHUB_EXPERIMENTAL_`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentalFeaturesSettings {
    /// Exposes dropdown and enum attributes as GraphQL enums. Default `false`; env
    /// `INFRAHUB_EXPERIMENTAL_GRAPHQL_ENUMS`.
    pub graphql_enums: bool,
    /// Deprecated upstream and without effect. Default `false`; env
    /// `INFRAHUB_EXPERIMENTAL_VALUE_DB_INDEX`.
    pub value_db_index: bool,
}

/// `[policy]`: proposed change policies (enterprise features upstream). Environment prefix
/// `INFRAHUB_POLICY_`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    /// Approvals a proposed change needs before it can be merged. Default `0`; env
    /// `INFRAHUB_POLICY_REQUIRED_PROPOSED_CHANGE_APPROVALS`.
    pub required_proposed_change_approvals: u64,
    /// Whether new changes on a proposed change branch revoke its approvals. Default `false`;
    /// env `INFRAHUB_POLICY_REVOKE_PROPOSED_CHANGE_APPROVALS`.
    pub revoke_proposed_change_approvals: bool,
}

/// An enterprise feature turned on by the policy settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnterpriseFeature {
    /// Proposed changes need approvals (`policy.required_proposed_change_approvals` > 0).
    ProposedChangeRequireApproval,
    /// Changes revoke approvals (`policy.revoke_proposed_change_approvals`).
    RevokeProposedChangeApprovals,
}

impl EnterpriseFeature {
    /// Returns the upstream name of the feature (`proposed_change_require_approval`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProposedChangeRequireApproval => "proposed_change_require_approval",
            Self::RevokeProposedChangeApprovals => "revoke_proposed_change_approvals",
        }
    }
}

impl PolicySettings {
    /// Returns the enterprise features these settings turn on.
    pub fn enterprise_features(&self) -> Vec<EnterpriseFeature> {
        let mut features = Vec::new();
        if self.required_proposed_change_approvals > 0 {
            features.push(EnterpriseFeature::ProposedChangeRequireApproval);
        }
        if self.revoke_proposed_change_approvals {
            features.push(EnterpriseFeature::RevokeProposedChangeApprovals);
        }
        features
    }
}

/// Owned copies of string literals, for list defaults.
pub(crate) fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_defaults_match_upstream() {
        let main = MainSettings::default();
        assert!(main.allow_anonymous_access);
        assert_eq!(main.anonymous_access_role, "Anonymous User");
        assert!(!main.telemetry_optout);
        assert_eq!(
            main.permission_backends,
            ["infrahub.permissions.LocalPermissionBackend"]
        );
        assert!(main.schema_strict_mode);
        assert_eq!(main.internal_address, None);
        assert_eq!(main.public_url, None);
        assert_eq!(main.data_dir, PathBuf::from("./infrahub-data"));
    }

    #[test]
    fn api_git_http_misc_defaults_match_upstream() {
        let api = ApiSettings::default();
        assert!(api.cors_allow_origins.is_empty());
        assert_eq!(api.cors_allow_methods.len(), 6);
        assert_eq!(api.cors_allow_headers[1], "authorization");
        assert!(api.cors_allow_credentials);
        let git = GitSettings::default();
        assert_eq!(git.repositories_directory, PathBuf::from("repositories"));
        assert_eq!(git.sync_interval, 10);
        assert_eq!(git.append_git_suffix, ["github.com", "gitlab.com"]);
        assert_eq!(HttpSettings::default().timeout, 10);
        let misc = MiscellaneousSettings::default();
        assert_eq!(misc.maximum_validator_execution_time, 1800);
        assert!(misc.start_background_runner);
        assert_eq!(misc.response_delay, 0);
    }

    #[test]
    fn policy_turns_on_enterprise_features() {
        assert!(PolicySettings::default().enterprise_features().is_empty());
        let policy = PolicySettings {
            required_proposed_change_approvals: 2,
            revoke_proposed_change_approvals: true,
        };
        assert_eq!(
            policy.enterprise_features(),
            [
                EnterpriseFeature::ProposedChangeRequireApproval,
                EnterpriseFeature::RevokeProposedChangeApprovals
            ]
        );
        assert_eq!(
            EnterpriseFeature::RevokeProposedChangeApprovals.as_str(),
            "revoke_proposed_change_approvals"
        );
    }
}
