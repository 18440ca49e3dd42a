//! Jinja2 rendering for Infrahub transforms, with the behaviour of the official Python SDK's
//! `Jinja2Template` (infrahub-sdk 1.23.2), on top of [`minijinja`].
//!
//! A [`Renderer`] works in one of the SDK's two modes:
//!
//! * **files**: a repository's Jinja2 transform, read through a [`TemplateLoader`] (the
//!   files of one commit) with `{% include %}`, `{% import %}` and `{% extends %}` going
//!   through it too, paths normalised and confined to the repository root; `trim_blocks`
//!   and `lstrip_blocks` on; Jinja2's default (lenient) undefined values;
//! * **strings**: template text, without a loader or block trimming, with Jinja2's
//!   `StrictUndefined`.
//!
//! A transform's variables are the whole GraphQL response, `{"data": {...}}`, so templates
//! say `data.DcimDevice.edges[0].node.name.value`.
//!
//! # Filters
//!
//! Exactly the SDK's filter list ([`filters`] tells which are trusted and which this crate
//! has): minijinja's built-ins the SDK does not offer are removed; Jinja2 built-ins that
//! minijinja lacks or writes differently are implemented here with Jinja2's behaviour
//! (`center`, `escape`, `filesizeformat`, `float`, `forceescape`, `indent`, `int`, `join`,
//! `pprint`, `random`, `string`, `striptags`, `tojson`, `truncate`, `urlencode`, `urlize`,
//! `wordcount`, `wordwrap`, `xmlattr`, `attr`); Infrahub's `from_json` and `from_yaml`
//! are here. Values print as Python prints them (`True`, `None`, `['a', 1]`), and Python's
//! common string and dictionary methods (`.items()`, `.split()`, `.startswith()`, ...)
//! work, through `minijinja-contrib`'s `pycompat`.
//!
//! Of netutils' filters, these are implemented (written anew from netutils' documented
//! behaviour):
//!
//! * IP: `ipaddress_address`, `ipaddress_interface`, `ipaddress_network` (Python
//!   `ipaddress` attributes such as `ip`, `network`, `netmask`, `prefixlen`,
//!   `with_prefixlen`, `network_address`, `broadcast_address`, `num_addresses`,
//!   `is_private`, ..., and the methods `hosts`, `subnets`, `supernet`, `overlaps`,
//!   `subnet_of`, `supernet_of`), `cidr_to_netmask`, `cidr_to_netmaskv6`, `get_all_host`,
//!   `get_broadcast_address`, `get_first_usable`, `get_ips_sorted`, `get_peer_ip`,
//!   `get_range_ips`, `get_usable_range`, `ip_addition`, `ip_subtract`, `ip_to_bin`,
//!   `ip_to_hex`, `is_classful`, `is_ip`, `is_ip_range`, `is_ip_within`, `is_netmask`,
//!   `is_network`, `is_reversible_wildcardmask`, `netmask_to_cidr`,
//!   `netmask_to_wildcardmask`, `wildcardmask_to_netmask`;
//! * interfaces: `abbreviated_interface_name`, `canonical_interface_name`,
//!   `interface_range_expansion`, `sort_interface_list`, `split_interface`;
//! * VLANs: `vlanconfig_to_list`, `vlanlist_to_config`;
//! * MAC addresses: `is_valid_mac`, `mac_normalize`, `mac_to_format`, `mac_to_int`,
//!   `mac_type`;
//! * AS numbers: `asn_to_int`, `int_to_asdot`;
//! * bandwidth: `bits_to_name`, `bytes_to_name`, `name_to_bits`, `name_to_bytes`,
//!   `name_to_name`.
//!
//! The SDK's other netutils filters (configuration parsing and compliance, password hashing,
//! OS versions, regular expressions, DNS, OUI lookup, the `_list` interface variants,
//! `interface_range_compress`, ...) and the Infrahub filters that need a client
//! (`artifact_content`, `file_object_content*`) are absent: a template using one fails with
//! a syntax error naming the filter. Where netutils gives a plainly wrong result this crate
//! does not copy it: `name_to_bits("100bps")` is 100 (netutils says 0), `bytes_to_name` of
//! fewer than 8000 bytes gives the bytes (netutils gives eight times as many), and
//! `vlanlist_to_config` keeps every VLAN of a run shorter than `min_grouping_size`
//! (netutils drops the third and later ones). Listings (`get_all_host`, `hosts()`,
//! `subnets()`, range expansion) stop at 65,536 items with an error.
//!
//! # Differences from Jinja2 that remain
//!
//! minijinja's `~` operator and string concatenation write `true`/`none` rather than
//! `True`/`None`; Jinja2's `loopcontrols` extension is not enabled (as in the SDK), and
//! Python objects' other methods are not available.
//!
//! # Limits
//!
//! Every render is bounded by [`RenderLimits`]: fuel (work and allocation), recursion and
//! include depth, output size and template size. Filters that could create much more than
//! they are given pay fuel before they do.

mod error;
pub(crate) mod filters;
mod loader;
mod netutils;
mod python;
mod renderer;
mod scan;

pub use error::{RenderError, RenderErrorKind};
pub use filters::{FilterInfo, FilterSource, filter_names, filters};
pub use loader::TemplateLoader;
pub use renderer::{RenderLimits, Renderer, STRING_TEMPLATE_NAME};
