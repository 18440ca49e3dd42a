//! Jinja2's string filters that minijinja lacks or writes differently: `center`, `escape`,
//! `forceescape`, `filesizeformat`, `indent`, `striptags`, `truncate`, `urlencode`, `urlize`,
//! `wordcount`, `wordwrap`, `xmlattr`.

use std::fmt::Write as _;
use std::sync::OnceLock;

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, State};
use regex::Regex;

use super::args::{Args, bind, bool_arg, charge, usize_arg};
use crate::jinja::error::filter_error;
use crate::jinja::python::py_str;

/// The filters this module registers.
pub(crate) const NAMES: &[&str] = &[
    "center",
    "e",
    "escape",
    "filesizeformat",
    "forceescape",
    "indent",
    "striptags",
    "truncate",
    "urlencode",
    "urlize",
    "wordcount",
    "wordwrap",
    "xmlattr",
];

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("center", center);
    env.add_filter("e", escape);
    env.add_filter("escape", escape);
    env.add_filter("filesizeformat", filesizeformat);
    env.add_filter("forceescape", forceescape);
    env.add_filter("indent", indent);
    env.add_filter("striptags", striptags);
    env.add_filter("truncate", truncate);
    env.add_filter("urlencode", urlencode);
    env.add_filter("urlize", urlize);
    env.add_filter("wordcount", wordcount);
    env.add_filter("wordwrap", wordwrap);
    env.add_filter("xmlattr", xmlattr);
}

/// markupsafe's escaping: `&`, `<`, `>`, `"` and `'`.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            ch => out.push(ch),
        }
    }
    out
}

