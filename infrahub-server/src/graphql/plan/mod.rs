//! Compiled operations: the documents clients send most (lists and lookups of one kind, with
//! attributes and relationships; creates, updates, upserts and deletes of one node) are
//! compiled once per document shape and generated schema into a plan that reads the engine and
//! writes the JSON answer directly, without the general GraphQL executor (which spends far more
//! per node building futures and value trees than the engine spends reading the nodes).
//!
//! A plan is compiled from a document async-graphql parsed and validated against the same
//! generated schema (see [`super::validated`]); every document of that shape (see
//! [`super::lex`]) then runs it with its own literals and variables bound into the argument
//! templates, without being parsed or validated again, as long as its variables are plain
//! scalars valid for their types. A plan covers: root fields of node kinds, `count`, `edges`,
//! `node`, the node fields `id`, `hfid`, `display_label`, `_updated_at` and `__typename`,
//! attributes with their value and flags, and relationships of cardinality one or many
//! (without nested filters), with their link properties, and the lineage (`source`, `owner`)
//! of both; or a mutation whose only root field is `<Kind>Create|Update|Upsert|Delete` of a
//! node kind with only `data`, selecting `ok`, `object` (as above) and `__typename`. Anything
//! else (fragments, directives, permissions, hierarchy walks, derived attribute fields,
//! nested filters, introspection, several operations or mutations, `context`) has no plan and
//! goes to async-graphql's executor, and so does anything unusual while a query's plan runs (an
//! engine error, a value its scalar type would refuse): the executor then answers it, errors
//! included. A mutation is never run twice: its errors are answered here, in the executor's
//! shape. Answers are those of the executor (debug builds run both for every query answered
//! here and compare), except that several root fields of a query come in the document's
//! order, as the GraphQL specification asks, where the executor lists them as their
//! concurrent resolution completes.

mod select;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationType, Selection, SelectionSet, Type,
};
use async_graphql::{Name, Pos, Value as GqlValue, Variables};
use async_graphql_value::Value as Template;
use infrahub_core::schema::SchemaBranch;
use serde_json::Value;

use super::RequestContext;
use super::build::{is_exposed, query_args_from, to_json};
use super::fields::{edged, paginated};
use super::lex::Literal;
use super::load;
use super::mutation::{Operation, write_node as write_node_of};
use super::validated::value_fits;
use super::values::NodeValue;
use select::{EdgeItem, NodeSelection, PageItem, items, node_plan, node_selection, page_items};

use write::{
    write_bool, write_field_error, write_node, write_null, write_object, write_page, write_str,
};

/// How many shapes a generated schema remembers plans (or their absence) for; the cache starts
/// over when it is full.
const CAPACITY: usize = 1024;

/// Prefix of the variable names that stand for a document's literals in argument templates
/// (not a character a GraphQL name may hold, so no document's variable is mistaken for one).
const LITERAL_PREFIX: char = '#';

/// One root field of a query: nodes of `kind`.
#[derive(Debug)]
struct RootQuery {
    kind: String,
    /// Argument templates (literals and variables unbound).
    arguments: Vec<(String, Template)>,
    items: Vec<(String, PageItem)>,
}

/// What a node mutation's answer selects.
#[derive(Debug)]
enum MutationItem {
    Ok,
    Object(NodeSelection),
    TypeName,
}

/// A node mutation (`<Kind>Create`, `Update`, `Upsert` or `Delete` of a node kind).
#[derive(Debug)]
struct NodeMutation {
    kind: String,
    operation: Operation,
    /// The template of its `data` argument.
    data: Template,
    items: Vec<(String, MutationItem)>,
    field_name: String,
    response_key: String,
    position: Pos,
}

#[derive(Debug)]
enum Body {
    Query(Vec<(String, RootQuery)>),
    Mutation(NodeMutation),
}

/// A variable the operation declares.
#[derive(Debug)]
struct VariableSlot {
    name: Name,
    ty: Type,
    /// The template of its default value.
    default: Option<Template>,
}

/// One operation compiled against one generated schema.
#[derive(Debug)]
pub(crate) struct CompiledOperation {
    variables: Vec<VariableSlot>,
    body: Body,
    /// The names of the root fields, each once (what authorization looks at).
    root_fields: Vec<String>,
    /// What it reads, as authorization sees it (see [`super::access`]).
    reads: super::access::Reads,
}

