//! A hand-written parser of GraphQL executable documents that builds the same syntax tree as
//! async-graphql's parser, positions included, several times faster.
//!
//! async-graphql parses with a PEG grammar (pest) at some 170k instructions for a small
//! mutation, the largest part of a request the SDK sends: it writes values inline, so most of
//! its documents are new to the server and must be parsed. This parser reads the documents
//! the SDK and other clients write and gives up (`None`) on anything where the grammar could
//! read the text in a surprising way or reject it: syntax errors, block strings, a number
//! running into a name (`01`, `1x`), a name starting with `true`, `false` or `null` in a
//! value, a keyword running into a name (`queryX`), comments inside a type condition. The
//! caller then parses with async-graphql, which reports errors as before. Where the
//! grammar accepts a text, the two trees are equal (tests compare them on many documents and
//! on random edits of them).
//!
//! One deliberate difference: an escaped UTF-16 surrogate pair (`"\ud83d\ude00"`, as JSON
//! encoders such as the SDK's write characters outside the Basic Multilingual Plane) is read as
//! the one character it encodes, where async-graphql's grammar refuses every escaped surrogate.
//! The SDK contract asks for it; a lone surrogate is still left to async-graphql to refuse.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, Field, FragmentDefinition, FragmentSpread,
    InlineFragment, OperationDefinition, OperationType, Selection, SelectionSet, Type,
    TypeCondition, VariableDefinition,
};
use async_graphql::parser::{Pos, Positioned};
use async_graphql::{Name, Number};
use async_graphql_value::Value;

/// async-graphql's limit of nested selection sets.
const MAX_SELECTION_DEPTH: usize = 64;
/// Deepest nesting of lists and objects in a value read here.
const MAX_VALUE_DEPTH: usize = 64;

/// Deepest nesting of brackets (`{`, `[`, `(`) a document left to async-graphql's parser may
/// have. That parser recurses once per level with no limit of its own, so a document nested
/// tens of thousands of levels deep overflowed the stack of the thread parsing it and brought
/// the server down; such documents are refused instead (this parser bounds its own nesting
/// and gives up on them). Clients nest a few levels.
pub(crate) const MAX_NESTING: usize = 256;

