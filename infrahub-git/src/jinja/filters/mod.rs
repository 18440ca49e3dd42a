//! The filter set: the SDK's `AVAILABLE_FILTERS` (Jinja2 built-ins, netutils, Infrahub), which
//! of them are trusted, and their registration on a minijinja environment.
//!
//! minijinja's own built-ins that the SDK does not offer (`split`, `lines`, `bool`, `chain`,
//! `zip`) are removed. Built-ins whose minijinja version differs from Jinja2's are replaced by
//! ours (see [`text`] and [`data`]).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use minijinja::Environment;

pub(crate) mod args;
pub(crate) mod data;
pub(crate) mod format;
pub(crate) mod text;

/// Where a filter comes from, as the SDK's filter list records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FilterSource {
    /// A Jinja2 built-in filter.
    Jinja2,
    /// A filter of the `netutils` library (`netutils.utils.jinja2_convenience_function`).
    Netutils,
    /// A filter Infrahub adds (`from_json`, `from_yaml`, the artifact and file-object ones).
    Infrahub,
}

/// One filter of the SDK's list, what it may be used for, and whether this crate has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FilterInfo {
    /// The name templates use (`upper`, `ipaddress_network`).
    pub name: &'static str,
    /// Where the filter comes from.
    pub source: FilterSource,
    /// Whether the SDK trusts the filter in every execution context (restricted validation
    /// accepts only trusted filters).
    pub trusted: bool,
    /// Whether the SDK allows the filter when templates are validated without restriction
    /// (its local context): every filter but the Infrahub ones that need a worker.
    pub allowed_unrestricted: bool,
    /// Whether this crate implements the filter; one that is not is absent from rendering.
    pub implemented: bool,
}

const CORE: u8 = 1;
const WORKER: u8 = 2;
const LOCAL: u8 = 4;
const ALL: u8 = CORE | WORKER | LOCAL;

struct Spec {
    name: &'static str,
    contexts: u8,
    source: FilterSource,
}

const fn spec(name: &'static str, contexts: u8, source: FilterSource) -> Spec {
    Spec {
        name,
        contexts,
        source,
    }
}

