//! The shape of a GraphQL document: its tokens, with each literal value replaced by a class that
//! every validation rule treats alike.
//!
//! The SDK writes attribute values and filters inline (`name: { value: "dc1-edge-1" }`,
//! `InfraDevice(name__value: "dc1")`), so nearly every document it sends is one the server has
//! not seen before, though it differs from earlier ones only in those values. Two validation
//! rules look at literal values:
//!
//! - a literal must be valid for its input type, and for the types of the generated schema
//!   that check gives the same answer for every literal of one class: strings that parse alike
//!   (see [`super::build::string_class`]), numbers as the parser stores them (integers by
//!   range, floats, `-0` among them); names (enum values, `true`, `false`, `null`) are kept
//!   as they are;
//! - fields with the same response name in one selection set must have equal arguments: so a
//!   document has a shape only when no selection set holds two fields with one response name
//!   and it has no fragments (whose fields merge into the selection sets that spread them).
//!
//! Documents of one shape therefore pass or fail validation together, which lets the
//! validation of one stand for all (see [`super::validated`]). Literals inside directive
//! arguments are kept as they are: `@expand(exclude: [...])` rewrites the document according
//! to them before it is validated.
//!
//! The lexer follows the GraphQL specification's lexical grammar; a document it cannot read
//! (or one with a block string) has no shape and is remembered by its text alone.

use super::build::string_class;
use super::parse::number_token;

/// The token before the current one, as far as response names are concerned.
#[derive(Clone, Copy, PartialEq)]
enum Previous {
    At,
    Colon,
    Other,
}

/// The shape of `query`, or `None` when it cannot be told (the document is then only equal
/// to itself).
pub(crate) fn shape(query: &str) -> Option<String> {
    let bytes = query.as_bytes();
    let mut out = String::with_capacity(query.len());
    let mut at = 0usize;
    // Parentheses open: arguments, variable definitions; the only place values appear.
    let mut parentheses = 0usize;
    // Whether the open parentheses are a directive's arguments.
    let mut in_directive = false;
    // The response names of each selection set open.
    let mut selections: Vec<Vec<&str>> = Vec::new();
    let mut previous = Previous::Other;
    // Whether the previous token is the name of a directive.
    let mut directive_name = false;
    while at < bytes.len() {
        let byte = bytes[at];
        let mut token = Previous::Other;
        let mut names_directive = false;
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                at += 1;
                continue;
            }
            b'#' => {
                while at < bytes.len() && bytes[at] != b'\n' && bytes[at] != b'\r' {
                    at += 1;
                }
                continue;
            }
            0xEF if bytes[at..].starts_with("\u{feff}".as_bytes()) => {
                at += 3;
                continue;
            }
            b'(' => {
                if parentheses == 0 {
                    in_directive = directive_name;
                }
                parentheses += 1;
                out.push_str("( ");
                at += 1;
            }
            b')' => {
                parentheses = parentheses.checked_sub(1)?;
                out.push_str(") ");
                at += 1;
            }
            b'{' | b'}' if parentheses == 0 => {
                if byte == b'{' {
                    selections.push(Vec::new());
                } else {
                    selections.pop()?;
                }
                out.push(byte as char);
                out.push(' ');
                at += 1;
            }
            b'!' | b'$' | b'&' | b':' | b'=' | b'@' | b'[' | b']' | b'{' | b'|' | b'}' => {
                token = match byte {
                    b'@' => Previous::At,
                    b':' => Previous::Colon,
                    _ => Previous::Other,
                };
                out.push(byte as char);
                out.push(' ');
                at += 1;
            }
            b'.' => {
                // Fragment spreads and inline fragments merge fields across selection sets.
                return None;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                let start = at;
                while at < bytes.len() && (bytes[at] == b'_' || bytes[at].is_ascii_alphanumeric()) {
                    at += 1;
                }
                let name = &query[start..at];
                if parentheses == 0
                    && previous == Previous::Other
                    && let Some(names) = selections.last_mut()
                {
                    // The first name of a field is its response name (the alias, if any).
                    if names.contains(&name) {
                        return None;
                    }
                    names.push(name);
                }
                names_directive = previous == Previous::At;
                out.push_str(name);
                out.push(' ');
            }
            b'-' | b'0'..=b'9' => {
                let (end, class) = number(query, at)?;
                if parentheses == 0 {
                    return None;
                }
                if in_directive {
                    out.push_str(&query[at..end]);
                } else {
                    out.push_str(class);
                }
                out.push(' ');
                at = end;
            }
            b'"' => {
                if bytes[at..].starts_with(b"\"\"\"") || parentheses == 0 {
                    // Block strings are rare in documents; their value is not the raw text.
                    return None;
                }
                let start = at;
                at += 1;
                let mut escaped = false;
                loop {
                    match *bytes.get(at)? {
                        b'"' => break,
                        b'\\' => {
                            escaped = true;
                            at += 2;
                        }
                        b'\n' | b'\r' => return None,
                        _ => at += 1,
                    }
                }
                at += 1;
                if escaped || in_directive {
                    // Kept as written: the value is not the raw text between the quotes, or
                    // it changes the document.
                    out.push_str(query.get(start..at)?);
                } else {
                    out.push('%');
                    out.push(char::from(
                        b'a' + string_class(query.get(start + 1..at - 1)?),
                    ));
                }
                out.push(' ');
            }
            _ => return None,
        }
        previous = token;
        directive_name = names_directive;
    }
    (parentheses == 0 && selections.is_empty()).then_some(out)
}

