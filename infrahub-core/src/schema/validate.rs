//! Context-free checks of one schema file: names, patterns, lengths and kind-specific fields.
//! Rules that need the whole schema (peers, inheritance, paths) run during processing.

use super::attribute::{AttributeSchema, allowed_parameters};
use super::constants::{
    DESCRIPTION_MAX_LENGTH, FIELD_LABEL_MAX_LENGTH, IDENTIFIER_MAX_LENGTH, MODEL_LABEL_MAX_LENGTH,
    is_color, is_field_name, is_kind, is_model_name, is_namespace, is_snake_name,
};
use super::error::SchemaError;
use super::file::SchemaFile;
use super::kinds::AttributeKind;
use super::model::ModelSchema;
use super::relationship::RelationshipSchema;

/// Runs every context-free rule over `file`, appending problems to `errors`.
pub(crate) fn validate_file(file: &SchemaFile, errors: &mut Vec<SchemaError>) {
    let source = file.source.as_deref();
    let mut report =
        |path: String, message: String| errors.push(SchemaError::new(source, path, message));
    let mut first_at = std::collections::BTreeMap::new();
    for (prefix, models) in [("nodes", &file.nodes), ("generics", &file.generics)] {
        for (index, model) in models.iter().enumerate() {
            let path = format!("{prefix}[{index}]");
            validate_model(model, &path, &mut report);
            match first_at.entry(model.kind()) {
                std::collections::btree_map::Entry::Vacant(entry) => {
                    entry.insert(path);
                }
                std::collections::btree_map::Entry::Occupied(first) => report(
                    format!("{path}.name"),
                    format!(
                        "`{}` is defined more than once in this file (first at {}); define each kind once",
                        first.key(),
                        first.get()
                    ),
                ),
            }
        }
    }
    for (index, extension) in file.extensions.iter().enumerate() {
        let path = format!("extensions.nodes[{index}]");
        if !is_kind(&extension.kind) {
            report(
                format!("{path}.kind"),
                format!("`{}` is not a kind (like `InfraDevice`)", extension.kind),
            );
        }
        for (i, attribute) in extension.attributes.iter().enumerate() {
            validate_attribute(attribute, &format!("{path}.attributes[{i}]"), &mut report);
        }
        for (i, relationship) in extension.relationships.iter().enumerate() {
            validate_relationship(
                relationship,
                &format!("{path}.relationships[{i}]"),
                &mut report,
            );
        }
    }
}

fn validate_model(model: &ModelSchema, path: &str, report: &mut impl FnMut(String, String)) {
    if !is_model_name(&model.name) {
        report(
            format!("{path}.name"),
            format!(
                "`{}` is not a valid name: it must start with an uppercase letter, contain only letters and digits, and be 2 to 32 characters long",
                model.name
            ),
        );
    }
    if !is_namespace(&model.namespace) {
        report(
            format!("{path}.namespace"),
            format!(
                "`{}` is not a valid namespace: it must be an uppercase letter followed by lowercase letters or digits, 3 to 64 characters long",
                model.namespace
            ),
        );
    }
    check_length(
        report,
        path,
        "description",
        model.description.as_deref(),
        DESCRIPTION_MAX_LENGTH,
    );
    check_length(
        report,
        path,
        "label",
        model.label.as_deref(),
        MODEL_LABEL_MAX_LENGTH,
    );
    if let Some(filter) = &model.default_filter
        && !is_snake_name(filter)
    {
        report(
            format!("{path}.default_filter"),
            format!(
                "`{filter}` is not a path like `name__value` (lowercase letters, digits and `_` only)"
            ),
        );
    }
    for (index, attribute) in model.attributes.iter().enumerate() {
        validate_attribute(attribute, &format!("{path}.attributes[{index}]"), report);
    }
    for (index, relationship) in model.relationships.iter().enumerate() {
        validate_relationship(
            relationship,
            &format!("{path}.relationships[{index}]"),
            report,
        );
    }
}

fn check_length(
    report: &mut impl FnMut(String, String),
    path: &str,
    field: &str,
    value: Option<&str>,
    max: usize,
) {
    if let Some(value) = value {
        let length = value.chars().count();
        if length > max {
            report(
                format!("{path}.{field}"),
                format!("is {length} characters long; at most {max} are allowed"),
            );
        }
    }
}

fn validate_field_name(report: &mut impl FnMut(String, String), path: &str, name: &str) {
    if !is_field_name(name) {
        report(
            format!("{path}.name"),
            format!(
                "`{name}` is not a valid name: use lowercase letters, digits and `_`, 3 to 64 characters long"
            ),
        );
    }
}