/// The SDK's `AVAILABLE_FILTERS` (infrahub-sdk 1.23.2), in its order.
const SPECS: &[Spec] = &[
    spec("abs", ALL, FilterSource::Jinja2),
    spec("attr", WORKER | LOCAL, FilterSource::Jinja2),
    spec("batch", WORKER | LOCAL, FilterSource::Jinja2),
    spec("capitalize", ALL, FilterSource::Jinja2),
    spec("center", ALL, FilterSource::Jinja2),
    spec("count", ALL, FilterSource::Jinja2),
    spec("d", ALL, FilterSource::Jinja2),
    spec("default", ALL, FilterSource::Jinja2),
    spec("dictsort", WORKER | LOCAL, FilterSource::Jinja2),
    spec("e", ALL, FilterSource::Jinja2),
    spec("escape", ALL, FilterSource::Jinja2),
    spec("filesizeformat", ALL, FilterSource::Jinja2),
    spec("first", ALL, FilterSource::Jinja2),
    spec("float", ALL, FilterSource::Jinja2),
    spec("forceescape", ALL, FilterSource::Jinja2),
    spec("format", ALL, FilterSource::Jinja2),
    spec("groupby", WORKER | LOCAL, FilterSource::Jinja2),
    spec("indent", ALL, FilterSource::Jinja2),
    spec("int", ALL, FilterSource::Jinja2),
    spec("items", WORKER | LOCAL, FilterSource::Jinja2),
    spec("join", ALL, FilterSource::Jinja2),
    spec("last", ALL, FilterSource::Jinja2),
    spec("length", ALL, FilterSource::Jinja2),
    spec("list", ALL, FilterSource::Jinja2),
    spec("lower", ALL, FilterSource::Jinja2),
    spec("map", WORKER | LOCAL, FilterSource::Jinja2),
    spec("max", ALL, FilterSource::Jinja2),
    spec("min", ALL, FilterSource::Jinja2),
    spec("pprint", WORKER | LOCAL, FilterSource::Jinja2),
    spec("random", WORKER | LOCAL, FilterSource::Jinja2),
    spec("reject", WORKER | LOCAL, FilterSource::Jinja2),
    spec("rejectattr", WORKER | LOCAL, FilterSource::Jinja2),
    spec("replace", ALL, FilterSource::Jinja2),
    spec("reverse", ALL, FilterSource::Jinja2),
    spec("round", ALL, FilterSource::Jinja2),
    spec("safe", WORKER | LOCAL, FilterSource::Jinja2),
    spec("select", WORKER | LOCAL, FilterSource::Jinja2),
    spec("selectattr", WORKER | LOCAL, FilterSource::Jinja2),
    spec("slice", ALL, FilterSource::Jinja2),
    spec("sort", WORKER | LOCAL, FilterSource::Jinja2),
    spec("string", ALL, FilterSource::Jinja2),
    spec("striptags", ALL, FilterSource::Jinja2),
    spec("sum", ALL, FilterSource::Jinja2),
    spec("title", ALL, FilterSource::Jinja2),
    spec("tojson", WORKER | LOCAL, FilterSource::Jinja2),
    spec("trim", ALL, FilterSource::Jinja2),
    spec("truncate", ALL, FilterSource::Jinja2),
    spec("unique", WORKER | LOCAL, FilterSource::Jinja2),
    spec("upper", ALL, FilterSource::Jinja2),
    spec("urlencode", ALL, FilterSource::Jinja2),
    spec("urlize", WORKER | LOCAL, FilterSource::Jinja2),
    spec("wordcount", ALL, FilterSource::Jinja2),
    spec("wordwrap", ALL, FilterSource::Jinja2),
    spec("xmlattr", WORKER | LOCAL, FilterSource::Jinja2),
    spec("abbreviated_interface_name", ALL, FilterSource::Netutils),
    spec(
        "abbreviated_interface_name_list",
        ALL,
        FilterSource::Netutils,
    ),
    spec("asn_to_int", ALL, FilterSource::Netutils),
    spec("bits_to_name", ALL, FilterSource::Netutils),
    spec("bytes_to_name", ALL, FilterSource::Netutils),
    spec("canonical_interface_name", ALL, FilterSource::Netutils),
    spec("canonical_interface_name_list", ALL, FilterSource::Netutils),
    spec("cidr_to_netmask", ALL, FilterSource::Netutils),
    spec("cidr_to_netmaskv6", ALL, FilterSource::Netutils),
    spec("clean_config", ALL, FilterSource::Netutils),
    spec("compare_version_loose", ALL, FilterSource::Netutils),
    spec("compare_version_strict", ALL, FilterSource::Netutils),
    spec("config_compliance", ALL, FilterSource::Netutils),
    spec("config_section_not_parsed", ALL, FilterSource::Netutils),
    spec("delimiter_change", ALL, FilterSource::Netutils),
    spec("diff_network_config", ALL, FilterSource::Netutils),
    spec("feature_compliance", ALL, FilterSource::Netutils),
    spec("find_unordered_cfg_lines", ALL, FilterSource::Netutils),
    spec("fqdn_to_ip", LOCAL, FilterSource::Netutils),
    spec("get_all_host", LOCAL, FilterSource::Netutils),
    spec("get_broadcast_address", ALL, FilterSource::Netutils),
    spec("get_first_usable", ALL, FilterSource::Netutils),
    spec("get_ips_sorted", ALL, FilterSource::Netutils),
    spec("get_nist_urls", ALL, FilterSource::Netutils),
    spec("get_nist_vendor_platform_urls", ALL, FilterSource::Netutils),
    spec("get_oui", ALL, FilterSource::Netutils),
    spec("get_peer_ip", ALL, FilterSource::Netutils),
    spec("get_range_ips", ALL, FilterSource::Netutils),
    spec("get_upgrade_path", ALL, FilterSource::Netutils),
    spec("get_usable_range", ALL, FilterSource::Netutils),
    spec("hash_data", ALL, FilterSource::Netutils),
    spec("int_to_asdot", ALL, FilterSource::Netutils),
    spec("interface_range_compress", ALL, FilterSource::Netutils),
    spec("interface_range_expansion", ALL, FilterSource::Netutils),
    spec("ip_addition", ALL, FilterSource::Netutils),
    spec("ip_subtract", ALL, FilterSource::Netutils),
    spec("ip_to_bin", ALL, FilterSource::Netutils),
    spec("ip_to_hex", ALL, FilterSource::Netutils),
    spec("ipaddress_address", ALL, FilterSource::Netutils),
    spec("ipaddress_interface", ALL, FilterSource::Netutils),
    spec("ipaddress_network", ALL, FilterSource::Netutils),
    spec("is_classful", ALL, FilterSource::Netutils),
    spec("is_fqdn_resolvable", LOCAL, FilterSource::Netutils),
    spec("is_ip", ALL, FilterSource::Netutils),
    spec("is_ip_range", ALL, FilterSource::Netutils),
    spec("is_ip_within", ALL, FilterSource::Netutils),
    spec("is_netmask", ALL, FilterSource::Netutils),
    spec("is_network", ALL, FilterSource::Netutils),
    spec("is_reversible_wildcardmask", ALL, FilterSource::Netutils),
    spec("is_valid_mac", ALL, FilterSource::Netutils),
    spec("longest_prefix_match", ALL, FilterSource::Netutils),
    spec("mac_normalize", ALL, FilterSource::Netutils),
    spec("mac_to_format", ALL, FilterSource::Netutils),
    spec("mac_to_int", ALL, FilterSource::Netutils),
    spec("mac_type", ALL, FilterSource::Netutils),
    spec("name_to_bits", ALL, FilterSource::Netutils),
    spec("name_to_bytes", ALL, FilterSource::Netutils),
    spec("name_to_name", ALL, FilterSource::Netutils),
    spec("netmask_to_cidr", ALL, FilterSource::Netutils),
    spec("netmask_to_wildcardmask", ALL, FilterSource::Netutils),
    spec("normalise_delimiter_caret_c", ALL, FilterSource::Netutils),
    spec("paloalto_panos_brace_to_set", ALL, FilterSource::Netutils),
    spec("paloalto_panos_clean_newlines", ALL, FilterSource::Netutils),
    spec("regex_findall", LOCAL, FilterSource::Netutils),
    spec("regex_match", LOCAL, FilterSource::Netutils),
    spec("regex_search", LOCAL, FilterSource::Netutils),
    spec("regex_split", LOCAL, FilterSource::Netutils),
    spec("regex_sub", LOCAL, FilterSource::Netutils),
    spec("sanitize_config", ALL, FilterSource::Netutils),
    spec("section_config", ALL, FilterSource::Netutils),
    spec("sort_interface_list", ALL, FilterSource::Netutils),
    spec("split_interface", ALL, FilterSource::Netutils),
    spec("uptime_seconds_to_string", ALL, FilterSource::Netutils),
    spec("uptime_string_to_seconds", ALL, FilterSource::Netutils),
    spec("version_metadata", ALL, FilterSource::Netutils),
    spec("vlanconfig_to_list", ALL, FilterSource::Netutils),
    spec("vlanlist_to_config", ALL, FilterSource::Netutils),
    spec("wildcardmask_to_netmask", ALL, FilterSource::Netutils),
    spec("artifact_content", WORKER, FilterSource::Infrahub),
    spec("file_object_content", WORKER, FilterSource::Infrahub),
    spec(
        "file_object_content_by_hfid",
        WORKER,
        FilterSource::Infrahub,
    ),
    spec("file_object_content_by_id", WORKER, FilterSource::Infrahub),
    spec("from_json", ALL, FilterSource::Infrahub),
    spec("from_yaml", ALL, FilterSource::Infrahub),
];

