//! The one pass every GraphQL request's text goes through before anything else: it reads the
//! tokens of the document (the GraphQL specification's lexical grammar) and gives
//!
//! - its *shape*: the tokens with each literal value of an argument or a variable's default
//!   replaced by a class that every validation rule treats alike, and
//! - the *literals* so replaced, decoded, in the order they appear;
//! - how deep brackets nest (async-graphql's parser recurses once per level with no bound of
//!   its own: a document nested thousands of levels deep would overflow the stack of the
//!   thread parsing it, so deeper ones are refused before any parser sees them);
//! - the text to hand a parser, with escaped UTF-16 surrogate pairs (`"\ud83d\ude00"`, as JSON
//!   encoders such as the SDK's write characters outside the Basic Multilingual Plane) turned
//!   into the character they encode, which async-graphql's grammar would refuse.
//!
//! The SDK writes attribute values and filters inline (`name: { value: "dc1-edge-1" }`,
//! `InfraDevice(name__value: "dc1")`), so nearly every document it sends is new to the server,
//! though it differs from earlier ones only in those values. Two validation rules look at
//! literal values:
//!
//! - a literal must be valid for its input type, and for the types of the generated schema that
//!   check gives the same answer for every literal of one class: strings whose values parse
//!   alike (see [`super::build::string_class`]), numbers as the parser stores them (integers by
//!   range, floats, `-0` among them); names (enum values, `true`, `false`, `null`) are kept as
//!   they are;
//! - fields with the same response name in one selection set must have equal arguments: so a
//!   document has a shape only when no selection set holds two fields with one response name
//!   and it has no fragments (whose fields merge into the selection sets that spread them).
//!
//! Documents of one shape therefore parse to the same tree but for those literals, and pass or
//! fail validation together: the operation compiled from one of them (see [`super::plan`])
//! answers all of them once the literals are bound. Literals inside directive arguments are
//! kept in the shape as written: `@expand(exclude: [...])` rewrites the document according to
//! them. A document the lexer cannot read, or one with a block string, has no shape.

use async_graphql::Number;

use super::build::string_class;

/// Deepest nesting of brackets (`{`, `[`, `(`) a document may have. Clients nest a few levels;
/// the depth limit of documents (`api.graphql_max_depth`) is far below it.
pub(crate) const MAX_NESTING: usize = 256;

/// Longest shape kept: the caches of validated documents and compiled plans hold shapes as
/// keys, so a longer one (a document of more than ~32 KiB of tokens, which no client sends
/// twice) counts as no shape, and the document is validated and run by the executor each time.
pub(crate) const MAX_SHAPE_LEN: usize = 32 * 1024;

/// A literal value replaced by its class in the shape, decoded.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    /// A string (escapes decoded).
    String(String),
    /// A number, as async-graphql's parser stores it.
    Number(Number),
}

impl Literal {
    /// The value a parser reads for the literal.
    pub(crate) fn value(&self) -> async_graphql::Value {
        match self {
            Literal::String(text) => async_graphql::Value::String(text.clone()),
            Literal::Number(number) => async_graphql::Value::Number(number.clone()),
        }
    }
}

/// What the lexer read of one document.
#[derive(Debug)]
pub(crate) struct Lexed {
    /// The shape, when the document has one.
    pub shape: Option<String>,
    /// The literals the shape replaced, in document order (empty without a shape).
    pub literals: Vec<Literal>,
    /// Whether brackets nest deeper than [`MAX_NESTING`].
    pub too_deep: bool,
    /// The text with escaped surrogate pairs joined, when it had any.
    pub rewritten: Option<String>,
}

/// The token before the current one, as far as response names are concerned.
#[derive(Clone, Copy, PartialEq)]
enum Previous {
    At,
    Colon,
    Other,
}

