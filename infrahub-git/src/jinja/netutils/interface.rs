//! netutils' `interface` module: interface name filters.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error};

use super::ipaddr::{MAX_LISTED, value_text};
use crate::jinja::error::filter_error;
use crate::jinja::filters::args::{Args, bind, bool_arg};

/// The filters this module registers.
pub(crate) const NAMES: &[&str] = &[
    "abbreviated_interface_name",
    "canonical_interface_name",
    "interface_range_expansion",
    "sort_interface_list",
    "split_interface",
];

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("abbreviated_interface_name", abbreviated_interface_name);
    env.add_filter("canonical_interface_name", canonical_interface_name);
    env.add_filter("interface_range_expansion", interface_range_expansion);
    env.add_filter("sort_interface_list", sort_interface_list);
    env.add_filter("split_interface", split_interface);
}

/// Interface type spellings and the canonical (long) name each stands for, as netutils maps
/// them.
const BASE_INTERFACES: &[(&str, &str)] = &[
    ("Ap", "AppGigabitEthernet"),
    ("ap", "AppGigabitEthernet"),
    ("ATM", "ATM"),
    ("AT", "ATM"),
    ("B", "Bdi"),
    ("Bd", "Bdi"),
    ("Bdi", "Bdi"),
    ("Bv", "BVI"),
    ("Bvi", "BVI"),
    ("Bridge-Aggregation", "Port-channel"),
    ("Dialer", "Dialer"),
    ("Di", "Dialer"),
    ("EOBC", "EOBC"),
    ("EO", "EOBC"),
    ("Ethernet", "Ethernet"),
    ("Eth", "Ethernet"),
    ("eth", "Ethernet"),
    ("Et", "Ethernet"),
    ("et", "Ethernet"),
    ("FastEthernet", "FastEthernet"),
    ("FastEth", "FastEthernet"),
    ("FastE", "FastEthernet"),
    ("Fast", "FastEthernet"),
    ("Fas", "FastEthernet"),
    ("FE", "FastEthernet"),
    ("Fa", "FastEthernet"),
    ("fa", "FastEthernet"),
    ("Fddi", "Fddi"),
    ("FD", "Fddi"),
    ("FortyGigabitEthernet", "FortyGigabitEthernet"),
    ("FortyGigEthernet", "FortyGigabitEthernet"),
    ("FortyGigEth", "FortyGigabitEthernet"),
    ("FortyGigE", "FortyGigabitEthernet"),
    ("FortyGig", "FortyGigabitEthernet"),
    ("FGE", "FortyGigabitEthernet"),
    ("FO", "FortyGigabitEthernet"),
    ("Fo", "FortyGigabitEthernet"),
    ("FiftyGigabitEthernet", "FiftyGigabitEthernet"),
    ("FiftyGigEthernet", "FiftyGigabitEthernet"),
    ("FiftyGigEth", "FiftyGigabitEthernet"),
    ("FiftyGigE", "FiftyGigabitEthernet"),
    ("FI", "FiftyGigabitEthernet"),
    ("Fi", "FiftyGigabitEthernet"),
    ("fi", "FiftyGigabitEthernet"),
    ("GigabitEthernet", "GigabitEthernet"),
    ("GigEthernet", "GigabitEthernet"),
    ("GigEth", "GigabitEthernet"),
    ("GigE", "GigabitEthernet"),
    ("Gig", "GigabitEthernet"),
    ("GE", "GigabitEthernet"),
    ("Ge", "GigabitEthernet"),
    ("ge", "GigabitEthernet"),
    ("Gi", "GigabitEthernet"),
    ("gi", "GigabitEthernet"),
    ("HundredGigabitEthernet", "HundredGigabitEthernet"),
    ("HundredGigEthernet", "HundredGigabitEthernet"),
    ("HundredGigEth", "HundredGigabitEthernet"),
    ("HundredGigE", "HundredGigabitEthernet"),
    ("HundredGig", "HundredGigabitEthernet"),
    ("Hu", "HundredGigabitEthernet"),
    ("TwentyFiveGigabitEthernet", "TwentyFiveGigE"),
    ("TwentyFiveGigEthernet", "TwentyFiveGigE"),
    ("TwentyFiveGigEth", "TwentyFiveGigE"),
    ("TwentyFiveGigE", "TwentyFiveGigE"),
    ("TwentyFiveGig", "TwentyFiveGigE"),
    ("TF", "TwentyFiveGigE"),
    ("Tf", "TwentyFiveGigE"),
    ("tf", "TwentyFiveGigE"),
    ("TwoHundredGigabitEthernet", "TwoHundredGigabitEthernet"),
    ("TwoHundredGigEthernet", "TwoHundredGigabitEthernet"),
    ("TwoHundredGigEth", "TwoHundredGigabitEthernet"),
    ("TwoHundredGigE", "TwoHundredGigabitEthernet"),
    ("TwoHundredGig", "TwoHundredGigabitEthernet"),
    ("TH", "TwoHundredGigabitEthernet"),
    ("Th", "TwoHundredGigabitEthernet"),
    ("th", "TwoHundredGigabitEthernet"),
    ("FourHundredGigabitEthernet", "FourHundredGigabitEthernet"),
    ("FourHundredGigEthernet", "FourHundredGigabitEthernet"),
    ("FourHundredGigEth", "FourHundredGigabitEthernet"),
    ("FourHundredGigE", "FourHundredGigabitEthernet"),
    ("FourHundredGig", "FourHundredGigabitEthernet"),
    ("F", "FourHundredGigabitEthernet"),
    ("f", "FourHundredGigabitEthernet"),
    ("Loopback", "Loopback"),
    ("loopback", "Loopback"),
    ("Lo", "Loopback"),
    ("lo", "Loopback"),
    ("Management", "Management"),
    ("Mgmt", "Management"),
    ("mgmt", "Management"),
    ("Ma", "Management"),
    ("Management_short", "Ma"),
    ("MFR", "MFR"),
    ("Multilink", "Multilink"),
    ("Mu", "Multilink"),
    ("n", "nve"),
    ("nv", "nve"),
    ("nve", "nve"),
    ("PortChannel", "Port-channel"),
    ("Port-channel", "Port-channel"),
    ("Port-Channel", "Port-channel"),
    ("port-channel", "Port-channel"),
    ("po", "Port-channel"),
    ("Po", "Port-channel"),
    ("POS", "POS"),
    ("PO", "POS"),
    ("Serial", "Serial"),
    ("Se", "Serial"),
    ("S", "Serial"),
    ("Sync", "Sync"),
    ("Sy", "Sync"),
    ("Ten-GigabitEthernet", "TenGigabitEthernet"),
    ("TenGigabitEthernet", "TenGigabitEthernet"),
    ("TenGigEthernet", "TenGigabitEthernet"),
    ("TenGigEth", "TenGigabitEthernet"),
    ("TenGigE", "TenGigabitEthernet"),
    ("TenGig", "TenGigabitEthernet"),
    ("TeGig", "TenGigabitEthernet"),
    ("Ten", "TenGigabitEthernet"),
    ("T", "TenGigabitEthernet"),
    ("Te", "TenGigabitEthernet"),
    ("te", "TenGigabitEthernet"),
    ("Tunnel", "Tunnel"),
    ("Tun", "Tunnel"),
    ("Tu", "Tunnel"),
    ("Twe", "TwentyFiveGigE"),
    ("Tw", "TwoGigabitEthernet"),
    ("Two", "TwoGigabitEthernet"),
    ("Virtual-Access", "Virtual-Access"),
    ("Vi", "Virtual-Access"),
    ("Virtual-Template", "Virtual-Template"),
    ("Vt", "Virtual-Template"),
    ("VLAN", "VLAN"),
    ("V", "VLAN"),
    ("Vl", "VLAN"),
    ("Vlan-interface", "VLAN"),
    ("vlan", "VLAN"),
    ("Wlan-GigabitEthernet", "Wlan-GigabitEthernet"),
    ("XGE", "TenGigabitEthernet"),
];