fn validate_attribute(
    attribute: &AttributeSchema,
    path: &str,
    report: &mut impl FnMut(String, String),
) {
    validate_field_name(report, path, &attribute.name);
    check_length(
        report,
        path,
        "label",
        attribute.label.as_deref(),
        FIELD_LABEL_MAX_LENGTH,
    );
    check_length(
        report,
        path,
        "description",
        attribute.description.as_deref(),
        DESCRIPTION_MAX_LENGTH,
    );
    check_length(
        report,
        path,
        "deprecation",
        attribute.deprecation.as_deref(),
        DESCRIPTION_MAX_LENGTH,
    );
    match (&attribute.choices, attribute.kind) {
        (Some(choices), AttributeKind::Dropdown) if !choices.is_empty() => {
            for (index, choice) in choices.iter().enumerate() {
                if let Some(color) = &choice.color
                    && !is_color(color)
                {
                    report(
                        format!("{path}.choices[{index}].color"),
                        format!("`{color}` is not a colour code like `#7f7fff`"),
                    );
                }
            }
            let mut names: Vec<&str> = choices.iter().map(|c| c.name.as_str()).collect();
            names.sort_unstable();
            if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
                report(
                    format!("{path}.choices"),
                    format!("choice `{}` is listed twice", pair[0]),
                );
            }
        }
        (_, AttributeKind::Dropdown) => {
            report(
                format!("{path}.choices"),
                "a Dropdown attribute needs at least one choice".to_string(),
            );
        }
        (Some(choices), kind) if !choices.is_empty() => {
            report(
                format!("{path}.choices"),
                format!("`choices` are only allowed on Dropdown attributes, not on {kind}"),
            );
        }
        _ => {}
    }
    if let Some(parameters) = &attribute.parameters {
        let allowed = allowed_parameters(attribute.kind);
        for field in parameters.set_fields() {
            if !allowed.contains(&field) {
                let allowed_text = if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                };
                report(
                    format!("{path}.parameters.{field}"),
                    format!(
                        "`{field}` does not apply to {} attributes (allowed: {allowed_text})",
                        attribute.kind
                    ),
                );
            }
        }
        if let Err(message) = parameters.excluded() {
            report(
                format!("{path}.parameters.excluded_values"),
                message.to_string(),
            );
        }
        if let Some(regex) = &parameters.regex
            && let Err(err) = fancy_regex::Regex::new(regex)
        {
            report(
                format!("{path}.parameters.regex"),
                format!("`{regex}` is not a valid regular expression: {err}"),
            );
        }
    }
    for (field, value) in [
        ("min_length", attribute.min_length()),
        ("max_length", attribute.max_length()),
    ] {
        if value.is_some_and(|v| v < 0) {
            report(format!("{path}.{field}"), "must be 0 or more".to_string());
        }
    }
}

