//! Schema problems located in their file and element path.

use std::fmt;

/// One problem in a schema, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    /// The file (or payload) the element came from, when known.
    pub file: Option<String>,
    /// Path of the element in that file, e.g. `nodes[3].attributes[1].kind`; for elements
    /// that did not come from a file, the kind and field (`InfraDevice.site`).
    pub path: String,
    /// What is wrong and, where it helps, what is allowed.
    pub message: String,
}

impl SchemaError {
    /// A new problem at `path` in `file`.
    pub fn new(file: Option<&str>, path: impl Into<String>, message: impl Into<String>) -> Self {
        SchemaError {
            file: file.map(str::to_string),
            path: crate::error::bounded_message(&path.into()),
            message: crate::error::bounded_message(&message.into()),
        }
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.path.is_empty()) {
            (Some(file), false) => write!(f, "{file}: {}: {}", self.path, self.message),
            (Some(file), true) => write!(f, "{file}: {}", self.message),
            (None, false) => write!(f, "{}: {}", self.path, self.message),
            (None, true) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SchemaError {}
