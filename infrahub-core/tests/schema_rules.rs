//! One test per rule of the schema processing stage: each loads a minimal schema file on top
//! of the built-in core schema and checks the error users see (file, element path, key words of
//! the message), or the processed result they rely on. The context-free rules of a single file
//! are unit-tested in `schema/validate.rs` and `schema/file.rs`.

use std::sync::OnceLock;

use infrahub_core::schema::{
    Cardinality, ModelCategory, ModelSchema, OnDelete, ProcessOptions, RelationshipKind,
    SchemaBranch, SchemaError, SchemaFile, check_namespaces, core_schema,
};

/// Name every test file is loaded under.
const FILE: &str = "rules.yml";

/// Options with `main.schema_strict_mode` turned off.
const LAX: ProcessOptions = ProcessOptions { strict_mode: false };

/// The processed core schema, built once for all tests.
fn core() -> &'static SchemaBranch {
    static CORE: OnceLock<SchemaBranch> = OnceLock::new();
    CORE.get_or_init(|| {
        core_schema(&ProcessOptions::default())
            .unwrap_or_else(|errors| panic!("core schema is invalid:\n{}", render(&errors)))
    })
}

fn render(errors: &[SchemaError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses `yaml` as file `source`; the context-free rules must pass.
fn parse_as(yaml: &str, source: &str) -> SchemaFile {
    SchemaFile::from_yaml(yaml, Some(source))
        .unwrap_or_else(|errors| panic!("file does not parse:\n{}", render(&errors)))
}

/// Loads `yaml` (as [`FILE`]) on top of `base` and processes the result.
fn try_load_on(
    base: &SchemaBranch,
    yaml: &str,
    options: ProcessOptions,
) -> Result<SchemaBranch, Vec<SchemaError>> {
    base.with_file(&parse_as(yaml, FILE), &options)
}

/// The schema `yaml` produces on top of the core schema with `options`; it must be valid.
#[track_caller]
fn load_with(yaml: &str, options: ProcessOptions) -> SchemaBranch {
    try_load_on(core(), yaml, options)
        .unwrap_or_else(|errors| panic!("schema rejected:\n{}", render(&errors)))
}

/// The schema `yaml` produces on top of the core schema in strict mode; it must be valid.
#[track_caller]
fn load(yaml: &str) -> SchemaBranch {
    load_with(yaml, ProcessOptions::default())
}

/// The errors processing `yaml` on top of the core schema with `options` reports.
#[track_caller]
fn errors_with(yaml: &str, options: ProcessOptions) -> Vec<SchemaError> {
    match try_load_on(core(), yaml, options) {
        Ok(_) => panic!("schema accepted, but it should be rejected:\n{yaml}"),
        Err(errors) => errors,
    }
}

/// The errors processing `yaml` on top of the core schema in strict mode reports.
#[track_caller]
fn errors(yaml: &str) -> Vec<SchemaError> {
    errors_with(yaml, ProcessOptions::default())
}

/// Asserts that `errors` holds an error located at `path` of [`FILE`] whose message contains
/// every one of `words`.
#[track_caller]
fn assert_has_error(errors: &[SchemaError], path: &str, words: &[&str]) {
    let Some(error) = errors.iter().find(|e| e.path == path) else {
        panic!("no error at `{path}`; got:\n{}", render(errors));
    };
    assert_eq!(error.file.as_deref(), Some(FILE), "{error}");
    for word in words {
        assert!(
            error.message.contains(word),
            "message of `{path}` lacks `{word}`: {}",
            error.message
        );
    }
}

/// Asserts that processing `yaml` with `options` fails with exactly one error, at `path`,
/// mentioning every one of `words`.
#[track_caller]
fn expect_error_with(yaml: &str, options: ProcessOptions, path: &str, words: &[&str]) {
    let errors = errors_with(yaml, options);
    assert_eq!(errors.len(), 1, "expected one error:\n{}", render(&errors));
    assert_has_error(&errors, path, words);
}

/// [`expect_error_with`] in strict mode.
#[track_caller]
fn expect_error(yaml: &str, path: &str, words: &[&str]) {
    expect_error_with(yaml, ProcessOptions::default(), path, words);
}

/// The processed model of `kind`.
#[track_caller]
fn model<'a>(schema: &'a SchemaBranch, kind: &str) -> &'a ModelSchema {
    schema
        .get(kind)
        .unwrap_or_else(|| panic!("`{kind}` is missing"))
}

mod names {
    use super::*;

    #[test]
    fn an_attribute_name_used_twice_is_rejected() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - {name: name, kind: Text}
      - {name: name, kind: Number}
"#;
        // The path points at the second definition, the one that repeats the name.
        expect_error(
            yaml,
            "nodes[0].attributes[1].name",
            &[
                "InfraDevice",
                "`name` is defined more than once",
                "unique within a model",
            ],
        );
    }

    #[test]
    fn an_attribute_and_a_relationship_sharing_a_name_are_rejected() {
        let yaml = r#"
nodes:
  - name: Site
    namespace: Infra
  - name: Device
    namespace: Infra
    attributes:
      - {name: name, kind: Text}
      - {name: site, kind: Text}
    relationships:
      - {name: site, peer: InfraSite}
"#;
        expect_error(
            yaml,
            "nodes[1].relationships[0].name",
            &["`site` is defined more than once"],
        );
    }

    #[test]
    fn names_containing_a_double_underscore_are_rejected() {
        // Such names broke GraphQL generation on the branch (`__typename`) or split paths.
        for name in ["__abc", "__typename", "mtu__max"] {
            let yaml = format!(
                "nodes:\n  - name: Device\n    namespace: Infra\n    attributes:\n      - {{name: {name}, kind: Text}}\n"
            );
            expect_error(
                &yaml,
                "nodes[0].attributes[0].name",
                &[&format!("`{name}`"), "attribute name", "`__`"],
            );
        }
        let yaml = r#"
nodes:
  - name: Site
    namespace: Infra
  - name: Device
    namespace: Infra
    relationships:
      - {name: site__main, peer: InfraSite}
"#;
        expect_error(
            yaml,
            "nodes[1].relationships[0].name",
            &["`site__main`", "relationship name", "`__`"],
        );
    }

    #[test]
    fn a_kind_defined_twice_in_one_file_is_rejected() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - {name: name, kind: Text}
  - name: Device
    namespace: Infra
    attributes:
      - {name: serial, kind: Text}
"#;
        let errors = SchemaFile::from_yaml(yaml, Some(FILE))
            .err()
            .unwrap_or_else(|| panic!("a kind defined twice was accepted"));
        assert_has_error(
            &errors,
            "nodes[1].name",
            &["`InfraDevice` is defined more than once", "nodes[0]"],
        );
    }

    #[test]
    fn relationships_to_internal_kinds_are_rejected() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    relationships:
      - {name: tokens, peer: InternalAccountToken, cardinality: many}
"#;
        let errors = check_namespaces(&parse_as(yaml, FILE))
            .err()
            .unwrap_or_else(|| panic!("a relationship to an internal kind was accepted"));
        assert_has_error(
            &errors,
            "nodes[0].relationships[0].peer",
            &["`tokens`", "`InternalAccountToken`", "internal kind"],
        );
    }

    #[test]
    fn reserved_attribute_names_are_rejected() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - {name: hfid, kind: Text}
