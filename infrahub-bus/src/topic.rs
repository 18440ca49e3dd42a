//! AMQP topic routing keys and patterns: words separated by `.`, `*` matches one word, `#`
//! matches zero or more words.

use crate::{Error, ErrorKind, Result};

/// Checks a routing key: non-empty, at most 255 bytes, no `*`/`#` words, no whitespace or
/// control characters.
pub(crate) fn check_routing_key(key: &str) -> Result<()> {
    let bad = key.is_empty()
        || key.len() > 255
        || key.split('.').any(|word| word == "*" || word == "#")
        || key.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "routing key `{key}` must be 1-255 bytes of dot-separated words without `*`, `#`, \
                 spaces or control characters"
            ),
        ));
    }
    Ok(())
}

/// Checks a list of patterns: at least one, each non-empty, without whitespace or control
/// characters, and `*`/`#` only as whole words.
pub(crate) fn check_patterns(patterns: &[&str]) -> Result<()> {
    if patterns.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "at least one routing-key pattern is needed (`#` matches every key)",
        ));
    }
    for pattern in patterns {
        let bad = pattern.is_empty()
            || pattern.len() > 255
            || pattern.chars().any(|c| c.is_whitespace() || c.is_control())
            || pattern.split('.').any(|word| {
                word != "*" && word != "#" && (word.contains('*') || word.contains('#'))
            });
        if bad {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "routing-key pattern `{pattern}` is malformed: use dot-separated words, `*` \
                     for one word and `#` for any number of words"
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `key` matches the topic `pattern`.
pub(crate) fn matches(pattern: &str, key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = key.split('.').collect();
    matches_words(&pattern, &key)
}

/// Whether `key` matches any of `patterns`.
pub(crate) fn matches_any<S: AsRef<str>>(patterns: &[S], key: &str) -> bool {
    patterns
        .iter()
        .any(|pattern| matches(pattern.as_ref(), key))
}

fn matches_words(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|skip| matches_words(rest, &key[skip..])),
        Some((word, rest)) => match key.split_first() {
            Some((first, key_rest)) => {
                (*word == "*" || word == first) && matches_words(rest, key_rest)
            }
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_matching() {
        assert!(matches("refresh.registry.*", "refresh.registry.branches"));
        assert!(!matches("refresh.registry.*", "refresh.registry"));
        assert!(!matches("refresh.registry.*", "refresh.registry.a.b"));
        assert!(matches("#", "a"));
        assert!(matches("#", "a.b.c"));
        assert!(matches("a.#", "a"));
        assert!(matches("a.#.c", "a.c"));
        assert!(matches("a.#.c", "a.b.x.c"));
        assert!(!matches("a.#.c", "a.b.x"));
        assert!(matches("*.b", "a.b"));
        assert!(!matches("a.b", "a.bb"));
        assert!(matches_any(&["x", "a.*"], "a.z"));
    }

    #[test]
    fn keys_and_patterns_are_checked() {
        assert!(check_routing_key("send.echo.request").is_ok());
        assert!(check_routing_key("").is_err());
        assert!(check_routing_key("a.*").is_err());
        assert!(check_routing_key("a b").is_err());
        assert!(check_patterns(&["a.*", "#"]).is_ok());
        assert!(check_patterns(&[]).is_err());
        assert!(check_patterns(&["a*"]).is_err());
        assert!(check_patterns(&[""]).is_err());
    }
}