/// Canonical interface types and their abbreviations, as netutils maps them.
const REVERSE_MAPPING: &[(&str, &str)] = &[
    ("AppGigabitEthernet", "Ap"),
    ("ATM", "At"),
    ("BVI", "Bv"),
    ("Dialer", "Di"),
    ("EOBC", "EO"),
    ("Ethernet", "Et"),
    ("FastEthernet", "Fa"),
    ("Fddi", "FD"),
    ("FortyGigabitEthernet", "Fo"),
    ("FourHundredGigabitEthernet", "FH"),
    ("GigabitEthernet", "Gi"),
    ("HundredGigabitEthernet", "Hu"),
    ("Loopback", "Lo"),
    ("Management", "Ma"),
    ("MFR", "MFR"),
    ("Multilink", "Mu"),
    ("Port-channel", "Po"),
    ("POS", "PO"),
    ("Serial", "Se"),
    ("Sync", "Sy"),
    ("TenGigabitEthernet", "Te"),
    ("Tunnel", "Tu"),
    ("TwoGigabitEthernet", "Tw"),
    ("TwentyFiveGigE", "Twe"),
    ("Virtual-Access", "Vi"),
    ("Virtual-Template", "Vt"),
    ("VLAN", "Vl"),
    ("Wlan-GigabitEthernet", "Wl-Gi"),
];