"#;
        expect_error(
            yaml,
            "nodes[0].attributes[0].name",
            &["`hfid` is reserved", "attribute name"],
        );
    }

    #[test]
    fn reserved_relationship_names_are_rejected() {
        let yaml = r#"
nodes:
  - name: Site
    namespace: Infra
  - name: Device
    namespace: Infra
    relationships:
      - {name: any, peer: InfraSite}
"#;
        expect_error(
            yaml,
            "nodes[1].relationships[0].name",
            &["`any` is reserved", "relationship name"],
        );
    }

    #[test]
    fn type_is_reserved_on_generics_only() {
        let generic = r#"
generics:
  - name: Endpoint
    namespace: Infra
    attributes:
      - {name: type, kind: Text}
"#;
        expect_error(
            generic,
            "generics[0].attributes[0].name",
            &["`type` is reserved", "attribute name"],
        );
        let node = r#"
nodes:
  - name: Endpoint
    namespace: Infra
    attributes:
      - {name: type, kind: Text}
"#;
        assert!(
            model(&load(node), "InfraEndpoint")
                .attribute("type")
                .is_some()
        );
    }

    #[test]
    fn python_keywords_are_rejected_as_attribute_names_even_when_not_strict() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - {name: class, kind: Text}
"#;
        for options in [ProcessOptions::default(), LAX] {
            expect_error_with(
                yaml,
                options,
                "nodes[0].attributes[0].name",
                &["`class` is a Python keyword", "attribute name"],
            );
        }
    }

    #[test]
    fn python_keywords_are_rejected_as_relationship_names_in_strict_mode_only() {
        let yaml = r#"
nodes:
  - name: Module
    namespace: Infra
  - name: Device
    namespace: Infra
    relationships:
      - {name: import, peer: InfraModule}
"#;
        expect_error(
            yaml,
            "nodes[1].relationships[0].name",
            &[
                "`import` is a Python keyword",
                "relationship name",
                "strict mode",
            ],
        );
        let schema = load_with(yaml, LAX);
        assert!(
            model(&schema, "InfraDevice")
                .relationship("import")
                .is_some()
        );
    }
}

mod peers {
    use super::*;

    const UNKNOWN_PEER: &[&str] = &[
        "relationship `site` refers to `InfraNowhere`",
        "not a known node or generic",
    ];

    #[test]
    fn a_node_relationship_to_an_unknown_kind_is_rejected() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    relationships:
      - {name: site, peer: InfraNowhere}
"#;
        expect_error(yaml, "nodes[0].relationships[0].peer", UNKNOWN_PEER);
    }

    #[test]
    fn a_node_relationship_with_explicit_branch_to_an_unknown_kind_is_rejected() {
        // An explicit `branch` skips branch-support derivation, where peers are looked up
        // first; the peer check must still catch it.
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    relationships:
      - {name: site, peer: InfraNowhere, branch: aware}
"#;
        expect_error(yaml, "nodes[0].relationships[0].peer", UNKNOWN_PEER);
    }

    #[test]
    fn a_generic_relationship_to_an_unknown_kind_is_rejected() {
        let yaml = r#"
generics:
  - name: Equipment
    namespace: Infra
    relationships:
      - {name: site, peer: InfraNowhere}
"#;
        expect_error(yaml, "generics[0].relationships[0].peer", UNKNOWN_PEER);
    }

    /// A device, a LAG and an interface; both the LAG and the interface have `device` as
    /// Parent, and the interface's `lag` relationship carries `{extra}`.
    fn lag_schema(interface_parent: bool, lag_parent_kind: &str, extra: &str) -> String {
        let parent = if interface_parent {
            "\n      - {name: device, peer: InfraDevice, kind: Parent, cardinality: one, optional: false}"
        } else {
            ""
        };
        format!(
            r#"
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - {{name: name, kind: Text, unique: true}}
  - name: Lag
    namespace: Infra
    relationships:
      - {{name: device, peer: InfraDevice, kind: {lag_parent_kind}, cardinality: one, optional: false}}
  - name: Interface
    namespace: Infra
    relationships:
      - {{name: lag, peer: InfraLag, cardinality: one, {extra}}}{parent}
"#
        )
    }

    #[test]
    fn common_parent_naming_a_parent_relationship_of_the_peer_is_accepted() {
        let schema = load(&lag_schema(true, "Parent", "common_parent: device"));
        let lag = model(&schema, "InfraInterface").relationship("lag");
        assert_eq!(lag.and_then(|r| r.common_parent.as_deref()), Some("device"));
    }

    #[test]
    fn common_parent_needs_a_parent_relationship_on_the_model() {
        expect_error(
            &lag_schema(false, "Parent", "common_parent: device"),
            "nodes[2].relationships[0].common_parent",
            &[
                "relationship `lag` sets `common_parent`",
                "InfraInterface has no relationship of kind Parent",
            ],
        );
    }

    #[test]
    fn common_parent_must_name_a_relationship_of_the_peer() {
        expect_error(
            &lag_schema(true, "Parent", "common_parent: chassis"),
            "nodes[2].relationships[0].common_parent",
            &[
                "`common_parent` to `chassis`",
                "not a relationship of InfraLag",
            ],
        );
    }

    #[test]
    fn common_parent_must_name_a_parent_relationship_of_the_peer() {
        expect_error(
            &lag_schema(true, "Generic", "common_parent: device"),
            "nodes[2].relationships[0].common_parent",
            &["`InfraLag.device` is not of kind Parent"],
        );
    }

    #[test]
    fn common_relatives_must_be_relationships_of_the_peer() {
        expect_error(
            &lag_schema(true, "Parent", "common_relatives: [device, chassis]"),
            "nodes[2].relationships[0].common_relatives",
            &["`chassis` is not a relationship of InfraLag"],
        );
    }
}

mod inheritance {
    use super::*;

