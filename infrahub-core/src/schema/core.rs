//! The built-in core schema: the kinds Infrahub itself needs (accounts, groups, repositories,
//! queries, transforms, artifacts, checks, generators, IPAM, resource pools, profiles,
//! templates, menus, proposed changes, webhooks, triggers, permissions), installed in every
//! new database before any user schema.

use super::branch::SchemaBranch;
use super::error::SchemaError;
use super::file::SchemaFile;
use super::process::ProcessOptions;

/// The core schema files, in load order.
pub const CORE_SCHEMA_FILES: &[(&str, &str)] = &[
    ("core/menu.yml", include_str!("../../schema/core/menu.yml")),
    (
        "core/group.yml",
        include_str!("../../schema/core/group.yml"),
    ),
    (
        "core/builtin.yml",
        include_str!("../../schema/core/builtin.yml"),
    ),
    (
        "core/trigger.yml",
        include_str!("../../schema/core/trigger.yml"),
    ),
    ("core/core.yml", include_str!("../../schema/core/core.yml")),
    (
        "core/lineage.yml",
        include_str!("../../schema/core/lineage.yml"),
    ),
    (
        "core/profile.yml",
        include_str!("../../schema/core/profile.yml"),
    ),
    (
        "core/account.yml",
        include_str!("../../schema/core/account.yml"),
    ),
    (
        "core/proposed_change.yml",
        include_str!("../../schema/core/proposed_change.yml"),
    ),
    (
        "core/comment.yml",
        include_str!("../../schema/core/comment.yml"),
    ),
    (
        "core/repository.yml",
        include_str!("../../schema/core/repository.yml"),
    ),
    (
        "core/validator.yml",
        include_str!("../../schema/core/validator.yml"),
    ),
    (
        "core/check.yml",
        include_str!("../../schema/core/check.yml"),
    ),
    (
        "core/transform.yml",
        include_str!("../../schema/core/transform.yml"),
    ),
    (
        "core/graphql_query.yml",
        include_str!("../../schema/core/graphql_query.yml"),
    ),
    (
        "core/artifact.yml",
        include_str!("../../schema/core/artifact.yml"),
    ),
    (
        "core/file_object.yml",
        include_str!("../../schema/core/file_object.yml"),
    ),
    (
        "core/generator.yml",
        include_str!("../../schema/core/generator.yml"),
    ),
    (
        "core/webhook.yml",
        include_str!("../../schema/core/webhook.yml"),
    ),
    ("core/ipam.yml", include_str!("../../schema/core/ipam.yml")),
    (
        "core/resource_pool.yml",
        include_str!("../../schema/core/resource_pool.yml"),
    ),
    (
        "core/permission.yml",
        include_str!("../../schema/core/permission.yml"),
    ),
    (
        "core/template.yml",
        include_str!("../../schema/core/template.yml"),
    ),
];

/// Parses the core schema files into one merged file.
pub fn core_schema_file() -> Result<SchemaFile, Vec<SchemaError>> {
    let files = CORE_SCHEMA_FILES
        .iter()
        .map(|(name, text)| SchemaFile::from_yaml(text, Some(name)))
        .collect::<Result<Vec<_>, _>>()?;
    SchemaFile::merge(files)
}

/// A processed schema holding only the core schema: the starting point of every branch.
pub fn core_schema(options: &ProcessOptions) -> Result<SchemaBranch, Vec<SchemaError>> {
    let file = core_schema_file()?;
    SchemaBranch::new().with_file(&file, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ModelCategory;

    #[test]
    fn core_schema_processes_and_has_the_kinds_the_sdk_names() {
        let schema = core_schema(&ProcessOptions::default()).unwrap_or_else(|errors| {
            panic!(
                "core schema invalid: {}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        for kind in [
            "CoreNode",
            "CoreGroup",
            "CoreStandardGroup",
            "CoreGeneratorGroup",
            "CoreAccountGroup",
            "CoreGenericRepository",
            "CoreRepository",
            "CoreReadOnlyRepository",
            "CorePasswordCredential",
            "CoreArtifact",
            "CoreArtifactDefinition",
            "CoreArtifactTarget",
            "CoreResourcePool",
            "CoreIPPrefixPool",
            "CoreIPAddressPool",
            "CoreMenuItem",
            "CoreFileObject",
            "BuiltinIPPrefix",
            "BuiltinIPAddress",
            "InternalAccountToken",
            "InternalRefreshToken",
            "CoreAccount",
            "CoreGraphQLQuery",
            "CoreProposedChange",
            "CoreStandardWebhook",
            "CoreObjectPermission",
            "IpamNamespace",
            "CoreIPPool",
            "CoreKeyValue",
            "CoreStaticKeyValue",
            "CoreEnvKeyValue",
            "CoreGeneratorAwareGroup",
        ] {
            assert!(schema.has(kind), "missing {kind}");
        }
        let (nodes, generics, profiles, _) = schema.counts();
        assert_eq!((nodes, generics), (60, 31));
        assert!(profiles >= 3, "profiles: {profiles}");
        assert!(
            schema
                .models_of(ModelCategory::Profile)
                .any(|p| p.kind() == "ProfileBuiltinTag")
        );
    }

    #[test]
    fn processing_the_core_schema_twice_changes_nothing() {
        let options = ProcessOptions::default();
        let schema = core_schema(&options).unwrap_or_default();
        let mut again = schema.clone();
        let file = core_schema_file().unwrap_or_default();
        if let Err(errors) = again.load(&file).and_then(|()| again.process(&options)) {
            panic!("{errors:?}");
        }
        assert_eq!(schema.hash(), again.hash(), "{:?}", schema.diff(&again));
    }
}
