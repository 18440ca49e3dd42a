//! Attribute definitions: the typed fields of a model.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kinds::{AllowOverride, AttributeKind, BranchSupport, ComputedAttributeKind, State};

/// One attribute of a node or generic, as written in a schema file and as served by
/// `GET /api/schema` once processed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeSchema {
    /// Identifier of the stored definition; `None` until the schema is persisted.
    #[serde(default)]
    pub id: Option<String>,
    /// Field name: lowercase letters, digits and `_`, 3 to 64 characters.
    pub name: String,
    /// Data type.
    pub kind: AttributeKind,
    /// Closed list of allowed values.
    #[serde(default, rename = "enum")]
    pub enum_values: Option<Vec<Value>>,
    /// How the value is computed, when it is not set by users.
    #[serde(default)]
    pub computed_attribute: Option<ComputedAttribute>,
    /// Allowed choices of a `Dropdown` attribute.
    #[serde(default)]
    pub choices: Option<Vec<DropdownChoice>>,
    /// Legacy spelling of `parameters.regex`, kept in sync with it.
    #[serde(default)]
    pub regex: Option<String>,
    /// Legacy spelling of `parameters.max_length`, kept in sync with it.
    #[serde(default)]
    pub max_length: Option<i64>,
    /// Legacy spelling of `parameters.min_length`, kept in sync with it.
    #[serde(default)]
    pub min_length: Option<i64>,
    /// Human-friendly name; generated from `name` when absent.
    #[serde(default)]
    pub label: Option<String>,
    /// Short description (at most 128 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// Users cannot set the value.
    #[serde(default)]
    pub read_only: bool,
    /// The value must be unique among nodes of the kind.
    #[serde(default)]
    pub unique: bool,
    /// The value may be left unset.
    #[serde(default)]
    pub optional: bool,
    /// Branch support; inherited from the model when absent.
    #[serde(default)]
    pub branch: Option<BranchSupport>,
    /// Position in forms and tables; generated when absent.
    #[serde(default)]
    pub order_weight: Option<i64>,
    /// Whether element order matters for list values.
    #[serde(default = "default_true")]
    pub ordered: bool,
    /// Value used when none is given.
    #[serde(default)]
    pub default_value: Option<Value>,
    /// Set by processing when the attribute comes from a generic.
    #[serde(default)]
    pub inherited: bool,
    /// `absent` removes the attribute when the schema is loaded.
    #[serde(default)]
    pub state: State,
    /// Whether models inheriting this attribute may redefine it.
    #[serde(default)]
    pub allow_override: AllowOverride,
    /// Kind-specific parameters.
    #[serde(default)]
    pub parameters: Option<AttributeParameters>,
    /// Deprecation message; a deprecated attribute becomes optional.
    #[serde(default)]
    pub deprecation: Option<String>,
    /// Where user interfaces show the attribute.
    #[serde(default)]
    pub display: Display,
}

pub(crate) fn default_true() -> bool {
    true
}

/// Where a user interface shows an attribute or relationship.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Display {
    /// In the main view.
    #[default]
    Default,
    /// In a secondary section.
    Extra,
}

/// One choice of a `Dropdown` attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropdownChoice {
    /// Identifier of the stored choice; unused, accepted for compatibility.
    #[serde(default)]
    pub id: Option<String>,
    /// Accepted for compatibility; always `present`.
    #[serde(default)]
    pub state: State,
    /// Stored value; unique within the dropdown.
    pub name: String,
    /// Human-friendly name; generated from `name` when absent.
    #[serde(default)]
    pub label: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Colour as `#rrggbb`; picked from a palette when absent.
    #[serde(default)]
    pub color: Option<String>,
}

/// How the value of a computed attribute is produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputedAttribute {
    /// Computation method.
    pub kind: ComputedAttributeKind,
    /// Template for `Jinja2` attributes.
    #[serde(default)]
    pub jinja2_template: Option<String>,
    /// Transform name for `TransformPython` attributes.
    #[serde(default)]
    pub transform: Option<String>,
}

