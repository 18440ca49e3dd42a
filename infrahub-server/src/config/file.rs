//! Reading `infrahub.toml`: every key is checked against the registry, and the line where each
//! value was set is remembered for later error messages.

use std::path::Path;

use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

use super::error::{ConfigError, ConfigErrorKind, Origin, Origins};
use super::registry;
use super::value::{describe, from_de};

/// Reads the configuration file; `how` says how the path was chosen, for the error message.
pub(crate) fn read(path: &Path, how: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound {
            ConfigError::new(
                ConfigErrorKind::NotFound,
                None,
                format!(
                    "configuration file `{}` ({how}) does not exist",
                    path.display()
                ),
            )
        } else {
            ConfigError::new(
                ConfigErrorKind::Io,
                None,
                format!("cannot read configuration file `{}`: {err}", path.display()),
            )
        }
    })
}

/// Parses and checks the file, returning its values with canonical key names.
///
/// # Errors
///
/// The error that comes first in the file: invalid TOML, an unknown key, or a value of the
/// wrong type.
pub(crate) fn parse(path: &Path, text: &str, origins: &mut Origins) -> Result<Table, ConfigError> {
    let root = DeTable::parse(text).map_err(|err| {
        let origin = err.span().map(|span| Origin::File {
            path: path.to_path_buf(),
            line: line_of(text, span.start),
        });
        let detail = format!("invalid TOML: {}", err.message().trim_end());
        match origin {
            Some(origin) => {
                ConfigError::new(ConfigErrorKind::Syntax, None, format!("{origin}: {detail}"))
            }
            None => ConfigError::new(
                ConfigErrorKind::Syntax,
                None,
                format!("{}: {detail}", path.display()),
            ),
        }
    })?;
    let mut walker = Walker {
        path,
        text,
        origins,
        errors: Vec::new(),
    };
    let table = walker.table("", root.get_ref());
    match walker.errors.into_iter().min_by_key(|(offset, _)| *offset) {
        Some((_, err)) => Err(err),
        None => Ok(table),
    }
}

/// Returns the 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|byte| **byte == b'\n')
        .count()
        + 1
}

/// Walks the parsed file, collecting errors with their position so the first can be reported.
struct Walker<'a> {
    path: &'a Path,
    text: &'a str,
    origins: &'a mut Origins,
    errors: Vec<(usize, ConfigError)>,
}

