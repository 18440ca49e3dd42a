//! `[initial]`: values used once, when the database is first initialized.

use serde::{Deserialize, Serialize};

use super::Secret;

/// `[initial]`: values used when the database is initialized. Environment prefix
/// `INFRAHUB_INITIAL_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InitialSettings {
    /// Name of the default branch; only read when the database is initialized. Default `main`;
    /// env `INFRAHUB_INITIAL_DEFAULT_BRANCH`.
    pub default_branch: String,
    /// API token created for the admin account (secret). Default unset; env
    /// `INFRAHUB_INITIAL_ADMIN_TOKEN`.
    pub admin_token: Option<Secret>,
    /// Password of the admin account (secret). Default `infrahub`; env
    /// `INFRAHUB_INITIAL_ADMIN_PASSWORD`.
    pub admin_password: Secret,
    /// API token of a git-agent account, which is created when this or `agent_password` is
    /// set; must differ from `admin_token` (secret). Default unset; env
    /// `INFRAHUB_INITIAL_AGENT_TOKEN`.
    pub agent_token: Option<Secret>,
    /// Password of the git-agent account (secret). Default unset; env
    /// `INFRAHUB_INITIAL_AGENT_PASSWORD`.
    pub agent_password: Option<Secret>,
}

impl Default for InitialSettings {
    fn default() -> Self {
        Self {
            default_branch: "main".to_owned(),
            admin_token: None,
            admin_password: Secret::new("infrahub"),
            agent_token: None,
            agent_password: None,
        }
    }
}

impl InitialSettings {
    /// Returns true when a git-agent account is to be created (a token or password is set).
    pub fn create_agent_user(&self) -> bool {
        self.agent_token.is_some() || self.agent_password.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_upstream() {
        let initial = InitialSettings::default();
        assert_eq!(initial.default_branch, "main");
        assert_eq!(initial.admin_password.expose(), "infrahub");
        assert!(initial.admin_token.is_none());
        assert!(initial.agent_token.is_none() && initial.agent_password.is_none());
        assert!(!initial.create_agent_user());
    }

    #[test]
    fn agent_user_follows_its_credentials() {
        let initial = InitialSettings {
            agent_password: Some(Secret::new("agent")),
            ..InitialSettings::default()
        };
        assert!(initial.create_agent_user());
    }
}