/// Reads `query` once; see the module documentation.
pub(crate) fn lex(query: &str) -> Lexed {
    let mut lexer = Lexer {
        query,
        bytes: query.as_bytes(),
        at: 0,
        shape: Some(String::with_capacity(query.len())),
        literals: Vec::new(),
        depth: 0,
        too_deep: false,
        surrogates: Vec::new(),
    };
    lexer.run();
    let rewritten = (!lexer.surrogates.is_empty()).then(|| {
        let mut text = String::with_capacity(query.len());
        let mut from = 0;
        for (start, end, character) in &lexer.surrogates {
            text.push_str(&query[from..*start]);
            text.push(*character);
            from = *end;
        }
        text.push_str(&query[from..]);
        text
    });
    let shape = lexer.shape.filter(|shape| shape.len() <= MAX_SHAPE_LEN);
    Lexed {
        literals: if shape.is_some() {
            lexer.literals
        } else {
            Vec::new()
        },
        shape,
        too_deep: lexer.too_deep,
        rewritten,
    }
}

struct Lexer<'q> {
    query: &'q str,
    bytes: &'q [u8],
    at: usize,
    /// The shape written so far; `None` once the document is known to have none.
    shape: Option<String>,
    literals: Vec<Literal>,
    depth: usize,
    too_deep: bool,
    /// Escaped surrogate pairs: byte range in the text and the character.
    surrogates: Vec<(usize, usize, char)>,
}

