//! Rules that need the whole schema: names, peers, paths (HFID, display labels, ordering,
//! uniqueness, default filter), counts, identifiers, parents and components, computed
//! attributes, parameters and default values.

use std::collections::{BTreeMap, BTreeSet};

use super::super::branch::SchemaBranch;
use super::super::constants::{
    GENERIC_GROUP, PYTHON_KEYWORDS, RESERVED_FIELD_NAMES, RESERVED_GENERIC_FIELD_NAMES,
};
use super::super::error::SchemaError;
use super::super::kinds::{
    AttributeKind, Cardinality, ComputedAttributeKind, Direction, RelationshipKind, State,
};
use super::super::model::{ModelCategory, ModelSchema};
use super::super::path::{PathRules, check_path};
use super::super::relationship::RelationshipSchema;
use super::generate::{hfid_constraint, same_fields};
use super::{ProcessOptions, all_kinds};

/// Fields of every node type in the GraphQL API, besides `id` and `hfid`.
const GRAPHQL_NODE_FIELDS: [&str; 2] = ["display_label", "_updated_at"];
/// Fields of every node of a hierarchy in the GraphQL API, besides `parent` and `children`.
const HIERARCHY_NODE_FIELDS: [&str; 2] = ["ancestors", "descendants"];

/// Names: no duplicates within a model, no reserved names, no names the GraphQL API already
/// gives every node, no Python keywords.
pub(super) fn names(
    schema: &SchemaBranch,
    options: &ProcessOptions,
    errors: &mut Vec<SchemaError>,
) {
    for model in schema.models() {
        let kind = model.kind();
        let mut seen = BTreeSet::new();
        let fields = model
            .attributes
            .iter()
            .enumerate()
            .map(|(i, a)| ("attributes", i, a.name.as_str()))
            .chain(
                model
                    .relationships
                    .iter()
                    .enumerate()
                    .map(|(i, r)| ("relationships", i, r.name.as_str())),
            );
        for (collection, index, name) in fields {
            if !seen.insert(name) {
                errors.push(schema.located_element(&kind, collection, index, "name", format!("`{name}` is defined more than once; attribute and relationship names must be unique within a model")));
            }
        }
        let hierarchical =
            model.hierarchical || model.hierarchy.as_ref().is_some_and(|h| !h.is_empty());
        for (collection, name) in model
            .attributes
            .iter()
            .map(|a| ("an attribute", &a.name))
            .chain(
                model
                    .relationships
                    .iter()
                    .map(|r| ("a relationship", &r.name)),
            )
        {
            // Every node type of the GraphQL API has these fields.
            if GRAPHQL_NODE_FIELDS.contains(&name.as_str()) {
                errors.push(schema.located(
                    &kind,
                    Some(name),
                    "name",
                    format!("`{name}` cannot be used as {collection} name: every node already has a field of that name in the API"),
                ));
            }
            // Nodes of a hierarchy have these fields.
            let hierarchy_field = HIERARCHY_NODE_FIELDS.contains(&name.as_str())
                || (collection == "an attribute"
                    && ["parent", "children"].contains(&name.as_str()));
            if hierarchical && hierarchy_field {
                errors.push(schema.located(
                    &kind,
                    Some(name),
                    "name",
                    format!("`{name}` cannot be used as {collection} name on a hierarchical model: its nodes already have a field of that name"),
                ));
            }
            if name.contains("__") {
                errors.push(schema.located(
                    &kind,
                    Some(name),
                    "name",
                    format!(
                        "`{name}` cannot be used as {collection} name: it contains `__`, which separates the parts of a schema path (and starts GraphQL's reserved names)"
                    ),
                ));
            }
        }
        for attr in &model.attributes {
            if RESERVED_FIELD_NAMES.contains(&attr.name.as_str())
                || (model.is_generic()
                    && RESERVED_GENERIC_FIELD_NAMES.contains(&attr.name.as_str()))
            {
                errors.push(schema.located(
                    &kind,
                    Some(&attr.name),
                    "name",
                    format!(
                        "`{}` is reserved and cannot be used as an attribute name",
                        attr.name
                    ),
                ));
            }
            if PYTHON_KEYWORDS.contains(&attr.name.as_str()) {
                errors.push(schema.located(
                    &kind,
                    Some(&attr.name),
                    "name",
                    format!(
                        "`{}` is a Python keyword and cannot be used as an attribute name",
                        attr.name
                    ),
                ));
            }
        }
        for rel in &model.relationships {
            if RESERVED_FIELD_NAMES.contains(&rel.name.as_str())
                || (model.is_generic() && RESERVED_GENERIC_FIELD_NAMES.contains(&rel.name.as_str()))
            {
                errors.push(schema.located(
                    &kind,
                    Some(&rel.name),
                    "name",
                    format!(
                        "`{}` is reserved and cannot be used as a relationship name",
                        rel.name
                    ),
                ));
            }
            if options.strict_mode && PYTHON_KEYWORDS.contains(&rel.name.as_str()) {
                errors.push(schema.located(&kind, Some(&rel.name), "name", format!("`{}` is a Python keyword and cannot be used as a relationship name in strict mode", rel.name)));
            }
        }
    }
}