    #[test]
    fn inheriting_an_unknown_kind_is_rejected() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    inherit_from: [InfraNowhere]
"#;
        expect_error(
            yaml,
            "nodes[0].inherit_from",
            &["`InfraNowhere` is not a known generic"],
        );
    }

    #[test]
    fn inheriting_a_node_is_rejected() {
        let yaml = r#"
nodes:
  - name: Site
    namespace: Infra
  - name: Device
    namespace: Infra
    inherit_from: [InfraSite]
"#;
        expect_error(
            yaml,
            "nodes[1].inherit_from",
            &["`InfraSite` is a node, not a generic"],
        );
    }

    #[test]
    fn inheriting_both_ip_prefix_and_ip_address_is_rejected() {
        let yaml = r#"
nodes:
  - name: Thing
    namespace: Ipam
    inherit_from: [BuiltinIPPrefix, BuiltinIPAddress]
"#;
        expect_error(
            yaml,
            "nodes[0].inherit_from",
            &["cannot inherit from both BuiltinIPPrefix and BuiltinIPAddress"],
        );
    }

    #[test]
    fn inheriting_two_hierarchical_generics_is_rejected() {
        let yaml = r#"
generics:
  - name: Place
    namespace: Location
    hierarchical: true
  - name: Organisation
    namespace: Location
    hierarchical: true
nodes:
  - name: Site
    namespace: Location
    inherit_from: [LocationPlace, LocationOrganisation]
"#;
        expect_error(
            yaml,
            "nodes[0].inherit_from",
            &[
                "only one hierarchical generic",
                "LocationPlace, LocationOrganisation",
            ],
        );
    }

    #[test]
    fn an_attribute_whose_generic_forbids_overrides_cannot_be_redefined() {
        let yaml = r#"
generics:
  - name: Endpoint
    namespace: Infra
    attributes:
      - {name: name, kind: Text, allow_override: none}
nodes:
  - name: Interface
    namespace: Infra
    inherit_from: [InfraEndpoint]
    attributes:
      - {name: name, kind: Text, optional: true}
"#;
        expect_error(
            yaml,
            "nodes[0].attributes[0]",
            &[
                "attribute `name` inherited from InfraEndpoint cannot be overridden",
                "allow_override is none",
            ],
        );
    }

    #[test]
    fn a_relationship_whose_generic_forbids_overrides_cannot_be_redefined() {
        let yaml = r#"
generics:
  - name: Endpoint
    namespace: Infra
    relationships:
      - {name: site, peer: InfraSite, allow_override: none}
nodes:
  - name: Site
    namespace: Infra
  - name: Interface
    namespace: Infra
    inherit_from: [InfraEndpoint]
    relationships:
      - {name: site, peer: InfraSite, cardinality: one}
"#;
        expect_error(
            yaml,
            "nodes[1].relationships[0]",
            &["relationship `site` inherited from InfraEndpoint cannot be overridden"],
        );
    }

    #[test]
    fn an_inherited_attribute_keeps_its_kind() {
        let yaml = r#"
generics:
  - name: Endpoint
    namespace: Infra
    attributes:
      - {name: mtu, kind: Number}
nodes:
  - name: Interface
    namespace: Infra
    inherit_from: [InfraEndpoint]
    attributes:
      - {name: mtu, kind: Text}
"#;
        expect_error(
            yaml,
            "nodes[0].attributes[0]",
            &[
                "attribute `mtu` inherited from InfraEndpoint",
                "must keep its kind Number (found Text)",
            ],
        );
    }

    #[test]
    fn an_inherited_relationship_keeps_its_peer() {
        let yaml = r#"
generics:
  - name: Endpoint
    namespace: Infra
    relationships:
      - {name: site, peer: InfraSite}
nodes:
  - name: Site
    namespace: Infra
  - name: Region
    namespace: Infra
  - name: Interface
    namespace: Infra
    inherit_from: [InfraEndpoint]
    relationships:
      - {name: site, peer: InfraRegion}
"#;
        expect_error(
            yaml,
            "nodes[2].relationships[0]",
            &[
                "relationship `site` inherited from InfraEndpoint",
                "same peer (InfraSite != InfraRegion)",
            ],
        );
    }

    const RESTRICTED_GENERIC: &str = r#"
generics:
  - name: Equipment
    namespace: Infra
    restricted_namespaces: [Dcim]
nodes:
  - name: Router
    namespace: Dcim
    inherit_from: [InfraEquipment]
"#;

    #[test]
    fn restricted_namespaces_accept_nodes_of_those_namespaces() {
        let schema = load(RESTRICTED_GENERIC);
        assert_eq!(model(&schema, "InfraEquipment").used_by, ["DcimRouter"]);
    }

    #[test]
    fn restricted_namespaces_refuse_nodes_of_other_namespaces() {
        let yaml = format!(
            "{RESTRICTED_GENERIC}  - {{name: Switch, namespace: Infra, inherit_from: [InfraEquipment]}}\n"
        );
        expect_error(
            &yaml,
            "nodes[1].inherit_from",
            &["nodes inheriting `InfraEquipment`", "namespaces Dcim"],
        );
    }
}

mod inherited_hierarchy_kind {
    use super::*;

    #[test]
    fn a_relationship_of_kind_hierarchy_an_author_wrote_is_inherited() {
        // OpsMill's data-center bundle: TopologyDeployment's `design` (kind Hierarchy) is a
        // relationship of every deployment kind upstream; only a hierarchy's generated
        // `parent` and `children` are set per node.
        let yaml = r#"
generics:
  - name: Deployment
    namespace: Topo
    attributes:
      - {name: name, kind: Text, unique: true}
    relationships:
      - {name: design, peer: TopoDesign, kind: Hierarchy, cardinality: one, optional: false}
nodes:
  - name: Design
    namespace: Topo
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: DataCenter
    namespace: Topo
    inherit_from: [TopoDeployment]
"#;
        let schema = load(yaml);
        let design = model(&schema, "TopoDataCenter")
            .relationship("design")
            .unwrap_or_else(|| panic!("`design` was not inherited"));
        assert_eq!(
            (
                design.peer.as_str(),
                design.kind,
                design.inherited,
                design.optional
            ),
            ("TopoDesign", RelationshipKind::Hierarchy, true, false)
        );
        // Processing it again keeps it.
        let again = try_load_on(&schema, yaml, ProcessOptions::default())
            .unwrap_or_else(|errors| panic!("{}", render(&errors)));
        assert!(
            model(&again, "TopoDataCenter")
                .relationship("design")
                .is_some()
        );
    }
}

mod hierarchy {
    use super::*;

    #[test]
    fn parent_without_hierarchy_is_rejected() {
        let yaml = r#"
nodes:
  - name: Region
    namespace: Location
  - name: Site
    namespace: Location
    parent: LocationRegion
"#;
        expect_error(
            yaml,
            "nodes[1].hierarchy",
            &["`hierarchy` must be set when `parent` or `children` is"],
        );
    }

    #[test]
    fn hierarchy_must_name_a_generic() {
        let yaml = r#"
nodes:
  - name: Region
    namespace: Location
  - name: Site
    namespace: Location
    hierarchy: LocationRegion
    parent: LocationRegion
"#;
        expect_error(
            yaml,
            "nodes[1].hierarchy",
            &["`LocationRegion` is not a known generic"],
        );
    }

    #[test]
    fn parent_must_name_a_known_kind() {
        let yaml = r#"
generics:
  - name: Generic
    namespace: Location
    hierarchical: true
nodes:
  - name: Site
    namespace: Location
    inherit_from: [LocationGeneric]
    parent: LocationNowhere
"#;
        expect_error(
            yaml,
            "nodes[0].parent",
            &["`LocationNowhere` is not a known node or generic"],
        );
    }

    #[test]
    fn an_empty_parent_marks_the_top_of_a_tree() {
        let yaml = r#"
generics:
  - name: Generic
    namespace: Location
    hierarchical: true
    attributes:
      - {name: name, kind: Text, unique: true}
nodes:
  - name: Region
    namespace: Location
    inherit_from: [LocationGeneric]
    parent: ""
    children: LocationSite
  - name: Site
    namespace: Location
    inherit_from: [LocationGeneric]
    parent: LocationRegion
    children: ""
"#;
        let schema = load(yaml);
        let region = model(&schema, "LocationRegion");
        assert!(region.relationship("parent").is_none());
        let children = region.relationship("children").map(|r| r.peer.as_str());
        assert_eq!(children, Some("LocationSite"));
        let site = model(&schema, "LocationSite");
        assert!(site.relationship("children").is_none());
        let parent = site.relationship("parent");
        assert_eq!(parent.map(|r| r.peer.as_str()), Some("LocationRegion"));
        assert_eq!(parent.map(|r| r.optional), Some(false));
        assert_eq!(site.hierarchy.as_deref(), Some("LocationGeneric"));
    }
}

mod computed {
    use super::*;