impl Lexer<'_> {
    fn push(&mut self, text: &str) {
        if let Some(shape) = self.shape.as_mut() {
            shape.push_str(text);
            shape.push(' ');
        }
    }

    fn open(&mut self) {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            self.too_deep = true;
        }
    }

    fn run(&mut self) {
        // Parentheses open: arguments, variable definitions; the only place values appear.
        let mut parentheses = 0usize;
        // Whether the open parentheses are a directive's arguments.
        let mut in_directive = false;
        // The response names of each selection set open.
        let mut selections: Vec<Vec<&str>> = Vec::new();
        let mut previous = Previous::Other;
        // Whether the previous token is the name of a directive.
        let mut directive_name = false;
        while self.at < self.bytes.len() && !self.too_deep {
            let byte = self.bytes[self.at];
            let mut token = Previous::Other;
            let mut names_directive = false;
            match byte {
                b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                    self.at += 1;
                    continue;
                }
                b'#' => {
                    while self.at < self.bytes.len()
                        && self.bytes[self.at] != b'\n'
                        && self.bytes[self.at] != b'\r'
                    {
                        self.at += 1;
                    }
                    continue;
                }
                0xEF if self.bytes[self.at..].starts_with("\u{feff}".as_bytes()) => {
                    self.at += 3;
                    continue;
                }
                b'(' => {
                    self.open();
                    if parentheses == 0 {
                        in_directive = directive_name;
                    }
                    parentheses += 1;
                    self.push("(");
                    self.at += 1;
                }
                b')' => {
                    self.depth = self.depth.saturating_sub(1);
                    match parentheses.checked_sub(1) {
                        Some(open) => parentheses = open,
                        None => self.shape = None,
                    }
                    self.push(")");
                    self.at += 1;
                }
                b'{' | b'}' if parentheses == 0 => {
                    if byte == b'{' {
                        self.open();
                        selections.push(Vec::new());
                        self.push("{");
                    } else {
                        self.depth = self.depth.saturating_sub(1);
                        if selections.pop().is_none() {
                            self.shape = None;
                        }
                        self.push("}");
                    }
                    self.at += 1;
                }
                b'[' | b'{' => {
                    self.open();
                    self.push(if byte == b'[' { "[" } else { "{" });
                    self.at += 1;
                }
                b']' | b'}' => {
                    self.depth = self.depth.saturating_sub(1);
                    self.push(if byte == b']' { "]" } else { "}" });
                    self.at += 1;
                }
                b'!' | b'$' | b'&' | b':' | b'=' | b'@' | b'|' => {
                    token = match byte {
                        b'@' => Previous::At,
                        b':' => Previous::Colon,
                        _ => Previous::Other,
                    };
                    let text = [byte];
                    self.push(std::str::from_utf8(&text).unwrap_or("?"));
                    self.at += 1;
                }
                b'.' if self.bytes[self.at..].starts_with(b"...") => {
                    // Fragment spreads and inline fragments merge fields across selection
                    // sets.
                    self.shape = None;
                    self.at += 3;
                }
                b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                    let start = self.at;
                    while self.at < self.bytes.len()
                        && (self.bytes[self.at] == b'_'
                            || self.bytes[self.at].is_ascii_alphanumeric())
                    {
                        self.at += 1;
                    }
                    let name = &self.query[start..self.at];
                    if parentheses == 0
                        && previous == Previous::Other
                        && let Some(names) = selections.last_mut()
                    {
                        // The first name of a field is its response name (the alias, if any).
                        if names.contains(&name) {
                            self.shape = None;
                        }
                        names.push(name);
                    }
                    names_directive = previous == Previous::At;
                    self.push(name);
                }
                b'-' | b'0'..=b'9' => {
                    let Some((end, number)) = number_token(self.query, self.at) else {
                        return self.unreadable();
                    };
                    if parentheses == 0 {
                        self.shape = None;
                    } else if in_directive {
                        let text = &self.query[self.at..end];
                        self.push(text);
                    } else {
                        let class = number_class(&number);
                        self.push(class);
                        self.literals.push(Literal::Number(number));
                    }
                    self.at = end;
                }
                b'"' if self.bytes[self.at..].starts_with(b"\"\"\"") => {
                    // Block strings are rare in documents; their value is not the raw text.
                    self.shape = None;
                    if !self.skip_block_string() {
                        return self.unreadable();
                    }
                }
                b'"' => {
                    let start = self.at;
                    let Some(value) = self.string() else {
                        return self.unreadable();
                    };
                    if parentheses == 0 {
                        self.shape = None;
                    } else if in_directive {
                        // Kept as written: it changes the document.
                        let text = &self.query[start..self.at];
                        self.push(text);
                    } else {
                        let class = char::from(b'a' + string_class(&value));
                        if let Some(shape) = self.shape.as_mut() {
                            shape.push('%');
                            shape.push(class);
                            shape.push(' ');
                        }
                        self.literals.push(Literal::String(value));
                    }
                }
                _ => return self.unreadable(),
            }
            previous = token;
            directive_name = names_directive;
        }
        if parentheses != 0 || !selections.is_empty() {
            self.shape = None;
        }
    }

    /// The rest of the text cannot be read as GraphQL: no shape, and the parser reports it.
    fn unreadable(&mut self) {
        self.shape = None;
    }

    /// Reads the string starting at the current quote and returns its value; `None` where the
    /// grammar refuses it (an unknown escape, a line break, no closing quote, a lone
    /// surrogate).
    fn string(&mut self) -> Option<String> {
        let bytes = self.bytes;
        self.at += 1;
        let mut value = String::new();
        let mut from = self.at;
        loop {
            match *bytes.get(self.at)? {
                b'"' => {
                    value.push_str(&self.query[from..self.at]);
                    self.at += 1;
                    return Some(value);
                }
                b'\n' | b'\r' => return None,
                b'\\' => {
                    value.push_str(&self.query[from..self.at]);
                    let escape_start = self.at;
                    let escaped = *bytes.get(self.at + 1)?;
                    self.at += 2;
                    match escaped {
                        b'"' => value.push('"'),
                        b'\\' => value.push('\\'),
                        b'/' => value.push('/'),
                        b'b' => value.push('\u{8}'),
                        b'f' => value.push('\u{c}'),
                        b'n' => value.push('\n'),
                        b'r' => value.push('\r'),
                        b't' => value.push('\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            match unit {
                                0xD800..=0xDBFF => {
                                    // A surrogate pair: the high half, then `\u` and the low.
                                    if !bytes[self.at..].starts_with(b"\\u") {
                                        return None;
                                    }
                                    self.at += 2;
                                    let low = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&low) {
                                        return None;
                                    }
                                    let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                                    let character = char::from_u32(code)?;
                                    value.push(character);
                                    self.surrogates.push((escape_start, self.at, character));
                                }
                                0xDC00..=0xDFFF => return None,
                                _ => value.push(char::from_u32(unit)?),
                            }
                        }
                        _ => return None,
                    }
                    from = self.at;
                }
                _ => self.at += 1,
            }
        }
    }

    /// Reads four hexadecimal digits.
    fn hex4(&mut self) -> Option<u32> {
        let digits = self.query.get(self.at..self.at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// Skips a block string starting at the current `"""`; false when it does not end.
    fn skip_block_string(&mut self) -> bool {
        self.at += 3;
        while self.at < self.bytes.len() {
            if self.bytes[self.at..].starts_with(b"\\\"\"\"") {
                self.at += 4;
            } else if self.bytes[self.at..].starts_with(b"\"\"\"") {
                self.at += 3;
                return true;
            } else {
                self.at += 1;
            }
        }
        false
    }
}

/// The class of a number: as the parser stores it (`-0` and `1.0` are floats to it), and
/// integers by the ranges the integer scalars accept.
fn number_class(number: &Number) -> &'static str {
    match (number.as_i64(), number.as_u64()) {
        (Some(value), _) if i32::try_from(value).is_ok() => "%int32",
        (Some(_), _) => "%int64",
        (None, Some(_)) => "%uint64",
        (None, None) => "%float",
    }
}