/// A string-to-string map from a template argument (`addl_name_map`).
fn extra_map(filter: &str, value: Option<&Value>) -> Result<BTreeMap<String, String>, Error> {
    let mut map = BTreeMap::new();
    let Some(value) = value.filter(|value| value.kind() == ValueKind::Map) else {
        return Ok(map);
    };
    for key in value.try_iter()? {
        let item = value
            .get_item(&key)
            .map_err(|error| filter_error(filter, error))?;
        map.insert(value_text(&key), value_text(&item));
    }
    Ok(map)
}

fn lookup<'a>(
    table: &'a [(&'a str, &'a str)],
    extra: &'a BTreeMap<String, String>,
    key: &str,
) -> Option<&'a str> {
    extra.get(key).map(String::as_str).or_else(|| {
        table
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, long)| *long)
    })
}

/// netutils' `split_interface`: the type (trailing digits, `/`, `\`, `.`, `:` and spaces
/// removed) and the rest, left-trimmed.
fn split(interface: &str) -> (&str, &str) {
    let head = interface.trim_end_matches(|ch: char| {
        ch.is_ascii_digit() || matches!(ch, '/' | '\\' | '.' | ':' | ' ')
    });
    (head, interface[head.len()..].trim_start())
}

fn split_interface(interface: Value) -> Value {
    let text = value_text(&interface);
    let (head, tail) = split(&text);
    Value::from(vec![Value::from(head), Value::from(tail)])
}

fn canonical_interface_name(interface: Value, args: Args) -> Result<String, Error> {
    const NAME: &str = "canonical_interface_name";
    let slots = bind(NAME, &args, &["addl_name_map", "verify"])?;
    let extra = extra_map(NAME, slots[0].as_ref())?;
    let text = value_text(&interface);
    let (kind, number) = split(&text);
    if let Some(long) = lookup(BASE_INTERFACES, &extra, kind) {
        return Ok(format!("{long}{number}"));
    }
    if bool_arg(slots[1].as_ref(), false) {
        return Err(filter_error(
            NAME,
            format!("verify interface on and no match found for {text}"),
        ));
    }
    Ok(text)
}

fn abbreviated_interface_name(interface: Value, args: Args) -> Result<String, Error> {
    const NAME: &str = "abbreviated_interface_name";
    let slots = bind(
        NAME,
        &args,
        &["addl_name_map", "addl_reverse_map", "verify"],
    )?;
    let extra = extra_map(NAME, slots[0].as_ref())?;
    let extra_reverse = extra_map(NAME, slots[1].as_ref())?;
    let text = value_text(&interface);
    let (kind, number) = split(&text);
    let canonical = lookup(BASE_INTERFACES, &extra, kind).unwrap_or(kind);
    if let Some(short) = lookup(REVERSE_MAPPING, &extra_reverse, canonical) {
        return Ok(format!("{short}{number}"));
    }
    if bool_arg(slots[2].as_ref(), false) {
        return Err(filter_error(
            NAME,
            format!("verify interface on and no match found for {text}"),
        ));
    }
    Ok(text)
}

/// Expands one bracket's content (`1,3-5`) to its numbers.
fn expand_numbers(content: &str) -> Result<Vec<i64>, String> {
    let mut numbers = Vec::new();
    for item in content.split(',') {
        let parse = |text: &str| {
            text.parse::<i64>()
                .map_err(|_| format!("invalid number `{text}` in `[{content}]`"))
        };
        match item.get(1..).and_then(|rest| rest.find('-')) {
            Some(dash) => {
                let first = parse(&item[..=dash])?;
                let last = parse(&item[dash + 2..])?;
                if last.saturating_sub(first) >= MAX_LISTED as i64 {
                    return Err(format!("the range `{item}` is too large"));
                }
                numbers.extend(first..=last);
            }
            None => numbers.push(parse(item)?),
        }
    }
    Ok(numbers)
}

fn range_pattern() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"\[[0-9,-]+\]").unwrap_or_else(|error| panic!("range pattern: {error}"))
    })
}

