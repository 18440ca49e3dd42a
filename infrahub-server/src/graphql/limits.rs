//! The work a GraphQL document may ask for, measured on the parsed document before it is
//! validated or run: selection depth, fields, aliases and introspection fields, each fragment
//! counted every time it is spread. A document that spreads a fragment twice per level doubles
//! its fields at every level; measuring fragments once each (memoized) and multiplying keeps
//! this check linear in the document's size, whatever the expansion would be.

use std::collections::HashMap;

use async_graphql::Positioned;
use async_graphql::ServerError;
use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};

use crate::config::ApiSettings;

/// The limits of `[api]` that apply to GraphQL documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `api.graphql_max_depth`.
    pub(crate) depth: u64,
    /// `api.graphql_max_fields`.
    pub(crate) fields: u64,
    /// `api.graphql_max_aliases`.
    pub(crate) aliases: u64,
    /// `api.graphql_max_introspection_fields`.
    pub(crate) introspection: u64,
}

impl Limits {
    /// The limits configured in `api`.
    pub(crate) fn from_settings(api: &ApiSettings) -> Limits {
        Limits {
            depth: api.graphql_max_depth,
            fields: api.graphql_max_fields,
            aliases: api.graphql_max_aliases,
            introspection: api.graphql_max_introspection_fields,
        }
    }
}

/// Longest name (field, alias, argument, directive, fragment, type condition, operation,
/// variable) a document may use. Validation compares unknown names with every known one to
/// suggest corrections, at a cost that grows with the name's length: a 100,000-character field
/// name took seconds.
pub(crate) const MAX_NAME: usize = 256;

/// Most characters the argument names of a document may add up to, each occurrence counted
/// once as written. Validation compares an unknown argument with every argument of its field
/// to suggest one (async-graphql does it for arguments whatever the settings): five thousand
/// unknown arguments cost twenty seconds.
pub(crate) const MAX_ARGUMENT_CHARACTERS: usize = 20_000;

/// What a selection set asks for once its fragments are expanded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cost {
    depth: u64,
    fields: u64,
    aliases: u64,
    introspection: u64,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.depth = self.depth.max(other.depth);
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.introspection = self.introspection.saturating_add(other.introspection);
    }
}

/// Fragments measured so far, and those being measured (a spread cycle stops there; the
/// validation that follows reports it).
struct Walker<'a> {
    document: &'a ExecutableDocument,
    measured: HashMap<&'a str, Cost>,
    in_progress: Vec<&'a str>,
    /// The first name longer than [`MAX_NAME`] seen.
    long_name: Option<&'a str>,
    /// Characters of the argument names seen, each occurrence as written once.
    argument_characters: usize,
}

impl<'a> Walker<'a> {
    /// Notes `name` if it is too long (the first one found is reported).
    fn name(&mut self, name: &'a str) {
        if name.len() > MAX_NAME && self.long_name.is_none() {
            self.long_name = Some(name);
        }
    }

    fn argument(&mut self, name: &'a str) {
        self.name(name);
        self.argument_characters = self.argument_characters.saturating_add(name.len());
    }

    fn directives(&mut self, directives: &'a [Positioned<Directive>]) {
        for directive in directives {
            self.name(directive.node.name.node.as_str());
            for (argument, _) in &directive.node.arguments {
                self.argument(argument.node.as_str());
            }
        }
    }

    fn selection_set(&mut self, set: &'a SelectionSet) -> Cost {
        let mut cost = Cost::default();
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    self.name(name);
                    if let Some(alias) = &field.alias {
                        self.name(alias.node.as_str());
                    }
                    for (argument, _) in &field.arguments {
                        self.argument(argument.node.as_str());
                    }
                    self.directives(&field.directives);
                    let mut own = Cost {
                        depth: 1,
                        fields: 1,
                        aliases: u64::from(field.alias.is_some()),
                        introspection: u64::from(name == "__schema" || name == "__type"),
                    };
                    if !field.selection_set.node.items.is_empty() {
                        let inner = self.selection_set(&field.selection_set.node);
                        own.depth = inner.depth.saturating_add(1);
                        own.fields = own.fields.saturating_add(inner.fields);
                        own.aliases = own.aliases.saturating_add(inner.aliases);
                        own.introspection = own.introspection.saturating_add(inner.introspection);
                    }
                    cost.add(own);
                }
                Selection::InlineFragment(fragment) => {
                    if let Some(condition) = &fragment.node.type_condition {
                        self.name(condition.node.on.node.as_str());
                    }
                    self.directives(&fragment.node.directives);
                    let inner = self.selection_set(&fragment.node.selection_set.node);
                    cost.add(inner);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    self.name(name);
                    self.directives(&spread.node.directives);
                    cost.add(self.fragment(name));
                }
            }
        }
        cost
    }

    fn fragment(&mut self, name: &'a str) -> Cost {
        if let Some(cost) = self.measured.get(name) {
            return *cost;
        }
        if self.in_progress.contains(&name) {
            return Cost::default();
        }
        let Some((key, definition)) = self.document.fragments.get_key_value(name) else {
            return Cost::default();
        };
        self.in_progress.push(key.as_str());
        let cost = self.selection_set(&definition.node.selection_set.node);
        self.in_progress.pop();
        self.measured.insert(key.as_str(), cost);
        cost
    }
}