/// The number token starting at byte `start` of `text` (an integer or float that does not run
/// into a name or a dot, as the grammar reads it), with where it ends and the number
/// async-graphql stores for it; `None` where the grammar would read it otherwise.
fn number_token(text: &str, start: usize) -> Option<(usize, Number)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str) -> Option<String> {
        lex(query).shape
    }

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
        // Escaped strings are literals like the others, of their value's class.
        assert!(same(
            "{ A(x: \"a\\\"b\") { id } }",
            "{ A(x: \"caf\\u00e9\") { id } }"
        ));
    }

    #[test]
    fn the_literals_come_decoded_in_document_order() {
        let lexed = lex(
            "query ($n: Int = 7) { A(x: \"a\\nb\", y: [1, 2.5], z: { w: \"caf\\u00e9 \\ud83d\\ude00\" }, e: ENUM, t: true) { id } }",
        );
        assert_eq!(
            lexed.literals,
            vec![
                Literal::Number(Number::from(7)),
                Literal::String("a\nb".into()),
                Literal::Number(Number::from(1)),
                Literal::Number(Number::from_f64(2.5).unwrap_or_else(|| panic!("number"))),
                Literal::String("café 😀".into()),
            ]
        );
        assert_eq!(
            lexed.rewritten.as_deref(),
            Some(
                "query ($n: Int = 7) { A(x: \"a\\nb\", y: [1, 2.5], z: { w: \"caf\\u00e9 😀\" }, e: ENUM, t: true) { id } }"
            )
        );
        assert!(lex("{ A(x: \"plain\") { id } }").rewritten.is_none());
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
            "{ A(x: \"\\u0031\") { id } }"
        ));
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
        // Directive arguments are kept as written.
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
        assert_eq!(shape("{ A(x: \"\\q\") { id } }"), None);
        // A lone surrogate is refused by the grammar.
        assert_eq!(shape("{ A(x: \"\\ud83d\") { id } }"), None);
        assert_eq!(shape("{ A(x: \"\\ude00\") { id } }"), None);
        assert!(lex("{ A(x: \"\\ud83d\") { id } }").rewritten.is_none());
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

    #[test]
    fn documents_too_large_to_remember_have_no_shape() {
        let fields = |count: usize| {
            let names: Vec<String> = (0..count).map(|i| format!("f{i}")).collect();
            format!("{{ A(x: \"v\") {{ {} }} }}", names.join(" "))
        };
        assert!(lex(&fields(100)).shape.is_some());
        let large = lex(&fields(MAX_SHAPE_LEN / 3));
        assert!(large.shape.is_none());
        assert!(large.literals.is_empty());
    }

    #[test]
    fn nesting_is_measured_outside_strings_and_comments_whatever_the_shape() {
        let deep = |depth: usize, open: &str, close: &str| {
            format!("{{ a(x: {}1{}) }}", open.repeat(depth), close.repeat(depth))
        };
        assert!(!lex(&deep(MAX_NESTING - 2, "[", "]")).too_deep);
        assert!(lex(&deep(MAX_NESTING, "[", "]")).too_deep);
        assert!(lex(&deep(10_000, "{a:", "}")).too_deep);
        // Fragments have no shape; their nesting still counts.
        let spread = format!("{{ ...F }} fragment F on Q {}", "{ a ".repeat(300));
        assert!(lex(&spread).too_deep);
        let quoted = format!(
            "{{ a(x: \"{}\") # {}\n }}",
            "[".repeat(1000),
            "{".repeat(1000)
        );
        assert!(!lex(&quoted).too_deep);
        let block = format!("{{ a(x: \"\"\"{}\"\"\") }}", "[".repeat(1000));
        assert!(!lex(&block).too_deep);
    }
}
