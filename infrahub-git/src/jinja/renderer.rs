//! The renderer: a configured minijinja environment per mode, limits, validation.

use std::fmt;
use std::io;
use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::error::{RenderError, RenderErrorKind, carry, from_minijinja};
use super::filters::{self, is_allowed_unrestricted, is_implemented, is_trusted};
use super::loader::{TemplateLoader, normalize_template_path};
use super::python::py_str;
use super::scan::scan;

/// The name string templates are reported under, as Jinja2 names them.
pub const STRING_TEMPLATE_NAME: &str = "<template>";

/// Bounds on what one render may cost, against hostile or runaway templates.
///
/// A render that reaches a limit fails with [`RenderErrorKind::LimitExceeded`]; nothing is
/// returned of its partial output.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderLimits {
    /// minijinja fuel: roughly one unit per instruction executed and per 64 bytes of data a
    /// template creates. Default 25 million (well under a second of work, and a bound of
    /// about 1.6 GB on what a render can allocate in total).
    pub fuel: u64,
    /// minijinja's recursion limit: each nested block costs 1, each include, import,
    /// extends or macro call about 10. Default 200 (some 20 nested includes or macro calls);
    /// minijinja caps it at 500.
    pub max_recursion: usize,
    /// The largest output, in bytes. Default 16 MiB.
    pub max_output_bytes: usize,
    /// The largest template source, in bytes (each file in file mode). Default 1 MiB.
    pub max_template_bytes: usize,
}

impl Default for RenderLimits {
    fn default() -> RenderLimits {
        RenderLimits {
            fuel: 25_000_000,
            max_recursion: 200,
            max_output_bytes: 16 * 1024 * 1024,
            max_template_bytes: 1024 * 1024,
        }
    }
}

/// Renders Jinja2 templates as Infrahub does, in one of two modes.
///
/// * **File mode** ([`for_files`](Self::for_files)), for a repository's Jinja2 transforms:
///   templates are read by path through a [`TemplateLoader`] (the files of one commit), and
///   so are those they `{% include %}`, `{% import %}` and `{% extends %}`; blocks are
///   trimmed (`trim_blocks` and `lstrip_blocks`); undefined values print as nothing, while
///   an attribute of an undefined value is an error (Jinja2's default `Undefined`).
/// * **String mode** ([`for_strings`](Self::for_strings)), for template text such as a
///   computed attribute: no loader, no block trimming, and undefined values are errors
///   except for `is defined` and `default` (Jinja2's `StrictUndefined`).
///
/// Both modes offer the same filters: the SDK's list (see [`filters`](super::filters)),
/// with Jinja2's behaviour, and print values as Python does (`True`, `None`, `['a']`).
/// Auto-escaping is off, as in the SDK. A renderer caches the templates it has loaded, so
/// use one renderer per commit.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
///
/// use infrahub_git::jinja::Renderer;
/// use serde_json::json;
///
/// let files = HashMap::from([(
///     "templates/device.j2".to_owned(),
///     "hostname {{ data.DcimDevice.edges[0].node.name.value }}\n".to_owned(),
/// )]);
/// let renderer = Renderer::for_files(files);
/// let variables = json!({"data": {"DcimDevice": {"edges": [{"node": {"name": {"value": "r1"}}}]}}});
/// assert_eq!(renderer.render("templates/device.j2", &variables).unwrap(), "hostname r1");
///
/// let strings = Renderer::for_strings();
/// assert_eq!(strings.render("{{ name | upper }}", &json!({"name": "r1"})).unwrap(), "R1");
/// ```
pub struct Renderer {
    env: Environment<'static>,
    loader: Option<Arc<dyn TemplateLoader>>,
    limits: RenderLimits,
}

