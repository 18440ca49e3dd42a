//! A light lexer over template source: which filters a template applies and which statements
//! it opens, with their lines.
//!
//! Jinja2 refuses an unknown filter when it compiles a template (even in a branch never
//! taken), and the SDK's validation refuses untrusted filters by walking the parsed template.
//! minijinja only notices an unknown filter when the expression runs, so the renderer scans
//! each template once when it is loaded. The scanner follows Jinja2's default delimiters:
//! it skips comments, `{% raw %}` blocks and string literals, and treats `}}` as the end of
//! an expression only outside brackets.

/// A filter applied in a template, with its line (from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FilterUse {
    pub(crate) name: String,
    pub(crate) line: usize,
}

/// A statement (`include`, `for`, `call`, ...) opened in a template, with its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatementUse {
    pub(crate) keyword: String,
    pub(crate) line: usize,
}

/// What [`scan`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    pub(crate) filters: Vec<FilterUse>,
    pub(crate) statements: Vec<StatementUse>,
}

struct Cursor<'a> {
    source: &'a [u8],
    pos: usize,
    line: usize,
}

impl Cursor<'_> {
    fn at(&self, text: &str) -> bool {
        self.source[self.pos..].starts_with(text.as_bytes())
    }

    fn peek(&self) -> Option<u8> {
        self.source.get(self.pos).copied()
    }

    fn bump(&mut self) {
        if self.peek() == Some(b'\n') {
            self.line += 1;
        }
        self.pos += 1;
    }

    fn advance(&mut self, count: usize) {
        for _ in 0..count {
            if self.pos >= self.source.len() {
                break;
            }
            self.bump();
        }
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_whitespace()) {
            self.bump();
        }
    }

    fn identifier(&mut self) -> Option<String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80)
        {
            self.bump();
        }
        let word = &self.source[start..self.pos];
        if word.is_empty() || word[0].is_ascii_digit() {
            return None;
        }
        Some(String::from_utf8_lossy(word).into_owned())
    }

    /// Skips to just past `end`, or to the end of the source.
    fn skip_past(&mut self, end: &str) {
        while self.pos < self.source.len() && !self.at(end) {
            self.bump();
        }
        self.advance(end.len());
    }
}

/// Scans a template's source for the filters it applies and the statements it opens.
pub(crate) fn scan(source: &str) -> Scan {
    let mut cursor = Cursor {
        source: source.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut found = Scan::default();
    while cursor.pos < cursor.source.len() {
        if cursor.at("{#") {
            cursor.skip_past("#}");
        } else if cursor.at("{{") {
            cursor.advance(2);
            expression(&mut cursor, "}}", &mut found);
        } else if cursor.at("{%") {
            cursor.advance(2);
            if matches!(cursor.peek(), Some(b'-' | b'+')) {
                cursor.bump();
            }
            cursor.skip_whitespace();
            let line = cursor.line;
            let keyword = cursor.identifier().unwrap_or_default();
            if keyword == "raw" {
                skip_raw(&mut cursor);
                continue;
            }
            if keyword == "filter" {
                cursor.skip_whitespace();
                if let Some(name) = dotted_identifier(&mut cursor) {
                    found.filters.push(FilterUse {
                        name,
                        line: cursor.line,
                    });
                }
            }
            if !keyword.is_empty() {
                found.statements.push(StatementUse { keyword, line });
            }
            expression(&mut cursor, "%}", &mut found);
        } else {
            cursor.bump();
        }
    }
    found
}

fn dotted_identifier(cursor: &mut Cursor<'_>) -> Option<String> {
    let mut name = cursor.identifier()?;
    while cursor.peek() == Some(b'.') {
        cursor.bump();
        match cursor.identifier() {
            Some(part) => {
                name.push('.');
                name.push_str(&part);
            }
            None => break,
        }
    }
    Some(name)
}

/// Skips the body of `{% raw %}` up to and including its `{% endraw %}` tag.
fn skip_raw(cursor: &mut Cursor<'_>) {
    cursor.skip_past("%}");
    while cursor.pos < cursor.source.len() {
        if cursor.at("{%") {
            let saved = (cursor.pos, cursor.line);
            cursor.advance(2);
            if matches!(cursor.peek(), Some(b'-' | b'+')) {
                cursor.bump();
            }
            cursor.skip_whitespace();
            if cursor.identifier().as_deref() == Some("endraw") {
                cursor.skip_past("%}");
                return;
            }
            (cursor.pos, cursor.line) = saved;
        }
        cursor.bump();
    }
}

/// Scans an expression up to and including `end`, recording filters.
fn expression(cursor: &mut Cursor<'_>, end: &str, found: &mut Scan) {
    let mut depth = 0usize;
    while let Some(byte) = cursor.peek() {
        if depth == 0 && cursor.at(end) {
            cursor.advance(end.len());
            return;
        }
        match byte {
            b'\'' | b'"' => string_literal(cursor, byte),
            b'(' | b'[' | b'{' => {
                depth += 1;
                cursor.bump();
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                cursor.bump();
            }
            b'|' => {
                cursor.bump();
                cursor.skip_whitespace();
                let line = cursor.line;
                if let Some(name) = dotted_identifier(cursor) {
                    found.filters.push(FilterUse { name, line });
                }
            }
            _ => cursor.bump(),
        }
    }
}

fn string_literal(cursor: &mut Cursor<'_>, quote: u8) {
    cursor.bump();
    while let Some(byte) = cursor.peek() {
        cursor.bump();
        if byte == b'\\' {
            cursor.bump();
        } else if byte == quote {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_names(source: &str) -> Vec<(String, usize)> {
        scan(source)
            .filters
            .into_iter()
            .map(|used| (used.name, used.line))
            .collect()
    }

    #[test]
    fn finds_filters_in_expressions_and_statements() {
        let source = "{{ a | upper }}\n{% for x in items|sort(attribute='name') %}\n{{ x|default('|nope')|trim }}{% endfor %}\n{% filter indent(2) %}x{% endfilter %}";
        assert_eq!(
            filter_names(source),
            [
                ("upper".to_owned(), 1),
                ("sort".to_owned(), 2),
                ("default".to_owned(), 3),
                ("trim".to_owned(), 3),
                ("indent".to_owned(), 4),
            ]
        );
    }

    #[test]
    fn skips_comments_raw_blocks_and_nested_braces() {
        let source = "{# {{ a|one }} #}{% raw %}{{ b|two }}{% endraw %}{{ {'k': {'v': 1}}|three }}";
        assert_eq!(filter_names(source), [("three".to_owned(), 1)]);
    }

    #[test]
    fn records_statements() {
        let scanned = scan("{% include 'a.j2' %}\n{%- import 'b.j2' as b %}");
        let keywords: Vec<_> = scanned
            .statements
            .iter()
            .map(|statement| (statement.keyword.as_str(), statement.line))
            .collect();
        assert_eq!(keywords, [("include", 1), ("import", 2)]);
    }
}
