//! Rendering errors: one public type with a kind, the template and line, and a message.

use std::fmt;

use minijinja::ErrorKind;

/// What went wrong while loading, validating or rendering a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RenderErrorKind {
    /// The template does not parse, or uses a filter or test that does not exist (Jinja2
    /// reports those when compiling).
    Syntax,
    /// A variable, attribute or method is undefined where a value is needed (an attribute of
    /// an undefined value in file mode; any use but `is defined`/`default` in string mode).
    UndefinedVariable,
    /// A filter refused its input (`from_json` of invalid JSON, `ipaddress_network` of a
    /// string that is not a network, ...).
    Filter,
    /// A template (the one rendered, or one included, imported or extended) does not exist.
    TemplateNotFound,
    /// The template uses something the mode does not allow: a filter that is not trusted in
    /// restricted validation, an include in a string template, or a path leaving the
    /// repository root.
    Forbidden,
    /// A limit was reached: work (fuel), recursion or include depth, output size or template
    /// size.
    LimitExceeded,
    /// The template source (for instance the Git commit being read) failed.
    Loader,
    /// Any other failure while rendering (an operation on values of the wrong type, a bad
    /// argument to a built-in filter, ...).
    Runtime,
}

impl RenderErrorKind {
    fn label(self) -> &'static str {
        match self {
            RenderErrorKind::Syntax => "syntax error",
            RenderErrorKind::UndefinedVariable => "undefined variable",
            RenderErrorKind::Filter => "filter error",
            RenderErrorKind::TemplateNotFound => "template not found",
            RenderErrorKind::Forbidden => "forbidden",
            RenderErrorKind::LimitExceeded => "limit exceeded",
            RenderErrorKind::Loader => "template source failed",
            RenderErrorKind::Runtime => "render error",
        }
    }
}

impl fmt::Display for RenderErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a template could not be validated or rendered.
///
/// [`Display`](fmt::Display) gives `template:line: message` when the template and line are
/// known (`templates/device.j2:12: unexpected end of input, expected end of block`), else the
/// message alone.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RenderError {
    kind: RenderErrorKind,
    template: Option<String>,
    line: Option<usize>,
    message: String,
}

impl RenderError {
    /// Builds an error without a location.
    pub(crate) fn new(kind: RenderErrorKind, message: impl Into<String>) -> RenderError {
        RenderError {
            kind,
            template: None,
            line: None,
            message: message.into(),
        }
    }

    /// Sets the template and line (from 1) the error is about.
    pub(crate) fn at(mut self, template: &str, line: Option<usize>) -> RenderError {
        self.template = Some(template.to_owned());
        self.line = line;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> RenderErrorKind {
        self.kind
    }

    /// The template the error is about (the repository-relative path in file mode,
    /// `<template>` in string mode), when known.
    pub fn template(&self) -> Option<&str> {
        self.template.as_deref()
    }

    /// The line (from 1) in [`template`](Self::template), when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The message without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(template) = &self.template {
            f.write_str(template)?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

/// Carries one of our errors through minijinja (as the source of a minijinja error) so that
/// its kind and location survive.
#[derive(Debug)]
pub(crate) struct Carried(pub(crate) RenderError);

impl fmt::Display for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Carried {}

/// Wraps one of our errors in a minijinja error of a matching kind.
pub(crate) fn carry(error: RenderError) -> minijinja::Error {
    let kind = match error.kind {
        RenderErrorKind::Syntax => ErrorKind::SyntaxError,
        RenderErrorKind::TemplateNotFound => ErrorKind::TemplateNotFound,
        RenderErrorKind::UndefinedVariable => ErrorKind::UndefinedError,
        _ => ErrorKind::InvalidOperation,
    };
    minijinja::Error::new(kind, error.message.clone()).with_source(Carried(error))
}

/// A filter's refusal of its input, named after the filter like the SDK's `JinjaFilterError`.
pub(crate) fn filter_error(filter: &str, message: impl fmt::Display) -> minijinja::Error {
    carry(RenderError::new(
        RenderErrorKind::Filter,
        format!("filter `{filter}`: {message}"),
    ))
}

fn find_carried(error: &minijinja::Error) -> Option<&RenderError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        if let Some(carried) = current.downcast_ref::<Carried>() {
            return Some(&carried.0);
        }
        source = current.source();
    }
    None
}

/// The innermost minijinja error in a chain (an error inside an included template is the
/// source of the include's error).
fn innermost(error: &minijinja::Error) -> &minijinja::Error {
    let mut current = error;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(next) = source {
        if let Some(inner) = next.downcast_ref::<minijinja::Error>() {
            current = inner;
        }
        source = next.source();
    }
    current
}

/// Converts a minijinja error, keeping the template name and line it points at.
pub(crate) fn from_minijinja(error: &minijinja::Error) -> RenderError {
    let error = innermost(error);
    if let Some(carried) = find_carried(error) {
        let mut converted = carried.clone();
        if converted.template.is_none()
            && let Some(name) = error.name()
        {
            converted = converted.at(name, error.line());
        }
        return converted;
    }
    let detail = error.detail().unwrap_or_default();
    let kind = match error.kind() {
        ErrorKind::SyntaxError | ErrorKind::UnknownFilter | ErrorKind::UnknownTest => {
            RenderErrorKind::Syntax
        }
        ErrorKind::UndefinedError | ErrorKind::UnknownFunction | ErrorKind::UnknownMethod => {
            RenderErrorKind::UndefinedVariable
        }
        ErrorKind::TemplateNotFound => RenderErrorKind::TemplateNotFound,
        ErrorKind::OutOfFuel => RenderErrorKind::LimitExceeded,
        ErrorKind::InvalidOperation
            if detail.contains("recursion limit") || detail.contains("too large") =>
        {
            RenderErrorKind::LimitExceeded
        }
        _ => RenderErrorKind::Runtime,
    };
    let message = match (error.kind(), detail) {
        (ErrorKind::OutOfFuel, _) => {
            "the template did too much work (fuel limit reached); simplify it or raise the limit"
                .to_owned()
        }
        (ErrorKind::UndefinedError, "") => "undefined value".to_owned(),
        (ErrorKind::UndefinedError, detail) => detail.to_owned(),
        (ErrorKind::SyntaxError, detail) if !detail.is_empty() => detail.to_owned(),
        (kind, "") => kind.to_string(),
        (kind, detail) => format!("{kind}: {detail}"),
    };
    let converted = RenderError::new(kind, message);
    match error.name() {
        Some(name) => converted.at(name, error.line()),
        None => converted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_the_location_first() {
        let error = RenderError::new(RenderErrorKind::Syntax, "unexpected end of input")
            .at("templates/device.j2", Some(12));
        assert_eq!(
            error.to_string(),
            "templates/device.j2:12: unexpected end of input"
        );
        let bare = RenderError::new(RenderErrorKind::Loader, "disk on fire");
        assert_eq!(bare.to_string(), "disk on fire");
    }

    #[test]
    fn carried_errors_keep_their_kind_through_minijinja() {
        let inner = RenderError::new(RenderErrorKind::Filter, "filter `from_json`: bad");
        let converted = from_minijinja(&carry(inner));
        assert_eq!(converted.kind(), RenderErrorKind::Filter);
        assert_eq!(converted.message(), "filter `from_json`: bad");
    }
}
