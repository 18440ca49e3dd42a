//! `graphql_fragments`: named GraphQL fragments kept in files of their own and spread into a
//! repository's queries. As the SDK's query renderer does, a query that spreads a fragment it
//! does not define gets the definitions it needs (transitively, each once, dependencies
//! first) appended from the declared fragment files, so the stored query stands alone.
//!
//! The definitions are copied as written in their files (from the start of each definition to
//! the start of the next), not re-printed.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql_parser::types::{DocumentOperations, Selection, SelectionSet};
use async_graphql_parser::{Pos, Positioned};

/// Why a query could not be given its fragments.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// A query or fragment file is not valid GraphQL.
    #[error("{file}: GraphQL syntax error: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// Two fragment files (or one twice) define one name.
    #[error("Fragment '{0}' is defined more than once across declared fragment files.")]
    Duplicate(String),
    /// A spread names a fragment no file defines.
    #[error("Fragment '{0}' not found.")]
    NotFound(String),
    /// Fragments that spread each other in a circle.
    #[error("Circular fragment dependency: {}", .0.join(" -> "))]
    Circular(Vec<String>),
}

/// A fragment from a file: its text and the fragments it spreads.
#[derive(Debug)]
struct Fragment {
    text: String,
    spreads: Vec<String>,
}

/// The fragments of `files` (path, text), by name.
///
/// # Errors
///
/// [`FragmentError::Syntax`] or [`FragmentError::Duplicate`].
fn index(files: &[(String, String)]) -> Result<BTreeMap<String, Fragment>, FragmentError> {
    let mut found = BTreeMap::new();
    for (path, text) in files {
        // A document of fragments only has no operation, which the parser refuses: one is
        // added after the text, where it changes no position.
        let parsed_text = format!("{text}\nquery __fragments_of_file {{ __typename }}\n");
        let document = async_graphql_parser::parse_query(&parsed_text).map_err(|error| {
            FragmentError::Syntax {
                file: path.clone(),
                message: error.to_string(),
            }
        })?;
        let mut starts: Vec<Pos> = document.fragments.values().map(|f| f.pos).collect();
        match &document.operations {
            DocumentOperations::Single(operation) => starts.push(operation.pos),
            DocumentOperations::Multiple(operations) => {
                starts.extend(operations.values().map(|o| o.pos));
            }
        }
        starts.sort_by_key(|pos| (pos.line, pos.column));
        let offsets = line_offsets(text);
        for (name, definition) in &document.fragments {
            let name = name.to_string();
            let start = offset(text, &offsets, definition.pos);
            let end = starts
                .iter()
                .find(|pos| (pos.line, pos.column) > (definition.pos.line, definition.pos.column))
                .map_or(text.len(), |pos| offset(text, &offsets, *pos));
            let mut spreads = Vec::new();
            collect(&definition.node.selection_set, &mut spreads);
            let fragment = Fragment {
                text: text[start..end.max(start)].trim_end().to_owned(),
                spreads,
            };
            if found.insert(name.clone(), fragment).is_some() {
                return Err(FragmentError::Duplicate(name));
            }
        }
    }
    Ok(found)
}

/// The byte offset of each line's start.
fn line_offsets(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(at, _)| at + 1))
        .collect()
}

/// The byte offset in `text` of `pos` (1-based line and column, the column counting
/// characters), or the end of `text`.
fn offset(text: &str, lines: &[usize], pos: Pos) -> usize {
    let Some(start) = pos.line.checked_sub(1).and_then(|l| lines.get(l)).copied() else {
        return text.len();
    };
    let line = &text[start.min(text.len())..];
    let within = line
        .char_indices()
        .nth(pos.column.saturating_sub(1))
        .map_or(line.len(), |(at, _)| at);
    (start + within).min(text.len())
}

/// The fragment names spread anywhere in `set`.
fn collect(set: &Positioned<SelectionSet>, names: &mut Vec<String>) {
    for item in &set.node.items {
        match &item.node {
            Selection::Field(field) => collect(&field.node.selection_set, names),
            Selection::FragmentSpread(spread) => {
                names.push(spread.node.fragment_name.node.to_string());
            }
            Selection::InlineFragment(inline) => collect(&inline.node.selection_set, names),
        }
    }
}

/// `query` (of file `file`) with the definitions of the fragments it spreads but does not
/// define appended from `fragment_files` (path, text); `query` as it is when it spreads none.
///
/// # Errors
///
/// [`FragmentError`]: invalid GraphQL, a fragment defined twice, a spread of a fragment no
/// file defines, fragments spreading each other in a circle.
///
/// # Examples
///
/// ```
/// use infrahub_git::fragments::render_with_fragments;
///
/// let files = vec![(
///     "fragments/device.gql".to_owned(),
///     "fragment DeviceName on LabDevice { name { value } }\n".to_owned(),
/// )];
/// let query = "query { LabDevice { edges { node { ...DeviceName } } } }";
/// let rendered = render_with_fragments("queries/devices.gql", query, &files).unwrap();
/// assert!(rendered.starts_with(query));
/// assert!(rendered.ends_with("fragment DeviceName on LabDevice { name { value } }\n"));
/// ```
pub fn render_with_fragments(
    file: &str,
    query: &str,
    fragment_files: &[(String, String)],
) -> Result<String, FragmentError> {
    let document =
        async_graphql_parser::parse_query(query).map_err(|error| FragmentError::Syntax {
            file: file.to_owned(),
            message: error.to_string(),
        })?;
    let mut spreads = Vec::new();
    match &document.operations {
        DocumentOperations::Single(operation) => {
            collect(&operation.node.selection_set, &mut spreads);
        }
        DocumentOperations::Multiple(operations) => {
            for operation in operations.values() {
                collect(&operation.node.selection_set, &mut spreads);
            }
        }
    }
    // The query's own fragments may spread fragments of the files too (the SDK leaves those
    // unresolved).
    for fragment in document.fragments.values() {
        collect(&fragment.node.selection_set, &mut spreads);
    }
    let local: BTreeSet<String> = document.fragments.keys().map(ToString::to_string).collect();
    if spreads.iter().all(|name| local.contains(name)) {
        return Ok(query.to_owned());
    }
    let fragments = index(fragment_files)?;
    let mut ordered = Vec::new();
    let mut done = BTreeSet::new();
    for name in &spreads {
        resolve(
            name,
            &fragments,
            &local,
            &mut Vec::new(),
            &mut done,
            &mut ordered,
        )?;
    }
    let mut rendered = query.trim_end().to_owned();
    for name in ordered {
        rendered.push_str("\n\n");
        rendered.push_str(&fragments[&name].text);
    }
    rendered.push('\n');
    Ok(rendered)
}