/// Kind-specific attribute parameters. Which fields apply depends on the attribute kind: text
/// kinds take `regex`, `min_length` and `max_length`; `List` takes `regex`; `Number` takes
/// `min_value`, `max_value` and `excluded_values`; `NumberPool` takes `start_range`,
/// `end_range` and `number_pool_id`. Validation rejects the others.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeParameters {
    /// Identifier of the stored parameters; unused, accepted for compatibility.
    #[serde(default)]
    pub id: Option<String>,
    /// Accepted for compatibility; always `present`.
    #[serde(default)]
    pub state: State,
    /// Regular expression the value (or each list item) must match.
    #[serde(default)]
    pub regex: Option<String>,
    /// Minimum number of characters.
    #[serde(default)]
    pub min_length: Option<i64>,
    /// Maximum number of characters.
    #[serde(default)]
    pub max_length: Option<i64>,
    /// Smallest allowed number.
    #[serde(default)]
    pub min_value: Option<i64>,
    /// Largest allowed number.
    #[serde(default)]
    pub max_value: Option<i64>,
    /// Values or ranges not allowed, as `100,150-200,280`.
    #[serde(default)]
    pub excluded_values: Option<String>,
    /// First number of the pool.
    #[serde(default)]
    pub start_range: Option<i64>,
    /// Last number of the pool.
    #[serde(default)]
    pub end_range: Option<i64>,
    /// Identifier of the provisioned pool.
    #[serde(default)]
    pub number_pool_id: Option<String>,
}

/// Which parameter fields an attribute kind accepts.
pub(crate) fn allowed_parameters(kind: AttributeKind) -> &'static [&'static str] {
    match kind {
        AttributeKind::Text | AttributeKind::TextArea => &["regex", "min_length", "max_length"],
        AttributeKind::List => &["regex"],
        AttributeKind::Number => &["min_value", "max_value", "excluded_values"],
        AttributeKind::NumberPool => &["start_range", "end_range", "number_pool_id"],
        _ => &[],
    }
}

impl AttributeParameters {
    /// Names of the fields that are set.
    pub(crate) fn set_fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let checks: [(&'static str, bool); 9] = [
            ("regex", self.regex.is_some()),
            ("min_length", self.min_length.is_some()),
            ("max_length", self.max_length.is_some()),
            ("min_value", self.min_value.is_some()),
            ("max_value", self.max_value.is_some()),
            ("excluded_values", self.excluded_values.is_some()),
            ("start_range", self.start_range.is_some()),
            ("end_range", self.end_range.is_some()),
            ("number_pool_id", self.number_pool_id.is_some()),
        ];
        for (name, set) in checks {
            if set {
                fields.push(name);
            }
        }
        fields
    }

    /// Takes every field `other` sets.
    pub(crate) fn merge_from(&mut self, other: &AttributeParameters) {
        macro_rules! take {
            ($($field:ident),*) => { $( if other.$field.is_some() { self.$field = other.$field.clone(); } )* };
        }
        take!(
            regex,
            min_length,
            max_length,
            min_value,
            max_value,
            excluded_values,
            start_range,
            end_range,
            number_pool_id
        );
    }

    /// Parses `excluded_values` into single values and inclusive ranges.
    ///
    /// # Errors
    ///
    /// A [`crate::value::ValueError`] when the text is not a list of numbers and ranges.
    pub fn excluded(&self) -> Result<Vec<(i64, i64)>, crate::value::ValueError> {
        let Some(text) = self.excluded_values.as_deref() else {
            return Ok(Vec::new());
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let parse = |s: &str| {
                s.trim().parse::<i64>().map_err(|_| {
                    crate::value::ValueError::from(format!(
                        "`{text}` is not a list of numbers and ranges like `100,150-200`"
                    ))
                })
            };
            match part.split_once('-') {
                Some((start, end)) => ranges.push((parse(start)?, parse(end)?)),
                None => {
                    let value = parse(part)?;
                    ranges.push((value, value));
                }
            }
        }
        Ok(ranges)
    }
}

impl AttributeSchema {
    /// A new attribute with every optional field unset.
    pub fn new(name: impl Into<String>, kind: AttributeKind) -> Self {
        AttributeSchema {
            id: None,
            name: name.into(),
            kind,
            enum_values: None,
            computed_attribute: None,
            choices: None,
            regex: None,
            max_length: None,
            min_length: None,
            label: None,
            description: None,
            read_only: false,
            unique: false,
            optional: false,
            branch: None,
            order_weight: None,
            ordered: true,
            default_value: None,
            inherited: false,
            state: State::Present,
            allow_override: AllowOverride::Any,
            parameters: None,
            deprecation: None,
            display: Display::Default,
        }
    }