    /// A device with a `name` and a computed `fqdn` described by `fqdn` (YAML flow mapping
    /// fields).
    fn device_with(fqdn: &str) -> String {
        format!(
            r#"
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - {{name: name, kind: Text}}
      - {{name: fqdn, {fqdn}}}
"#
        )
    }

    const PATH: &str = "nodes[0].attributes[1].computed_attribute";

    #[test]
    fn a_read_only_jinja2_text_attribute_is_accepted() {
        let schema = load(&device_with(
            "kind: Text, read_only: true, computed_attribute: {kind: Jinja2, jinja2_template: '{{ name__value }}.example.com'}",
        ));
        let fqdn = model(&schema, "InfraDevice").attribute("fqdn");
        assert!(fqdn.is_some_and(|a| a.computed_attribute.is_some()));
    }

    #[test]
    fn a_computed_attribute_must_be_read_only() {
        expect_error(
            &device_with(
                "kind: Text, computed_attribute: {kind: Jinja2, jinja2_template: '{{ name__value }}'}",
            ),
            PATH,
            &["attribute `fqdn` is computed, so it must be read_only"],
        );
    }

    #[test]
    fn only_text_and_url_attributes_can_be_computed() {
        expect_error(
            &device_with(
                "kind: Number, read_only: true, computed_attribute: {kind: Jinja2, jinja2_template: '{{ name__value }}'}",
            ),
            PATH,
            &["only Text and URL attributes can be computed"],
        );
    }

    #[test]
    fn a_jinja2_attribute_needs_a_template() {
        expect_error(
            &device_with("kind: Text, read_only: true, computed_attribute: {kind: Jinja2}"),
            PATH,
            &["Jinja2 computed attribute without `jinja2_template`"],
        );
    }

    #[test]
    fn template_variables_must_be_paths_of_the_model() {
        expect_error(
            &device_with(
                "kind: Text, read_only: true, computed_attribute: {kind: Jinja2, jinja2_template: '{{ nothing__value }}'}",
            ),
            PATH,
            &["template variable `nothing__value` is not a path of InfraDevice"],
        );
    }

    #[test]
    fn a_template_cannot_refer_to_its_own_attribute() {
        expect_error(
            &device_with(
                "kind: Text, read_only: true, computed_attribute: {kind: Jinja2, jinja2_template: '{{ fqdn__value }}'}",
            ),
            PATH,
            &["template variable `fqdn__value` refers to the attribute itself"],
        );
    }

    #[test]
    fn a_python_transform_attribute_must_be_optional() {
        expect_error(
            &device_with(
                "kind: Text, read_only: true, computed_attribute: {kind: TransformPython, transform: fqdn_transform}",
            ),
            PATH,
            &["computed by a Python transform, so it must be optional"],
        );
        load(&device_with(
            "kind: Text, read_only: true, optional: true, computed_attribute: {kind: TransformPython, transform: fqdn_transform}",
        ));
    }

    #[test]
    fn a_python_transform_attribute_must_name_its_transform() {
        expect_error(
            &device_with(
                "kind: Text, read_only: true, optional: true, computed_attribute: {kind: TransformPython}",
            ),
            PATH,
            &["names no `transform`"],
        );
    }
}

mod parameters {
    use super::*;

    /// A device whose only attribute is described by `attribute` (YAML flow mapping fields).
    fn device_with(attribute: &str) -> String {
        format!(
            r#"
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - {{name: vlan_id, {attribute}}}
"#
        )
    }

    #[test]
    fn a_read_only_mandatory_number_pool_is_accepted() {
        load(&device_with(
            "kind: NumberPool, read_only: true, parameters: {start_range: 100, end_range: 200}",
        ));
    }

    #[test]
    fn a_number_pool_attribute_cannot_be_optional() {
        expect_error(
            &device_with("kind: NumberPool, read_only: true, optional: true"),
            "nodes[0].attributes[0].optional",
            &["`vlan_id` is a NumberPool attribute, so it cannot be optional"],
        );
    }

    #[test]
    fn a_number_pool_attribute_must_be_read_only() {
        expect_error(
            &device_with("kind: NumberPool"),
            "nodes[0].attributes[0].read_only",
            &["`vlan_id` is a NumberPool attribute, so it must be read_only"],
        );
    }

    #[test]
    fn min_length_above_max_length_is_rejected_in_strict_mode_only() {
        let yaml = device_with("kind: Text, parameters: {min_length: 10, max_length: 5}");
        expect_error(
            &yaml,
            "nodes[0].attributes[0].parameters.max_length",
            &[
                "max_length (5) cannot be lower than min_length (10)",
                "strict mode",
            ],
        );
        load_with(&yaml, LAX);
    }

    #[test]
    fn min_value_above_max_value_is_rejected_in_strict_mode_only() {
        let yaml = device_with("kind: Number, parameters: {min_value: 100, max_value: 10}");
        expect_error(
            &yaml,
            "nodes[0].attributes[0].parameters.max_value",
            &[
                "max_value (10) cannot be lower than min_value (100)",
                "strict mode",
            ],
        );
        load_with(&yaml, LAX);
    }

    #[test]
    fn overlapping_excluded_ranges_are_rejected() {
        expect_error(
            &device_with("kind: Number, parameters: {excluded_values: '10-20,15-25'}"),
            "nodes[0].attributes[0].parameters.excluded_values",
            &["excluded ranges cannot overlap"],
        );
        load(&device_with(
            "kind: Number, parameters: {excluded_values: '10-20,21-25,30'}",
        ));
    }

    #[test]
    fn an_excluded_range_ending_before_it_starts_is_rejected() {
        expect_error(
            &device_with("kind: Number, parameters: {excluded_values: '20-10'}"),
            "nodes[0].attributes[0].parameters.excluded_values",
            &["range 20-10 ends before it starts"],
        );
    }

    #[test]
    fn a_number_pool_range_ending_before_it_starts_is_rejected() {
        expect_error(
            &device_with(
                "kind: NumberPool, read_only: true, parameters: {start_range: 200, end_range: 100}",
            ),
            "nodes[0].attributes[0].parameters.end_range",
            &["end_range (100) cannot be lower than start_range (200)"],
        );
    }
}

mod default_values {
    use super::*;

    /// A device whose only attribute is described by `attribute` (YAML flow mapping fields).
    fn device_with(attribute: &str) -> String {
        format!(
            r#"
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - {{name: field, {attribute}}}
"#
        )
    }

    const PATH: &str = "nodes[0].attributes[0].default_value";

    #[test]
    fn defaults_that_fit_their_attribute_are_accepted() {
        for attribute in [
            "kind: Number, default_value: 1500",
            "kind: Text, regex: '^[a-z]+$', default_value: abc",
            "kind: Dropdown, choices: [{name: active}, {name: planned}], default_value: active",
            "kind: IPNetwork, default_value: 10.0.0.0/24",
        ] {
            let schema = load(&device_with(attribute));
            let field = model(&schema, "InfraDevice").attribute("field");
            assert!(field.is_some_and(|f| f.optional), "{attribute}");
        }
    }

    #[test]
    fn a_number_default_must_be_an_integer() {
        expect_error(
            &device_with("kind: Number, default_value: abc"),
            PATH,
            &[
                "default value of `field`",
                "\"abc\" is not a valid Number",
                "integer",
            ],
        );
    }