fn resolve(
    name: &str,
    fragments: &BTreeMap<String, Fragment>,
    local: &BTreeSet<String>,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
    ordered: &mut Vec<String>,
) -> Result<(), FragmentError> {
    if let Some(at) = stack.iter().position(|n| n == name) {
        let mut cycle = stack[at..].to_vec();
        cycle.push(name.to_owned());
        return Err(FragmentError::Circular(cycle));
    }
    if done.contains(name) || local.contains(name) {
        return Ok(());
    }
    let fragment = fragments
        .get(name)
        .ok_or_else(|| FragmentError::NotFound(name.to_owned()))?;
    stack.push(name.to_owned());
    for dependency in &fragment.spreads {
        resolve(dependency, fragments, local, stack, done, ordered)?;
    }
    stack.pop();
    done.insert(name.to_owned());
    ordered.push(name.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn needed_fragments_are_appended_once_dependencies_first() {
        let fragments = files(&[
            (
                "f/a.gql",
                "# names\nfragment Name on LabDevice { name { value } ...Extra }\n\nfragment Unused on LabDevice { id }\n",
            ),
            ("f/b.gql", "fragment Extra on LabDevice { id }"),
        ]);
        let query = "query { A: LabDevice { edges { node { ...Name } } } B: LabDevice { edges { node { ...Name ...Extra } } } }";
        let rendered = render_with_fragments("q.gql", query, &fragments).unwrap();
        assert_eq!(
            rendered,
            format!(
                "{query}\n\nfragment Extra on LabDevice {{ id }}\n\nfragment Name on LabDevice {{ name {{ value }} ...Extra }}\n"
            )
        );
        // The result parses and defines each fragment once.
        let document = async_graphql_parser::parse_query(&rendered).unwrap();
        assert_eq!(document.fragments.len(), 2);
    }

    #[test]
    fn a_query_without_outside_spreads_is_unchanged() {
        let query = "query { X { ...Local } }\nfragment Local on X { id }";
        // Not even the fragment files are read: a broken one does not matter.
        let broken = files(&[("f.gql", "fragment {")]);
        assert_eq!(render_with_fragments("q", query, &broken).unwrap(), query);
    }

    #[test]
    fn positions_count_characters() {
        let fragments = files(&[("f.gql", "# é à ü\n  fragment Name on X { é: id }\n")]);
        // Field aliases cannot be non-ASCII, so this one fails to parse: the error names the file.
        assert!(matches!(
            render_with_fragments("q", "{ X { ...Name } }", &fragments),
            Err(FragmentError::Syntax { file, .. }) if file == "f.gql"
        ));
        let fragments = files(&[("f.gql", "# é à ü\n  fragment Name on X { id } # ü\n")]);
        let rendered = render_with_fragments("q", "{ X { ...Name } }", &fragments).unwrap();
        assert!(
            rendered.ends_with("\n\nfragment Name on X { id } # ü\n"),
            "{rendered}"
        );
    }

    #[test]
    fn a_local_fragment_may_spread_a_file_fragment() {
        let fragments = files(&[("f.gql", "fragment E on X { id }")]);
        let query = "{ X { ...L } }\nfragment L on X { ...E }";
        let rendered = render_with_fragments("q", query, &fragments).unwrap();
        assert!(
            rendered.ends_with("\n\nfragment E on X { id }\n"),
            "{rendered}"
        );
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let query = "{ X { ...Missing } }";
        assert_eq!(
            render_with_fragments("q", query, &[]),
            Err(FragmentError::NotFound("Missing".into()))
        );
        let twice = files(&[
            ("a.gql", "fragment A on X { id }"),
            ("b.gql", "fragment A on X { id }"),
        ]);
        assert_eq!(
            render_with_fragments("q", "{ X { ...A } }", &twice),
            Err(FragmentError::Duplicate("A".into()))
        );
        let circle = files(&[(
            "a.gql",
            "fragment A on X { ...B }\nfragment B on X { ...A }",
        )]);
        assert_eq!(
            render_with_fragments("q", "{ X { ...A } }", &circle),
            Err(FragmentError::Circular(vec![
                "A".into(),
                "B".into(),
                "A".into()
            ]))
        );
        assert!(matches!(
            render_with_fragments("q.gql", "{ X { ", &[]),
            Err(FragmentError::Syntax { file, .. }) if file == "q.gql"
        ));
    }
}
