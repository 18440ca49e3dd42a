//! Permission decisions, resolved as upstream Infrahub resolves them: an account's global
//! permissions (`CoreGlobalPermission`) and object permissions (`CoreObjectPermission`),
//! gathered from the roles of its groups, answer whether it may do an action.
//!
//! - A global permission is held when some permission of that action allows it and none
//!   denies it; `super_admin` holds every permission.
//! - For an object permission, the permissions whose namespace, name and action match (or are
//!   wildcards: `*`, action `any`) compete by specificity (one point for each non-wildcard
//!   field, one more for a deny); the most specific win, their decisions OR-ed (a deny never
//!   adds). The action is allowed when that decision holds the bit of the branch: allow_default
//!   on the default branch, allow_other elsewhere.
//!
//! # Examples
//!
//! ```
//! use infrahub_core::permissions::{ObjectPermission, PermissionSet, decision};
//!
//! let mut set = PermissionSet::default();
//! set.object.push(ObjectPermission::new("*", "*", "view", decision::ALLOW_ALL));
//! set.object.push(ObjectPermission::new("*", "*", "any", decision::ALLOW_OTHER));
//! set.object.push(ObjectPermission::new("Infra", "Device", "delete", decision::DENY));
//! assert!(set.allows_object("BuiltinTag", "create", false));
//! assert!(!set.allows_object("BuiltinTag", "create", true));
//! assert!(!set.allows_object("InfraDevice", "delete", false));
//! ```

/// The `decision` of a permission: a bit set, as upstream stores it.
pub mod decision {
    /// Denies the action.
    pub const DENY: i64 = 1;
    /// Allows the action on the default branch (and the global branch).
    pub const ALLOW_DEFAULT: i64 = 2;
    /// Allows the action on other branches.
    pub const ALLOW_OTHER: i64 = 4;
    /// Allows the action everywhere.
    pub const ALLOW_ALL: i64 = 6;

    /// Upstream's name of a decision: `deny`, `allow_default`, `allow_other`, `allow_all`.
    pub fn name(bits: i64) -> &'static str {
        match bits {
            ALLOW_DEFAULT => "allow_default",
            ALLOW_OTHER => "allow_other",
            ALLOW_ALL => "allow_all",
            _ => "deny",
        }
    }
}

/// The global action that grants every permission.
pub const SUPER_ADMIN: &str = "super_admin";

/// A global permission: an action (`edit_default_branch`, `manage_accounts`, ...) and its
/// decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalPermission {
    /// The action.
    pub action: String,
    /// A [`decision`].
    pub decision: i64,
}

/// An object permission: which kinds (`namespace`, `name`, `*` for any), which action (`view`,
/// `create`, `update`, `delete`, or `any`) and the decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectPermission {
    /// Namespace of the kinds, or `*`.
    pub namespace: String,
    /// Name of the kinds, or `*`.
    pub name: String,
    /// The action, or `any`.
    pub action: String,
    /// A [`decision`].
    pub decision: i64,
}

impl ObjectPermission {
    /// A permission from its parts.
    pub fn new(namespace: &str, name: &str, action: &str, decision: i64) -> ObjectPermission {
        ObjectPermission {
            namespace: namespace.to_string(),
            name: name.to_string(),
            action: action.to_string(),
            decision,
        }
    }

    fn specificity(&self) -> u8 {
        u8::from(self.namespace != "*")
            + u8::from(self.name != "*")
            + u8::from(self.action != "any")
            + u8::from(self.decision & decision::ALLOW_ALL == 0)
    }
}

/// Everything an account is granted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PermissionSet {
    /// Global permissions.
    pub global: Vec<GlobalPermission>,
    /// Object permissions.
    pub object: Vec<ObjectPermission>,
}

impl PermissionSet {
    /// Whether `action` is granted by some global permission and denied by none (the
    /// decision's branch bits are not considered, as upstream).
    fn resolves_global(&self, action: &str) -> bool {
        let mut granted = false;
        for permission in self.global.iter().filter(|p| p.action == action) {
            if permission.decision & decision::ALLOW_ALL == 0 {
                return false;
            }
            granted = true;
        }
        granted
    }

    /// Whether the account holds `super_admin`.
    pub fn is_super_admin(&self) -> bool {
        self.resolves_global(SUPER_ADMIN)
    }

    /// Whether the account holds global permission `action` (or is a super admin).
    pub fn has_global(&self, action: &str) -> bool {
        self.is_super_admin() || self.resolves_global(action)
    }