    /// The effective regular expression (from `parameters`, else the legacy field).
    pub fn regex(&self) -> Option<&str> {
        self.parameters
            .as_ref()
            .and_then(|p| p.regex.as_deref())
            .or(self.regex.as_deref())
    }

    /// The effective minimum length.
    pub fn min_length(&self) -> Option<i64> {
        self.parameters
            .as_ref()
            .and_then(|p| p.min_length)
            .or(self.min_length)
    }

    /// The effective maximum length.
    pub fn max_length(&self) -> Option<i64> {
        self.parameters
            .as_ref()
            .and_then(|p| p.max_length)
            .or(self.max_length)
    }

    /// Whether the attribute is deprecated.
    pub fn is_deprecated(&self) -> bool {
        self.deprecation.as_deref().is_some_and(|d| !d.is_empty())
    }

    /// Moves legacy `regex`/`min_length`/`max_length` into `parameters` for text kinds (the
    /// parameter wins when both are set) and mirrors them back, as upstream does.
    pub(crate) fn reconcile_parameters(&mut self) {
        if !self.kind.is_text() {
            return;
        }
        let params = self
            .parameters
            .get_or_insert_with(AttributeParameters::default);
        if params.regex.is_none() {
            params.regex = self.regex.clone();
        }
        if params.min_length.is_none() {
            params.min_length = self.min_length;
        }
        if params.max_length.is_none() {
            params.max_length = self.max_length;
        }
        self.regex = params.regex.clone();
        self.min_length = params.min_length;
        self.max_length = params.max_length;
    }

    /// Merges a newer definition of the same attribute into this one: fields the newer
    /// definition sets replace ours, unset optional fields keep ours.
    pub(crate) fn update_from(&mut self, other: &AttributeSchema) {
        macro_rules! take_opt {
            ($($field:ident),*) => { $( if other.$field.is_some() { self.$field = other.$field.clone(); } )* };
        }
        take_opt!(
            id,
            enum_values,
            computed_attribute,
            choices,
            regex,
            max_length,
            min_length,
            label,
            description,
            branch,
            order_weight,
            default_value,
            deprecation
        );
        if let Some(theirs) = &other.parameters {
            let ours = self
                .parameters
                .get_or_insert_with(AttributeParameters::default);
            ours.merge_from(theirs);
        }
        self.name = other.name.clone();
        self.kind = other.kind;
        self.read_only = other.read_only;
        self.unique = other.unique;
        self.optional = other.optional;
        self.ordered = other.ordered;
        self.inherited = other.inherited;
        self.state = other.state;
        self.allow_override = other.allow_override;
        self.display = other.display;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_text_fields_move_into_parameters() {
        let mut attr = AttributeSchema::new("name", AttributeKind::Text);
        attr.regex = Some("^a".into());
        attr.max_length = Some(10);
        attr.reconcile_parameters();
        let params = attr.parameters.clone().unwrap_or_default();
        assert_eq!(params.regex.as_deref(), Some("^a"));
        assert_eq!(params.max_length, Some(10));
        assert_eq!(attr.regex(), Some("^a"));
    }

    #[test]
    fn parameter_wins_over_legacy_field() {
        let mut attr = AttributeSchema::new("name", AttributeKind::Text);
        attr.min_length = Some(1);
        attr.parameters = Some(AttributeParameters {
            min_length: Some(5),
            ..Default::default()
        });
        attr.reconcile_parameters();
        assert_eq!(attr.min_length, Some(5));
    }

    #[test]
    fn excluded_values_parse_into_ranges() {
        let params = AttributeParameters {
            excluded_values: Some("100,150-200".into()),
            ..Default::default()
        };
        assert_eq!(params.excluded(), Ok(vec![(100, 100), (150, 200)]));
        let bad = AttributeParameters {
            excluded_values: Some("1-a".into()),
            ..Default::default()
        };
        assert!(bad.excluded().is_err());
    }
}