/// Python's `str.splitlines()`.
pub(crate) fn py_splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((index, ch)) = chars.next() {
        let is_break = matches!(
            ch,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            lines.push(&text[start..index]);
            let mut end = index + ch.len_utf8();
            if ch == '\r'
                && let Some((_, '\n')) = chars.peek()
            {
                chars.next();
                end += 1;
            }
            start = end;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

fn escape(value: Value) -> Value {
    if value.is_safe() {
        return value;
    }
    Value::from_safe_string(html_escape(&py_str(&value)))
}

fn forceescape(value: Value) -> Value {
    Value::from_safe_string(html_escape(&py_str(&value)))
}

fn center(state: &State<'_, '_>, value: Value, args: Args) -> Result<String, Error> {
    let slots = bind("center", &args, &["width"])?;
    let width = usize_arg("center", "width", slots[0].as_ref(), 80)?;
    let text = py_str(&value);
    let length = text.chars().count();
    if width <= length {
        return Ok(text);
    }
    charge(state, width)?;
    let margin = width - length;
    let left = margin / 2 + (margin & width & 1);
    let mut out = " ".repeat(left);
    out.push_str(&text);
    out.push_str(&" ".repeat(margin - left));
    Ok(out)
}

fn filesizeformat(value: Value, args: Args) -> Result<String, Error> {
    let slots = bind("filesizeformat", &args, &["binary"])?;
    let binary = bool_arg(slots[0].as_ref(), false);
    let bytes = super::data::to_float(&value).ok_or_else(|| {
        filter_error(
            "filesizeformat",
            format!("`{}` is not a number", py_str(&value)),
        )
    })?;
    let base: f64 = if binary { 1024.0 } else { 1000.0 };
    let prefixes: [&str; 8] = if binary {
        ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    } else {
        ["kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    };
    if bytes == 1.0 {
        return Ok("1 Byte".to_owned());
    }
    if bytes < base {
        return Ok(format!("{} Bytes", bytes.trunc() as i64));
    }
    let mut unit = base;
    for (index, prefix) in prefixes.iter().enumerate() {
        unit = base.powi(index as i32 + 2);
        if bytes < unit {
            return Ok(format!("{:.1} {prefix}", base * bytes / unit));
        }
    }
    Ok(format!("{:.1} {}", base * bytes / unit, prefixes[7]))
}

fn indent(state: &State<'_, '_>, value: Value, args: Args) -> Result<Value, Error> {
    let slots = bind("indent", &args, &["width", "first", "blank"])?;
    let indention = match &slots[0] {
        Some(width) if width.kind() == ValueKind::String => py_str(width),
        other => " ".repeat(usize_arg("indent", "width", other.as_ref(), 4)?),
    };
    let first = bool_arg(slots[1].as_ref(), false);
    let blank = bool_arg(slots[2].as_ref(), false);
    let mut text = py_str(&value);
    text.push('\n');
    let lines = py_splitlines(&text);
    charge(state, indention.len().saturating_mul(lines.len() + 1))?;
    let mut out = String::with_capacity(text.len());
    if blank {
        for (index, line) in lines.iter().enumerate() {
            if index > 0 {
                out.push('\n');
                out.push_str(&indention);
            }
            out.push_str(line);
        }
    } else {
        for (index, line) in lines.iter().enumerate() {
            if index > 0 {
                out.push('\n');
                if !line.is_empty() {
                    out.push_str(&indention);
                }
            }
            out.push_str(line);
        }
    }
    if first {
        out.insert_str(0, &indention);
    }
    Ok(if value.is_safe() {
        Value::from_safe_string(out)
    } else {
        Value::from(out)
    })
}

fn unescape_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let decoded = rest.find(';').filter(|end| *end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let ch = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => entity.strip_prefix('#').and_then(|number| {
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => number.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            };
            ch.map(|ch| (ch, end))
        });
        match decoded {
            Some((ch, end)) => {
                out.push(ch);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn remove_spans(mut text: String, open: &str, close: &str) -> String {
    while let Some(start) = text.find(open) {
        let Some(end) = text[start..].find(close) else {
            break;
        };
        text.replace_range(start..start + end + close.len(), "");
    }
    text
}

fn striptags(value: Value) -> String {
    let text = remove_spans(py_str(&value), "<!--", "-->");
    let text = remove_spans(text, "<", ">");
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    unescape_entities(&collapsed)
}

fn truncate(state: &State<'_, '_>, value: Value, args: Args) -> Result<Value, Error> {
    let slots = bind("truncate", &args, &["length", "killwords", "end", "leeway"])?;
    let length = usize_arg("truncate", "length", slots[0].as_ref(), 255)?;
    let killwords = bool_arg(slots[1].as_ref(), false);
    let end = slots[2].as_ref().map_or_else(|| "...".to_owned(), py_str);
    let leeway = match slots[3].as_ref() {
        Some(value) if !value.is_none() => usize_arg("truncate", "leeway", Some(value), 5)?,
        _ => state
            .lookup("TRUNCATE_LEEWAY")
            .and_then(|value| value.as_i64())
            .and_then(|number| usize::try_from(number).ok())
            .unwrap_or(5),
    };
    let end_length = end.chars().count();
    if length < end_length {
        return Err(filter_error(
            "truncate",
            format!("expected length >= {end_length}, got {length}"),
        ));
    }
    let text = py_str(&value);
    if text.chars().count() <= length.saturating_add(leeway) {
        return Ok(value);
    }
    let kept: String = text.chars().take(length - end_length).collect();
    let mut out = if killwords {
        kept
    } else {
        match kept.rfind(' ') {
            Some(space) => kept[..space].to_owned(),
            None => kept,
        }
    };
    out.push_str(&end);
    Ok(Value::from(out))
}

/// Python's `urllib.parse.quote` of UTF-8 text, keeping `safe` as well as letters, digits
/// and `_.-~`.
fn url_quote(text: &str, safe: &str, for_query: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'_' | b'.' | b'-' | b'~')
            || safe.as_bytes().contains(&byte)
        {
            out.push(byte as char);
        } else if for_query && byte == b' ' {
            out.push('+');
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn urlencode(value: Value) -> Result<String, Error> {
    match value.kind() {
        ValueKind::Map => {
            let mut parts = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                parts.push(format!(
                    "{}={}",
                    url_quote(&py_str(&key), "", true),
                    url_quote(&py_str(&item), "", true)
                ));
            }
            Ok(parts.join("&"))
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let mut parts = Vec::new();
            for pair in value.try_iter()? {
                let key = pair.get_item_by_index(0)?;
                let item = pair.get_item_by_index(1)?;
                parts.push(format!(
                    "{}={}",
                    url_quote(&py_str(&key), "", true),
                    url_quote(&py_str(&item), "", true)
                ));
            }
            Ok(parts.join("&"))
        }
        _ => Ok(url_quote(&py_str(&value), "/", false)),
    }
}

fn http_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?ix)^(
                (https?://|www\.)(([\w%-]+\.)+)?([a-z]{2,63}|xn--[\w%]{2,59})
              | ([\w%-]{2,63}\.)+(com|net|int|edu|gov|org|info|mil)
              | (https?://)((([\d]{1,3})(\.[\d]{1,3}){3})|(\[([\da-f]{0,4}:){2}([\da-f]{0,4}:?){1,6}\]))
            )(?::[\d]{1,5})?(?:[/?\#]\S*)?$",
        )
        .unwrap_or_else(|error| panic!("urlize pattern: {error}"))
    })
}

fn email_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^\S+@\w[\w.-]*\.\w+$").unwrap_or_else(|error| panic!("email pattern: {error}"))
    })
}

fn scheme_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^[a-zA-Z][\w+.-]*:(//)?$")
            .unwrap_or_else(|error| panic!("scheme pattern: {error}"))
    })
}