    #[test]
    fn a_text_default_must_match_the_regex() {
        expect_error(
            &device_with("kind: Text, regex: '^[a-z]+$', default_value: ABC"),
            PATH,
            &["`ABC` must match the regular expression `^[a-z]+$`"],
        );
    }

    #[test]
    fn a_dropdown_default_must_be_a_choice() {
        expect_error(
            &device_with(
                "kind: Dropdown, choices: [{name: active}, {name: planned}], default_value: retired",
            ),
            PATH,
            &["`retired` is not a valid choice", "active, planned"],
        );
    }

    #[test]
    fn an_ip_network_default_must_not_have_host_bits() {
        expect_error(
            &device_with("kind: IPNetwork, default_value: 10.0.0.1/24"),
            PATH,
            &[
                "`10.0.0.1/24` is not a valid IP network",
                "host bits are set",
            ],
        );
    }
}

mod counts {
    use super::*;

    /// A site and a device whose only relationship, to the site, is described by
    /// `relationship` (YAML flow mapping fields).
    fn device_with(relationship: &str) -> String {
        format!(
            r#"
nodes:
  - name: Site
    namespace: Infra
  - name: Device
    namespace: Infra
    relationships:
      - {{name: sites, peer: InfraSite, {relationship}}}
"#
        )
    }

    const PATH: &str = "nodes[1].relationships[0].max_count";

    #[test]
    fn a_mandatory_cardinality_one_relationship_counts_exactly_one() {
        expect_error(
            &device_with("cardinality: one, optional: false, max_count: 2"),
            PATH,
            &["relationship `sites` has cardinality one, so min_count and max_count must be 1"],
        );
        let schema = load(&device_with("cardinality: one, optional: false"));
        let sites = model(&schema, "InfraDevice").relationship("sites");
        assert_eq!(sites.map(|r| (r.min_count, r.max_count)), Some((1, 1)));
    }

    #[test]
    fn a_cardinality_many_relationship_cannot_have_max_count_one() {
        expect_error(
            &device_with("cardinality: many, max_count: 1"),
            PATH,
            &["cardinality many, so max_count must be 0 (no limit) or more than 1"],
        );
    }

    #[test]
    fn min_count_cannot_exceed_max_count() {
        expect_error(
            &device_with("cardinality: many, min_count: 5, max_count: 2"),
            "nodes[1].relationships[0].min_count",
            &["min_count (5) must not exceed max_count (2)"],
        );
        load(&device_with(
            "cardinality: many, min_count: 2, max_count: 5",
        ));
    }
}

mod identifiers {
    use super::*;

    fn two_site_links(first: &str, second: &str) -> String {
        format!(
            r#"
nodes:
  - name: Site
    namespace: Infra
  - name: Device
    namespace: Infra
    relationships:
      - {{name: primary_site, peer: InfraSite, identifier: device_site, cardinality: one, direction: {first}}}
      - {{name: backup_site, peer: InfraSite, identifier: device_site, cardinality: one, direction: {second}}}
"#
        )
    }

    #[test]
    fn one_identifier_twice_on_a_model_needs_one_inbound_and_one_outbound() {
        expect_error(
            &two_site_links("bidirectional", "bidirectional"),
            "nodes[1].relationships[0].identifier",
            &[
                "sharing identifier `device_site` on one model must be one inbound and one outbound",
                "primary_site (bidirectional), backup_site (bidirectional)",
            ],
        );
        load(&two_site_links("outbound", "inbound"));
    }

    fn device_and_site(site_direction: &str) -> String {
        format!(
            r#"
nodes:
  - name: Site
    namespace: Infra
    relationships:
      - {{name: devices, peer: InfraDevice, identifier: device_site, direction: {site_direction}}}
  - name: Device
    namespace: Infra
    relationships:
      - {{name: site, peer: InfraSite, identifier: device_site, cardinality: one, direction: outbound}}
"#
        )
    }

    #[test]
    fn an_outbound_relationship_needs_an_inbound_reverse() {
        let errors = errors(&device_and_site("bidirectional"));
        assert_has_error(
            &errors,
            "nodes[1].relationships[0].direction",
            &[
                "relationship `site` (outbound) and its reverse on InfraSite (bidirectional)",
                "identifier `device_site` with incompatible directions",
            ],
        );
        assert_has_error(
            &errors,
            "nodes[0].relationships[0].direction",
            &["relationship `devices` (bidirectional) and its reverse on InfraDevice (outbound)"],
        );
        load(&device_and_site("inbound"));
    }
}

mod paths {
    use super::*;

    /// A device with a unique `name` and the model-level fields `fields` (YAML lines indented
    /// by four spaces).
    fn device_with(fields: &str) -> String {
        format!(
            r#"
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - {{name: name, kind: Text, unique: true}}
{fields}
"#
        )
    }

    const NOT_A_PATH: &[&str] = &[
        "`nothing__value` is not a path of `InfraDevice`",
        "`nothing` is neither an attribute nor a relationship",
    ];

    #[test]
    fn uniqueness_constraints_must_be_paths() {
        expect_error(
            &device_with("    uniqueness_constraints: [[nothing__value]]"),
            "nodes[0].uniqueness_constraints",
            NOT_A_PATH,
        );
    }

    #[test]
    fn display_labels_must_be_paths() {
        expect_error(
            &device_with("    display_labels: [nothing__value]"),
            "nodes[0].display_labels",
            NOT_A_PATH,
        );
    }

    #[test]
    fn display_label_must_be_a_path() {
        expect_error(
            &device_with("    display_label: nothing__value"),
            "nodes[0].display_label",
            NOT_A_PATH,
        );
    }

    #[test]
    fn display_label_template_variables_must_be_paths() {
        expect_error(
            &device_with("    display_label: '{{ name__value }} ({{ nothing__value }})'"),
            "nodes[0].display_label",
            NOT_A_PATH,
        );
        load(&device_with(
            "    display_label: 'Device {{ name__value }}'",
        ));
    }

    #[test]
    fn order_by_must_be_paths() {
        expect_error(
            &device_with("    order_by: [nothing__value]"),
            "nodes[0].order_by",
            NOT_A_PATH,
        );
    }

    #[test]
    fn order_by_accepts_asc_and_desc_suffixes() {
        let schema = load(&device_with(
            "    order_by: [name__value__desc, name__value__asc]",
        ));
        assert_eq!(
            model(&schema, "InfraDevice").order_by.as_deref(),
            Some(
                &[
                    "name__value__desc".to_string(),
                    "name__value__asc".to_string()
                ][..]
            )
        );
    }

    #[test]
    fn default_filter_must_be_a_path() {
        expect_error(
            &device_with("    default_filter: nothing__value"),
            "nodes[0].default_filter",
            NOT_A_PATH,
        );
    }

    /// A site whose `name` is `site_name` (YAML flow mapping fields) and a device identified
    /// by its site's name and its own, through a site relationship described by `link`.
    fn hfid_through_site(site_name: &str, link: &str) -> String {
        format!(
            r#"
nodes:
  - name: Site
    namespace: Infra
    attributes:
      - {{name: name, {site_name}}}
  - name: Device
    namespace: Infra
    human_friendly_id: [site__name__value, name__value]
    attributes:
      - {{name: name, kind: Text}}
    relationships:
      - {{name: site, peer: InfraSite, cardinality: one, {link}}}
"#
        )
    }

