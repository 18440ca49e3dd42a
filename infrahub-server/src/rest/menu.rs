//! `GET /api/menu`: the navigation menu of the web frontend, built as upstream builds it: the
//! built-in entries, the `CoreMenuItem` nodes users loaded (`infrahubctl menu load`), then one
//! entry per schema kind with `include_in_menu: true`, placed under its `menu_placement`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use infrahub_core::engine::{Fields, QueryArgs};
use infrahub_core::schema::{IP_ADDRESS, IP_PREFIX, ModelCategory, ModelSchema, SchemaBranch};
use infrahub_graph::BranchView;
use serde_json::{Value, json};

use super::body::Params;
use super::branch_schema;
use super::error::{RestError, engine_error};
use crate::app::AppState;
use crate::auth::{Caller, has_global_permission};

/// Entry that receives schema kinds whose `menu_placement` names no entry.
const DEFAULT_MENU: &str = "BuiltinOther";
/// Entry removed when no kind implements the IPAM generics.
const IPAM_MENU: &str = "BuiltinIPAM";
/// Kind of the menu entries users load.
const MENU_ITEM_KIND: &str = "CoreMenuItem";

/// One menu entry.
#[derive(Clone, Debug, PartialEq)]
struct MenuItem {
    namespace: String,
    name: String,
    description: String,
    protected: bool,
    label: String,
    path: String,
    icon: String,
    kind: String,
    order_weight: i64,
    section: String,
    permissions: Vec<String>,
    hidden: bool,
    children: Vec<MenuItem>,
}

impl MenuItem {
    fn identifier(&self) -> String {
        format!("{}{}", self.namespace, self.name)
    }

    /// The entry of a schema kind.
    fn from_model(model: &ModelSchema) -> MenuItem {
        let kind = model.kind();
        MenuItem {
            namespace: model.namespace.clone(),
            name: model.name.clone(),
            description: String::new(),
            protected: false,
            label: model.label.clone().unwrap_or_else(|| kind.clone()),
            path: format!("/objects/{kind}"),
            icon: model.icon.clone().unwrap_or_default(),
            kind,
            order_weight: 5000,
            section: "object".into(),
            permissions: Vec::new(),
            hidden: false,
            children: Vec::new(),
        }
    }

    /// The JSON form, children sorted by weight (stable) and hidden ones left out.
    fn to_json(&self) -> Value {
        json!({
            "id": null,
            "namespace": self.namespace,
            "name": self.name,
            "description": self.description,
            "protected": self.protected,
            "label": self.label,
            "path": self.path,
            "icon": self.icon,
            "kind": self.kind,
            "order_weight": self.order_weight,
            "section": self.section,
            "permissions": self.permissions,
            "children": sorted_json(&self.children),
            "identifier": self.identifier(),
        })
    }
}

fn sorted_json(items: &[MenuItem]) -> Vec<Value> {
    let mut visible: Vec<&MenuItem> = items.iter().filter(|item| !item.hidden).collect();
    visible.sort_by_key(|item| item.order_weight);
    visible.iter().map(|item| item.to_json()).collect()
}

/// Adds `item` to `items`, replacing an entry with the same identifier in place.
fn insert(items: &mut Vec<MenuItem>, item: MenuItem) {
    let identifier = item.identifier();
    match items.iter_mut().find(|i| i.identifier() == identifier) {
        Some(slot) => *slot = item,
        None => items.push(item),
    }
}

/// The entry named `identifier` anywhere in the tree.
fn find<'a>(items: &'a mut [MenuItem], identifier: &str) -> Option<&'a mut MenuItem> {
    if let Some(index) = items
        .iter()
        .position(|item| item.identifier() == identifier)
    {
        return items.get_mut(index);
    }
    items
        .iter_mut()
        .find_map(|item| find(&mut item.children, identifier))
}

fn contains(items: &[MenuItem], identifier: &str) -> bool {
    items
        .iter()
        .any(|item| item.identifier() == identifier || contains(&item.children, identifier))
}

