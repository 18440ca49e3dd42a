//! netutils' Jinja2 filters, written anew in Rust.
//!
//! The SDK offers every filter of `netutils.utils.jinja2_convenience_function` in its list;
//! this module implements the ones Infrahub templates use most (see the [`jinja`] module
//! documentation for the list). A filter the SDK offers that is not here is absent: a
//! template that uses it fails to compile with an error naming the filter.
//!
//! [`jinja`]: crate::jinja

use minijinja::Environment;

mod asn;
mod bandwidth;
mod interface;
mod ip;
pub(crate) mod ipaddr;
mod mac;
mod vlan;

/// The netutils filters this crate implements, module by module.
pub(crate) const NAMES: &[&[&str]] = &[
    asn::NAMES,
    bandwidth::NAMES,
    interface::NAMES,
    ip::NAMES,
    mac::NAMES,
    vlan::NAMES,
];

pub(crate) fn register(env: &mut Environment<'static>) {
    asn::register(env);
    bandwidth::register(env);
    interface::register(env);
    ip::register(env);
    mac::register(env);
    vlan::register(env);
}
