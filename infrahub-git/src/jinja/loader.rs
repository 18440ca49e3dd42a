//! Where file-mode templates come from, and how their paths are confined to the root.

use std::collections::{BTreeMap, HashMap};

use super::error::{RenderError, RenderErrorKind};

/// Returns the text of a template file by its path relative to the repository root.
///
/// The renderer normalises every path before asking (`a/./b` becomes `a/b`) and never asks
/// for one that leaves the root, so an implementation can join the path to a commit's tree
/// as it is. `Ok(None)` means the file does not exist; `Err` carries a message for a failure
/// of the source itself (an unreadable Git object).
///
/// Any `Fn(&str) -> Result<Option<String>, String>` closure is a loader, and so are
/// `HashMap<String, String>` and `BTreeMap<String, String>` (path to text).
pub trait TemplateLoader: Send + Sync + 'static {
    /// The text of the template at `path`, `None` when there is no such file.
    fn load(&self, path: &str) -> Result<Option<String>, String>;
}

impl<F> TemplateLoader for F
where
    F: Fn(&str) -> Result<Option<String>, String> + Send + Sync + 'static,
{
    fn load(&self, path: &str) -> Result<Option<String>, String> {
        self(path)
    }
}

impl TemplateLoader for HashMap<String, String> {
    fn load(&self, path: &str) -> Result<Option<String>, String> {
        Ok(self.get(path).cloned())
    }
}

impl TemplateLoader for BTreeMap<String, String> {
    fn load(&self, path: &str) -> Result<Option<String>, String> {
        Ok(self.get(path).cloned())
    }
}

/// Normalises a template path the way Jinja2's `FileSystemLoader` splits it (empty and `.`
/// segments dropped), refusing what would leave the root: `..`, absolute paths, backslashes,
/// drive letters and NUL bytes.
pub(crate) fn normalize_template_path(path: &str) -> Result<String, RenderError> {
    let refuse = |why: &str| {
        Err(RenderError::new(
            RenderErrorKind::Forbidden,
            format!("template path `{path}` {why}; use a path relative to the repository root"),
        ))
    };
    if path.starts_with('/') {
        return refuse("is absolute");
    }
    if path.contains('\\') || path.contains('\0') {
        return refuse("contains a backslash or NUL byte");
    }
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return refuse("starts with a drive letter");
    }
    let mut segments = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => return refuse("leaves the repository root"),
            other => segments.push(other),
        }
    }
    if segments.is_empty() {
        return Err(RenderError::new(
            RenderErrorKind::TemplateNotFound,
            format!("template path `{path}` names no file"),
        ));
    }
    Ok(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised() {
        assert_eq!(
            normalize_template_path("templates/./device.j2").unwrap(),
            "templates/device.j2"
        );
        assert_eq!(normalize_template_path("a//b.j2").unwrap(), "a/b.j2");
    }

    #[test]
    fn paths_leaving_the_root_are_refused() {
        for path in [
            "../secret",
            "templates/../../etc/passwd",
            "/etc/passwd",
            "C:/x",
            "a\\..\\b",
        ] {
            let error = normalize_template_path(path).unwrap_err();
            assert_eq!(error.kind(), RenderErrorKind::Forbidden, "{path}");
            assert!(error.message().contains(path), "{error}");
        }
        assert_eq!(
            normalize_template_path("./").unwrap_err().kind(),
            RenderErrorKind::TemplateNotFound
        );
    }
}