/// A compiled operation's inputs for one request: the values of its variables (given or
/// default) and the document's literals.
pub(crate) struct Bindings<'r> {
    variables: BTreeMap<Name, GqlValue>,
    literals: &'r [Literal],
}

impl CompiledOperation {
    /// Whether the operation is a mutation.
    pub(crate) fn is_mutation(&self) -> bool {
        matches!(self.body, Body::Mutation(_))
    }

    /// The operation's type, for authorization.
    pub(crate) fn operation_type(&self) -> OperationType {
        if self.is_mutation() {
            OperationType::Mutation
        } else {
            OperationType::Query
        }
    }

    /// The names of its root fields, each once.
    pub(crate) fn root_fields(&self) -> &[String] {
        &self.root_fields
    }

    /// What it reads, as authorization sees it.
    pub(crate) fn reads(&self) -> &super::access::Reads {
        &self.reads
    }

    /// The inputs of one request: `None` unless every declared variable has a plain scalar
    /// type and a value (given or default) valid for it, the condition under which a document
    /// of the shape validates as the one compiled did.
    pub(crate) fn bind<'r>(
        &self,
        literals: &'r [Literal],
        variables: &Variables,
    ) -> Option<Bindings<'r>> {
        let mut values = BTreeMap::new();
        for slot in &self.variables {
            let value = match variables.get(&slot.name) {
                Some(value) => Some(value.clone()),
                None => match &slot.default {
                    Some(template) => Some(bind_value(template, literals, &BTreeMap::new())?),
                    None => None,
                },
            };
            // A variable without a value leaves its arguments out, which the templates do not
            // express: such requests go to the general executor.
            let value = value?;
            if !value_fits(&slot.ty, Some(&value)) {
                return None;
            }
            values.insert(slot.name.clone(), value);
        }
        Some(Bindings {
            variables: values,
            literals,
        })
    }

    /// Runs the operation: the response body, or `None` when a query is left to the general
    /// executor (a mutation always answers).
    pub(crate) async fn run(
        &self,
        context: &RequestContext,
        bindings: &Bindings<'_>,
    ) -> Option<Vec<u8>> {
        match &self.body {
            Body::Query(roots) => run_query(context, roots, bindings).await,
            Body::Mutation(mutation) => Some(run_mutation(context, mutation, bindings).await),
        }
    }
}

/// The value of the template `template` with literals and variables bound.
fn bind_value(
    template: &Template,
    literals: &[Literal],
    variables: &BTreeMap<Name, GqlValue>,
) -> Option<GqlValue> {
    template
        .clone()
        .into_const_with(|name| match name.strip_prefix(LITERAL_PREFIX) {
            Some(index) => index
                .parse::<usize>()
                .ok()
                .and_then(|index| literals.get(index))
                .map(Literal::value)
                .ok_or(()),
            None => variables.get(&name).cloned().ok_or(()),
        })
        .ok()
}

impl Bindings<'_> {
    /// The JSON value of an argument template.
    fn json(&self, template: &Template) -> Option<Value> {
        bind_value(template, self.literals, &self.variables).map(|v| to_json(&v))
    }
}

/// A document shape and the operation name a request gives.
type PlanKey = (String, Option<String>);

/// The plans of one generated schema, by document shape and operation name; `None` records a
/// shape that has none.
#[derive(Default)]
pub(crate) struct Plans {
    entries: Mutex<HashMap<PlanKey, Option<Arc<CompiledOperation>>>>,
}

impl Plans {
    /// The plan of `shape` running `operation`: `Some(None)` when the shape is known to have
    /// none, `None` when it was never compiled.
    pub(crate) fn get(
        &self,
        shape: &str,
        operation: Option<&str>,
    ) -> Option<Option<Arc<CompiledOperation>>> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(&(shape.to_string(), operation.map(str::to_string)))
            .cloned()
    }

    /// Remembers the plan (or its absence) of `shape` running `operation`.
    pub(crate) fn insert(
        &self,
        shape: String,
        operation: Option<String>,
        plan: Option<Arc<CompiledOperation>>,
    ) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert((shape, operation), plan);
        }
    }
}