fn interface_range_expansion(interface_pattern: Value) -> Result<Value, Error> {
    const NAME: &str = "interface_range_expansion";
    let pattern = value_text(&interface_pattern);
    let mut constants: Vec<&str> = Vec::new();
    let mut ranges: Vec<Vec<i64>> = Vec::new();
    let mut previous_end = 0;
    for found in range_pattern().find_iter(&pattern) {
        constants.push(&pattern[previous_end..found.start()]);
        let body = &pattern[found.start() + 1..found.end() - 1];
        ranges.push(expand_numbers(body).map_err(|error| filter_error(NAME, error))?);
        previous_end = found.end();
    }
    if ranges.is_empty() {
        return Ok(Value::from(vec![Value::from(pattern.clone())]));
    }
    let trailing = &pattern[previous_end..];
    let total = ranges
        .iter()
        .try_fold(1u128, |acc, numbers| acc.checked_mul(numbers.len() as u128))
        .unwrap_or(u128::MAX);
    if total > MAX_LISTED {
        return Err(filter_error(
            NAME,
            format!("`{pattern}` expands to more than {MAX_LISTED} interfaces"),
        ));
    }
    let mut names = vec![String::new()];
    for (constant, numbers) in constants.iter().zip(&ranges) {
        names = names
            .iter()
            .flat_map(|prefix| {
                numbers
                    .iter()
                    .map(move |number| format!("{prefix}{constant}{number}"))
            })
            .collect();
    }
    Ok(names
        .into_iter()
        .map(|name| Value::from(format!("{name}{trailing}")))
        .collect())
}

/// A piece of an interface name as netutils sorts them: words, numbers, separators.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Word(String),
    Number(String),
    Separator(char),
}

impl Part {
    fn text(&self) -> String {
        match self {
            Part::Word(text) | Part::Number(text) => text.clone(),
            Part::Separator(ch) => ch.to_string(),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Part::Word(_) => 10,
            Part::Number(_) => 20,
            Part::Separator(_) => 30,
        }
    }

    fn order(&self, other: &Part) -> Ordering {
        self.rank()
            .cmp(&other.rank())
            .then_with(|| match (self, other) {
                (Part::Word(left), Part::Word(right)) => left.cmp(right),
                (Part::Number(left), Part::Number(right)) => {
                    let value = |text: &str| text.parse::<u128>().unwrap_or(u128::MAX);
                    value(left).cmp(&value(right)).then_with(|| left.cmp(right))
                }
                (Part::Separator(left), Part::Separator(right)) => {
                    let weight = |ch: &char| match ch {
                        '.' => 10,
                        '/' => 20,
                        _ => 0,
                    };
                    weight(left).cmp(&weight(right))
                }
                _ => Ordering::Equal,
            })
    }
}

fn parts(interface: &str) -> Result<Vec<Part>, String> {
    let mut parts: Vec<Part> = Vec::new();
    for ch in interface.chars() {
        let extend = |parts: &mut Vec<Part>, ch: char| match parts.last_mut() {
            Some(Part::Word(text)) if ch.is_ascii_alphabetic() || ch == '-' => {
                text.push(ch);
                true
            }
            Some(Part::Number(text)) if ch.is_ascii_digit() => {
                text.push(ch);
                true
            }
            _ => false,
        };
        if extend(&mut parts, ch) {
            continue;
        }
        parts.push(match ch {
            ch if ch.is_ascii_alphabetic() || ch == '-' => Part::Word(ch.to_string()),
            ch if ch.is_ascii_digit() => Part::Number(ch.to_string()),
            '.' | '/' => Part::Separator(ch),
            other => return Err(format!("unknown character '{other}'")),
        });
    }
    Ok(parts)
}

#[derive(Default)]
struct Node {
    children: Vec<(Part, bool, Node)>,
}

impl Node {
    fn insert(&mut self, parts: &[Part]) {
        let Some((first, rest)) = parts.split_first() else {
            return;
        };
        let index = match self.children.iter().position(|(part, _, _)| part == first) {
            Some(index) => index,
            None => {
                self.children.push((first.clone(), false, Node::default()));
                self.children.len() - 1
            }
        };
        let child = &mut self.children[index];
        if rest.is_empty() {
            child.1 = true;
        }
        child.2.insert(rest);
    }

    fn walk(&mut self, prefix: &str, out: &mut Vec<String>) {
        self.children.sort_by(|left, right| left.0.order(&right.0));
        for (part, terminal, child) in &mut self.children {
            let name = format!("{prefix}{}", part.text());
            if *terminal {
                out.push(name.clone());
            }
            child.walk(&name, out);
        }
    }
}

fn sort_interface_list(interfaces: Value) -> Result<Value, Error> {
    let mut root = Node::default();
    for interface in interfaces.try_iter()? {
        let text = value_text(&interface);
        let split = parts(&text).map_err(|error| filter_error("sort_interface_list", error))?;
        root.insert(&split);
    }
    let mut out = Vec::new();
    root.walk("", &mut out);
    Ok(out.into_iter().map(Value::from).collect())
}