/// minijinja built-ins kept as they are (they behave as Jinja2's do).
const KEPT_BUILTINS: &[&str] = &[
    "abs",
    "batch",
    "capitalize",
    "count",
    "d",
    "default",
    "first",
    "groupby",
    "items",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "sum",
    "title",
    "trim",
    "unique",
    "upper",
];

/// minijinja built-ins removed from every environment: those the SDK does not offer, and
/// those replaced by ours.
const REMOVED_BUILTINS: &[&str] = &[
    "split",
    "lines",
    "bool",
    "chain",
    "zip",
    "tojson",
    "urlencode",
    "pprint",
    "attr",
    "int",
    "float",
    "string",
    "join",
    "indent",
    "escape",
    "e",
];

fn implemented_names() -> &'static BTreeSet<&'static str> {
    static NAMES: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        KEPT_BUILTINS
            .iter()
            .chain(text::NAMES)
            .chain(data::NAMES)
            .chain(format::NAMES)
            .chain(super::netutils::NAMES.iter().flat_map(|names| names.iter()))
            .copied()
            .collect()
    })
}

/// Whether `name` is a filter templates can use here.
pub(crate) fn is_implemented(name: &str) -> bool {
    implemented_names().contains(name)
}

/// Whether restricted validation (the SDK's core context) accepts `name`.
pub(crate) fn is_trusted(name: &str) -> bool {
    SPECS
        .iter()
        .any(|spec| spec.name == name && spec.contexts & CORE != 0)
}