/// Compiles the operation `operation_name` of `document` (whose literals, as the lexer read
/// them, are `literals`) against `schema`; `None` when it has no plan.
pub(crate) fn compile(
    schema: &SchemaBranch,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    literals: &[Literal],
) -> Option<CompiledOperation> {
    // With several operations the document's order of literals is lost (they are kept by
    // name): such documents have no plan. A named operation is the only one of its map.
    let operation = match &document.operations {
        DocumentOperations::Single(operation) if operation_name.is_none() => operation,
        DocumentOperations::Multiple(operations) if operations.len() == 1 => {
            let (name, operation) = operations.iter().next()?;
            if operation_name.is_some_and(|wanted| wanted != name.as_str()) {
                return None;
            }
            operation
        }
        _ => return None,
    };
    if !document.fragments.is_empty() {
        return None;
    }
    let operation = &operation.node;
    if !operation.directives.is_empty() {
        return None;
    }
    let mut templates = Templates {
        literals,
        next: 0,
        agrees: true,
    };
    let variables = operation
        .variable_definitions
        .iter()
        .map(|definition| {
            let definition = &definition.node;
            if !definition.directives.is_empty() {
                return None;
            }
            Some(VariableSlot {
                name: definition.name.node.clone(),
                ty: definition.var_type.node.clone(),
                default: definition
                    .default_value
                    .as_ref()
                    .map(|value| templates.of(value.node.clone().into_value())),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let set = &operation.selection_set.node;
    let body = match operation.ty {
        OperationType::Query => Body::Query(items(set, |field| {
            root_query(schema, &mut templates, field)
        })?),
        OperationType::Mutation => Body::Mutation(node_mutation(schema, &mut templates, set)?),
        OperationType::Subscription => return None,
    };
    // Every literal the lexer read stands where the parser put it, or there is no plan.
    if !templates.agrees || templates.next != literals.len() {
        return None;
    }
    let mut root_fields = Vec::new();
    for item in &set.items {
        if let Selection::Field(field) = &item.node {
            let name = field.node.name.node.to_string();
            if !root_fields.contains(&name) {
                root_fields.push(name);
            }
        }
    }
    let reads = super::access::reads(schema, document, operation_name);
    Some(CompiledOperation {
        variables,
        body,
        root_fields,
        reads,
    })
}

/// Turns argument values into templates: each literal string or number, in document order,
/// becomes a reference to the document's literal at that index.
struct Templates<'l> {
    literals: &'l [Literal],
    next: usize,
    /// Whether each literal met so far equals the lexer's.
    agrees: bool,
}

impl Templates<'_> {
    fn of(&mut self, value: Template) -> Template {
        match value {
            Template::String(_) | Template::Number(_) => {
                let index = self.next;
                self.next += 1;
                let expected = self.literals.get(index).map(Literal::value);
                if expected.map(GqlValue::into_value).as_ref() != Some(&value) {
                    self.agrees = false;
                }
                Template::Variable(Name::new(format!("{LITERAL_PREFIX}{index}")))
            }
            Template::List(items) => {
                Template::List(items.into_iter().map(|v| self.of(v)).collect())
            }
            Template::Object(fields) => Template::Object(
                fields
                    .into_iter()
                    .map(|(name, value)| (name, self.of(value)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// The argument templates of `field`.
    fn arguments(&mut self, field: &Field) -> Vec<(String, Template)> {
        field
            .arguments
            .iter()
            .map(|(name, value)| (name.node.to_string(), self.of(value.node.clone())))
            .collect()
    }
}

/// Answers a query whose root fields are `roots`.
async fn run_query(
    context: &RequestContext,
    roots: &[(String, RootQuery)],
    bindings: &Bindings<'_>,
) -> Option<Vec<u8>> {
    // Everything is read before anything is written, so that a root left to the general
    // executor costs no half-written answer.
    let mut answers = Vec::with_capacity(roots.len());
    for (_, root) in roots {
        let arguments = root
            .arguments
            .iter()
            .map(|(name, template)| Some((name.clone(), bindings.json(template)?)))
            .collect::<Option<Vec<_>>>()?;
        answers.push(read_root(context, root, &arguments).await?);
    }
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"data\":");
    let mut answers = answers.into_iter();
    write_object(&mut out, roots, |out, root| {
        let (count, nodes) = answers.next()?;
        let edge_type = edged(&root.kind);
        write_page(
            out,
            &root.items,
            count,
            &nodes,
            |out, items, node| {
                write_object(out, items, |out, item| match item {
                    EdgeItem::Node(selection) => write_node(out, selection, node),
                    EdgeItem::TypeName => write_str(out, &edge_type),
                    // Not a field of `Edged<kind>`: validation let nothing of the kind through.
                    EdgeItem::Properties(_) => None,
                })
            },
            &paginated(&root.kind),
        )
    })?;
    out.push(b'}');
    Some(out)
}

/// Answers a node mutation. An error after the mutation started is answered here as the
/// general executor would (a mutation is not run twice).
async fn run_mutation(
    context: &RequestContext,
    mutation: &NodeMutation,
    bindings: &Bindings<'_>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let Some(data) = bindings.json(&mutation.data) else {
        write_field_error(&mut out, "invalid `data` argument", mutation.position, None);
        return out;
    };
    let selection = mutation.items.iter().find_map(|(_, item)| match item {
        MutationItem::Object(selection) => Some(selection),
        _ => None,
    });
    let written = match write_node_of(context, &mutation.kind, mutation.operation, data, None).await
    {
        Ok(written) => written,
        Err(error) => {
            let status = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("http_status"))
                .and_then(|v| match v {
                    async_graphql::Value::Number(n) => n.as_u64(),
                    _ => None,
                })
                .and_then(|n| u16::try_from(n).ok());
            write_field_error(&mut out, &error.message, mutation.position, status);
            return out;
        }
    };
    let object = match (written, selection) {
        (Some(node), Some(selection)) => {
            let reads = selection.reads();
            let id = node.id;
            match load::load(context, vec![node], &reads).await {
                Ok(level) => level.value(id),
                Err(error) => {
                    write_field_error(
                        &mut out,
                        error.message(),
                        mutation.position,
                        crate::graphql::build::error_http_status(&error),
                    );
                    return out;
                }
            }
        }
        _ => None,
    };
    out.extend_from_slice(b"{\"data\":{");
    write_str(&mut out, &mutation.response_key);
    out.push(b':');
    let written = write_object(&mut out, &mutation.items, |out, item| match item {
        MutationItem::Ok => write_bool(out, true),
        MutationItem::TypeName => write_str(out, &mutation.field_name),
        MutationItem::Object(selection) => match &object {
            Some(node) => write_node(out, selection, node),
            None => write_null(out),
        },
    });
    if written.is_none() {
        // A value its type refuses (validation of stored data failed): answered as the
        // executor answers a field error, the mutation having happened.
        out.clear();
        write_field_error(
            &mut out,
            "the answer holds a value its type refuses",
            mutation.position,
            None,
        );
        return out;
    }
    out.extend_from_slice(b"}}");
    out
}

/// Compiles a mutation whose only root field is a node mutation with only its `data` argument.
fn node_mutation(
    schema: &SchemaBranch,
    templates: &mut Templates<'_>,
    set: &SelectionSet,
) -> Option<NodeMutation> {
    let [item] = set.items.as_slice() else {
        return None;
    };
    let Selection::Field(positioned) = &item.node else {
        return None;
    };
    let field = &positioned.node;
    if !field.directives.is_empty() {
        return None;
    }
    let (kind, operation) = Operation::of_field(field.name.node.as_str())?;
    schema
        .get(kind)
        .filter(|m| is_exposed(m) && !m.is_generic())?;
    let [(name, _)] = field.arguments.as_slice() else {
        return None;
    };
    if name.node != "data" {
        return None;
    }
    let (_, data) = templates.arguments(field).pop()?;
    let items = items(&field.selection_set.node, |item| {
        Some(match item.name.node.as_str() {
            "ok" => MutationItem::Ok,
            "__typename" => MutationItem::TypeName,
            "object" if operation != Operation::Delete => {
                MutationItem::Object(node_selection(schema, kind, &item.selection_set.node)?)
            }
            _ => return None,
        })
    })?;
    Some(NodeMutation {
        kind: kind.to_string(),
        operation,
        data,
        items,
        field_name: field.name.node.to_string(),
        response_key: field.response_key().node.to_string(),
        position: positioned.pos,
    })
}

/// A root field, if it is a query of nodes of an exposed kind.
fn root_query(
    schema: &SchemaBranch,
    templates: &mut Templates<'_>,
    field: &Field,
) -> Option<RootQuery> {
    let model = schema
        .get(field.name.node.as_str())
        .filter(|m| is_exposed(m))?;
    let kind = model.kind();
    let arguments = templates.arguments(field);
    Some(RootQuery {
        items: page_items(schema, &kind, &field.selection_set.node)?,
        arguments,
        kind,
    })
}

/// Reads the page one root field answers: the total (when counted) and the nodes.
async fn read_root(
    context: &RequestContext,
    root: &RootQuery,
    arguments: &[(String, Value)],
) -> Option<(u64, Vec<NodeValue>)> {
    let engine = &context.state.engine;
    let mut args = query_args_from(
        arguments
            .iter()
            .map(|(name, value)| (name.as_str(), value.clone())),
    )
    .ok()?;
    let counted = root.items.iter().any(|(_, i)| matches!(i, PageItem::Count));
    let edges = root.items.iter().find_map(|(_, i)| match i {
        PageItem::Edges(items) => Some(items),
        _ => None,
    });
    let Some(items) = edges else {
        let count = if counted {
            engine.count(&context.view, &root.kind, &args).await.ok()?
        } else {
            0
        };
        return Some((count, Vec::new()));
    };
    let plan = node_plan(items).unwrap_or_default();
    args.count = counted;
    let (nodes, count) = engine
        .query(&context.view, &root.kind, &args, &plan.fields())
        .await
        .ok()?;
    let order: Vec<_> = nodes.iter().map(|n| n.id).collect();
    let level = load::load(context, nodes, &plan).await.ok()?;
    Some((
        count,
        order.into_iter().filter_map(|id| level.value(id)).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::lex::lex;

    /// The argument templates of the root fields of `query`'s only operation, with the
    /// lexer's literals.
    fn templates(query: &str) -> (Vec<Template>, Vec<Literal>, bool) {
        let lexed = lex(query);
        let document = async_graphql::parser::parse_query(query).unwrap_or_else(|e| panic!("{e}"));
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one operation");
        };
        let mut templates = Templates {
            literals: &lexed.literals,
            next: 0,
            agrees: true,
        };
        let mut found = Vec::new();
        for item in &operation.node.selection_set.node.items {
            if let Selection::Field(field) = &item.node {
                found.extend(templates.arguments(&field.node).into_iter().map(|(_, t)| t));
            }
        }
        let agrees = templates.agrees && templates.next == lexed.literals.len();
        (found, lexed.literals, agrees)
    }

    #[test]
    fn literals_become_slots_bound_from_each_document_of_the_shape() {
        let (found, _, agrees) =
            templates("{ A(x: \"dc1\", y: [1, 2.5], z: { w: $v, e: RED, n: null }) { id } }");
        assert!(agrees);
        // A later document of the same shape binds its own literals into the same templates.
        let other =
            lex("{ A(x: \"dc\\u00e9\", y: [7, -1e3], z: { w: $v, e: RED, n: null }) { id } }");
        let variables = BTreeMap::from([(Name::new("v"), GqlValue::from(true))]);
        let bound: Vec<GqlValue> = found
            .iter()
            .map(|t| bind_value(t, &other.literals, &variables).unwrap_or_else(|| panic!("bind")))
            .collect();
        let expected = async_graphql::parser::parse_query(
            "{ A(x: \"dc\\u00e9\", y: [7, -1e3], z: { w: true, e: RED, n: null }) { id } }",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let DocumentOperations::Single(operation) = &expected.operations else {
            panic!("one operation");
        };
        let Selection::Field(field) = &operation.node.selection_set.node.items[0].node else {
            panic!("a field");
        };
        let want: Vec<GqlValue> = field
            .node
            .arguments
            .iter()
            .map(|(_, v)| {
                v.node
                    .clone()
                    .into_const_with(|_| Ok::<_, ()>(GqlValue::from(true)))
                    .unwrap_or_else(|()| panic!("const"))
            })
            .collect();
        assert_eq!(bound, want);
        // A variable without a value binds nothing.
        assert!(bind_value(&found[2], &other.literals, &BTreeMap::new()).is_none());
    }

    #[test]
    fn a_document_whose_literals_the_parser_reads_otherwise_has_no_plan() {
        // An input object naming a field twice keeps one value: the literals no longer line
        // up with the lexer's.
        let (_, _, agrees) = templates("{ A(x: { a: \"1x\", a: \"2x\" }) { id } }");
        assert!(!agrees);
    }
}