/// Every cross-model rule, run after generation and before the finishing steps.
pub(super) fn validate(
    schema: &mut SchemaBranch,
    options: &ProcessOptions,
    errors: &mut Vec<SchemaError>,
) {
    peers(schema, errors);
    computed_attributes(schema, errors);
    parameters(schema, options, errors);
    default_values(schema, errors);
    counts(schema, errors);
    identifiers(schema, errors);
    if !errors.is_empty() {
        return;
    }
    super::generate::sync_unique_attributes(schema, super::generate::Scope::All);
    paths(schema, options, errors);
    inherit_display_labels(schema);
    parents_and_components(schema, errors);
    required_relationships(schema, errors);
}

/// Models written by users or the built-in schema, not generated from other models.
fn is_authored(model: &ModelSchema) -> bool {
    model.is_node() || (model.is_generic() && model.namespace != "Template")
}

fn peers(schema: &SchemaBranch, errors: &mut Vec<SchemaError>) {
    for model in schema.models().filter(|m| is_authored(m)) {
        let kind = model.kind();
        for rel in model.relationships.iter().filter(|r| !r.inherited) {
            if rel.peer == GENERIC_GROUP || rel.inherited {
                continue;
            }
            let Some(peer) = schema.get(&rel.peer).filter(|p| p.state != State::Absent) else {
                errors.push(schema.located(
                    &kind,
                    Some(&rel.name),
                    "peer",
                    format!(
                        "relationship `{}` refers to `{}`, which is not a known node or generic",
                        rel.name, rel.peer
                    ),
                ));
                continue;
            };
            if let Some(common_parent) = &rel.common_parent {
                if !model.has_parent_relationship() {
                    errors.push(schema.located(&kind, Some(&rel.name), "common_parent", format!("relationship `{}` sets `common_parent` but {kind} has no relationship of kind Parent", rel.name)));
                } else {
                    match peer.relationship(common_parent) {
                        None => errors.push(schema.located(&kind, Some(&rel.name), "common_parent", format!("relationship `{}` sets `common_parent` to `{common_parent}`, which is not a relationship of {}", rel.name, rel.peer))),
                        Some(parent) if parent.kind != RelationshipKind::Parent => errors.push(schema.located(&kind, Some(&rel.name), "common_parent", format!("`{}.{common_parent}` is not of kind Parent", rel.peer))),
                        Some(_) => {}
                    }
                }
            }
            for relative in rel.common_relatives.iter().flatten() {
                if peer.relationship(relative).is_none() {
                    errors.push(schema.located(
                        &kind,
                        Some(&rel.name),
                        "common_relatives",
                        format!("`{relative}` is not a relationship of {}", rel.peer),
                    ));
                }
            }
        }
    }
}