/// Whether unrestricted validation (the SDK's local context) accepts `name`.
pub(crate) fn is_allowed_unrestricted(name: &str) -> bool {
    SPECS
        .iter()
        .any(|spec| spec.name == name && spec.contexts & LOCAL != 0)
}

/// Every filter of the SDK's list, with its source, trust and whether this crate has it.
///
/// # Examples
///
/// ```
/// use infrahub_git::jinja::filters;
///
/// let upper = filters().into_iter().find(|info| info.name == "upper").unwrap();
/// assert!(upper.trusted && upper.implemented);
/// let tojson = filters().into_iter().find(|info| info.name == "tojson").unwrap();
/// assert!(!tojson.trusted);
/// ```
pub fn filters() -> Vec<FilterInfo> {
    SPECS
        .iter()
        .map(|spec| FilterInfo {
            name: spec.name,
            source: spec.source,
            trusted: spec.contexts == ALL,
            allowed_unrestricted: spec.contexts & LOCAL != 0,
            implemented: is_implemented(spec.name),
        })
        .collect()
}

/// The names of the filters templates can use, sorted.
pub fn filter_names() -> Vec<&'static str> {
    implemented_names().iter().copied().collect()
}

/// Leaves on `env` exactly the filters of the SDK's list that this crate implements.
pub(crate) fn register(env: &mut Environment<'static>) {
    for name in REMOVED_BUILTINS {
        env.remove_filter(name);
    }
    text::register(env);
    data::register(env);
    format::register(env);
    super::netutils::register(env);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_list_is_whole_and_unique() {
        let names: BTreeSet<_> = SPECS.iter().map(|spec| spec.name).collect();
        assert_eq!(names.len(), SPECS.len());
        assert_eq!(SPECS.len(), 138);
    }

    #[test]
    fn only_listed_filters_are_implemented() {
        for name in implemented_names() {
            assert!(
                SPECS.iter().any(|spec| spec.name == *name),
                "`{name}` is implemented but not in the SDK's list"
            );
        }
    }

    #[test]
    fn trust_follows_the_sdk() {
        assert!(is_trusted("upper"));
        assert!(is_trusted("from_json"));
        assert!(is_trusted("ipaddress_network"));
        assert!(!is_trusted("tojson"));
        assert!(!is_trusted("get_all_host"));
        assert!(!is_trusted("artifact_content"));
        assert!(is_allowed_unrestricted("get_all_host"));
        assert!(!is_allowed_unrestricted("artifact_content"));
    }
}