fn split_keeping_whitespace(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_space: Option<bool> = None;
    for (index, ch) in text.char_indices() {
        let space = ch.is_whitespace();
        if in_space.is_some_and(|previous| previous != space) {
            parts.push(&text[start..index]);
            start = index;
        }
        in_space = Some(space);
    }
    parts.push(&text[start..]);
    parts
}

fn urlize(value: Value, args: Args) -> Result<Value, Error> {
    let slots = bind(
        "urlize",
        &args,
        &[
            "trim_url_limit",
            "nofollow",
            "target",
            "rel",
            "extra_schemes",
        ],
    )?;
    let trim_limit = match slots[0].as_ref() {
        Some(limit) if !limit.is_none() => {
            Some(usize_arg("urlize", "trim_url_limit", Some(limit), 0)?)
        }
        _ => None,
    };
    let mut rel_parts: Vec<String> = slots[3]
        .as_ref()
        .filter(|rel| !rel.is_none())
        .map(|rel| py_str(rel).split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    if bool_arg(slots[1].as_ref(), false) {
        rel_parts.push("nofollow".to_owned());
    }
    rel_parts.push("noopener".to_owned());
    rel_parts.sort();
    rel_parts.dedup();
    let rel_attr = format!(" rel=\"{}\"", html_escape(&rel_parts.join(" ")));
    let target_attr = match slots[2].as_ref().filter(|target| !target.is_none()) {
        Some(target) => format!(" target=\"{}\"", html_escape(&py_str(target))),
        None => String::new(),
    };
    let mut schemes = Vec::new();
    if let Some(extra) = slots[4].as_ref().filter(|extra| !extra.is_none()) {
        for scheme in extra.try_iter()? {
            let scheme = py_str(&scheme);
            if !scheme_regex().is_match(&scheme) {
                return Err(filter_error(
                    "urlize",
                    format!("'{scheme}' is not a valid URI scheme prefix"),
                ));
            }
            schemes.push(scheme);
        }
    }
    let trim = |url: &str| match trim_limit {
        Some(limit) if url.chars().count() > limit => {
            format!("{}...", url.chars().take(limit).collect::<String>())
        }
        _ => url.to_owned(),
    };
    let escaped = html_escape(&py_str(&value));
    let mut out = String::with_capacity(escaped.len());
    for word in split_keeping_whitespace(&escaped) {
        let (head, middle, tail) = split_punctuation(word);
        let mut middle = middle.to_owned();
        let mut tail = tail.to_owned();
        for (open, close) in [("(", ")"), ("<", ">"), ("&lt;", "&gt;")] {
            let opened = middle.matches(open).count();
            if opened <= middle.matches(close).count() {
                continue;
            }
            for _ in 0..opened.min(tail.matches(close).count()) {
                if let Some(index) = tail.find(close) {
                    let end = index + close.len();
                    middle.push_str(&tail[..end]);
                    tail = tail[end..].to_owned();
                }
            }
        }
        let linked = if http_regex().is_match(&middle) {
            let href = if middle.starts_with("https://") || middle.starts_with("http://") {
                middle.clone()
            } else {
                format!("https://{middle}")
            };
            format!(
                "<a href=\"{href}\"{rel_attr}{target_attr}>{}</a>",
                trim(&middle)
            )
        } else if let Some(address) = middle
            .strip_prefix("mailto:")
            .filter(|address| email_regex().is_match(address))
        {
            format!("<a href=\"{middle}\">{address}</a>")
        } else if middle.contains('@')
            && !middle.starts_with("www.")
            && !middle.starts_with('@')
            && !middle.contains(':')
            && email_regex().is_match(&middle)
        {
            format!("<a href=\"mailto:{middle}\">{middle}</a>")
        } else {
            let mut linked = middle.clone();
            for scheme in &schemes {
                if middle != *scheme && middle.starts_with(scheme.as_str()) {
                    linked = format!("<a href=\"{middle}\"{rel_attr}{target_attr}>{middle}</a>");
                }
            }
            linked
        };
        out.push_str(head);
        out.push_str(&linked);
        out.push_str(&tail);
    }
    Ok(Value::from_safe_string(out))
}

/// Splits leading `(`, `<`, `&lt;` and trailing `)`, `>`, `.`, `,`, newline, `&gt;` off a
/// word, as Jinja2's `urlize` does.
fn split_punctuation(word: &str) -> (&str, &str, &str) {
    let mut head_end = 0;
    loop {
        let rest = &word[head_end..];
        if rest.starts_with('(') || rest.starts_with('<') {
            head_end += 1;
        } else if rest.starts_with("&lt;") {
            head_end += 4;
        } else {
            break;
        }
    }
    let mut tail_start = word.len();
    loop {
        let rest = &word[head_end..tail_start];
        if rest.ends_with([')', '>', '.', ',', '\n']) {
            tail_start -= 1;
        } else if rest.ends_with("&gt;") {
            tail_start -= 4;
        } else {
            break;
        }
    }
    (
        &word[..head_end],
        &word[head_end..tail_start],
        &word[tail_start..],
    )
}

fn wordcount(value: Value) -> usize {
    let mut count = 0;
    let mut in_word = false;
    for ch in py_str(&value).chars() {
        let word_char = ch.is_alphanumeric() || ch == '_';
        if word_char && !in_word {
            count += 1;
        }
        in_word = word_char;
    }
    count
}

/// Splits a line into textwrap's chunks: runs of whitespace and words, words broken after
/// hyphens between letters when `on_hyphens`.
fn wrap_chunks(line: &str, on_hyphens: bool) -> Vec<String> {
    let mut chunks: Vec<String> = Vec::new();
    for part in split_keeping_whitespace(line) {
        if part.is_empty() {
            continue;
        }
        if !on_hyphens || part.starts_with(char::is_whitespace) {
            chunks.push(part.to_owned());
            continue;
        }
        let chars: Vec<char> = part.chars().collect();
        let mut current = String::new();
        for (index, ch) in chars.iter().enumerate() {
            current.push(*ch);
            let letter = |at: usize| chars.get(at).is_some_and(|ch| ch.is_alphabetic());
            let split_here = *ch == '-'
                && index >= 2
                && letter(index - 1)
                && (letter(index - 2)
                    || (index >= 3 && chars[index - 2] == '-' && letter(index - 3)))
                && letter(index + 1)
                && (letter(index + 2) || (chars.get(index + 2) == Some(&'-') && letter(index + 3)));
            if split_here {
                chunks.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            chunks.push(current);
        }
    }
    chunks
}

/// Python's `textwrap.wrap` with `expand_tabs=False, replace_whitespace=False`.
fn wrap_line(line: &str, width: usize, break_long: bool, on_hyphens: bool) -> Vec<String> {
    let mut chunks = wrap_chunks(line, on_hyphens);
    chunks.reverse();
    let length = |text: &str| text.chars().count();
    let blank = |text: &str| text.trim().is_empty();
    let mut lines: Vec<String> = Vec::new();
    while !chunks.is_empty() {
        let mut current: Vec<String> = Vec::new();
        let mut current_length = 0;
        if chunks.last().is_some_and(|chunk| blank(chunk)) && !lines.is_empty() {
            chunks.pop();
        }
        while let Some(chunk) = chunks.last() {
            let chunk_length = length(chunk);
            if current_length + chunk_length <= width {
                current_length += chunk_length;
                current.extend(chunks.pop());
            } else {
                break;
            }
        }
        if let Some(chunk) = chunks.last()
            && length(chunk) > width
        {
            let space_left = if width < 1 {
                1
            } else {
                width.saturating_sub(current_length)
            };
            if break_long {
                let chars: Vec<char> = chunk.chars().collect();
                let mut end = space_left.min(chars.len());
                if on_hyphens && chars.len() > space_left {
                    let hyphen = chars[..space_left.min(chars.len())]
                        .iter()
                        .rposition(|ch| *ch == '-');
                    if let Some(hyphen) = hyphen
                        && hyphen > 0
                        && chars[..hyphen].iter().any(|ch| *ch != '-')
                    {
                        end = hyphen + 1;
                    }
                }
                current.push(chars[..end].iter().collect());
                let rest: String = chars[end..].iter().collect();
                if let Some(last) = chunks.last_mut() {
                    *last = rest;
                }
            } else if current.is_empty() {
                current.extend(chunks.pop());
            }
        }
        if current.last().is_some_and(|chunk| blank(chunk)) {
            current.pop();
        }
        if !current.is_empty() {
            lines.push(current.concat());
        }
    }
    lines
}

fn wordwrap(state: &State<'_, '_>, value: Value, args: Args) -> Result<String, Error> {
    let slots = bind(
        "wordwrap",
        &args,
        &[
            "width",
            "break_long_words",
            "wrapstring",
            "break_on_hyphens",
        ],
    )?;
    let width = usize_arg("wordwrap", "width", slots[0].as_ref(), 79)?;
    let break_long = bool_arg(slots[1].as_ref(), true);
    let wrapstring = match slots[2].as_ref() {
        Some(value) if !value.is_none() => py_str(value),
        _ => "\n".to_owned(),
    };
    let on_hyphens = bool_arg(slots[3].as_ref(), true);
    let text = py_str(&value);
    charge(state, text.len().saturating_mul(wrapstring.len().max(1)))?;
    let wrapped: Vec<String> = py_splitlines(&text)
        .into_iter()
        .map(|line| wrap_line(line, width, break_long, on_hyphens).join(&wrapstring))
        .collect();
    Ok(wrapped.join(&wrapstring))
}

fn xmlattr(value: Value, args: Args) -> Result<Value, Error> {
    let slots = bind("xmlattr", &args, &["autospace"])?;
    let autospace = bool_arg(slots[0].as_ref(), true);
    let mut items = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        if item.is_none() || item.is_undefined() {
            continue;
        }
        let key = py_str(&key);
        if key.contains(|ch: char| ch.is_whitespace() || matches!(ch, '/' | '>' | '=')) {
            return Err(filter_error(
                "xmlattr",
                format!("invalid character in attribute name: `{key}`"),
            ));
        }
        items.push(format!(
            "{}=\"{}\"",
            html_escape(&key),
            html_escape(&py_str(&item))
        ));
    }
    let mut out = items.join(" ");
    if autospace && !out.is_empty() {
        out.insert(0, ' ');
    }
    Ok(Value::from_safe_string(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_follows_python() {
        assert_eq!(py_splitlines("a\nb\r\nc\rd\n"), ["a", "b", "c", "d"]);
        assert_eq!(py_splitlines("a\n\nb"), ["a", "", "b"]);
        assert!(py_splitlines("").is_empty());
    }

    #[test]
    fn textwrap_breaks_like_python() {
        assert_eq!(
            wrap_line(
                "The quick brown fox jumps over the lazy dog",
                10,
                true,
                true
            ),
            ["The quick", "brown fox", "jumps over", "the lazy", "dog"]
        );
        assert_eq!(
            wrap_line("abcdefghijklmnop", 5, true, true),
            ["abcde", "fghij", "klmno", "p"]
        );
        assert_eq!(
            wrap_line("well-known long-standing", 12, true, true),
            ["well-known", "long-", "standing"]
        );
    }

    #[test]
    fn url_quoting_follows_python() {
        assert_eq!(url_quote("a b/c&d", "/", false), "a%20b/c%26d");
        assert_eq!(url_quote("a b/c", "", true), "a+b%2Fc");
        assert_eq!(url_quote("é", "/", false), "%C3%A9");
    }
}
