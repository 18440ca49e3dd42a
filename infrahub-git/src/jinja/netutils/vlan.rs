//! netutils' `vlan` module: VLAN lists to IOS-like configuration lines and back.

use minijinja::value::Value;
use minijinja::{Environment, Error};

use super::ipaddr::value_text;
use crate::jinja::error::filter_error;
use crate::jinja::filters::args::{Args, bind, bool_arg, usize_arg};

/// The filters this module registers.
pub(crate) const NAMES: &[&str] = &["vlanconfig_to_list", "vlanlist_to_config"];

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("vlanconfig_to_list", vlanconfig_to_list);
    env.add_filter("vlanlist_to_config", vlanlist_to_config);
}

/// Splits a comma-separated configuration into lines: the first at most `first` characters,
/// the others at most `other`, each cut at a comma.
fn split_lines(config: &str, first: usize, other: usize) -> Result<Vec<String>, String> {
    if config.len() <= first {
        return Ok(vec![config.to_owned()]);
    }
    let bytes = config.as_bytes();
    let cut = (1..=first.min(bytes.len() - 1))
        .rev()
        .find(|at| bytes[*at] == b',')
        .ok_or_else(|| {
            format!("line with comma seperated vlans is expected (e.g. 1-3,5,6,1000,1002), received {config}")
        })?;
    let mut lines = vec![config[..cut].to_owned()];
    let mut start = cut + 1;
    while start <= bytes.len() {
        let end = (start..=(start + other).min(bytes.len()))
            .rev()
            .find(|at| *at == bytes.len() || bytes[*at] == b',')
            .ok_or_else(|| format!("a VLAN group of {config} is longer than {other} characters"))?;
        lines.push(config[start..end].to_owned());
        if end == bytes.len() {
            break;
        }
        start = end + 1;
    }
    Ok(lines)
}

fn vlanlist_to_config(vlan_list: Value, args: Args) -> Result<Value, Error> {
    const NAME: &str = "vlanlist_to_config";
    let slots = bind(
        NAME,
        &args,
        &[
            "first_line_len",
            "other_line_len",
            "min_grouping_size",
            "return_empty",
        ],
    )?;
    let first = usize_arg(NAME, "first_line_len", slots[0].as_ref(), 48)?;
    let other = usize_arg(NAME, "other_line_len", slots[1].as_ref(), 44)?;
    let grouping = usize_arg(NAME, "min_grouping_size", slots[2].as_ref(), 3)?;
    let mut vlans: Vec<i64> = Vec::new();
    for item in vlan_list.try_iter()? {
        vlans.push(
            item.as_i64()
                .ok_or_else(|| filter_error(NAME, format!("`{item}` is not a VLAN number")))?,
        );
    }
    if vlans.is_empty() {
        if bool_arg(slots[3].as_ref(), false) {
            return Ok(Value::from(Vec::<Value>::new()));
        }
        return Err(filter_error(
            NAME,
            "the `vlan_list` argument provided is empty, a list of vlans is required, e.g. [10,20,30]",
        ));
    }
    if grouping < 1 {
        return Err(filter_error(
            NAME,
            "minimum grouping size must be equal to or greater than one",
        ));
    }
    vlans.sort_unstable();
    vlans.dedup();
    let config = if grouping == 1 {
        vlans
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    } else {
        if vlans[0] < 1 || vlans[vlans.len() - 1] > 4094 {
            return Err(filter_error(NAME, "valid VLAN range is 1-4094"));
        }
        let mut groups: Vec<Vec<i64>> = Vec::new();
        for vlan in vlans {
            match groups.last_mut() {
                Some(group) if group.last() == Some(&(vlan - 1)) => group.push(vlan),
                _ => groups.push(vec![vlan]),
            }
        }
        groups
            .iter()
            .map(|group| {
                if group.len() >= grouping {
                    format!("{}-{}", group[0], group[group.len() - 1])
                } else {
                    group
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let lines = split_lines(&config, first, other).map_err(|error| filter_error(NAME, error))?;
    Ok(lines.into_iter().map(Value::from).collect())
}

fn vlanconfig_to_list(vlan_config: Value) -> Result<Value, Error> {
    const NAME: &str = "vlanconfig_to_list";
    let config = value_text(&vlan_config);
    let invalid = config
        .chars()
        .last()
        .is_some_and(|last| !(last.is_ascii_digit() || last == '-'));
    let mut vlans: Vec<i64> = Vec::new();
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    let tokens: Vec<&str> = config
        .split(|ch: char| !ch.is_ascii_digit() && ch != '-')
        .collect();
    for token in tokens {
        let numbers: Vec<&str> = token.split('-').filter(|part| !part.is_empty()).collect();
        for number in &numbers {
            vlans.push(
                number
                    .parse()
                    .map_err(|_| filter_error(NAME, format!("`{number}` is not a VLAN number")))?,
            );
        }
        if token.contains('-') && numbers.len() == 2 {
            ranges.push((vlans[vlans.len() - 2], vlans[vlans.len() - 1]));
        }
    }
    if invalid && !vlans.is_empty() {
        return Err(filter_error(
            NAME,
            format!("there were non-digits and dashes found in `{config}`"),
        ));
    }
    if invalid || vlans.is_empty() {
        return Err(filter_error(NAME, format!("no digits found in `{config}`")));
    }
    for (first, last) in ranges {
        if last - first > 4094 {
            return Err(filter_error(
                NAME,
                format!("valid VLAN range is 1-4094, found {last}"),
            ));
        }
        vlans.extend(first + 1..last);
    }
    vlans.sort_unstable();
    let highest = vlans[vlans.len() - 1];
    if highest > 4094 {
        return Err(filter_error(
            NAME,
            format!("valid VLAN range is 1-4094, found {highest}"),
        ));
    }
    Ok(vlans.into_iter().map(Value::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_configurations_split_at_commas() {
        let config = "1-3,5,6,1000,1002,1004,1006,1008,1010,1012,1014,1016,1018";
        assert_eq!(
            split_lines(config, 48, 44).unwrap(),
            [
                "1-3,5,6,1000,1002,1004,1006,1008,1010,1012,1014",
                "1016,1018"
            ]
        );
    }
}