/// Reads the number starting at `start`; returns where it ends and its class: as the parser
/// stores the number (`-0` and `1.0` are floats to it, `1e400` an error), and integers by the
/// ranges the integer scalars accept.
fn number(query: &str, start: usize) -> Option<(usize, &'static str)> {
    let (end, number) = number_token(query, start)?;
    let class = match (number.as_i64(), number.as_u64()) {
        (Some(value), _) if i32::try_from(value).is_ok() => "%int32",
        (Some(_), _) => "%int64",
        (None, Some(_)) => "%uint64",
        (None, None) => "%float",
    };
    Some((end, class))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) -> bool {
        let (a, b) = (shape(a), shape(b));
        assert!(a.is_some() && b.is_some(), "{a:?} {b:?}");
        a == b
    }

    #[test]
    fn documents_differing_only_in_literals_of_one_class_share_a_shape() {
        let create = |name: &str, unit: &str| {
            format!(
                "mutation {{\n  InfraDeviceCreate(data: {{ name: {{ value: \"{name}\" }}, \
                 rack_unit: {{ value: {unit} }} }}) {{ ok object {{ id }} }}\n}}"
            )
        };
        assert!(same(
            &create("dc1-edge-1", "42"),
            &create("dc2/core 7", "-3")
        ));
        // Whitespace, commas and comments do not count.
        assert!(same(
            "query { A(x: 1, y: [\"a\", \"b\",]) { id } }",
            "query{A(x:2 y:[\"c\" \"d\"]) # a comment\n{id}}"
        ));
        assert!(same("{ A(f: 1.5) { id } }", "{ A(f: -2e10) { id } }"));
    }

    #[test]
    fn literals_that_validation_tells_apart_give_other_shapes() {
        // Integers beyond 32 bits are not Int; strings holding integers or timestamps are
        // BigInt or DateTime values.
        assert!(!same("{ A(x: 1) { id } }", "{ A(x: 3000000000) { id } }"));
        assert!(!same("{ A(x: 1) { id } }", "{ A(x: 1.0) { id } }"));
        // The parser stores `-0` as a float.
        assert!(!same("{ A(x: -1) { id } }", "{ A(x: -0) { id } }"));
        assert!(same("{ A(x: -0) { id } }", "{ A(x: 2.5) { id } }"));
        assert!(!same(
            "{ A(x: 1) { id } }",
            "{ A(x: 18446744073709551615) { id } }"
        ));
        assert!(!same("{ A(x: \"a\") { id } }", "{ A(x: \"12\") { id } }"));
        assert!(!same(
            "{ A(x: \"a\") { id } }",
            "{ A(x: \"2024-01-01T00:00:00Z\") { id } }"
        ));
        assert!(!same("{ A(x: \"a\") { id } }", "{ A(x: 1) { id } }"));
        // Names (enum values, booleans, null) and structure are kept.
        assert!(!same("{ A(x: true) { id } }", "{ A(x: false) { id } }"));
        assert!(!same("{ A(x: ASC) { id } }", "{ A(x: DESC) { id } }"));
        assert!(!same("{ A(x: 1) { id } }", "{ A(y: 1) { id } }"));
        assert!(!same("{ A { id name } }", "{ A { idname } }"));
        // Escaped strings and directive arguments are kept as written.
        assert!(!same(
            "{ A(x: \"a\\\"b\") { id } }",
            "{ A(x: \"a\\\"c\") { id } }"
        ));
        assert!(!same(
            "{ A { edges { node @expand(exclude: [\"a\"]) { id } } } }",
            "{ A { edges { node @expand(exclude: [\"b\"]) { id } } } }"
        ));
        assert!(same(
            "{ A(x: \"k\") { edges { node @expand(exclude: [\"a\"]) { id } } } }",
            "{ A(x: \"l\") { edges { node @expand(exclude: [\"a\"]) { id } } } }"
        ));
    }

    #[test]
    fn text_it_cannot_read_has_no_shape() {
        assert_eq!(shape("{ A(x: \"\"\"block\"\"\") { id } }"), None);
        assert_eq!(shape("{ A(x: \"open) { id } }"), None);
        assert_eq!(shape("{ A(x: 01) { id } }"), None);
        assert_eq!(shape("{ A(x: 1abc) { id } }"), None);
        assert_eq!(shape("{ A(x: ..) { id } }"), None);
        assert_eq!(shape("{ A(x: ~) { id } }"), None);
        assert_eq!(shape("{ A(x: 1) { id } "), None);
        assert_eq!(shape("{ A(x: 1 { id } }"), None);
    }

    #[test]
    fn documents_whose_fields_could_merge_have_no_shape() {
        // Whether these pass validation depends on whether the arguments are equal.
        assert_eq!(shape("{ a: A(x: 1) { id } a: A(x: 2) { id } }"), None);
        assert_eq!(shape("{ A(x: 1) { id } A(x: 1) { id } }"), None);
        assert!(shape("{ A { id b: id } B { c: name name: c } }").is_some());
        assert_eq!(shape("{ A { id id } }"), None);
        assert_eq!(shape("{ A { ...F } } fragment F on A { id }"), None);
        assert_eq!(shape("{ A { ... on B { id } } }"), None);
        // Distinct response names, and names in other selection sets, are fine.
        assert!(shape("{ a: A(x: 1) { id } b: A(x: 2) { id } }").is_some());
        assert!(shape("{ A { id B { id } } C @include(if: true) { id } }").is_some());
    }
}