/// `GET /api/menu?branch=`: `{"sections": {"internal": [...], "object": [...]}}`.
pub(super) async fn get_menu(
    State(state): State<Arc<AppState>>,
    Caller(account): Caller,
    params: Params,
) -> Result<Json<Value>, RestError> {
    let (branch, schema) = branch_schema(&state, &params)?;
    let sections = menu_sections(&state, account.as_ref(), &branch, &schema).await?;
    Ok(Json(json!({ "sections": sections })))
}

/// The menu of `branch` as `account` sees it (entries it lacks the permission for left out):
/// `{"internal": [...], "object": [...]}`, each entry with its sorted `children`. The web
/// frontend's navigation is built from it too.
pub(crate) async fn menu_sections(
    state: &AppState,
    account: Option<&crate::account::Account>,
    branch: &str,
    schema: &SchemaBranch,
) -> Result<Value, RestError> {
    let mut menu = builtin_menu();
    add_menu_nodes(state, branch, &mut menu).await?;
    add_schema_kinds(schema, &mut menu);
    let mut granted: HashMap<String, bool> = HashMap::new();
    for item in &mut menu {
        for permission in item.permissions.clone() {
            let Some(action) = global_permission(&permission) else {
                continue;
            };
            let allowed = match granted.get(&permission) {
                Some(allowed) => *allowed,
                None => {
                    let allowed = has_global_permission(state, account, action).await?;
                    granted.insert(permission.clone(), allowed);
                    allowed
                }
            };
            if !allowed {
                item.hidden = true;
            }
        }
    }
    let section = |name: &str| {
        let items: Vec<MenuItem> = menu
            .iter()
            .filter(|item| item.section == name)
            .cloned()
            .collect();
        sorted_json(&items)
    };
    Ok(json!({"internal": section("internal"), "object": section("object")}))
}

/// The action and decision bits of a `global:<action>:<decision>` permission string.
fn global_permission(permission: &str) -> Option<&str> {
    let mut parts = permission.split(':');
    if parts.next() != Some("global") {
        return None;
    }
    let action = parts.next()?;
    // The decision is not considered, as upstream resolves global permissions.
    matches!(parts.next()?, "allow_default" | "allow_other" | "allow_all").then_some(action)
}

