//! The roles and groups a fresh deployment starts with, as upstream Infrahub seeds them: the
//! super administrators (the initial admin among them), the general access every user of the
//! `Infrahub Users` group gets (read everything, write outside the default branch, load
//! schemas and repositories, merge proposed changes), the proposed change reviewers, and the
//! role anonymous requests act with (read everything, nothing else).

use infrahub_graph::{BranchView, NodeId};
use serde_json::Value;

use crate::error::Result;
use crate::permissions::decision::{ALLOW_ALL, ALLOW_OTHER, DENY};

use super::{Engine, Fields, QueryArgs};

use super::input::{AttributeInput, NodeInput, PeerInput, RelationshipInput};

/// A permission a seeded role holds.
enum Seeded {
    /// A global permission: action and decision.
    Global(&'static str, i64),
    /// An object permission: namespace, name, action and decision.
    Object(&'static str, &'static str, &'static str, i64),
}

/// The seeded roles: name and permissions.
const ROLES: &[(&str, &[Seeded])] = &[
    // Every right.
    (
        "Super Administrator",
        &[Seeded::Global("super_admin", ALLOW_ALL)],
    ),
    // Read everything, change data outside the default branch, load schemas and repositories,
    // merge proposed changes.
    (
        "General Access",
        &[
            Seeded::Global("manage_repositories", ALLOW_ALL),
            Seeded::Global("manage_schema", ALLOW_ALL),
            Seeded::Global("merge_proposed_change", ALLOW_ALL),
            Seeded::Object("*", "*", "view", ALLOW_ALL),
            Seeded::Object("*", "*", "any", ALLOW_OTHER),
        ],
    ),
    // Review proposed changes and change the default branch.
    (
        "Proposed Change Reviewer",
        &[
            Seeded::Global("edit_default_branch", ALLOW_ALL),
            Seeded::Global("review_proposed_change", ALLOW_ALL),
            Seeded::Object("Core", "ProposedChange", "update", ALLOW_ALL),
        ],
    ),
    // What requests without credentials may do when anonymous access is on: read.
    (
        "Anonymous User",
        &[
            Seeded::Object("*", "*", "any", DENY),
            Seeded::Object("*", "*", "view", ALLOW_ALL),
        ],
    ),
];

/// The seeded groups: name, roles, and whether the initial admin is a member.
const GROUPS: &[(&str, &[&str], bool)] = &[
    ("Super Administrators", &["Super Administrator"], true),
    ("Infrahub Users", &["General Access"], false),
];

fn text(value: &str) -> AttributeInput {
    AttributeInput::value(Value::String(value.to_string()))
}

fn peers(ids: &[NodeId]) -> RelationshipInput {
    RelationshipInput::Many(ids.iter().map(|id| PeerInput::id(id.to_string())).collect())
}

impl Engine {
    /// The node of `kind` named `name` on `branch`, if there is one.
    async fn named(&self, branch: &str, kind: &str, name: &str) -> Result<Option<NodeId>> {
        let mut args = QueryArgs::default();
        args.filters
            .insert("name__value".into(), Value::String(name.to_string()));
        let (found, _) = self
            .query(&BranchView::now(branch), kind, &args, &Fields::minimal())
            .await?;
        Ok(found.first().map(|node| node.id))
    }

    /// Creates the seeded permissions, roles and groups on `branch`, `administrators` (the
    /// initial admin, and the agent when there is one) members of the super administrators. A role or group that already exists by name is left as it
    /// is, so running this again (a migration interrupted half way) completes what is missing
    /// and changes nothing else.
    pub(super) async fn seed_roles(&self, branch: &str, administrators: &[NodeId]) -> Result<()> {
        let mut roles = Vec::new();
        for (name, permissions) in ROLES {
            if let Some(existing) = self.named(branch, "CoreAccountRole", name).await? {
                roles.push((*name, existing));
                continue;
            }
            let mut ids = Vec::new();
            for permission in *permissions {
                let mut input = NodeInput::default();
                let kind = match permission {
                    Seeded::Global(action, decision) => {
                        input.attributes.insert("action".into(), text(action));
                        input.attributes.insert(
                            "decision".into(),
                            AttributeInput::value(Value::from(*decision)),
                        );
                        "CoreGlobalPermission"
                    }
                    Seeded::Object(namespace, object, action, decision) => {
                        input.attributes.insert("namespace".into(), text(namespace));
                        input.attributes.insert("name".into(), text(object));
                        input.attributes.insert("action".into(), text(action));
                        input.attributes.insert(
                            "decision".into(),
                            AttributeInput::value(Value::from(*decision)),
                        );
                        "CoreObjectPermission"
                    }
                };
                // Two roles may hold the same permission: it exists once.
                let created = self.upsert(branch, kind, input).await?;
                ids.push(created.node.id);
            }
            let mut role = NodeInput::default();
            role.attributes.insert("name".into(), text(name));
            role.relationships.insert("permissions".into(), peers(&ids));
            let role = self.create(branch, "CoreAccountRole", role).await?;
            roles.push((*name, role.node.id));
        }
        for (name, role_names, with_admin) in GROUPS {
            if self
                .named(branch, "CoreAccountGroup", name)
                .await?
                .is_some()
            {
                continue;
            }
            let ids: Vec<NodeId> = roles
                .iter()
                .filter(|(role, _)| role_names.contains(role))
                .map(|(_, id)| *id)
                .collect();
            let mut group = NodeInput::default();
            group.attributes.insert("name".into(), text(name));
            group.relationships.insert("roles".into(), peers(&ids));
            if *with_admin && !administrators.is_empty() {
                group
                    .relationships
                    .insert("members".into(), peers(administrators));
            }
            self.create(branch, "CoreAccountGroup", group).await?;
        }
        Ok(())
    }
}