impl Walker<'_> {
    fn origin(&self, offset: usize) -> Origin {
        Origin::File {
            path: self.path.to_path_buf(),
            line: line_of(self.text, offset),
        }
    }

    fn error(&mut self, offset: usize, kind: ConfigErrorKind, key: &str, detail: String) {
        let origin = self.origin(offset);
        self.errors
            .push((offset, ConfigError::at(kind, key, Some(&origin), &detail)));
    }

    /// Checks the table at dotted path `table` (`""` for the root) and converts it.
    fn table(&mut self, table: &str, entries: &DeTable<'_>) -> Table {
        let mut out = Table::new();
        for (key, value) in entries {
            let name = key.get_ref().as_ref();
            let key_offset = key.span().start;
            let value_offset = value.span().start;
            let path = if table.is_empty() {
                name.to_owned()
            } else {
                format!("{table}.{name}")
            };
            if let Some(spec) = registry::find(table, name) {
                let secret = spec.kind.is_secret();
                let found = match from_de(value.get_ref()) {
                    Ok(found) => found,
                    Err(description) => {
                        let detail = format!(
                            "`{}` expected {}, found {description}",
                            spec.path,
                            spec.kind.expectation()
                        );
                        self.error(
                            value_offset,
                            ConfigErrorKind::InvalidValue,
                            &spec.path,
                            detail,
                        );
                        continue;
                    }
                };
                if out.contains_key(spec.name()) {
                    let detail = format!("`{}` is set twice (also as `{name}`)", spec.path);
                    self.error(key_offset, ConfigErrorKind::Conflict, &spec.path, detail);
                    continue;
                }
                match spec.kind.accept(found.clone()) {
                    Ok(accepted) => {
                        out.insert(spec.name().to_owned(), accepted);
                        let origin = self.origin(value_offset);
                        self.origins.set(&spec.path, origin);
                    }
                    Err(kind) => {
                        let detail = format!(
                            "`{}` expected {}, found {}",
                            spec.path,
                            spec.kind.expectation(),
                            describe(&found, secret)
                        );
                        self.error(value_offset, kind, &spec.path, detail);
                    }
                }
            } else if registry::is_table(&path) {
                match value.get_ref() {
                    DeValue::Table(entries) => {
                        let sub = self.table(&path, entries);
                        out.insert(name.to_owned(), Value::Table(sub));
                        let origin = self.origin(key_offset);
                        self.origins.set(&path, origin);
                    }
                    other => {
                        let found = from_de(other)
                            .map_or_else(|description| description, |v| describe(&v, false));
                        let detail = format!("`{path}` expected a table, found {found}");
                        self.error(value_offset, ConfigErrorKind::InvalidType, &path, detail);
                    }
                }
            } else {
                let detail = format!(
                    "unknown key `{path}` (allowed: {})",
                    registry::children(table).join(", ")
                );
                self.error(key_offset, ConfigErrorKind::UnknownKey, &path, detail);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{BrokerDriver, Settings};

    fn load(text: &str) -> Result<Settings, ConfigError> {
        Settings::load_text(Some((Path::new("infrahub.toml"), text)), &BTreeMap::new())
    }

    fn error(text: &str) -> ConfigError {
        match load(text) {
            Ok(settings) => panic!("expected an error, loaded {settings:?}"),
            Err(err) => err,
        }
    }

    #[test]
    fn unknown_key_names_path_line_and_allowed_keys() {
        let err = error("[main]\nallow_anonymous_access = false\n\n[database]\nadress = \"db\"\n");
        assert_eq!(err.kind(), ConfigErrorKind::UnknownKey);
        assert_eq!(err.key(), Some("database.adress"));
        let message = err.to_string();
        assert!(
            message.starts_with("infrahub.toml:5: unknown key `database.adress` (allowed: db_type, protocol, username, password, address, port,"),
            "{message}"
        );
    }

    #[test]
    fn unknown_section_lists_the_sections() {
        let err = error("[databse]\naddress = \"db\"\n");
        assert_eq!(err.kind(), ConfigErrorKind::UnknownKey);
        assert!(
            err.to_string()
                .starts_with("infrahub.toml:1: unknown key `databse` (allowed: main, api, git,"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_in_dotted_and_inline_forms() {
        let err = error("database.adress = \"db\"\n");
        assert!(
            err.to_string().contains("unknown key `database.adress`"),
            "{err}"
        );
        let err = error("storage = { local = { pth = \"/x\" } }\n");
        assert!(
            err.to_string()
                .starts_with("infrahub.toml:1: unknown key `storage.local.pth` (allowed: path)"),
            "{err}"
        );
    }

    #[test]
    fn wrong_types_name_key_line_and_value() {
        let err = error("[database]\naddress = \"db\"\nport = \"7687\"\n");
        assert_eq!(err.kind(), ConfigErrorKind::InvalidType);
        assert_eq!(err.key(), Some("database.port"));
        assert_eq!(
            err.to_string(),
            "infrahub.toml:3: `database.port` expected an integer 0-65535, found \"7687\""
        );
        let err = error("[main]\nallow_anonymous_access = \"yes\"\n");
        assert_eq!(
            err.to_string(),
            "infrahub.toml:2: `main.allow_anonymous_access` expected a boolean (true or false), found \"yes\""
        );
        let err = error("[api]\ncors_allow_origins = \"https://a.example\"\n");
        assert!(
            err.to_string().contains("expected an array of strings"),
            "{err}"
        );
        let err = error("database = 5\n");
        assert_eq!(
            err.to_string(),
            "infrahub.toml:1: `database` expected a table, found 5"
        );
    }

    #[test]
    fn out_of_range_and_unknown_names_are_invalid_values() {
        let err = error("[database]\nport = 70000\n");
        assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
        assert_eq!(
            err.to_string(),
            "infrahub.toml:2: `database.port` expected an integer 0-65535, found 70000"
        );
        let err = error("[broker]\ndriver = \"kafka\"\n");
        assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
        assert_eq!(
            err.to_string(),
            "infrahub.toml:2: `broker.driver` expected one of: memory, rabbitmq, nats, found \"kafka\""
        );
        let err = error("[security]\noauth2_providers = [\"github\"]\n");
        assert!(
            err.to_string()
                .contains("an array of: google, provider1, provider2"),
            "{err}"
        );
    }

    #[test]
    fn secret_values_are_not_echoed() {
        let err = error("[database]\npassword = 12345\n");
        assert_eq!(
            err.to_string(),
            "infrahub.toml:2: `database.password` expected a string, found 12345"
        );
        // A secret of the wrong shape would be a string somewhere else; never print strings.
        let err = error("[initial]\nadmin_password = [\"hunter2\"]\n");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn the_first_error_in_the_file_is_reported() {
        let err = error("[main]\ntelemetry_optout = 1\n\n[api]\nnope = 1\n");
        assert!(err.to_string().starts_with("infrahub.toml:2:"), "{err}");
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let err = error("[main]\nallow_anonymous_access = true\n[database\n");
        assert_eq!(err.kind(), ConfigErrorKind::Syntax);
        assert!(
            err.to_string()
                .starts_with("infrahub.toml:3: invalid TOML:"),
            "{err}"
        );
        let err = error("[main]\n[main]\n");
        assert_eq!(err.kind(), ConfigErrorKind::Syntax);
        assert!(err.to_string().starts_with("infrahub.toml:2:"), "{err}");
    }

    #[test]
    fn upstream_spellings_are_accepted_once() {
        let settings = load("[storage.s3]\nAWS_S3_BUCKET_NAME = \"artifacts\"\n").unwrap();
        assert_eq!(settings.storage.s3.bucket_name, "artifacts");
        let err = error("[storage.s3]\nbucket_name = \"a\"\nAWS_S3_BUCKET_NAME = \"b\"\n");
        assert_eq!(err.kind(), ConfigErrorKind::Conflict);
        assert!(
            err.to_string()
                .contains("`storage.s3.bucket_name` is set twice"),
            "{err}"
        );
    }

    #[test]
    fn values_of_every_shape_load() {
        let settings = load(
            "[broker]\ndriver = \"nats\"\nport = 14_222\n\n[database]\nmax_concurrent_queries_delay = 1\n\n[workflow]\nextra_loggers = [\"httpx\"]\n",
        )
        .unwrap();
        assert_eq!(settings.broker.driver, BrokerDriver::Nats);
        assert_eq!(settings.broker.port, Some(14222));
        assert!((settings.database.max_concurrent_queries_delay - 1.0).abs() < f64::EPSILON);
        assert_eq!(settings.workflow.extra_loggers, ["httpx"]);
    }

    #[test]
    fn keys_of_nested_tables_give_their_own_line() {
        let err = error(
            "[security]\noauth2_providers = []\n\n[security.oauth2_provider_settings.provider1]\nclient_id = \"x\"\nclient_sekret = \"y\"\n",
        );
        assert!(
            err.to_string().starts_with(
                "infrahub.toml:6: unknown key `security.oauth2_provider_settings.provider1.client_sekret` (allowed: client_id, client_secret,"
            ),
            "{err}"
        );
        let err = error("[[database]]\naddress = \"db\"\n");
        assert_eq!(err.kind(), ConfigErrorKind::InvalidType);
        assert!(
            err.to_string()
                .contains("`database` expected a table, found an array"),
            "{err}"
        );
    }

    #[test]
    fn lines_are_counted_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}