    /// The combined decision of the most specific object permissions matching `namespace`,
    /// `name` and `action`; [`decision::DENY`] when none matches.
    pub fn object_decision(&self, namespace: &str, name: &str, action: &str) -> i64 {
        let mut best: Option<u8> = None;
        let mut combined = decision::DENY;
        for permission in &self.object {
            let matches = (permission.namespace == "*" || permission.namespace == namespace)
                && (permission.name == "*" || permission.name == name)
                && (permission.action == "any" || permission.action == action);
            if !matches {
                continue;
            }
            let specificity = permission.specificity();
            match best {
                Some(level) if specificity < level => {}
                Some(level) if specificity == level => {
                    if permission.decision & decision::ALLOW_ALL != 0 {
                        combined |= permission.decision;
                    }
                }
                _ => {
                    best = Some(specificity);
                    combined = permission.decision;
                }
            }
        }
        combined
    }

    /// Whether `action` is allowed on nodes of `kind` on the default branch
    /// (`on_default_branch`) or another one; super admins may do everything.
    pub fn allows_object(&self, kind: &str, action: &str, on_default_branch: bool) -> bool {
        if self.is_super_admin() {
            return true;
        }
        let (namespace, name) = split_kind(kind);
        let required = required_decision(on_default_branch);
        self.object_decision(namespace, name, action) & required == required
    }
}

/// The decision bit an action needs on the default branch or elsewhere.
pub fn required_decision(on_default_branch: bool) -> i64 {
    if on_default_branch {
        decision::ALLOW_DEFAULT
    } else {
        decision::ALLOW_OTHER
    }
}

/// Splits a kind at its first word boundary, as upstream names object permissions:
/// `InfraDevice` is `Infra` / `Device`, `CoreAccount` is `Core` / `Account`.
pub fn split_kind(kind: &str) -> (&str, &str) {
    let boundary = kind
        .char_indices()
        .skip(1)
        .find(|(_, c)| c.is_ascii_uppercase())
        .map_or(kind.len(), |(index, _)| index);
    kind.split_at(boundary)
}

/// Upstream's identifier of an object permission: `object:Infra:Device:update:allow_other`.
pub fn object_identifier(kind: &str, action: &str, bits: i64) -> String {
    let (namespace, name) = split_kind(kind);
    format!(
        "object:{namespace}:{name}:{action}:{}",
        decision::name(bits)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(action: &str, bits: i64) -> GlobalPermission {
        GlobalPermission {
            action: action.into(),
            decision: bits,
        }
    }

    #[test]
    fn kinds_split_at_the_first_word_boundary() {
        assert_eq!(split_kind("InfraDevice"), ("Infra", "Device"));
        assert_eq!(split_kind("InfraBGPSession"), ("Infra", "BGPSession"));
        assert_eq!(split_kind("Core"), ("Core", ""));
        assert_eq!(
            object_identifier("BuiltinTag", "create", decision::ALLOW_OTHER),
            "object:Builtin:Tag:create:allow_other"
        );
    }

    #[test]
    fn a_deny_of_a_global_action_wins_and_super_admin_grants_the_rest() {
        let mut set = PermissionSet::default();
        assert!(!set.has_global("merge_branch"));
        set.global.push(global("merge_branch", decision::ALLOW_ALL));
        assert!(set.has_global("merge_branch"));
        set.global.push(global("merge_branch", decision::DENY));
        assert!(!set.has_global("merge_branch"));
        set.global.push(global(SUPER_ADMIN, decision::ALLOW_ALL));
        assert!(set.has_global("merge_branch") && set.has_global("manage_accounts"));
        set.global.push(global(SUPER_ADMIN, decision::DENY));
        assert!(!set.is_super_admin());
    }

    #[test]
    fn the_most_specific_object_permission_wins() {
        let mut set = PermissionSet::default();
        assert!(!set.allows_object("InfraDevice", "view", true));
        // Upstream's anonymous role: `any` denied (specificity 0+0+0+1) and `view` allowed
        // (0+0+1+0): equal, so the allow is OR-ed in for view; other actions match the deny
        // only.
        set.object
            .push(ObjectPermission::new("*", "*", "any", decision::DENY));
        set.object
            .push(ObjectPermission::new("*", "*", "view", decision::ALLOW_ALL));
        assert!(set.allows_object("InfraDevice", "view", true));
        assert!(!set.allows_object("InfraDevice", "create", false));
        // Same specificity: allows are OR-ed.
        let mut set = PermissionSet::default();
        set.object.push(ObjectPermission::new(
            "Infra",
            "*",
            "update",
            decision::ALLOW_DEFAULT,
        ));
        set.object.push(ObjectPermission::new(
            "*",
            "Device",
            "update",
            decision::ALLOW_OTHER,
        ));
        assert_eq!(
            set.object_decision("Infra", "Device", "update"),
            decision::ALLOW_ALL
        );
        // A more specific deny beats both.
        set.object.push(ObjectPermission::new(
            "Infra",
            "Device",
            "update",
            decision::DENY,
        ));
        assert!(!set.allows_object("InfraDevice", "update", true));
        assert!(set.allows_object("InfraSite", "update", true));
    }
}