fn computed_attributes(schema: &SchemaBranch, errors: &mut Vec<SchemaError>) {
    for model in schema.models().filter(|m| is_authored(m)) {
        let kind = model.kind();
        for attr in model.attributes.iter().filter(|a| !a.inherited) {
            let Some(computed) = &attr.computed_attribute else {
                continue;
            };
            if computed.kind == ComputedAttributeKind::User {
                continue;
            }
            let mut report = |message: String| {
                errors.push(schema.located(&kind, Some(&attr.name), "computed_attribute", message))
            };
            if !attr.read_only {
                report(format!(
                    "attribute `{}` is computed, so it must be read_only",
                    attr.name
                ));
            }
            if !matches!(attr.kind, AttributeKind::Text | AttributeKind::Url) {
                report(format!(
                    "attribute `{}` is computed; only Text and URL attributes can be computed",
                    attr.name
                ));
            }
            match computed.kind {
                ComputedAttributeKind::Jinja2 => {
                    let Some(template) = computed
                        .jinja2_template
                        .as_deref()
                        .filter(|t| !t.is_empty())
                    else {
                        report(format!(
                            "attribute `{}` is a Jinja2 computed attribute without `jinja2_template`",
                            attr.name
                        ));
                        continue;
                    };
                    let environment = minijinja::Environment::new();
                    let variables = match environment.template_from_str(template) {
                        Ok(compiled) => compiled.undeclared_variables(false),
                        Err(err) => {
                            report(format!(
                                "attribute `{}` has an invalid Jinja2 template: {err}",
                                attr.name
                            ));
                            continue;
                        }
                    };
                    let rules = PathRules::ATTR_WITH_PROP
                        .or(PathRules::REL_ONE_MANDATORY_ATTR_WITH_PROP)
                        .or(PathRules::REL_ONE_ATTR_WITH_PROP);
                    for variable in variables {
                        match check_path(model, &variable, rules, &|k| schema.get(k)) {
                            Err(_) => report(format!(
                                "attribute `{}`: template variable `{variable}` is not a path of {kind} (like `name__value` or `site__name__value`)",
                                attr.name
                            )),
                            Ok(path)
                                if path.is_attribute()
                                    && path.attribute.is_some_and(|a| a.name == attr.name) =>
                            {
                                report(format!(
                                    "attribute `{}`: template variable `{variable}` refers to the attribute itself",
                                    attr.name
                                ));
                            }
                            Ok(_) => {}
                        }
                    }
                }
                ComputedAttributeKind::TransformPython => {
                    if !attr.optional {
                        report(format!(
                            "attribute `{}` is computed by a Python transform, so it must be optional",
                            attr.name
                        ));
                    }
                    if computed.transform.as_deref().is_none_or(str::is_empty) {
                        report(format!(
                            "attribute `{}` is computed by a Python transform but names no `transform`",
                            attr.name
                        ));
                    }
                }
                ComputedAttributeKind::User => {}
            }
        }
    }
}

fn parameters(schema: &SchemaBranch, options: &ProcessOptions, errors: &mut Vec<SchemaError>) {
    for model in schema.models().filter(|m| is_authored(m)) {
        let kind = model.kind();
        for attr in model.attributes.iter().filter(|a| !a.inherited) {
            let mut report = |property: &str, message: String| {
                errors.push(schema.located(&kind, Some(&attr.name), property, message))
            };
            if attr.kind == AttributeKind::NumberPool && model.is_node() {
                if attr.optional {
                    report(
                        "optional",
                        format!(
                            "`{}` is a NumberPool attribute, so it cannot be optional",
                            attr.name
                        ),
                    );
                }
                if !attr.read_only {
                    report(
                        "read_only",
                        format!(
                            "`{}` is a NumberPool attribute, so it must be read_only",
                            attr.name
                        ),
                    );
                }
            }
            let Some(params) = &attr.parameters else {
                continue;
            };
            if options.strict_mode {
                if let (Some(min), Some(max)) = (params.min_length, params.max_length)
                    && min > max
                {
                    report(
                        "parameters.max_length",
                        format!(
                            "max_length ({max}) cannot be lower than min_length ({min}) in strict mode"
                        ),
                    );
                }
                if let (Some(min), Some(max)) = (params.min_value, params.max_value)
                    && min > max
                {
                    report(
                        "parameters.max_value",
                        format!(
                            "max_value ({max}) cannot be lower than min_value ({min}) in strict mode"
                        ),
                    );
                }
            }
            if let (Some(start), Some(end)) = (params.start_range, params.end_range)
                && start > end
            {
                report(
                    "parameters.end_range",
                    format!("end_range ({end}) cannot be lower than start_range ({start})"),
                );
            }
            if let Ok(ranges) = params.excluded() {
                for (i, (start, end)) in ranges.iter().enumerate() {
                    if start > end {
                        report(
                            "parameters.excluded_values",
                            format!("range {start}-{end} ends before it starts"),
                        );
                    }
                    if ranges[i + 1..].iter().any(|(s, e)| !(end < s || start > e)) {
                        report(
                            "parameters.excluded_values",
                            "excluded ranges cannot overlap".to_string(),
                        );
                    }
                }
            }
        }
    }
}