/// The named type at the bottom of a variable's type (`[String!]!` → `String`).
fn base_type(ty: &async_graphql::parser::types::Type) -> &str {
    use async_graphql::parser::types::BaseType;
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => base_type(inner),
    }
}

/// Checks every operation of `document` against `limits`, and the length of every name.
///
/// Errors: a GraphQL error naming the measure, its value, the limit and the setting.
pub(crate) fn check(document: &ExecutableDocument, limits: &Limits) -> Result<(), ServerError> {
    let mut walker = Walker {
        document,
        measured: HashMap::new(),
        in_progress: Vec::new(),
        long_name: None,
        argument_characters: 0,
    };
    let mut total = Cost::default();
    for (name, operation) in document.operations.iter() {
        if let Some(name) = name {
            walker.name(name.as_str());
        }
        for variable in &operation.node.variable_definitions {
            walker.name(variable.node.name.node.as_str());
            walker.name(base_type(&variable.node.var_type.node));
        }
        walker.directives(&operation.node.directives);
        total.add(walker.selection_set(&operation.node.selection_set.node));
    }
    // Fragments no operation spreads are validated too.
    for (name, fragment) in &document.fragments {
        walker.name(name.as_str());
        walker.name(fragment.node.type_condition.node.on.node.as_str());
        walker.directives(&fragment.node.directives);
        walker.fragment(name.as_str());
    }
    if walker.argument_characters > MAX_ARGUMENT_CHARACTERS {
        return Err(ServerError::new(
            format!(
                "the document's argument names add up to {} characters; at most {MAX_ARGUMENT_CHARACTERS} are allowed",
                walker.argument_characters
            ),
            None,
        ));
    }
    if let Some(name) = walker.long_name {
        return Err(ServerError::new(
            format!(
                "the document uses a name of {} characters; names are at most {MAX_NAME} characters long",
                name.len()
            ),
            None,
        ));
    }
    let measures = [
        (
            "is nested",
            "levels deep",
            total.depth,
            limits.depth,
            "graphql_max_depth",
        ),
        (
            "selects",
            "fields",
            total.fields,
            limits.fields,
            "graphql_max_fields",
        ),
        (
            "holds",
            "aliased fields",
            total.aliases,
            limits.aliases,
            "graphql_max_aliases",
        ),
        (
            "selects",
            "introspection fields (`__schema`, `__type`)",
            total.introspection,
            limits.introspection,
            "graphql_max_introspection_fields",
        ),
    ];
    for (verb, unit, value, limit, setting) in measures {
        if value > limit {
            let value = if value == u64::MAX {
                "more than 18446744073709551614".to_string()
            } else {
                value.to_string()
            };
            return Err(ServerError::new(
                format!(
                    "the document {verb} {value} {unit} once fragments are expanded; at most {limit} are allowed (setting `api.{setting}`)"
                ),
                None,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        depth: 32,
        fields: 10_000,
        aliases: 500,
        introspection: 8,
    };

    fn checked(query: &str, limits: &Limits) -> Result<(), String> {
        let document =
            async_graphql::parser::parse_query(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        check(&document, limits).map_err(|e| e.message)
    }

    /// `fragment F1 on Query {...F0 ...F0}` up to `F<levels>`, then `{...F<levels>}`.
    fn doubling_fragments(levels: usize) -> String {
        let mut query = String::from("{ ...F");
        query.push_str(&levels.to_string());
        query.push_str(" }\nfragment F0 on Query { InfrahubInfo { version } }\n");
        for level in 1..=levels {
            let below = level - 1;
            query.push_str(&format!(
                "fragment F{level} on Query {{ ...F{below} ...F{below} }}\n"
            ));
        }
        query
    }

    #[test]
    fn everyday_documents_pass() {
        let query = "query Q($n: [String]) { InfraDevice(name__values: $n) { count edges { node { id name { value } site { node { id display_label } } } } } }";
        assert_eq!(checked(query, &LIMITS), Ok(()));
        let introspection = "query IntrospectionQuery { __schema { queryType { name } types { ...FullType } } }
            fragment FullType on __Type { kind name fields(includeDeprecated: true) { name args { ...InputValue } type { ...TypeRef } } inputFields { ...InputValue } }
            fragment InputValue on __InputValue { name type { ...TypeRef } defaultValue }
            fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";
        assert_eq!(checked(introspection, &LIMITS), Ok(()));
    }

    #[test]
    fn doubling_fragments_are_counted_as_expanded_without_expanding_them() {
        // 2^12 * 2 fields: within the default limit.
        assert_eq!(checked(&doubling_fragments(12), &LIMITS), Ok(()));
        let message = checked(&doubling_fragments(24), &LIMITS).unwrap_err();
        assert!(message.contains("selects 33554432 fields"), "{message}");
        assert!(message.contains("api.graphql_max_fields"), "{message}");
        // Far past u64: saturates, still answered at once.
        let message = checked(&doubling_fragments(200), &LIMITS).unwrap_err();
        assert!(message.contains("more than"), "{message}");
    }

    #[test]
    fn aliases_depth_and_introspection_are_bounded() {
        let aliases: String = (0..600).map(|i| format!("a{i}: __typename ")).collect();
        let message = checked(&format!("{{ {aliases} }}"), &LIMITS).unwrap_err();
        assert!(message.contains("600 aliased fields"), "{message}");
        assert!(message.contains("api.graphql_max_aliases"), "{message}");

        let schemas: String = (0..9)
            .map(|i| format!("s{i}: __schema {{ description }} "))
            .collect();
        let message = checked(&format!("{{ {schemas} }}"), &LIMITS).unwrap_err();
        assert!(message.contains("9 introspection fields"), "{message}");

        let deep = format!("{}x{}", "{ a ".repeat(40), " }".repeat(40));
        let message = checked(&deep, &LIMITS).unwrap_err();
        assert!(message.contains("nested 40 levels deep"), "{message}");
        // Depth through fragments counts too.
        let through = "{ a { ...F } } fragment F on T { b { c { d } } }";
        let tight = Limits { depth: 3, ..LIMITS };
        assert!(
            checked(through, &tight)
                .unwrap_err()
                .contains("4 levels deep")
        );
    }

    #[test]
    fn long_names_are_refused_wherever_they_are() {
        let long = "x".repeat(MAX_NAME + 1);
        for query in [
            format!("{{ {long} }}"),
            format!("{{ {long}: __typename }}"),
            format!("{{ a({long}: 1) }}"),
            format!("{{ a @{long} }}"),
            format!("{{ ... on {long} {{ a }} }}"),
            format!("{{ ...{long} }}"),
            format!("query {long} {{ a }}"),
            format!("query (${long}: Int) {{ a }}"),
            format!("query ($v: {long}) {{ a }}"),
            format!("{{ a }} fragment {long} on T {{ a }}"),
            format!("{{ a }} fragment F on {long} {{ a }}"),
        ] {
            let message = checked(&query, &LIMITS).unwrap_err();
            assert!(message.contains("257 characters"), "{message}");
        }
        let fine = "x".repeat(MAX_NAME);
        assert_eq!(checked(&format!("{{ {fine} }}"), &LIMITS), Ok(()));
    }

    #[test]
    fn argument_names_are_bounded_in_total() {
        let arguments: Vec<String> = (0..2000).map(|i| format!("argument{i:05}: 1")).collect();
        let query = format!("{{ a({}) }}", arguments.join(", "));
        let message = checked(&query, &LIMITS).unwrap_err();
        assert!(message.contains("26000 characters"), "{message}");
        let query = format!("{{ a({}) }}", arguments[..1000].join(", "));
        assert_eq!(checked(&query, &LIMITS), Ok(()));
    }

    #[test]
    fn fragment_cycles_and_unknown_fragments_do_not_loop() {
        assert_eq!(
            checked(
                "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
                &LIMITS
            ),
            Ok(())
        );
        assert_eq!(checked("{ ...Missing }", &LIMITS), Ok(()));
    }
}