    #[test]
    fn a_human_friendly_id_cannot_cross_an_optional_relationship() {
        expect_error(
            &hfid_through_site("kind: Text, unique: true", "optional: true"),
            "nodes[1].human_friendly_id",
            &["`site__name__value`: relationship `site` must be mandatory"],
        );
    }

    #[test]
    fn a_human_friendly_id_needs_a_unique_peer_attribute_in_strict_mode_only() {
        let yaml = hfid_through_site("kind: Text", "optional: false");
        expect_error(
            &yaml,
            "nodes[1].human_friendly_id",
            &[
                "refers to InfraSite through name__value, which is not unique there",
                "add a matching uniqueness constraint to InfraSite",
            ],
        );
        let schema = load_with(&yaml, LAX);
        assert_eq!(
            model(&schema, "InfraDevice").human_friendly_id.as_deref(),
            Some(&["site__name__value".to_string(), "name__value".to_string()][..])
        );
        load(&hfid_through_site(
            "kind: Text, unique: true",
            "optional: false",
        ));
    }

    /// A generic `TopoDeployment` identified by `name__value` (without any unique attribute),
    /// two nodes inheriting it, and a segment identified through its deployment, as in
    /// OpsMill's data-center bundle.
    const DEPLOYMENT_SEGMENT: &str = r#"
generics:
  - name: Deployment
    namespace: Topo
    human_friendly_id: [name__value]
    attributes:
      - {name: name, kind: Text}
nodes:
  - name: DataCenter
    namespace: Topo
    inherit_from: [TopoDeployment]
  - name: Pop
    namespace: Topo
    inherit_from: [TopoDeployment]
    uniqueness_constraints: [[name__value]]
  - name: Segment
    namespace: Topo
    human_friendly_id: [deployment__name__value, name__value]
    attributes:
      - {name: name, kind: Text}
    relationships:
      - {name: deployment, peer: TopoDeployment, cardinality: one, optional: false}
"#;

    #[test]
    fn a_generic_human_friendly_id_makes_its_peer_path_unique() {
        // Upstream adds a generic's human-friendly id to its uniqueness constraints before
        // nodes inherit from it, so a human-friendly id through a relationship to the
        // generic names a unique combination.
        let schema = load(DEPLOYMENT_SEGMENT);
        let name = vec!["name__value".to_string()];
        let deployment = model(&schema, "TopoDeployment");
        assert_eq!(deployment.uniqueness_constraints, Some(vec![name.clone()]));
        assert!(deployment.attribute("name").is_some_and(|a| a.unique));
        for kind in ["TopoDataCenter", "TopoPop"] {
            let node = model(&schema, kind);
            assert_eq!(
                node.uniqueness_constraints,
                Some(vec![name.clone()]),
                "{kind}"
            );
            assert!(node.attribute("name").is_some_and(|a| a.unique), "{kind}");
        }
        assert_eq!(
            model(&schema, "TopoSegment").uniqueness_constraints,
            Some(vec![vec![
                "deployment".to_string(),
                "name__value".to_string()
            ]])
        );
    }

    #[test]
    fn a_human_friendly_id_matching_a_constraint_in_another_order_adds_none() {
        let yaml = r#"
nodes:
  - name: Site
    namespace: Infra
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Rack
    namespace: Infra
    human_friendly_id: [site__name__value, name__value]
    uniqueness_constraints: [[name__value, site]]
    attributes:
      - {name: name, kind: Text}
    relationships:
      - {name: site, peer: InfraSite, cardinality: one, optional: false}
"#;
        let schema = load(yaml);
        assert_eq!(
            model(&schema, "InfraRack").uniqueness_constraints,
            Some(vec![vec!["name__value".to_string(), "site".to_string()]])
        );
    }

    #[test]
    fn template_generics_take_no_uniqueness_from_their_human_friendly_id() {
        let yaml = r#"
generics:
  - name: Equipment
    namespace: Infra
    attributes:
      - {name: description, kind: Text, optional: true}
nodes:
  - name: Device
    namespace: Infra
    generate_template: true
    inherit_from: [InfraEquipment]
    attributes:
      - {name: name, kind: Text, unique: true}
"#;
        let schema = load(yaml);
        let generic = model(&schema, "TemplateInfraEquipment");
        assert_eq!(generic.category, ModelCategory::Generic);
        assert_eq!(generic.uniqueness_constraints, None);
        assert!(
            generic
                .attribute("template_name")
                .is_some_and(|a| !a.unique)
        );
    }
}

mod parents {
    use super::*;

    #[test]
    fn a_model_has_at_most_one_parent() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
  - name: Chassis
    namespace: Infra
  - name: Interface
    namespace: Infra
    relationships:
      - {name: device, peer: InfraDevice, kind: Parent, cardinality: one, optional: false}
      - {name: chassis, peer: InfraChassis, kind: Parent, cardinality: one, optional: false}
"#;
        expect_error(
            yaml,
            "nodes[2].relationships",
            &["only one relationship of kind Parent is allowed, found device, chassis"],
        );
    }

    #[test]
    fn a_parent_has_cardinality_one() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
  - name: Interface
    namespace: Infra
    relationships:
      - {name: device, peer: InfraDevice, kind: Parent, cardinality: many, optional: false}
"#;
        expect_error(
            yaml,
            "nodes[1].relationships[0].cardinality",
            &["relationship `device` of kind Parent must have cardinality one"],
        );
    }

    #[test]
    fn a_parent_is_mandatory() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
  - name: Interface
    namespace: Infra
    relationships:
      - {name: device, peer: InfraDevice, kind: Parent, cardinality: one}
"#;
        expect_error(
            yaml,
            "nodes[1].relationships[0].optional",
            &["relationship `device` of kind Parent must not be optional"],
        );
    }

    #[test]
    fn parents_and_components_cannot_form_a_cycle() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    relationships:
      - {name: modules, peer: InfraModule, kind: Component}
  - name: Module
    namespace: Infra
    relationships:
      - {name: devices, peer: InfraDevice, kind: Component}
"#;
        let errors = errors(yaml);
        assert_eq!(errors.len(), 1, "{}", render(&errors));
        // The error is located at the first model of the cycle.
        assert_eq!(
            (errors[0].file.as_deref(), errors[0].path.as_str()),
            (Some("rules.yml"), "nodes[0].relationships")
        );
        assert!(
            errors[0].message.contains(
                "parents and components form a cycle: InfraDevice -> InfraModule -> InfraDevice"
            ),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn two_kinds_cannot_require_each_other() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    relationships:
      - {name: site, peer: InfraSite, cardinality: one, optional: false}
  - name: Site
    namespace: Infra
    relationships:
      - {name: primary_device, peer: InfraDevice, cardinality: one, optional: false}
"#;
        expect_error(
            yaml,
            "nodes[1].relationships[0].optional",
            &["InfraSite and InfraDevice cannot both have mandatory relationships to each other"],
        );
    }
}

mod loading {
    use super::*;

    const DEVICE_AND_SITE: &str = r#"
nodes:
  - name: Site
    namespace: Infra
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Device
    namespace: Infra
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: description, kind: Text, optional: true}
    relationships:
      - {name: site, peer: InfraSite, cardinality: one}