impl fmt::Debug for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renderer")
            .field(
                "mode",
                &if self.loader.is_some() {
                    "files"
                } else {
                    "strings"
                },
            )
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer for template files read through `loader`, with default limits.
    pub fn for_files(loader: impl TemplateLoader) -> Renderer {
        let loader: Arc<dyn TemplateLoader> = Arc::new(loader);
        let limits = RenderLimits::default();
        Renderer {
            env: environment(Some(loader.clone()), &limits),
            loader: Some(loader),
            limits,
        }
    }

    /// A renderer for template text, with default limits.
    pub fn for_strings() -> Renderer {
        let limits = RenderLimits::default();
        Renderer {
            env: environment(None, &limits),
            loader: None,
            limits,
        }
    }

    /// The same renderer with other limits.
    pub fn with_limits(self, limits: RenderLimits) -> Renderer {
        Renderer {
            env: environment(self.loader.clone(), &limits),
            loader: self.loader,
            limits,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &RenderLimits {
        &self.limits
    }

    /// Whether this renderer reads template files (file mode) rather than template text.
    pub fn is_file_based(&self) -> bool {
        self.loader.is_some()
    }

    /// Renders a template with `variables` as its context.
    ///
    /// `template` is a path relative to the repository root in file mode and the template
    /// text in string mode. `variables` must be a JSON object (or `null`): its keys are the
    /// template's variables, so a transform passes the whole GraphQL response and templates
    /// say `data.DcimDevice.edges[0]...`.
    pub fn render(
        &self,
        template: &str,
        variables: &serde_json::Value,
    ) -> Result<String, RenderError> {
        let context = match variables {
            serde_json::Value::Object(_) => Value::from(Serde(variables)),
            serde_json::Value::Null => Value::from(Serde(serde_json::Map::new())),
            _ => {
                return Err(RenderError::new(
                    RenderErrorKind::Runtime,
                    "template variables must be a JSON object",
                ));
            }
        };
        let mut output = CappedWriter {
            buffer: Vec::new(),
            cap: self.limits.max_output_bytes,
            exceeded: false,
        };
        let env: &Environment<'_> = &self.env;
        let result = if self.loader.is_some() {
            normalize_template_path(template)?;
            env.get_template(template)
                .and_then(|compiled| compiled.render_captured_to(context, &mut output).map(drop))
        } else {
            check_source(STRING_TEMPLATE_NAME, template, &self.limits)?;
            env.template_from_named_str(STRING_TEMPLATE_NAME, template)
                .and_then(|compiled| compiled.render_captured_to(context, &mut output).map(drop))
        };
        if output.exceeded {
            return Err(RenderError::new(
                RenderErrorKind::LimitExceeded,
                format!(
                    "the output exceeds {} bytes; render less or raise the limit",
                    self.limits.max_output_bytes
                ),
            )
            .at(template_label(template, self.loader.is_some()), None));
        }
        result.map_err(|error| from_minijinja(&error))?;
        Ok(String::from_utf8_lossy(&output.buffer).into_owned())
    }

    /// Checks a template without rendering it, as the SDK's `validate` does: it must parse,
    /// and every filter it applies must be allowed (only trusted filters when `restricted`;
    /// all but the worker-only Infrahub filters otherwise). String templates may not use
    /// `include`, `import`, `from` or `call`.
    ///
    /// In file mode only the named file is checked, not the templates it includes.
    pub fn validate(&self, template: &str, restricted: bool) -> Result<(), RenderError> {
        let (name, source) = match &self.loader {
            Some(loader) => {
                let path = normalize_template_path(template)?;
                let source = load_source(loader.as_ref(), &path, &self.limits)?;
                (path, source)
            }
            None => {
                check_size(STRING_TEMPLATE_NAME, template, &self.limits)?;
                (STRING_TEMPLATE_NAME.to_owned(), template.to_owned())
            }
        };
        let env: &Environment<'_> = &self.env;
        env.template_from_named_str(&name, &source)
            .map_err(|error| from_minijinja(&error))?;
        let scanned = scan(&source);
        for used in &scanned.filters {
            let allowed = if restricted {
                is_trusted(&used.name)
            } else {
                is_allowed_unrestricted(&used.name)
            };
            if !allowed {
                return Err(RenderError::new(
                    RenderErrorKind::Forbidden,
                    format!("the `{}` filter isn't allowed to be used", used.name),
                )
                .at(&name, Some(used.line)));
            }
        }
        if self.loader.is_none()
            && let Some(statement) = scanned.statements.iter().find(|statement| {
                matches!(
                    statement.keyword.as_str(),
                    "include" | "import" | "from" | "call"
                )
            })
        {
            return Err(RenderError::new(
                RenderErrorKind::Forbidden,
                format!(
                    "`{}` is forbidden in string templates (call, import and include are)",
                    statement.keyword
                ),
            )
            .at(&name, Some(statement.line)));
        }
        Ok(())
    }
}

fn template_label(template: &str, file_based: bool) -> &str {
    if file_based {
        template
    } else {
        STRING_TEMPLATE_NAME
    }
}

fn check_size(name: &str, source: &str, limits: &RenderLimits) -> Result<(), RenderError> {
    if source.len() > limits.max_template_bytes {
        return Err(RenderError::new(
            RenderErrorKind::LimitExceeded,
            format!(
                "the template is {} bytes, over the {}-byte limit",
                source.len(),
                limits.max_template_bytes
            ),
        )
        .at(name, None));
    }
    Ok(())
}

/// Checks a template source before it is compiled: its size, and that every filter it
/// applies exists (Jinja2 refuses unknown filters when compiling).
fn check_source(name: &str, source: &str, limits: &RenderLimits) -> Result<(), RenderError> {
    check_size(name, source, limits)?;
    if let Some(unknown) = scan(source)
        .filters
        .into_iter()
        .find(|used| !is_implemented(&used.name))
    {
        return Err(RenderError::new(
            RenderErrorKind::Syntax,
            format!("no filter named `{}`", unknown.name),
        )
        .at(name, Some(unknown.line)));
    }
    Ok(())
}

fn load_source(
    loader: &dyn TemplateLoader,
    path: &str,
    limits: &RenderLimits,
) -> Result<String, RenderError> {
    match loader.load(path) {
        Ok(Some(source)) => {
            check_size(path, &source, limits)?;
            Ok(source)
        }
        Ok(None) => Err(RenderError::new(
            RenderErrorKind::TemplateNotFound,
            format!("template `{path}` not found"),
        )),
        Err(message) => Err(RenderError::new(
            RenderErrorKind::Loader,
            format!("cannot read template `{path}`: {message}"),
        )),
    }
}

/// Builds the environment of one mode.
fn environment(
    loader: Option<Arc<dyn TemplateLoader>>,
    limits: &RenderLimits,
) -> Environment<'static> {
    let mut env = Environment::new();
    let file_based = loader.is_some();
    if file_based {
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build();
        if let Ok(syntax) = syntax {
            env.set_syntax(syntax);
        }
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
    } else {
        env.set_undefined_behavior(UndefinedBehavior::Strict);
    }
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(limits.fuel));
    env.set_recursion_limit(limits.max_recursion);
    // Debug information is only gathered when an error is raised; it names the undefined
    // expression (`data.missing` is undefined).
    env.set_debug(true);
    env.set_formatter(|out, _state, value| {
        if let Some(text) = value.as_str() {
            out.write_str(text)?;
        } else if !value.is_undefined() {
            out.write_str(&py_str(value))?;
        }
        Ok(())
    });
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    filters::register(&mut env);
    for test in ["startingwith", "endingwith", "safe", "int"] {
        env.remove_test(test);
    }
    env.remove_global("debug");
    if let Some(loader) = loader {
        let limits = limits.clone();
        env.set_loader(move |name| {
            let path = normalize_template_path(name).map_err(carry)?;
            let source = load_source(loader.as_ref(), &path, &limits).map_err(carry)?;
            check_source(name, &source, &limits).map_err(carry)?;
            Ok(Some(source))
        });
    }
    env
}

/// Collects output up to a cap, failing the write that would pass it.
struct CappedWriter {
    buffer: Vec<u8>,
    cap: usize,
    exceeded: bool,
}

impl io::Write for CappedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buffer.len() + bytes.len() > self.cap {
            self.exceeded = true;
            return Err(io::Error::other("output limit reached"));
        }
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