/// Whether `query` nests brackets deeper than [`MAX_NESTING`], outside strings and comments.
pub(crate) fn too_deep(query: &str) -> bool {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut at = 0usize;
    while at < bytes.len() {
        match bytes[at] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return true;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' => {
                while at < bytes.len() && bytes[at] != b'\n' && bytes[at] != b'\r' {
                    at += 1;
                }
            }
            b'"' if bytes[at..].starts_with(b"\"\"\"") => {
                at += 3;
                while at < bytes.len() && !bytes[at..].starts_with(b"\"\"\"") {
                    at += if bytes[at..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                at += 2;
            }
            b'"' => {
                at += 1;
                while at < bytes.len() && bytes[at] != b'"' && bytes[at] != b'\n' {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        at += 1;
    }
    false
}

/// The number token starting at byte `start` of `text` (an integer or float that does not run
/// into a name or a dot, as the grammar reads it), with where it ends and the number
/// async-graphql stores for it; `None` where the grammar would read it otherwise.
pub(crate) fn number_token(text: &str, start: usize) -> Option<(usize, Number)> {
    let bytes = text.as_bytes();
    let mut at = start;
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    let digits = |at: &mut usize| {
        let from = *at;
        while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at - from
    };
    let integer_start = at;
    let integer_digits = digits(&mut at);
    if integer_digits == 0 || (bytes[integer_start] == b'0' && integer_digits > 1) {
        return None;
    }
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        if digits(&mut at) == 0 {
            return None;
        }
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if digits(&mut at) == 0 {
            return None;
        }
    }
    if bytes
        .get(at)
        .is_some_and(|b| *b == b'.' || *b == b'_' || b.is_ascii_alphanumeric())
    {
        return None;
    }
    let number = text.get(start..at)?.parse::<Number>().ok()?;
    Some((at, number))
}

/// The document as text that does not depend on hash map order: its operations and fragments
/// with their positions, sorted (to compare two readings of one document).
#[cfg(any(test, debug_assertions))]
pub(crate) fn canonical(document: &ExecutableDocument) -> Vec<String> {
    let mut parts: Vec<String> = match &document.operations {
        DocumentOperations::Single(operation) => vec![format!("{operation:?}")],
        DocumentOperations::Multiple(operations) => operations
            .iter()
            .map(|(name, operation)| format!("{name}: {operation:?}"))
            .collect(),
    };
    parts.extend(
        document
            .fragments
            .iter()
            .map(|(name, fragment)| format!("fragment {name}: {fragment:?}")),
    );
    parts.sort();
    parts
}

/// Parses `query` as async-graphql would, or gives up (`None`).
pub(crate) fn parse(query: &str) -> Option<ExecutableDocument> {
    let mut parser = Parser {
        text: query,
        bytes: query.as_bytes(),
        at: 0,
        counted: 0,
        line: 1,
        column: 1,
    };
    parser.document()
}

/// An operation or fragment of the document, with its name.
enum Definition {
    Operation(Option<Name>, Positioned<OperationDefinition>),
    Fragment(Name, Positioned<FragmentDefinition>),
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// The next byte to read.
    at: usize,
    /// The byte up to which `line` and `column` are counted.
    counted: usize,
    line: usize,
    column: usize,
}

impl<'a> Parser<'a> {
    fn document(&mut self) -> Option<ExecutableDocument> {
        let mut operations: Option<DocumentOperations> = None;
        let mut fragments = HashMap::new();
        self.skip_ignored();
        if self.at >= self.bytes.len() {
            return None;
        }
        while self.at < self.bytes.len() {
            match self.definition()? {
                Definition::Operation(None, operation) => {
                    if operations.is_some() {
                        return None;
                    }
                    operations = Some(DocumentOperations::Single(operation));
                }
                Definition::Operation(Some(name), operation) => {
                    let named = operations
                        .get_or_insert_with(|| DocumentOperations::Multiple(HashMap::new()));
                    let DocumentOperations::Multiple(named) = named else {
                        return None;
                    };
                    match named.entry(name) {
                        Entry::Occupied(_) => return None,
                        Entry::Vacant(entry) => {
                            entry.insert(operation);
                        }
                    }
                }
                Definition::Fragment(name, fragment) => match fragments.entry(name) {
                    Entry::Occupied(_) => return None,
                    Entry::Vacant(entry) => {
                        entry.insert(fragment);
                    }
                },
            }
            self.skip_ignored();
        }
        Some(ExecutableDocument {
            operations: operations?,
            fragments,
        })
    }

    fn definition(&mut self) -> Option<Definition> {
        let pos = self.pos();
        if self.peek() == Some(b'{') {
            let selection_set = self.selection_set(MAX_SELECTION_DEPTH)?;
            let operation = OperationDefinition {
                ty: OperationType::Query,
                variable_definitions: Vec::new(),
                directives: Vec::new(),
                selection_set,
            };
            return Some(Definition::Operation(None, Positioned::new(operation, pos)));
        }
        let keyword = self.name()?;
        let ty = match keyword {
            "query" => OperationType::Query,
            "mutation" => OperationType::Mutation,
            "subscription" => OperationType::Subscription,
            "fragment" => return self.fragment_definition(pos),
            _ => return None,
        };
        self.skip_ignored();
        let name = match self.peek() {
            Some(b'_' | b'a'..=b'z' | b'A'..=b'Z') => Some(Name::new(self.name()?)),
            _ => None,
        };
        self.skip_ignored();
        let variable_definitions = if self.peek() == Some(b'(') {
            self.at += 1;
            self.until(b')', 0, Self::variable_definition)?
        } else {
            Vec::new()
        };
        let (directives, selection_set) = self.directives_and_selection_set(MAX_SELECTION_DEPTH)?;
        let operation = OperationDefinition {
            ty,
            variable_definitions,
            directives,
            selection_set,
        };
        Some(Definition::Operation(name, Positioned::new(operation, pos)))
    }

    /// After the `fragment` keyword (at `pos`).
    fn fragment_definition(&mut self, pos: Pos) -> Option<Definition> {
        self.skip_ignored();
        let name = Name::new(self.name()?);
        self.skip_ignored();
        let type_condition = self.type_condition()?;
        let (directives, selection_set) = self.directives_and_selection_set(MAX_SELECTION_DEPTH)?;
        let fragment = FragmentDefinition {
            type_condition,
            directives,
            selection_set,
        };
        Some(Definition::Fragment(name, Positioned::new(fragment, pos)))
    }

    /// Items read by `item` up to the closing byte `close` (the opening one is read), at least
    /// `least` of them.
    fn until<T>(
        &mut self,
        close: u8,
        least: usize,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut items = Vec::new();
        loop {
            self.skip_ignored();
            if self.peek() == Some(close) && items.len() >= least {
                self.at += 1;
                return Some(items);
            }
            items.push(item(self)?);
        }
    }

    /// Directives (perhaps none), then a selection set that may nest `remaining` levels.
    fn directives_and_selection_set(
        &mut self,
        remaining: usize,
    ) -> Option<(Vec<Positioned<Directive>>, Positioned<SelectionSet>)> {
        self.skip_ignored();
        let directives = self.directives()?;
        self.skip_ignored();
        let selection_set = self.selection_set(remaining)?;
        Some((directives, selection_set))
    }

    /// `on` followed by whitespace (not comments, as the grammar says) and a name.
    fn type_condition(&mut self) -> Option<Positioned<TypeCondition>> {
        let pos = self.pos();
        if self.name()? != "on" {
            return None;
        }
        let before = self.at;
        while let Some(length) = self.whitespace_at(self.at) {
            self.at += length;
        }
        if self.at == before {
            return None;
        }
        let on = self.positioned_name()?;
        Some(Positioned::new(TypeCondition { on }, pos))
    }

    fn variable_definition(&mut self) -> Option<Positioned<VariableDefinition>> {
        let pos = self.pos();
        if self.peek() != Some(b'$') {
            return None;
        }
        self.at += 1;
        self.skip_ignored();
        let name = self.positioned_name()?;
        self.colon()?;
        let type_pos = self.pos();
        let start = self.at;
        self.type_text(0)?;
        let var_type = Positioned::new(Type::new(&self.text[start..self.at])?, type_pos);
        self.skip_ignored();
        let directives = self.directives()?;
        self.skip_ignored();
        let default_value = if self.peek() == Some(b'=') {
            self.at += 1;
            self.skip_ignored();
            let value_pos = self.pos();
            let value = self.value(true, 0)?.into_const()?;
            Some(Positioned::new(value, value_pos))
        } else {
            None
        };
        Some(Positioned::new(
            VariableDefinition {
                name,
                var_type,
                directives,
                default_value,
            },
            pos,
        ))
    }

    /// Reads a type written without spaces (`[String!]!`), as the grammar's atomic rule;
    /// `depth` lists are open around it.
    fn type_text(&mut self, depth: usize) -> Option<()> {
        if self.peek() == Some(b'[') {
            if depth >= MAX_NESTING {
                return None;
            }
            self.at += 1;
            self.type_text(depth + 1)?;
            if self.peek() != Some(b']') {
                return None;
            }
            self.at += 1;
        } else {
            self.name()?;
        }
        if self.peek() == Some(b'!') {
            self.at += 1;
        }
        Some(())
    }

    fn directives(&mut self) -> Option<Vec<Positioned<Directive>>> {
        let mut directives = Vec::new();
        while self.peek() == Some(b'@') {
            let pos = self.pos();
            self.at += 1;
            self.skip_ignored();
            let name = self.positioned_name()?;
            self.skip_ignored();
            let arguments = self.arguments()?;
            directives.push(Positioned::new(Directive { name, arguments }, pos));
        }
        Some(directives)
    }

    /// `( name: value ... )` with at least one argument, if the next byte opens it, and what
    /// is ignored after it.
    fn arguments(&mut self) -> Option<Vec<(Positioned<Name>, Positioned<Value>)>> {
        if self.peek() != Some(b'(') {
            return Some(Vec::new());
        }
        self.at += 1;
        let arguments = self.until(b')', 1, |parser| {
            let name = parser.positioned_name()?;
            parser.colon()?;
            let value_pos = parser.pos();
            let value = Positioned::new(parser.value(false, 0)?, value_pos);
            Some((name, value))
        })?;
        self.skip_ignored();
        Some(arguments)
    }

    /// `{ selection ... }`, at least one; `remaining` is the nesting still allowed.
    fn selection_set(&mut self, remaining: usize) -> Option<Positioned<SelectionSet>> {
        let pos = self.pos();
        self.expect(b'{')?;
        let items = self.until(b'}', 1, |parser| parser.selection(remaining))?;
        Some(Positioned::new(SelectionSet { items }, pos))
    }

    fn selection(&mut self, remaining: usize) -> Option<Positioned<Selection>> {
        let pos = self.pos();
        if !self.bytes[self.at..].starts_with(b"...") {
            let field = self.field(pos, remaining)?;
            return Some(Positioned::new(Selection::Field(field), pos));
        }
        self.at += 3;
        self.skip_ignored();
        match self.peek() {
            Some(b'_' | b'a'..=b'z' | b'A'..=b'Z') => {
                let name_end = self.name_end(self.at);
                if &self.text[self.at..name_end] == "on" {
                    let type_condition = Some(self.type_condition()?);
                    self.inline_fragment(pos, type_condition, remaining)
                } else {
                    let fragment_name = self.positioned_name()?;
                    self.skip_ignored();
                    let directives = self.directives()?;
                    let spread = FragmentSpread {
                        fragment_name,
                        directives,
                    };
                    Some(Positioned::new(
                        Selection::FragmentSpread(Positioned::new(spread, pos)),
                        pos,
                    ))
                }
            }
            Some(b'@' | b'{') => self.inline_fragment(pos, None, remaining),
            _ => None,
        }
    }

    /// The rest of an inline fragment starting at `pos`, after its type condition.
    fn inline_fragment(
        &mut self,
        pos: Pos,
        type_condition: Option<Positioned<TypeCondition>>,
        remaining: usize,
    ) -> Option<Positioned<Selection>> {
        let (directives, selection_set) =
            self.directives_and_selection_set(remaining.checked_sub(1)?)?;
        let fragment = InlineFragment {
            type_condition,
            directives,
            selection_set,
        };
        Some(Positioned::new(
            Selection::InlineFragment(Positioned::new(fragment, pos)),
            pos,
        ))
    }

    fn field(&mut self, pos: Pos, remaining: usize) -> Option<Positioned<Field>> {
        let first = self.positioned_name()?;
        self.skip_ignored();
        let (alias, name) = if self.peek() == Some(b':') {
            self.at += 1;
            self.skip_ignored();
            let name = self.positioned_name()?;
            self.skip_ignored();
            (Some(first), name)
        } else {
            (None, first)
        };
        let arguments = self.arguments()?;
        let directives = self.directives()?;
        self.skip_ignored();
        let selection_set = if self.peek() == Some(b'{') {
            self.selection_set(remaining.checked_sub(1)?)?
        } else {
            Positioned::default()
        };
        Some(Positioned::new(
            Field {
                alias,
                name,
                arguments,
                directives,
                selection_set,
            },
            pos,
        ))
    }

    /// A value; `constant` refuses variables.
    fn value(&mut self, constant: bool, depth: usize) -> Option<Value> {
        if depth > MAX_VALUE_DEPTH {
            return None;
        }
        match self.peek()? {
            b'$' if !constant => {
                self.at += 1;
                self.skip_ignored();
                Some(Value::Variable(Name::new(self.name()?)))
            }
            b'-' | b'0'..=b'9' => self.number(),
            b'"' => self.string().map(Value::String),
            b'[' => {
                self.at += 1;
                let items = self.until(b']', 0, |parser| parser.value(constant, depth + 1))?;
                Some(Value::List(items))
            }
            b'{' => {
                self.at += 1;
                let fields = self.until(b'}', 0, |parser| {
                    let name = Name::new(parser.name()?);
                    parser.colon()?;
                    Some((name, parser.value(constant, depth + 1)?))
                })?;
                Some(Value::Object(fields.into_iter().collect()))
            }
            _ => {
                let name = self.name()?;
                match name {
                    "true" => Some(Value::Boolean(true)),
                    "false" => Some(Value::Boolean(false)),
                    "null" => Some(Value::Null),
                    // The grammar would read `trueish` as `true` followed by `ish`.
                    _ if ["true", "false", "null"]
                        .iter()
                        .any(|k| name.starts_with(k)) =>
                    {
                        None
                    }
                    _ => Some(Value::Enum(Name::new(name))),
                }
            }
        }
    }

    /// An integer or float, which may not run into a name or a dot.
    fn number(&mut self) -> Option<Value> {
        let (end, number) = number_token(self.text, self.at)?;
        self.at = end;
        Some(Value::Number(number))
    }

    /// A quoted string (not a block string), escapes resolved.
    fn string(&mut self) -> Option<String> {
        if self.bytes[self.at..].starts_with(b"\"\"\"") {
            return None;
        }
        self.at += 1;
        let mut value = String::new();
        let mut run = self.at;
        loop {
            match *self.bytes.get(self.at)? {
                b'"' => {
                    value.push_str(&self.text[run..self.at]);
                    self.at += 1;
                    return Some(value);
                }
                b'\n' | b'\r' => return None,
                b'\\' => {
                    value.push_str(&self.text[run..self.at]);
                    let escaped = *self.bytes.get(self.at + 1)?;
                    self.at += 2;
                    match escaped {
                        b'"' | b'\\' | b'/' => value.push(escaped as char),
                        b'b' => value.push('\x08'),
                        b'f' => value.push('\x0C'),
                        b'n' => value.push('\n'),
                        b'r' => value.push('\r'),
                        b't' => value.push('\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            let code = match unit {
                                0xD800..=0xDBFF => {
                                    // A surrogate pair: the high half, then `\u` and the low.
                                    if !self.bytes[self.at..].starts_with(b"\\u") {
                                        return None;
                                    }
                                    self.at += 2;
                                    let low = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&low) {
                                        return None;
                                    }
                                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                                }
                                0xDC00..=0xDFFF => return None,
                                _ => unit,
                            };
                            value.push(char::from_u32(code)?);
                        }
                        _ => return None,
                    }
                    run = self.at;
                }
                _ => self.at += 1,
            }
        }
    }

    /// Four hexadecimal digits.
    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// Where the name starting at `at` ends.
    fn name_end(&self, at: usize) -> usize {
        let mut end = at;
        while self
            .bytes
            .get(end)
            .is_some_and(|b| *b == b'_' || b.is_ascii_alphanumeric())
        {
            end += 1;
        }
        end
    }

    /// A name and its position.
    fn positioned_name(&mut self) -> Option<Positioned<Name>> {
        let pos = self.pos();
        Some(Positioned::new(Name::new(self.name()?), pos))
    }

    /// A colon, with what is ignored around it.
    fn colon(&mut self) -> Option<()> {
        self.skip_ignored();
        self.expect(b':')?;
        self.skip_ignored();
        Some(())
    }

    /// A name: a letter or `_`, then letters, digits and `_`.
    fn name(&mut self) -> Option<&'a str> {
        match self.peek()? {
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {}
            _ => return None,
        }
        let start = self.at;
        self.at = self.name_end(start);
        Some(&self.text[start..self.at])
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        if self.peek() != Some(byte) {
            return None;
        }
        self.at += 1;
        Some(())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// The length of the whitespace character (in the grammar's sense: spaces, tabs, commas,
    /// line terminators, byte order marks) at `at`, if there is one.
    fn whitespace_at(&self, at: usize) -> Option<usize> {
        match self.bytes.get(at)? {
            b' ' | b'\t' | b',' | b'\n' | b'\r' => Some(1),
            0xEF if self.bytes[at..].starts_with("\u{feff}".as_bytes()) => Some(3),
            _ => None,
        }
    }

    /// Skips whitespace and comments.
    fn skip_ignored(&mut self) {
        loop {
            if let Some(length) = self.whitespace_at(self.at) {
                self.at += length;
            } else if self.peek() == Some(b'#') {
                while self.peek().is_some_and(|b| b != b'\n' && b != b'\r') {
                    self.at += 1;
                }
            } else {
                return;
            }
        }
    }

    /// The position of the next byte, counted as async-graphql counts: lines after `\n`,
    /// columns in characters, a `\r` returning to the first column.
    fn pos(&mut self) -> Pos {
        let skipped = &self.text[self.counted..self.at];
        if skipped.is_ascii() {
            for byte in skipped.bytes() {
                match byte {
                    b'\r' => self.column = 1,
                    b'\n' => {
                        self.line += 1;
                        self.column = 1;
                    }
                    _ => self.column += 1,
                }
            }
        } else {
            for character in skipped.chars() {
                match character {
                    '\r' => self.column = 1,
                    '\n' => {
                        self.line += 1;
                        self.column = 1;
                    }
                    _ => self.column += 1,
                }
            }
        }
        self.counted = self.at;
        Pos {
            line: self.line,
            column: self.column,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that whatever this parser reads, async-graphql reads the same way.
    fn agrees(query: &str) -> bool {
        let ours = parse(query);
        let theirs = async_graphql::parser::parse_query(query);
        match (&ours, &theirs) {
            (Some(ours), Ok(theirs)) => {
                assert_eq!(canonical(ours), canonical(theirs), "{query:?}");
                true
            }
            (Some(ours), Err(error)) => {
                panic!("read {query:?} where async-graphql refuses it ({error}): {ours:?}")
            }
            (None, _) => false,
        }
    }

    const DOCUMENTS: &[&str] = &[
        "{ a }",
        "query { a b c }",
        "query Q { a(x: 1, y: -2.5e3, z: \"s\", w: true, v: null, u: ENUM_V) { b } }",
        "query Q($a: Int!, $b: [String!]! = [\"x\"], $c: [[ID]] @dir(x: 1) = null) { f(a: $a, b: $b) }",
        "mutation { InfraDeviceCreate(data: {name: {value: \"dc1\"}, asn: {value: 65001}, tags: [{id: \"a\"}, {id: \"b\"},]}) { ok object { id } } }",
        "mutation ($value_18eb: String!) {\n    InfraDeviceCreate(\n        data: {\n            name: { value: \"dc1-edge-1\" }\n            description: { value: $value_18eb }\n            is_active: { value: true }\n            location: { id: \"3c0e-0001\" }\n            tags: [ { id: \"3c0e-00aa\" }, ]\n        }\n    ){\n        ok\n        object { id }\n    }\n}",
        "query Filters_InfraDevice ($offset: Int!, $limit: Int!) {\n    InfraDevice(name__value: \"dc1\", offset: $offset, limit: $limit, partial_match: true) {\n        count\n        edges { node { id hfid display_label __typename name { value } } }\n    }\n}",
        "{ a: A { ... on B { c } ...F @include(if: true) ... @skip(if: false) { d } } } fragment F on A { e }",
        "query A { a } query B { b } mutation C { c }",
        "# leading comment\r\n{ a # trailing\r b\r\n c }\n",
        "\u{feff}{ a(s: \"caf\u{e9} \\u00e9 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\") }",
        "{ a(o: {x: 1, x: 2, y: {z: []}}, l: [[1], [2, [3]]], e: {}) }",
        "{ a(x: 0, y: -0, z: 0.0, w: 1E10, v: 9223372036854775808, u: 18446744073709551616) }",
        "{ __typename a { __typename } }",
        "query ($x: String @deprecated) { a(x: $ x) @ include(if: $x) }",
        "subscription S { a }",
        "{ a { b { c { d { e { f } } } } } }",
        "query(){ a }",
        "{ a(x: \"\u{1F600} raw\") }",
        "{ onion: on { on } }",
        "{ a ... onX b }",
        "{ ...onX }",
        "fragment on on on { a } { ... on on { a } }",
        "{ a(x: $v) }",
    ];

    #[test]
    fn documents_read_as_async_graphql_reads_them() {
        for query in DOCUMENTS {
            assert!(agrees(query), "gave up on {query:?}");
        }
    }

    #[test]
    fn surprising_or_invalid_texts_are_left_to_async_graphql() {
        for query in [
            "",
            "   ",
            "{ }",
            "{ a(x: 01) }",
            "{ a(x: 1x) }",
            "{ a(x: 1.) }",
            "{ a(x: 1.5.3) }",
            "{ a(x: [trueish]) }",
            "{ a(x: nullable) }",
            "queryX { a }",
            "fragmentF on A { a } { ...F }",
            "{ ... on#c\nX { a } }",
            "{ ...on }",
            "{ a(x: \"\"\"block\"\"\") }",
            "{ a(x: \"\\ud83d\") }",
            "{ a(x: \"\\ude00\") }",
            "{ a(x: \"\\q\") }",
            "{ a(x: \"line\nbreak\") }",
            "query ($v: Int = $w) { a }",
            "query ($v: [ Int ]) { a }",
            "query ($v: Int !) { a }",
            "{ a() }",
            "{ a } { b }",
            "query A { a } { b }",
            "query A { a } query A { b }",
            "fragment F on A { a } fragment F on A { a } { a }",
            "fragment F on A { a }",
            "{ a",
            "{ a } }",
            "{ a(x: 1e400) }",
        ] {
            assert!(parse(query).is_none(), "read {query:?}");
        }
    }

    #[test]
    fn escaped_surrogate_pairs_are_one_character() {
        let document =
            parse("{ a(x: \"caf\\u00e9 \\ud83d\\ude00\") }").unwrap_or_else(|| panic!("not read"));
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("{document:?}");
        };
        let Selection::Field(field) = &operation.node.selection_set.node.items[0].node else {
            panic!("{document:?}");
        };
        assert_eq!(
            field.node.arguments[0].1.node,
            Value::String("caf\u{e9} \u{1F600}".to_string())
        );
    }

    #[test]
    fn documents_nested_too_deeply_are_told_apart() {
        let nested = |levels: usize| {
            format!(
                "query ($a: {}Int{}) {{ a(x: {}1{}) }}",
                "[".repeat(levels),
                "]".repeat(levels),
                "{x: ".repeat(levels),
                "}".repeat(levels)
            )
        };
        assert!(!too_deep(&nested(100)));
        assert!(too_deep(&nested(MAX_NESTING)));
        assert!(too_deep(&nested(30_000)));
        assert!(parse(&nested(30_000)).is_none());
        // Brackets in strings, block strings and comments do not count.
        let quoted = "[".repeat(1000);
        assert!(!too_deep(&format!(
            "{{ a(x: \"{quoted}\", y: \"\\\"{quoted}\", z: \"\"\"{quoted}\\\"\"\"{quoted}\"\"\") # {quoted}\n}}"
        )));
    }

    #[test]
    fn nesting_beyond_async_graphqls_limit_is_left_to_it() {
        let deep = |levels: usize| format!("{}a{}", "{ a ".repeat(levels), " }".repeat(levels));
        assert!(agrees(&deep(60)));
        assert!(!agrees(&deep(70)));
        let deep_value = format!("{{ a(x: {}1{}) }}", "[".repeat(80), "]".repeat(80));
        assert!(parse(&deep_value).is_none());
    }

    #[test]
    fn random_edits_of_documents_are_read_alike_or_left_alone() {
        // A small xorshift generator: the edits are the same on every run.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        const PIECES: &[&str] = &[
            " ", "\n", "\r", ",", "#", "{", "}", "(", ")", "[", "]", ":", "$", "@", "!", "=",
            "...", "\"", "\\", "\\u", "0", "1", "-", ".", "e", "a", "on", "true", "null", "query",
            "fragment", "\u{e9}", "\u{feff}", "\"\"\"",
        ];
        let mut read = 0;
        for query in DOCUMENTS {
            for _ in 0..300 {
                let mut text: Vec<char> = query.chars().collect();
                for _ in 0..=next(3) {
                    let at = next(text.len() + 1);
                    match next(3) {
                        0 if at < text.len() => {
                            text.remove(at);
                        }
                        _ => {
                            let piece = PIECES[next(PIECES.len())];
                            for (offset, c) in piece.chars().enumerate() {
                                text.insert(at + offset, c);
                            }
                        }
                    }
                }
                let text: String = text.into_iter().collect();
                if agrees(&text) {
                    read += 1;
                }
            }
        }
        // Many edits keep the document valid: the comparison did happen.
        assert!(read > 1000, "only {read} edited documents were read");
    }

    #[test]
    fn types_are_read_whole() {
        let document =
            parse("query ($a: [[String!]]!) { a }").unwrap_or_else(|| panic!("not read"));
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("{document:?}");
        };
        let expected = Type::new("[[String!]]!").unwrap_or_else(|| panic!("bad type"));
        assert_eq!(
            format!(
                "{:?}",
                operation.node.variable_definitions[0].node.var_type.node
            ),
            format!("{expected:?}")
        );
    }
}