"#;

    #[test]
    fn a_generic_cannot_take_the_kind_of_an_existing_node() {
        let base = load(DEVICE_AND_SITE);
        let generic = parse_as(
            "generics:\n  - {name: Device, namespace: Infra}\n",
            "second.yml",
        );
        let errors = base
            .with_file(&generic, &ProcessOptions::default())
            .err()
            .unwrap_or_default();
        assert_eq!(errors.len(), 1, "{}", render(&errors));
        assert_eq!(errors[0].file.as_deref(), Some("second.yml"));
        assert_eq!(errors[0].path, "generics[0].name");
        assert!(
            errors[0]
                .message
                .contains("`InfraDevice` already exists as a node"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn extending_an_unknown_kind_is_rejected() {
        let yaml = r#"
extensions:
  nodes:
    - kind: InfraNowhere
      attributes:
        - {name: color, kind: Text, optional: true}
"#;
        expect_error(
            yaml,
            "extensions.nodes[0].kind",
            &[
                "`InfraNowhere` cannot be extended",
                "no such node or generic",
            ],
        );
    }

    #[test]
    fn an_extension_adds_fields_to_an_existing_node() {
        let base = load(DEVICE_AND_SITE);
        let yaml = r#"
extensions:
  nodes:
    - kind: InfraDevice
      attributes:
        - {name: serial, kind: Text, optional: true}
"#;
        let schema = try_load_on(&base, yaml, ProcessOptions::default())
            .unwrap_or_else(|errors| panic!("{}", render(&errors)));
        let device = model(&schema, "InfraDevice");
        assert!(device.attribute("serial").is_some());
        assert!(device.attribute("description").is_some());
    }

    #[test]
    fn state_absent_removes_a_node_and_its_profile() {
        let base = load(DEVICE_AND_SITE);
        assert!(base.has("ProfileInfraDevice"));
        let yaml = r#"
nodes:
  - {name: Device, namespace: Infra, state: absent}
"#;
        let schema = try_load_on(&base, yaml, ProcessOptions::default())
            .unwrap_or_else(|errors| panic!("{}", render(&errors)));
        assert!(!schema.has("InfraDevice"));
        assert!(!schema.has("ProfileInfraDevice"));
        assert!(schema.has("InfraSite"));
    }

    #[test]
    fn state_absent_removes_an_attribute() {
        let base = load(DEVICE_AND_SITE);
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - {name: description, kind: Text, state: absent}
"#;
        let schema = try_load_on(&base, yaml, ProcessOptions::default())
            .unwrap_or_else(|errors| panic!("{}", render(&errors)));
        let device = model(&schema, "InfraDevice");
        assert!(device.attribute("description").is_none());
        assert!(device.attribute("name").is_some());
        let profile = model(&schema, "ProfileInfraDevice");
        assert!(profile.attribute("description").is_none());
    }

    #[test]
    fn restricted_namespaces_are_refused_for_user_schemas() {
        let file = parse_as(
            "nodes:\n  - {name: Device, namespace: Infra}\n  - {name: Widget, namespace: Core}\n",
            FILE,
        );
        let errors = check_namespaces(&file).err().unwrap_or_default();
        assert_eq!(errors.len(), 1, "{}", render(&errors));
        assert_has_error(
            &errors,
            "nodes[1].namespace",
            &[
                "restricted namespace `Core` used on `Widget`",
                "reserved for the built-in schema",
            ],
        );
        let allowed = parse_as("nodes:\n  - {name: Device, namespace: Infra}\n", FILE);
        assert!(check_namespaces(&allowed).is_ok());
    }
}

mod results {
    use super::*;

    const DEVICE_AND_SITE: &str = r#"
nodes:
  - name: Site
    namespace: Infra
    attributes:
      - {name: name, kind: Text, unique: true}
    relationships:
      - {name: devices, peer: InfraDevice}
  - name: Device
    namespace: Infra
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: serial, kind: Text, unique: true}
      - {name: description, kind: Text, optional: true}
      - {name: asset_tag, kind: Text}
      - {name: discovered, kind: Text, optional: true, read_only: true}
    relationships:
      - {name: site, peer: InfraSite, cardinality: one}
"#;

    #[test]
    fn both_sides_of_a_link_share_a_generated_identifier() {
        let schema = load(DEVICE_AND_SITE);
        let identifier = |kind: &str, name: &str| {
            model(&schema, kind)
                .relationship(name)
                .and_then(|r| r.identifier.clone())
        };
        assert_eq!(
            identifier("InfraDevice", "site").as_deref(),
            Some("infradevice__infrasite")
        );
        assert_eq!(
            identifier("InfraSite", "devices").as_deref(),
            Some("infradevice__infrasite")
        );
    }

    #[test]
    fn nodes_get_group_and_profile_relationships() {
        let schema = load(DEVICE_AND_SITE);
        let device = model(&schema, "InfraDevice");
        for (name, peer, identifier, kind) in [
            (
                "member_of_groups",
                "CoreGroup",
                "group_member",
                RelationshipKind::Group,
            ),
            (
                "subscriber_of_groups",
                "CoreGroup",
                "group_subscriber",
                RelationshipKind::Group,
            ),
            (
                "profiles",
                "CoreProfile",
                "node__profile",
                RelationshipKind::Profile,
            ),
        ] {
            let rel = device
                .relationship(name)
                .unwrap_or_else(|| panic!("`{name}` is missing"));
            assert_eq!(
                (
                    rel.peer.as_str(),
                    rel.identifier(),
                    rel.kind,
                    rel.cardinality
                ),
                (peer, identifier, kind, Cardinality::Many),
                "{name}"
            );
        }
    }

    #[test]
    fn profiles_hold_the_writable_attributes_that_are_not_unique() {
        // As upstream 1.11: mandatory ones too (a profile may supply them), never unique or
        // read-only ones; all optional on the profile.
        let schema = load(DEVICE_AND_SITE);
        let profile = model(&schema, "ProfileInfraDevice");
        assert_eq!(profile.category, ModelCategory::Profile);
        let names: Vec<&str> = profile.attribute_names().collect();
        assert_eq!(
            names,
            [
                "profile_name",
                "profile_priority",
                "description",
                "asset_tag"
            ]
        );
        assert!(
            profile
                .attributes
                .iter()
                .filter(|a| !a.name.starts_with("profile_"))
                .all(|a| a.optional)
        );
        assert!(profile.inherit_from.iter().any(|g| g == "CoreProfile"));
        let related = profile
            .relationship("related_nodes")
            .map(|r| r.peer.as_str());
        assert_eq!(related, Some("InfraDevice"));
    }

    #[test]
    fn generate_template_creates_the_template_and_its_link() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    generate_template: true
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: description, kind: Text, optional: true}
"#;
        let schema = load(yaml);
        let template = model(&schema, "TemplateInfraDevice");
        assert_eq!(template.category, ModelCategory::Template);
        let names: Vec<&str> = template.attribute_names().collect();
        assert!(names.contains(&"template_name"), "{names:?}");
        assert!(names.contains(&"description"), "{names:?}");
        assert!(
            !names.contains(&"name"),
            "unique attributes are not templated: {names:?}"
        );
        let link = model(&schema, "InfraDevice")
            .relationship("object_template")
            .unwrap_or_else(|| panic!("`object_template` is missing"));
        assert_eq!(
            (link.peer.as_str(), link.cardinality, link.kind),
            (
                "TemplateInfraDevice",
                Cardinality::One,
                RelationshipKind::Template
            )
        );
        assert!(!load(DEVICE_AND_SITE).has("TemplateInfraDevice"));
    }

    #[test]
    fn the_human_friendly_id_defaults_to_the_first_unique_attribute() {
        let schema = load(DEVICE_AND_SITE);
        let device = model(&schema, "InfraDevice");
        assert_eq!(
            device.human_friendly_id.as_deref(),
            Some(&["name__value".to_string()][..])
        );
        let constraints = device.uniqueness_constraints.clone().unwrap_or_default();
        assert!(
            constraints.contains(&vec!["name__value".to_string()]),
            "{constraints:?}"
        );
    }

    #[test]
    fn unique_attributes_become_uniqueness_constraints() {
        let schema = load(DEVICE_AND_SITE);
        let constraints = model(&schema, "InfraDevice")
            .uniqueness_constraints
            .clone()
            .unwrap_or_default();
        assert!(
            constraints.contains(&vec!["serial__value".to_string()]),
            "{constraints:?}"
        );
        assert!(
            !constraints.contains(&vec!["asset_tag__value".to_string()]),
            "{constraints:?}"
        );
    }

    const ENDPOINTS: &str = r#"