/// Adds the `CoreMenuItem` nodes of `branch`: entries without a parent at the top, the
/// others under their parent (entries whose parent cannot be placed are left out, as
/// upstream does).
async fn add_menu_nodes(
    state: &AppState,
    branch: &str,
    menu: &mut Vec<MenuItem>,
) -> Result<(), RestError> {
    let fields = Fields {
        attributes: None,
        relationships: vec!["parent".to_string()],
    };
    let view = BranchView::now(branch);
    let (nodes, _) = match state
        .engine
        .query(&view, MENU_ITEM_KIND, &QueryArgs::default(), &fields)
        .await
    {
        Ok(found) => found,
        Err(error) if error.kind() == infrahub_core::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(engine_error(&error).into()),
    };
    let text = |node: &infrahub_core::engine::Node, name: &str| {
        node.value(name).as_str().unwrap_or_default().to_string()
    };
    let identifiers: HashMap<String, String> = nodes
        .iter()
        .map(|node| {
            (
                node.id.to_string(),
                format!("{}{}", text(node, "namespace"), text(node, "name")),
            )
        })
        .collect();
    let mut pending: Vec<(String, MenuItem)> = Vec::new();
    for node in &nodes {
        let item = MenuItem {
            namespace: text(node, "namespace"),
            name: text(node, "name"),
            description: text(node, "description"),
            protected: node.value("protected").as_bool().unwrap_or(false),
            label: text(node, "label"),
            path: text(node, "path"),
            icon: text(node, "icon"),
            kind: text(node, "kind"),
            order_weight: node.value("order_weight").as_i64().unwrap_or(2000),
            section: match node.value("section").as_str() {
                Some(section) => section.to_string(),
                None => "object".to_string(),
            },
            permissions: node
                .value("required_permissions")
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            hidden: false,
            children: Vec::new(),
        };
        let parent = node
            .peers("parent")
            .first()
            .and_then(|peer| identifiers.get(&peer.id.to_string()).cloned());
        match parent {
            None => insert(menu, item),
            Some(parent) => pending.push((parent, item)),
        }
    }
    // Children may name parents that are themselves children: place them in rounds.
    loop {
        let before = pending.len();
        pending.retain(|(parent, item)| match find(menu, parent) {
            Some(parent_item) => {
                insert(&mut parent_item.children, item.clone());
                false
            }
            None => true,
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    Ok(())
}

/// Adds an entry for every kind with `include_in_menu` true or unset that has none yet: under
/// its `menu_placement`, else at the top with itself as first child, else under "Other".
fn add_schema_kinds(schema: &SchemaBranch, menu: &mut Vec<MenuItem>) {
    let mut remaining: Vec<&ModelSchema> = [
        ModelCategory::Node,
        ModelCategory::Generic,
        ModelCategory::Profile,
        ModelCategory::Template,
    ]
    .into_iter()
    .flat_map(|category| schema.models_of(category))
    // Upstream stores an unset `include_in_menu` as its default, `true`.
    .filter(|model| model.include_in_menu != Some(false))
    .collect();
    loop {
        let before = remaining.len();
        remaining.retain(|model| {
            let item = MenuItem::from_model(model);
            if contains(menu, &item.identifier()) {
                return false;
            }
            match model.menu_placement.as_deref() {
                None => {
                    let mut first = item.clone();
                    first.name = format!("{}Sub", first.name);
                    first.order_weight = 1;
                    let mut top = item;
                    top.children.push(first);
                    insert(menu, top);
                    false
                }
                Some(placement) => match find(menu, placement) {
                    Some(parent) => {
                        insert(&mut parent.children, item);
                        false
                    }
                    None => true,
                },
            }
        });
        if remaining.is_empty() || remaining.len() == before {
            break;
        }
    }
    if let Some(other) = find(menu, DEFAULT_MENU) {
        for model in remaining {
            insert(&mut other.children, MenuItem::from_model(model));
        }
    }
    let ipam_used = [IP_ADDRESS, IP_PREFIX]
        .iter()
        .filter_map(|kind| schema.get(kind))
        .any(|generic| !generic.used_by.is_empty());
    if !ipam_used {
        menu.retain(|item| item.identifier() != IPAM_MENU);
    }
}

/// Section of entries for internal object types.
const I: &str = "internal";
/// Section of entries for user object types.
const O: &str = "object";

/// The entries upstream creates at first start, in upstream's order, as (depth, name, label,
/// path, icon, section, order weight); an entry of depth `n + 1` is a child of the last entry
/// of depth `n` above it.
#[rustfmt::skip]
const BUILTIN_MENU: &[(u8, &str, &str, &str, &str, &str, i64)] = &[
    (0, "Other", "Other", "", "mdi:cube-outline", O, 10000),
    (1, "Tag", "Tags", "/objects/BuiltinTag", "mdi:tag-multiple", O, 10000),
    (0, "IPAM", "IPAM", "", "mdi:ip-network", O, 9500),
    (1, "IPPrefix", "IP Prefixes", "/ipam", "mdi:ip-network", I, 1000),
    (1, "IPAddress", "IP Addresses", "/ipam/ip_addresses", "mdi:ip-outline", I, 2000),
    (1, "Namespaces", "Namespaces", "/ipam/namespaces", "mdi:format-list-group", I, 3000),
    (0, "ProposedChanges", "Proposed Changes", "/proposed-changes", "mdi:file-replace-outline", I, 1000),
    (0, "Branches", "Branches", "/branches", "mdi:layers-triple", I, 1500),
    (0, "ObjectManagement", "Object Management", "", "mdi:cube-outline", I, 2000),
    (1, "Groups", "Groups", "/objects/CoreGroup", "mdi:group", I, 1000),
    (1, "Profiles", "Profiles", "/objects/CoreProfile", "mdi:shape-plus-outline", I, 1500),
    (1, "Templates", "Templates", "/objects/CoreObjectTemplate", "mdi:pencil-ruler", I, 2000),
    (1, "ResourceManager", "Resource Managers", "/resource-manager", "mdi:view-grid-outline", I, 2500),
    (1, "Artifact", "Artifacts", "/objects/CoreArtifact", "mdi:file-document-outline", I, 3000),
    (1, "Schema", "Schemas", "/schema", "mdi:file-code", I, 2000),
    (1, "GraphqlQuery", "GraphQL Queries", "/objects/CoreGraphQLQuery", "mdi:graphql", I, 3500),
    (0, "Actions", "Actions", "", "mdi:rocket-launch", I, 2500),
    (1, "CheckDefinition", "Check Definition", "/objects/CoreCheckDefinition", "mdi:check-all", I, 3000),
    (1, "ArtifactDefinition", "Artifact Definitions", "/objects/CoreArtifactDefinition", "mdi:file-document-multiple-outline", I, 1000),
    (1, "Transformation", "Transformations", "/objects/CoreTransformation", "mdi:cog-transfer", I, 3000),
    (1, "GeneratorInstance", "Generators", "/objects/CoreGeneratorInstance", "mdi:file-document-outline", I, 1000),
    (1, "GeneratorDefinition", "Generator Definitions", "/objects/CoreGeneratorDefinition", "mdi:state-machine", I, 2000),
    (1, "TriggerDefinition", "Events", "", "mdi:filter-cog-outline", I, 6000),
    (2, "TriggerRule", "Rules", "/objects/CoreTriggerRule", "mdi:filter-cog-outline", I, 1000),
    (2, "Action", "Actions", "/objects/CoreAction", "mdi:cards-diamond-outline", I, 2000),
    (0, "Integration", "Integrations", "", "mdi:connection", I, 3000),
    (1, "Webhooks", "Webhooks", "/objects/CoreWebhook", "mdi:webhook", I, 3000),
    (1, "Git Repository", "Git Repositories", "/objects/CoreGenericRepository", "mdi:source-repository", I, 2000),
    (1, "Credentials", "Credentials", "/objects/CoreCredential", "mdi:key-variant", I, 2000),
    (0, "Activity", "Activity", "", "mdi:chart-bar-stacked", I, 4000),
    (1, "Tasks", "Tasks", "/tasks", "mdi:shield-check", I, 1000),
    (1, "Activities", "Activities", "/activities", "mdi:timeline-text", I, 2000),
    (0, "Admin", "Admin", "", "mdi:settings-outline", I, 10000),
    (1, "RoleManagement", "Users & Permissions", "/role-management", "mdi:user-key", I, 1000),
    (1, "Menu", "Menu", "/objects/CoreMenu", "mdi:menu", I, 2500),
];

/// Global permission the built-in Admin entry requires.
const ADMIN_PERMISSION: &str = "global:super_admin:allow_all";

/// The list `depth` levels down the last entries of `items`.
fn nested(items: &mut Vec<MenuItem>, depth: u8) -> &mut Vec<MenuItem> {
    if depth == 0 || items.is_empty() {
        return items;
    }
    let last = items.len() - 1;
    nested(&mut items[last].children, depth - 1)
}

/// The built-in entries as a tree.
fn builtin_menu() -> Vec<MenuItem> {
    let mut menu = Vec::new();
    for &(depth, name, label, path, icon, section, order_weight) in BUILTIN_MENU {
        let item = MenuItem {
            namespace: "Builtin".into(),
            name: name.into(),
            description: String::new(),
            protected: true,
            label: label.into(),
            path: path.into(),
            icon: icon.into(),
            kind: String::new(),
            order_weight,
            section: section.into(),
            permissions: if depth == 0 && name == "Admin" {
                vec![ADMIN_PERMISSION.to_string()]
            } else {
                Vec::new()
            },
            hidden: false,
            children: Vec::new(),
        };
        nested(&mut menu, depth).push(item);
    }
    menu
}

#[cfg(test)]
mod tests {
    use infrahub_core::schema::{ProcessOptions, SchemaFile, core_schema};

    use super::*;

    fn schema(yaml: &str) -> SchemaBranch {
        let options = ProcessOptions::default();
        let file = SchemaFile::from_yaml(yaml, None).unwrap();
        core_schema(&options)
            .unwrap()
            .with_file(&file, &options)
            .unwrap()
    }

    #[test]
    fn kinds_get_entries_under_their_placement_or_at_the_top() {
        let schema = schema(
            r#"
version: "1.0"
generics:
  - name: Generic
    namespace: Organization
    include_in_menu: true
    attributes: [{name: name, kind: Text}]
nodes:
  - name: Manufacturer
    namespace: Organization
    inherit_from: [OrganizationGeneric]
    include_in_menu: true
    menu_placement: OrganizationGeneric
  - name: Lost
    namespace: Test
    include_in_menu: true
    menu_placement: TestNowhere
    attributes: [{name: name, kind: Text}]
  - name: Hidden
    namespace: Test
    include_in_menu: false
    attributes: [{name: name, kind: Text}]
  - name: Plain
    namespace: Test
    attributes: [{name: name, kind: Text}]
"#,
        );
        let mut menu = builtin_menu();
        add_schema_kinds(&schema, &mut menu);
        let generic = find(&mut menu, "OrganizationGeneric").unwrap().clone();
        let children: Vec<String> = generic.children.iter().map(MenuItem::identifier).collect();
        assert_eq!(
            children,
            ["OrganizationGenericSub", "OrganizationManufacturer"]
        );
        assert_eq!(generic.children[0].order_weight, 1);
        assert_eq!(generic.path, "/objects/OrganizationGeneric");
        let other = find(&mut menu, DEFAULT_MENU).unwrap().clone();
        assert!(other.children.iter().any(|c| c.identifier() == "TestLost"));
        assert!(!contains(&menu, "TestHidden"));
        // Unset means included, as upstream stores the default `true`.
        assert!(menu.iter().any(|i| i.identifier() == "TestPlain"));
        // BuiltinTag already has its built-in entry.
        assert_eq!(
            menu.iter()
                .filter(|i| i.identifier() == "BuiltinTag")
                .count(),
            0
        );
    }

    #[test]
    fn ipam_is_listed_only_when_a_kind_implements_it() {
        let without = schema("version: \"1.0\"\n");
        let mut menu = builtin_menu();
        add_schema_kinds(&without, &mut menu);
        assert_eq!(
            menu.iter().any(|i| i.identifier() == IPAM_MENU),
            [IP_ADDRESS, IP_PREFIX]
                .iter()
                .filter_map(|k| without.get(k))
                .any(|g| !g.used_by.is_empty())
        );
    }

    #[test]
    fn the_builtin_table_builds_upstream_tree() {
        let mut menu = builtin_menu();
        assert_eq!(menu.len(), 9);
        let events = find(&mut menu, "BuiltinTriggerDefinition").unwrap().clone();
        let rules: Vec<String> = events.children.iter().map(MenuItem::identifier).collect();
        assert_eq!(rules, ["BuiltinTriggerRule", "BuiltinAction"]);
        assert!(contains(&menu[5].children, "BuiltinTriggerRule"));
        let admin = find(&mut menu, "BuiltinAdmin").unwrap();
        assert_eq!(admin.permissions, [ADMIN_PERMISSION]);
        assert_eq!(admin.children.len(), 2);
        assert!(
            find(&mut menu, "BuiltinMenu")
                .unwrap()
                .permissions
                .is_empty()
        );
    }

    #[test]
    fn children_are_sorted_by_weight_keeping_definition_order_on_ties() {
        let menu = builtin_menu();
        let objects = menu
            .iter()
            .find(|i| i.identifier() == "BuiltinObjectManagement")
            .unwrap()
            .to_json();
        let names: Vec<&str> = objects["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Groups",
                "Profiles",
                "Templates",
                "Schema",
                "ResourceManager",
                "Artifact",
                "GraphqlQuery"
            ]
        );
        assert_eq!(
            global_permission("global:super_admin:allow_all"),
            Some("super_admin")
        );
        assert_eq!(global_permission("object:*:*:view:allow_all"), None);
        assert_eq!(global_permission("global:super_admin:sometimes"), None);
    }
}