fn validate_relationship(
    relationship: &RelationshipSchema,
    path: &str,
    report: &mut impl FnMut(String, String),
) {
    validate_field_name(report, path, &relationship.name);
    if !is_kind(&relationship.peer) {
        report(
            format!("{path}.peer"),
            format!("`{}` is not a kind (like `InfraDevice`)", relationship.peer),
        );
    }
    if let Some(identifier) = &relationship.identifier
        && (!is_snake_name(identifier)
            || identifier.is_empty()
            || identifier.len() > IDENTIFIER_MAX_LENGTH)
    {
        report(
            format!("{path}.identifier"),
            format!(
                "`{identifier}` is not a valid identifier: use lowercase letters, digits and `_`, at most {IDENTIFIER_MAX_LENGTH} characters"
            ),
        );
    }
    check_length(
        report,
        path,
        "label",
        relationship.label.as_deref(),
        FIELD_LABEL_MAX_LENGTH,
    );
    check_length(
        report,
        path,
        "description",
        relationship.description.as_deref(),
        DESCRIPTION_MAX_LENGTH,
    );
    check_length(
        report,
        path,
        "deprecation",
        relationship.deprecation.as_deref(),
        DESCRIPTION_MAX_LENGTH,
    );
    for (field, value) in [
        ("min_count", relationship.min_count),
        ("max_count", relationship.max_count),
    ] {
        if value < 0 {
            report(format!("{path}.{field}"), "must be 0 or more".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::file::SchemaFile;

    fn errors_of(text: &str) -> Vec<String> {
        match SchemaFile::from_yaml(text, Some("t.yml")) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn node(body: &str) -> String {
        format!("nodes:\n  - name: Device\n    namespace: Infra\n{body}")
    }

    #[test]
    fn model_name_must_start_uppercase() {
        let errors = errors_of("nodes:\n  - name: device\n    namespace: Infra\n");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("t.yml: nodes[0].name: `device` is not a valid name"),
            "{errors:?}"
        );
    }

    #[test]
    fn namespace_must_be_capitalised_lowercase() {
        let errors = errors_of("generics:\n  - name: Device\n    namespace: INFRA\n");
        assert!(
            errors[0].contains("generics[0].namespace: `INFRA` is not a valid namespace"),
            "{errors:?}"
        );
    }

    #[test]
    fn long_description_is_rejected() {
        let errors = errors_of(&node(&format!("    description: {}\n", "x".repeat(129))));
        assert!(
            errors[0].contains("nodes[0].description: is 129 characters long; at most 128"),
            "{errors:?}"
        );
    }

    #[test]
    fn attribute_name_rules() {
        let errors = errors_of(&node(
            "    attributes:\n      - name: ID\n        kind: Text\n",
        ));
        assert!(
            errors[0].contains("nodes[0].attributes[0].name: `ID` is not a valid name"),
            "{errors:?}"
        );
    }

    #[test]
    fn dropdown_requires_choices_and_others_refuse_them() {
        let errors = errors_of(&node(
            "    attributes:\n      - name: role\n        kind: Dropdown\n",
        ));
        assert!(
            errors[0]
                .contains("attributes[0].choices: a Dropdown attribute needs at least one choice"),
            "{errors:?}"
        );
        let errors = errors_of(&node(
            "    attributes:\n      - name: role\n        kind: Text\n        choices: [{name: a}]\n",
        ));
        assert!(
            errors[0].contains("only allowed on Dropdown attributes, not on Text"),
            "{errors:?}"
        );
    }

    #[test]
    fn choice_colours_must_be_hex_codes() {
        let errors = errors_of(&node(
            "    attributes:\n      - name: role\n        kind: Dropdown\n        choices: [{name: a, color: red}]\n",
        ));
        assert!(
            errors[0].contains("choices[0].color: `red` is not a colour code"),
            "{errors:?}"
        );
    }

    #[test]
    fn parameters_must_fit_the_kind() {
        let errors = errors_of(&node(
            "    attributes:\n      - name: mtu\n        kind: Number\n        parameters: {regex: '^a'}\n",
        ));
        assert!(errors[0].contains("attributes[0].parameters.regex: `regex` does not apply to Number attributes (allowed: min_value, max_value, excluded_values)"), "{errors:?}");
    }

    #[test]
    fn excluded_values_must_parse() {
        let errors = errors_of(&node(
            "    attributes:\n      - name: vlan\n        kind: Number\n        parameters: {excluded_values: '1-x'}\n",
        ));
        assert!(
            errors[0].contains("parameters.excluded_values"),
            "{errors:?}"
        );
    }

    #[test]
    fn invalid_regex_is_rejected_but_lookarounds_are_fine() {
        let errors = errors_of(&node(
            "    attributes:\n      - name: name\n        kind: Text\n        regex: '(unclosed'\n",
        ));
        assert!(
            errors[0].contains("parameters.regex: `(unclosed` is not a valid regular expression"),
            "{errors:?}"
        );
        let ok = errors_of(&node(
            "    attributes:\n      - name: fqdn\n        kind: Text\n        regex: '(?=^.{1,253}$)(^((?!-)[a-z0-9-]{1,63}(?<!-)\\.)+[a-z]{2,63}$)'\n",
        ));
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn relationship_peer_and_identifier_shapes() {
        let errors = errors_of(&node(
            "    relationships:\n      - name: site\n        peer: infra_site\n        identifier: Bad-Id\n",
        ));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("relationships[0].peer: `infra_site` is not a kind"));
        assert!(
            errors[1].contains("relationships[0].identifier: `Bad-Id` is not a valid identifier")
        );
    }

    #[test]
    fn negative_counts_are_rejected() {
        let errors = errors_of(&node(
            "    relationships:\n      - name: sites\n        peer: InfraSite\n        min_count: -1\n",
        ));
        assert!(
            errors[0].contains("relationships[0].min_count: must be 0 or more"),
            "{errors:?}"
        );
    }

    #[test]
    fn extension_kind_must_look_like_a_kind() {
        let errors = errors_of("extensions:\n  nodes:\n    - kind: tag\n");
        assert!(errors[0].contains("extensions.nodes[0].kind"), "{errors:?}");
    }
}