generics:
  - name: Endpoint
    namespace: Infra
    attributes:
      - {name: mtu, kind: Number, default_value: 1500}
nodes:
  - name: Switch
    namespace: Infra
    inherit_from: [InfraEndpoint]
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Router
    namespace: Infra
    inherit_from: [InfraEndpoint]
"#;

    #[test]
    fn inherited_attributes_are_flagged() {
        let schema = load(ENDPOINTS);
        let switch = model(&schema, "InfraSwitch");
        let inherited = |name: &str| switch.attribute(name).map(|a| a.inherited);
        assert_eq!(inherited("mtu"), Some(true));
        assert_eq!(inherited("name"), Some(false));
        assert_eq!(
            model(&schema, "InfraEndpoint")
                .attribute("mtu")
                .map(|a| a.inherited),
            Some(false)
        );
    }

    #[test]
    fn generics_list_the_nodes_that_use_them() {
        let schema = load(ENDPOINTS);
        assert_eq!(
            model(&schema, "InfraEndpoint").used_by,
            ["InfraRouter", "InfraSwitch"]
        );
    }

    #[test]
    fn components_cascade_deletes_by_default() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    attributes:
      - {name: name, kind: Text, unique: true}
    relationships:
      - {name: interfaces, peer: InfraInterface, kind: Component}
  - name: Interface
    namespace: Infra
    relationships:
      - {name: device, peer: InfraDevice, kind: Parent, cardinality: one, optional: false}
"#;
        let schema = load(yaml);
        let on_delete = |kind: &str, name: &str| {
            model(&schema, kind)
                .relationship(name)
                .and_then(|r| r.on_delete)
        };
        assert_eq!(
            on_delete("InfraDevice", "interfaces"),
            Some(OnDelete::Cascade)
        );
        assert_eq!(
            on_delete("InfraInterface", "device"),
            Some(OnDelete::NoAction)
        );
    }

    #[test]
    fn loading_the_same_file_twice_keeps_the_hash() {
        let yaml = r#"
generics:
  - name: Generic
    namespace: Location
    hierarchical: true
    attributes:
      - {name: name, kind: Text, unique: true}
  - name: Endpoint
    namespace: Infra
    attributes:
      - {name: mtu, kind: Number, default_value: 1500}
nodes:
  - name: Region
    namespace: Location
    inherit_from: [LocationGeneric]
    parent: ""
    children: LocationSite
  - name: Site
    namespace: Location
    inherit_from: [LocationGeneric]
    parent: LocationRegion
    children: ""
  - name: Device
    namespace: Infra
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: status, kind: Dropdown, choices: [{name: active}, {name: planned}]}
    relationships:
      - {name: site, peer: LocationSite, cardinality: one, optional: false}
      - {name: interfaces, peer: InfraInterface, kind: Component}
  - name: Interface
    namespace: Infra
    inherit_from: [InfraEndpoint]
    attributes:
      - {name: name, kind: Text}
    relationships:
      - {name: device, peer: InfraDevice, kind: Parent, cardinality: one, optional: false}
"#;
        // `generate_template` is left out: the `object_template` link it adds still changes
        // (`max_count` 0 -> 1) when the same file is processed again.
        let once = load(yaml);
        let twice = try_load_on(&once, yaml, ProcessOptions::default())
            .unwrap_or_else(|errors| panic!("second load rejected:\n{}", render(&errors)));
        assert_ne!(once.hash(), core().hash());
        assert_eq!(once.hash(), twice.hash(), "{:?}", once.diff(&twice));
    }
}

/// Cases that once processed differently on a second load, or were wrongly accepted.
mod regressions {
    use super::*;

    fn reload_keeps_hash(yaml: &str) {
        let first = load(yaml);
        let second = try_load_on(&first, yaml, ProcessOptions::default())
            .unwrap_or_else(|errors| panic!("reload rejected:\n{}", render(&errors)));
        assert_eq!(first.hash(), second.hash(), "{:?}", first.diff(&second));
    }

    #[test]
    fn a_template_schema_is_stable_across_loads() {
        let yaml = r#"
nodes:
  - name: Device
    namespace: Infra
    generate_template: true
    attributes:
      - {name: name, kind: Text, unique: true}
"#;
        let schema = load(yaml);
        let link = schema
            .get("InfraDevice")
            .and_then(|d| d.relationship("object_template").cloned());
        assert_eq!(link.map(|l| (l.min_count, l.max_count)), Some((0, 1)));
        reload_keeps_hash(yaml);
    }

    #[test]
    fn a_node_naming_only_its_hierarchy_inherits_it_on_the_first_load() {
        let yaml = r#"
generics:
  - name: Generic
    namespace: Location
    hierarchical: true
    attributes:
      - {name: name, kind: Text, unique: true}
nodes:
  - name: Region
    namespace: Location
    hierarchy: LocationGeneric
"#;
        let schema = load(yaml);
        let region = schema.get("LocationRegion").cloned();
        assert!(
            region
                .as_ref()
                .is_some_and(|r| r.attribute("name").is_some_and(|a| a.inherited))
        );
        assert!(region.is_some_and(|r| r.inherit_from.contains(&"LocationGeneric".to_string())));
        reload_keeps_hash(yaml);
    }

    #[test]
    fn hfid_uniqueness_compares_whole_attribute_names() {
        let yaml = r#"
nodes:
  - name: Site
    namespace: Infra
    attributes:
      - {name: name, kind: Text, unique: true}
      - {name: name_long, kind: Text}
  - name: Device
    namespace: Infra
    human_friendly_id: [site__name_long__value, name__value]
    attributes:
      - {name: name, kind: Text}
    relationships:
      - {name: site, peer: InfraSite, cardinality: one, optional: false}
"#;
        expect_error(
            yaml,
            "nodes[1].human_friendly_id",
            &["InfraSite", "name_long__value", "not unique"],
        );
    }

    #[test]
    fn errors_in_unused_generics_are_reported_at_the_generic() {
        let yaml = r#"
generics:
  - name: Endpoint
    namespace: Infra
    relationships:
      - {name: site, peer: InfraNowhere, branch: aware}
"#;
        expect_error(
            yaml,
            "generics[0].relationships[0].peer",
            &["InfraNowhere", "not a known node or generic"],
        );
    }
}