fn default_values(schema: &SchemaBranch, errors: &mut Vec<SchemaError>) {
    for model in schema
        .models()
        .filter(|m| m.is_node() || (m.is_generic() && m.namespace != "Template"))
    {
        let kind = model.kind();
        for attr in model.attributes.iter().filter(|a| !a.inherited) {
            let Some(value) = &attr.default_value else {
                continue;
            };
            if let Err(message) = crate::value::check_value(attr, value) {
                errors.push(schema.located(
                    &kind,
                    Some(&attr.name),
                    "default_value",
                    format!("default value of `{}`: {message}", attr.name),
                ));
            }
        }
    }
}

fn counts(schema: &SchemaBranch, errors: &mut Vec<SchemaError>) {
    for model in schema.models().filter(|m| is_authored(m)) {
        let kind = model.kind();
        for rel in model.relationships.iter().filter(|r| !r.inherited) {
            let mut report = |property: &str, message: String| {
                errors.push(schema.located(&kind, Some(&rel.name), property, message))
            };
            match rel.cardinality {
                Cardinality::One => {
                    if !rel.optional && (rel.min_count != 1 || rel.max_count != 1) {
                        let property = if rel.min_count != 1 {
                            "min_count"
                        } else {
                            "max_count"
                        };
                        report(
                            property,
                            format!(
                                "relationship `{}` has cardinality one, so min_count and max_count must be 1",
                                rel.name
                            ),
                        );
                    }
                }
                Cardinality::Many => {
                    if rel.max_count != 0 && rel.min_count > rel.max_count {
                        report(
                            "min_count",
                            format!(
                                "relationship `{}`: min_count ({}) must not exceed max_count ({})",
                                rel.name, rel.min_count, rel.max_count
                            ),
                        );
                    }
                    if rel.max_count == 1 {
                        report(
                            "max_count",
                            format!(
                                "relationship `{}` has cardinality many, so max_count must be 0 (no limit) or more than 1",
                                rel.name
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// Relationships sharing an identifier must have compatible directions.
fn identifiers(schema: &SchemaBranch, errors: &mut Vec<SchemaError>) {
    // identifier -> kind -> (relationship name, direction, peer)
    type Sides<'a> = BTreeMap<String, Vec<(&'a str, Direction, &'a str)>>;
    let mut by_identifier: BTreeMap<&str, Sides<'_>> = BTreeMap::new();
    for model in schema.models() {
        for rel in &model.relationships {
            by_identifier
                .entry(rel.identifier())
                .or_default()
                .entry(model.kind())
                .or_default()
                .push((rel.name.as_str(), rel.direction, rel.peer.as_str()));
        }
    }
    for (identifier, per_kind) in &by_identifier {
        for (kind, rels) in per_kind {
            let mut directions: Vec<Direction> = rels.iter().map(|r| r.1).collect();
            directions.sort();
            let pair_ok = directions == [Direction::Outbound, Direction::Inbound];
            // Generated profiles and templates copy their model's relationships: the model's
            // own error says it once.
            let generated = schema.get(kind).is_some_and(|m| {
                matches!(m.category, ModelCategory::Profile | ModelCategory::Template)
            });
            if rels.len() > 1 && !pair_ok && generated {
                continue;
            }
            if rels.len() > 1 && !pair_ok {
                let names = rels
                    .iter()
                    .map(|r| format!("{} ({})", r.0, r.1))
                    .collect::<Vec<_>>()
                    .join(", ");
                errors.push(schema.located(kind, Some(rels[0].0), "identifier", format!("relationships sharing identifier `{identifier}` on one model must be one inbound and one outbound: {names}")));
                continue;
            }
            if per_kind.len() == 1 {
                continue;
            }
            for (name, direction, peer) in rels {
                let Some(peer_rels) = per_kind.get(*peer).filter(|r| r.len() == 1) else {
                    continue;
                };
                let peer_direction = peer_rels[0].1;
                let compatible = if rels.len() == 2 {
                    peer_direction != Direction::Bidirectional
                } else {
                    matches!(
                        (direction, peer_direction),
                        (Direction::Bidirectional, Direction::Bidirectional)
                            | (Direction::Inbound, Direction::Outbound)
                            | (Direction::Outbound, Direction::Inbound)
                    )
                };
                if !compatible {
                    errors.push(schema.located(kind, Some(name), "direction", format!("relationship `{name}` ({direction}) and its reverse on {peer} ({peer_direction}) share identifier `{identifier}` with incompatible directions")));
                }
            }
        }
    }
}

fn strip_order_suffix(path: &str) -> &str {
    path.strip_suffix("__asc")
        .or_else(|| path.strip_suffix("__desc"))
        .unwrap_or(path)
}

/// Paths of uniqueness constraints, display labels, ordering, default filters and HFIDs.
fn paths(schema: &SchemaBranch, options: &ProcessOptions, errors: &mut Vec<SchemaError>) {
    let lookup = |k: &str| schema.get(k);
    for model in schema.models() {
        let kind = model.kind();
        let check = |errors: &mut Vec<SchemaError>, field: &str, path: &str, rules: PathRules| {
            if let Err(message) = check_path(model, path, rules, &lookup) {
                errors.push(schema.located(&kind, None, field, message));
            }
        };
        // The constraint a human-friendly id adds is checked through the human-friendly id,
        // whose error says what the author wrote.
        let from_hfid = model
            .human_friendly_id
            .as_deref()
            .and_then(|hfid| hfid_constraint(model, hfid));
        for group in model.uniqueness_constraints.iter().flatten() {
            if from_hfid.as_ref().is_some_and(|c| same_fields(c, group)) {
                continue;
            }
            for path in group {
                check(
                    errors,
                    "uniqueness_constraints",
                    path,
                    PathRules::ATTR_WITH_PROP.or(PathRules::REL_ONE_MANDATORY_NO_ATTR),
                );
            }
        }
        for path in model.display_labels.iter().flatten() {
            check(errors, "display_labels", path, PathRules::ATTR);
        }
        if let Some(label) = &model.display_label {
            if label.contains("{{") || label.contains("{%") {
                let environment = minijinja::Environment::new();
                match environment.template_from_str(label) {
                    Ok(template) => {
                        for variable in template.undeclared_variables(false) {
                            check(
                                errors,
                                "display_label",
                                &variable,
                                PathRules::ATTR.or(PathRules::REL_ONE_ATTR_WITH_PROP),
                            );
                        }
                    }
                    Err(err) => errors.push(schema.located(
                        &kind,
                        None,
                        "display_label",
                        format!("invalid Jinja2 template: {err}"),
                    )),
                }
            } else {
                check(errors, "display_label", label, PathRules::ATTR);
            }
        }
        for path in model.order_by.iter().flatten() {
            check(
                errors,
                "order_by",
                strip_order_suffix(path),
                PathRules::ATTR_WITH_PROP.or(PathRules::REL_ONE_ATTR_WITH_PROP),
            );
        }
        if let Some(filter) = &model.default_filter {
            check(errors, "default_filter", filter, PathRules::ATTR);
        }
    }
    for model in schema
        .models()
        .filter(|m| m.is_node() || (m.is_generic() && m.namespace != "Template"))
    {
        let kind = model.kind();
        let Some(hfid) = &model.human_friendly_id else {
            continue;
        };
        let mut per_peer: BTreeMap<String, (&ModelSchema, Vec<String>)> = BTreeMap::new();
        for path in hfid {
            match check_path(
                model,
                path,
                PathRules::ATTR_WITH_PROP.or(PathRules::REL_ONE_MANDATORY_ATTR),
                &lookup,
            ) {
                Err(message) => {
                    errors.push(schema.located(&kind, None, "human_friendly_id", message))
                }
                Ok(resolved) => {
                    if let (Some(rel), Some(related)) = (&resolved.relationship, resolved.related) {
                        let key = rel.identifier.clone().unwrap_or_else(|| rel.name.clone());
                        per_peer
                            .entry(key)
                            .or_insert((related, Vec::new()))
                            .1
                            .push(resolved.attribute_path());
                    }
                }
            }
        }
        if !options.strict_mode {
            continue;
        }
        for (related, attribute_paths) in per_peer.values() {
            if !is_unique_combination(related, attribute_paths) {
                errors.push(schema.located(&kind, None, "human_friendly_id", format!(
                    "the human_friendly_id refers to {} through {}, which is not unique there; add a matching uniqueness constraint to {}",
                    related.kind(),
                    attribute_paths.join(", "),
                    related.kind()
                )));
            }
        }
    }
}

/// Whether some subset of `paths` is a unique attribute or a uniqueness constraint of `model`.
fn is_unique_combination(model: &ModelSchema, paths: &[String]) -> bool {
    if paths.iter().any(|p| {
        model
            .unique_attributes()
            .any(|u| p.split("__").next() == Some(u.name.as_str()))
    }) {
        return true;
    }
    let paths: BTreeSet<&str> = paths.iter().map(String::as_str).collect();
    model
        .uniqueness_constraints
        .iter()
        .flatten()
        .any(|group| group.iter().all(|p| paths.contains(p.as_str())))
}

/// A node without display labels takes them from its generic when exactly one generic has some.
fn inherit_display_labels(schema: &mut SchemaBranch) {
    for kind in schema.kinds_of(ModelCategory::Node) {
        let Some(node) = schema.get(&kind) else {
            continue;
        };
        if node.display_labels.is_some() || node.display_label.is_some() {
            continue;
        }
        let candidates: Vec<Vec<String>> = node
            .inherit_from
            .iter()
            .filter_map(|g| schema.get(g).and_then(|g| g.display_labels.clone()))
            .collect();
        if let [only] = candidates.as_slice() {
            let only = only.clone();
            if let Some(node) = schema.get_mut(&kind) {
                node.display_labels = Some(only);
            }
        }
    }
}

fn parents_and_components(schema: &SchemaBranch, errors: &mut Vec<SchemaError>) {
    let mut depends: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for model in schema
        .models()
        .filter(|m| m.is_node() || (m.is_generic() && m.namespace != "Template"))
    {
        let kind = model.kind();
        let mut parents: Vec<&RelationshipSchema> = Vec::new();
        for rel in &model.relationships {
            if rel.kind == RelationshipKind::Parent && !rel.inherited {
                parents.push(rel);
                depends
                    .entry(rel.peer.clone())
                    .or_default()
                    .insert(kind.clone());
            } else if rel.kind == RelationshipKind::Component {
                depends
                    .entry(kind.clone())
                    .or_default()
                    .insert(rel.peer.clone());
            }
        }
        for generic in model.inherit_from.iter().filter_map(|g| schema.get(g)) {
            for rel in &generic.relationships {
                if rel.kind == RelationshipKind::Parent {
                    parents.push(rel);
                    depends
                        .entry(rel.peer.clone())
                        .or_default()
                        .insert(kind.clone());
                } else if rel.kind == RelationshipKind::Component {
                    depends
                        .entry(kind.clone())
                        .or_default()
                        .insert(rel.peer.clone());
                }
            }
        }
        parents.dedup_by(|a, b| a.name == b.name);
        match parents.as_slice() {
            [] => {}
            [rel] => {
                let name = rel.name.as_str();
                if rel.cardinality != Cardinality::One {
                    errors.push(schema.located(
                        &kind,
                        Some(name),
                        "cardinality",
                        format!("relationship `{name}` of kind Parent must have cardinality one"),
                    ));
                }
                if rel.optional {
                    errors.push(schema.located(
                        &kind,
                        Some(name),
                        "optional",
                        format!("relationship `{name}` of kind Parent must not be optional"),
                    ));
                }
            }
            many => errors.push(schema.located(
                &kind,
                None,
                "relationships",
                format!(
                        "only one relationship of kind Parent is allowed, found {}",
                        many.iter()
                            .map(|r| r.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
            )),
        }
    }
    if let Some(cycle) = find_cycle(&depends) {
        let first = cycle.first().cloned().unwrap_or_default();
        errors.push(schema.located(
            &first,
            None,
            "relationships",
            format!(
                "parents and components form a cycle: {}",
                cycle.join(" -> ")
            ),
        ));
    }
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if next == node {
                continue;
            }
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

fn required_relationships(schema: &SchemaBranch, errors: &mut Vec<SchemaError>) {
    let mut required_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for kind in all_kinds(schema) {
        let Some(model) = schema.get(&kind) else {
            continue;
        };
        if !(model.is_node() || (model.is_generic() && model.namespace != "Template")) {
            continue;
        }
        for rel in model.relationships.iter().filter(|r| !r.optional) {
            if required_by
                .get(&kind)
                .is_some_and(|s| s.contains(&rel.peer))
                && rel.peer != kind
            {
                errors.push(schema.located(
                    &kind,
                    Some(&rel.name),
                    "optional",
                    format!(
                        "{kind} and {} cannot both have mandatory relationships to each other",
                        rel.peer
                    ),
                ));
            }
            required_by
                .entry(rel.peer.clone())
                .or_default()
                .insert(kind.clone());
        }
    }
}
