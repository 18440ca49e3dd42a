//! Jinja2 rendering: the SDK's two modes, the loader, filters, validation and limits.
//!
//! Expected texts are what Jinja2 3.1 (with the SDK's settings) produces for the same
//! template and variables.

use std::collections::HashMap;

use infrahub_git::jinja::{RenderErrorKind, RenderLimits, Renderer, filter_names, filters};
use serde_json::{Value, json};

fn files(entries: &[(&str, &str)]) -> Renderer {
    let map: HashMap<String, String> = entries
        .iter()
        .map(|(path, text)| ((*path).to_owned(), (*text).to_owned()))
        .collect();
    Renderer::for_files(map)
}

fn render_file(
    template: &str,
    variables: &Value,
) -> Result<String, infrahub_git::jinja::RenderError> {
    files(&[("t.j2", template)]).render("t.j2", variables)
}

fn device_data() -> Value {
    json!({"data": {"DcimDevice": {"edges": [
        {"node": {"name": {"value": "r1"}, "enabled": {"value": true}, "description": {"value": null},
                  "interfaces": {"edges": [
                      {"node": {"name": {"value": "Gi1/0/2"}, "mtu": {"value": 1500}}},
                      {"node": {"name": {"value": "Gi1/0/1"}, "mtu": {"value": 9000}}}
                  ]}}}
    ]}}})
}

#[test]
fn a_transform_renders_the_graphql_response() {
    let template = "hostname {{ data.DcimDevice.edges[0].node.name.value }}\n\
{% for intf in data.DcimDevice.edges[0].node.interfaces.edges | sort(attribute='node.name.value') %}\n\
interface {{ intf.node.name.value }}\n  mtu {{ intf.node.mtu.value }}\n\
{% endfor %}\n\
enabled {{ data.DcimDevice.edges[0].node.enabled.value }} / {{ data.DcimDevice.edges[0].node.description.value }}\n";
    let output = render_file(template, &device_data()).unwrap();
    assert_eq!(
        output,
        "hostname r1\ninterface Gi1/0/1\n  mtu 9000\ninterface Gi1/0/2\n  mtu 1500\nenabled True / None"
    );
}

#[test]
fn blocks_are_trimmed_as_jinja2_trims_them() {
    let template = "interfaces:\n{% for row in rows %}\n  {% if row.n > 1 %}\n  - {{ row.name }}\n  {% endif %}\n{% endfor %}\nend\n";
    let variables =
        json!({"rows": [{"name": "b", "n": 2}, {"name": "a", "n": 1}, {"name": "c", "n": 3}]});
    assert_eq!(
        render_file(template, &variables).unwrap(),
        "interfaces:\n  - b\n  - c\nend"
    );

    let template = "a\n    {% if true %}\n    b\n    {% endif %}\n  {# comment #}\nc {% if true %}x{% endif %}\n  {%+ if true %}y{% endif %}\n{%- if true %} z{% endif -%}\n  w\n";
    assert_eq!(
        render_file(template, &json!({})).unwrap(),
        "a\n    b\nc x  y zw"
    );

    // String mode keeps Jinja2's defaults: no trimming.
    let strings = Renderer::for_strings();
    assert_eq!(
        strings
            .render("a\n  {% if true %}\nb\n  {% endif %}\n", &json!({}))
            .unwrap(),
        "a\n  \nb\n  "
    );
}

#[test]
fn undefined_values_are_lenient_in_file_mode() {
    let variables = json!({"data": {"none": null, "s": "x"}});
    assert_eq!(
        render_file(
            "[{{ missing }}][{{ data.missing }}][{{ data.none.x }}][{{ missing | length }}]{% for x in missing %}no{% endfor %}",
            &variables
        )
        .unwrap(),
        "[][][][0]"
    );
    let error = render_file("line one\n{{ data.missing.x }}", &variables).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::UndefinedVariable);
    assert_eq!(error.template(), Some("t.j2"));
    assert_eq!(error.line(), Some(2));
    assert_eq!(error.to_string(), "t.j2:2: `data.missing` is undefined");
}

#[test]
fn undefined_values_are_strict_in_string_mode() {
    let strings = Renderer::for_strings();
    let variables = json!({"name": "r1"});
    for template in [
        "{{ missing }}",
        "{% if missing %}x{% endif %}",
        "{% for x in missing %}{% endfor %}",
    ] {
        let error = strings.render(template, &variables).unwrap_err();
        assert_eq!(
            error.kind(),
            RenderErrorKind::UndefinedVariable,
            "{template}"
        );
        assert_eq!(error.template(), Some("<template>"));
    }
    assert_eq!(
        strings
            .render(
                "{{ missing | default('d') }} {{ missing is defined }} {{ name }}",
                &variables
            )
            .unwrap(),
        "d False r1"
    );
}

#[test]
fn include_import_and_extends_go_through_the_loader() {
    let renderer = files(&[
        (
            "templates/device.j2",
            "{% extends 'templates/base.j2' %}\n{% import 'macros/net.j2' as net %}\n{% block body %}\n{% include 'templates/./part.j2' %}\n{{ net.iface('Gi1') }}\n{% endblock %}\n",
        ),
        (
            "templates/base.j2",
            "begin\n{% block body %}{% endblock %}\nend\n",
        ),
        ("templates/part.j2", "part for {{ name }}\n"),
        (
            "macros/net.j2",
            "{% macro iface(n) %}\ninterface {{ n }}\n{% endmacro %}\n",
        ),
    ]);
    assert_eq!(
        renderer
            .render("templates/device.j2", &json!({"name": "r1"}))
            .unwrap(),
        "begin\npart for r1interface Gi1\n\nend"
    );
}

#[test]
fn paths_leaving_the_repository_are_refused() {
    let renderer = files(&[
        ("t.j2", "{% include '../secret.j2' %}"),
        ("abs.j2", "{% include '/etc/passwd' %}"),
    ]);
    let error = renderer.render("t.j2", &json!({})).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Forbidden);
    assert!(error.message().contains("../secret.j2"), "{error}");
    let error = renderer.render("abs.j2", &json!({})).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Forbidden);
    let error = renderer.render("../t.j2", &json!({})).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Forbidden);
}

#[test]
fn missing_templates_and_failing_sources_are_reported() {
    let renderer = files(&[("t.j2", "a\n{% include 'nope.j2' %}")]);
    let error = renderer.render("t.j2", &json!({})).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::TemplateNotFound);
    assert!(error.message().contains("nope.j2"), "{error}");
    assert_eq!(
        renderer.render("other.j2", &json!({})).unwrap_err().kind(),
        RenderErrorKind::TemplateNotFound
    );

    let failing = Renderer::for_files(|path: &str| -> Result<Option<String>, String> {
        Err(format!("object for {path} is corrupt"))
    });
    let error = failing.render("t.j2", &json!({})).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Loader);
    assert!(
        error.message().contains("object for t.j2 is corrupt"),
        "{error}"
    );
}

#[test]
fn syntax_errors_name_the_file_and_line() {
    let renderer = files(&[
        (
            "templates/device.j2",
            "a\nb\n{% include 'templates/broken.j2' %}",
        ),
        ("templates/broken.j2", "one\ntwo\n{% if x %}\nthree\n"),
    ]);
    let error = renderer
        .render("templates/device.j2", &json!({}))
        .unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Syntax);
    assert_eq!(error.template(), Some("templates/broken.j2"));
    assert!(error.line().is_some_and(|line| line >= 3), "{error}");
    assert!(
        error.to_string().starts_with("templates/broken.j2:"),
        "{error}"
    );
}

#[test]
fn unknown_and_removed_filters_fail_naming_the_filter() {
    // Jinja2 refuses an unknown filter when compiling, even in a branch never taken.
    let error =
        render_file("ok\n{% if false %}{{ x | nosuch }}{% endif %}", &json!({})).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Syntax);
    assert_eq!(error.line(), Some(2));
    assert!(error.message().contains("`nosuch`"), "{error}");
    // minijinja built-ins that the SDK does not offer are gone.
    for removed in ["split", "lines", "bool", "chain", "zip"] {
        let error = render_file(&format!("{{{{ 'a b' | {removed} }}}}"), &json!({})).unwrap_err();
        assert!(error.message().contains(removed), "{removed}: {error}");
        assert!(!filter_names().contains(&removed));
    }
}

#[test]
fn values_print_as_python_prints_them() {
    let variables = json!({"flag": true, "none": null, "list": [1, "a", false], "map": {"k": 1.0}, "big": 1e20});
    assert_eq!(
        render_file("{{ flag }} {{ none }} {{ list }} {{ map }} {{ big }} {{ list | string }} {{ list | join(',') }}", &variables).unwrap(),
        "True None [1, 'a', False] {'k': 1.0} 1e+20 [1, 'a', False] 1,a,False"
    );
}

#[test]
fn jinja2_string_filters_behave_as_jinja2() {
    let words = "The quick brown fox jumps over the lazy dog and keeps running far away";
    let variables = json!({"words": words, "html": "<b>x & y</b> 'q'"});
    let cases = [
        (
            "{{ 'hello world' | center(21) }}|{{ 'abc' | center(8) }}",
            "     hello world     |  abc   ",
        ),
        (
            "{{ words | truncate(20) }}|{{ words | truncate(20, True) }}|{{ words | truncate(20, end='>>') }}",
            "The quick brown...|The quick brown f...|The quick brown>>",
        ),
        (
            "{{ words | wordwrap(20) }}",
            "The quick brown fox\njumps over the lazy\ndog and keeps\nrunning far away",
        ),
        ("{{ words | wordcount }}", "14"),
        (
            "{{ html | e }}|{{ html | forceescape }}",
            "&lt;b&gt;x &amp; y&lt;/b&gt; &#39;q&#39;|&lt;b&gt;x &amp; y&lt;/b&gt; &#39;q&#39;",
        ),
        (
            "{{ 1000 | filesizeformat }} {{ 1 | filesizeformat }} {{ 1500000 | filesizeformat(true) }}",
            "1.0 kB 1 Byte 1.4 MiB",
        ),
        (
            "{{ 'a\nb\n\nc' | indent(2, true) }}|{{ 'a\nb' | indent('> ') }}",
            "  a\n  b\n\n  c|a\n> b",
        ),
        (
            "{{ '<p>Hello <b>World</b> &amp; <!-- x --> friends</p>' | striptags }}",
            "Hello World & friends",
        ),
        (
            "{{ 'a b/c?d' | urlencode }}|{{ {'a': 'b c'} | urlencode }}",
            "a%20b/c%3Fd|a=b+c",
        ),
        (
            "{{ 'visit www.example.com now' | urlize }}",
            "visit <a href=\"https://www.example.com\" rel=\"noopener\">www.example.com</a> now",
        ),
        (
            "<a{{ {'class': 'x', 'id': none} | xmlattr }}>",
            "<a class=\"x\">",
        ),
        ("{{ '%s-%03d-%.2f' | format('a', 7, 2.5) }}", "a-007-2.50"),
    ];
    for (template, expected) in cases {
        assert_eq!(
            render_file(template, &variables).unwrap(),
            expected,
            "{template}"
        );
    }
}

#[test]
fn jinja2_data_filters_behave_as_jinja2() {
    let variables = json!({
        "rows": [{"name": "b", "n": 2}, {"name": "A", "n": 1}, {"name": "c", "n": 3}],
        "d": {"b": 1, "a": 2, "C": 3},
        "strs": ["b", "A", "a", "C"],
        "nums": [3, 1, 2, 2],
    });
    let cases = [
        (
            "{% for k, v in d | dictsort %}{{ k }}{{ v }}{% endfor %}",
            "a2b1C3",
        ),
        (
            "{% for g in rows | groupby('n') %}{{ g.grouper }}:{{ g.list | map(attribute='name') | join }};{% endfor %}",
            "1:A;2:b;3:c;",
        ),
        (
            "{{ rows | selectattr('n', 'gt', 1) | map(attribute='name') | list }}",
            "['b', 'c']",
        ),
        (
            "{{ nums | sum }} {{ rows | sum(attribute='n') }} {{ nums | unique | list }}",
            "8 6 [3, 1, 2]",
        ),
        (
            "{{ strs | min }} {{ strs | max }} {{ strs | sort }} {{ strs | unique | list }}",
            "A C ['A', 'a', 'b', 'C'] ['b', 'A', 'C']",
        ),
        (
            "{{ nums | batch(3, 'x') | list }} {{ nums | slice(3) | list }}",
            "[[3, 1, 2], [2, 'x', 'x']] [[3, 1], [2], [2]]",
        ),
        (
            "{{ d | tojson }}|{{ '<&>' | tojson }}",
            "{\"C\": 3, \"a\": 2, \"b\": 1}|\"\\u003c\\u0026\\u003e\"",
        ),
        (
            "{{ rows | pprint }}",
            "[{'n': 2, 'name': 'b'}, {'n': 1, 'name': 'A'}, {'n': 3, 'name': 'c'}]",
        ),
        (
            "{{ '42.7' | int }} {{ 'x' | int(7) }} {{ '0x1f' | int(base=16) }} {{ 'x' | float }} {{ '4.5' | float }}",
            "42 7 31 0.0 4.5",
        ),
        (
            "{{ 2.5 | round }} {{ 3.14159 | round(2) }} {{ -3 | abs }}",
            "2.0 3.14 3",
        ),
        (
            "{{ 'hello WORLD' | capitalize }} {{ \"hello-world's\" | title }}",
            "Hello world Hello-World's",
        ),
        (
            "{{ d.keys() | list }} {{ 'a-b'.split('-') }} {{ d.get('zz', 5) }}",
            "['b', 'a', 'C'] ['a', 'b'] 5",
        ),
    ];
    for (template, expected) in cases {
        assert_eq!(
            render_file(template, &variables).unwrap(),
            expected,
            "{template}"
        );
    }
    assert!(
        ["b", "A", "a", "C"].contains(
            &render_file("{{ strs | random }}", &variables)
                .unwrap()
                .as_str()
        )
    );
}

#[test]
fn from_json_and_from_yaml_parse_strings() {
    let variables = json!({"j": "{\"a\": [1, 2]}", "y": "a: 1\nb: [x, y]\n", "bad": "{nope"});
    assert_eq!(
        render_file(
            "{{ (j | from_json).a[1] }} {{ (y | from_yaml).b }} {{ '' | from_json }}",
            &variables
        )
        .unwrap(),
        "2 ['x', 'y'] {}"
    );
    let error = render_file("{{ bad | from_json }}", &variables).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Filter);
    assert!(error.message().contains("from_json"), "{error}");
}

#[test]
fn netutils_ip_filters_match_netutils() {
    let cases = [
        (
            "{{ '10.1.1.1/24' | ipaddress_interface('network') }} {{ '10.1.1.1/24' | ipaddress_interface('ip') }} {{ '10.1.1.1/24' | ipaddress_interface('netmask') }} {{ '10.1.1.1/24' | ipaddress_interface('network.network_address') }}",
            "10.1.1.0/24 10.1.1.1 255.255.255.0 10.1.1.0",
        ),
        (
            "{{ '10.1.1.0/24' | ipaddress_network('num_addresses') }} {{ '10.1.1.0/24' | ipaddress_network('broadcast_address') }} {{ '10.1.1.1/24' | ipaddress_interface('with_netmask') }} {{ '10.1.1.1' | ipaddress_address('version') }}",
            "256 10.1.1.255 10.1.1.1/255.255.255.0 4",
        ),
        (
            "{{ '192.168.1.0/28' | ipaddress_network('subnets', new_prefix=30) | list }}",
            "[IPv4Network('192.168.1.0/30'), IPv4Network('192.168.1.4/30'), IPv4Network('192.168.1.8/30'), IPv4Network('192.168.1.12/30')]",
        ),
        (
            "{{ ('10.1.1.1/24' | ipaddress_interface('network')).prefixlen }} {{ '10.0.0.1' | ipaddress_address('is_private') }} {{ '8.8.8.8' | ipaddress_address('is_global') }}",
            "24 True True",
        ),
        (
            "{{ '10.100.100.100' | ip_to_hex }} {{ '10.100.100.100' | ip_addition(200) }} {{ '10.100.100.100' | ip_subtract(200) }}",
            "0a646464 10.100.101.44 10.100.99.156",
        ),
        (
            "{{ 'x' | is_ip }} {{ '::1' | is_ip }} {{ '10.0.0.1-10.0.0.5' | is_ip_range }} {{ '10.0.0.0/24' | is_network }} {{ '10.0.0.1/24' | is_network }} {{ '255.255.255.0' | is_netmask }} {{ '255.0.255.0' | is_netmask }}",
            "False True True True False True False",
        ),
        (
            "{{ '10.0.0.5' | is_ip_within('10.0.0.0/24') }} {{ '10.0.0.0/25' | is_ip_within(['10.1.0.0/24', '10.0.0.0/24']) }} {{ '10.0.0.1-10.0.0.9' | is_ip_within('10.0.0.0-10.0.0.8') }}",
            "True True False",
        ),
        (
            "{{ '255.255.254.0' | netmask_to_cidr }} {{ 17 | cidr_to_netmask }} {{ 24 | cidr_to_netmaskv6 }} {{ '255.255.255.0' | netmask_to_wildcardmask }}",
            "23 255.255.128.0 ffff:ff00:: 0.0.0.255",
        ),
        (
            "{{ '10.100.100.0/29' | get_all_host | list }}",
            "['10.100.100.1', '10.100.100.2', '10.100.100.3', '10.100.100.4', '10.100.100.5', '10.100.100.6']",
        ),
        (
            "{{ '10.100.0.0/16' | get_broadcast_address }} {{ '10.100.0.0/16' | get_first_usable }} {{ '10.100.100.0/29' | get_usable_range }} {{ '10.0.0.0/31' | get_usable_range }}",
            "10.100.255.255 10.100.0.1 10.100.100.1 - 10.100.100.6 10.0.0.0 - 10.0.0.1",
        ),
        (
            "{{ '10.0.0.1/30' | get_peer_ip }} {{ '10.0.0.2/30' | get_peer_ip }} {{ '10.0.0.0/31' | get_peer_ip }} {{ '2001::1/126' | get_peer_ip }}",
            "10.0.0.2 10.0.0.1 10.0.0.1 2001::2",
        ),
        (
            "{{ ['10.0.20.0/24', '10.0.19.0/24', '10.0.20.0/23'] | get_ips_sorted }}",
            "['10.0.19.0/24', '10.0.20.0/23', '10.0.20.0/24']",
        ),
    ];
    for (template, expected) in cases {
        assert_eq!(
            render_file(template, &json!({})).unwrap(),
            expected,
            "{template}"
        );
    }
    let error = render_file(
        "\n{{ '10.0.0.1/24' | ipaddress_network('prefixlen') }}",
        &json!({}),
    )
    .unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Filter);
    assert_eq!(error.line(), Some(2));
    assert!(error.message().contains("has host bits set"), "{error}");
    let error = render_file("{{ '10.0.0.0/8' | get_all_host | list }}", &json!({})).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Filter);
}

#[test]
fn netutils_interface_vlan_mac_asn_and_bandwidth_filters_match_netutils() {
    let cases = [
        (
            "{{ 'Gi1/0/1' | canonical_interface_name }} {{ 'po10' | canonical_interface_name }} {{ 'xyz1' | canonical_interface_name }} {{ 'Po10' | canonical_interface_name({'Po': 'Port-Channel'}) }}",
            "GigabitEthernet1/0/1 Port-channel10 xyz1 Port-Channel10",
        ),
        (
            "{{ 'GigabitEthernet1/0/1' | abbreviated_interface_name }} {{ 'Eth1' | abbreviated_interface_name }} {{ 'Port-channel1' | abbreviated_interface_name }} {{ ('Eth 1' | split_interface) | join('|') }}",
            "Gi1/0/1 Et1 Po1 Eth|1",
        ),
        (
            "{{ 'Gi[1-2]/0/[1,3-4]' | interface_range_expansion }}",
            "['Gi1/0/1', 'Gi1/0/3', 'Gi1/0/4', 'Gi2/0/1', 'Gi2/0/3', 'Gi2/0/4']",
        ),
        (
            "{{ ['Gi1/0/1', 'Gi1/0/3', 'Gi1/0/3.100', 'Gi1/0/2', 'Gi1/0/2.50', 'Gi2/0/2', 'Po40', 'Po160', 'Lo10'] | sort_interface_list }}",
            "['Gi1/0/1', 'Gi1/0/2', 'Gi1/0/2.50', 'Gi1/0/3', 'Gi1/0/3.100', 'Gi2/0/2', 'Lo10', 'Po40', 'Po160']",
        ),
        (
            "{{ [1,2,3,5,6,1000,1002,1004,1006,1008,1010,1012,1014,1016,1018] | vlanlist_to_config }}",
            "['1-3,5,6,1000,1002,1004,1006,1008,1010,1012,1014', '1016,1018']",
        ),
        (
            "{{ [1,3,5,6,100,101,102,103,104,105,107,109] | vlanlist_to_config(min_grouping_size=2) }}",
            "['1,3,5-6,100-105,107,109']",
        ),
        (
            "{{ '1025,1069-1072,1114' | vlanconfig_to_list }}",
            "[1025, 1069, 1070, 1071, 1072, 1114]",
        ),
        (
            "{{ 'aa.bb.cc.dd.ee.ff' | is_valid_mac }} {{ 'aa:bb:cc:dd:ee:fg' | is_valid_mac }} {{ 'aa.bb.cc.dd.ee.ff' | mac_to_format('MAC_DASH_FOUR') }} {{ 'aabb.ccdd.eeff' | mac_type }} {{ 'aa:bb:cc:dd:ee:ff' | mac_normalize }} {{ 'aa:bb:cc:dd:ee:ff' | mac_to_int }}",
            "True False aabb-ccdd-eeff MAC_DOT_FOUR aabbccddeeff 187723572702975",
        ),
        (
            "{{ '65000.111' | asn_to_int }} {{ 4259840111 | int_to_asdot }} {{ 65000 | int_to_asdot }}",
            "4259840111 65000.111 65000",
        ),
        (
            "{{ '10Gbps' | name_to_bits }} {{ '2.5 Gbps' | name_to_bits }} {{ '100 Mbit' | name_to_bits }} {{ '10Gbps' | name_to_bytes }}",
            "10000000000 2500000000 100000000 1250000000.0",
        ),
        (
            "{{ 125000 | bits_to_name }} {{ 1500000 | bits_to_name(1) }} {{ 10000.0 | bytes_to_name }} {{ '100Kbps' | name_to_name('Gbps', 4) }}",
            "125Kbps 1.5Mbps 10.0KBps 0.0001Gbps",
        ),
    ];
    for (template, expected) in cases {
        assert_eq!(
            render_file(template, &json!({})).unwrap(),
            expected,
            "{template}"
        );
    }
}

#[test]
fn validation_refuses_untrusted_filters_and_string_includes() {
    let strings = Renderer::for_strings();
    strings
        .validate("{{ name | upper | ipaddress_network('prefixlen') }}", true)
        .unwrap();
    let error = strings
        .validate("x\n{{ items | tojson }}", true)
        .unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Forbidden);
    assert_eq!(error.line(), Some(2));
    assert!(error.message().contains("`tojson`"), "{error}");
    strings.validate("{{ items | tojson }}", false).unwrap();
    assert_eq!(
        strings
            .validate("{{ x | artifact_content }}", false)
            .unwrap_err()
            .kind(),
        RenderErrorKind::Forbidden
    );
    let error = strings.validate("{% include 'x.j2' %}", false).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Forbidden);
    assert_eq!(
        strings.validate("{% if x %}", true).unwrap_err().kind(),
        RenderErrorKind::Syntax
    );

    let renderer = files(&[("t.j2", "{% include 'u.j2' %}{{ x | sort }}")]);
    assert_eq!(
        renderer.validate("t.j2", true).unwrap_err().kind(),
        RenderErrorKind::Forbidden
    );
    renderer.validate("t.j2", false).unwrap();

    let listed = filters();
    let trusted: Vec<_> = listed
        .iter()
        .filter(|info| info.trusted)
        .map(|info| info.name)
        .collect();
    assert!(trusted.contains(&"upper") && !trusted.contains(&"sort"));
    assert!(
        listed
            .iter()
            .any(|info| info.name == "get_oui" && !info.implemented)
    );
}

#[test]
fn a_template_that_loops_forever_runs_out_of_fuel() {
    let template =
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}";
    let error = render_file(template, &json!({})).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::LimitExceeded);
    assert!(error.message().contains("fuel"), "{error}");
}

#[test]
fn a_template_that_builds_a_huge_string_is_stopped() {
    // One string of a gigabyte: refused before it is built.
    let error =
        render_file("{% set s = 'x' * 1000000000 %}{{ s | length }}", &json!({})).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::LimitExceeded, "{error}");
    // Doubling a string until it is huge.
    let error = render_file(
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
        &json!({}),
    )
    .unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::LimitExceeded, "{error}");
    // A filter asked for a huge width pays before it allocates.
    let error = render_file("{{ 'x' | center(100000000000) }}", &json!({})).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::LimitExceeded, "{error}");
}

#[test]
fn output_is_capped() {
    let mut limits = RenderLimits::default();
    limits.max_output_bytes = 1000;
    let renderer = files(&[(
        "t.j2",
        "{% for i in range(200) %}{{ 'x' * 10 }}{% endfor %}",
    )])
    .with_limits(limits);
    let error = renderer.render("t.j2", &json!({})).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::LimitExceeded);
    assert!(error.message().contains("1000 bytes"), "{error}");
    // Under the default cap (16 MiB) a 20 MB output fails too.
    let error = render_file(
        "{% for i in range(20000) %}{{ 'x' * 1000 }}{% endfor %}",
        &json!({}),
    )
    .unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::LimitExceeded);
}

#[test]
fn recursion_and_include_depth_are_bounded() {
    let renderer = files(&[
        ("self.j2", "x{% include 'self.j2' %}"),
        (
            "macro.j2",
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        ),
    ]);
    for template in ["self.j2", "macro.j2"] {
        let error = renderer.render(template, &json!({})).unwrap_err();
        assert_eq!(
            error.kind(),
            RenderErrorKind::LimitExceeded,
            "{template}: {error}"
        );
    }
}

#[test]
fn template_size_is_capped() {
    let mut limits = RenderLimits::default();
    limits.max_template_bytes = 100;
    let big = "x".repeat(101);
    let renderer = files(&[("big.j2", big.as_str()), ("t.j2", "{% include 'big.j2' %}")])
        .with_limits(limits.clone());
    for template in ["big.j2", "t.j2"] {
        let error = renderer.render(template, &json!({})).unwrap_err();
        assert_eq!(error.kind(), RenderErrorKind::LimitExceeded, "{template}");
        assert!(error.to_string().contains("big.j2"), "{error}");
    }
    let strings = Renderer::for_strings().with_limits(limits);
    assert_eq!(
        strings.render(&big, &json!({})).unwrap_err().kind(),
        RenderErrorKind::LimitExceeded
    );
}

#[test]
fn variables_must_be_an_object() {
    let error = render_file("x", &json!([1, 2])).unwrap_err();
    assert_eq!(error.kind(), RenderErrorKind::Runtime);
    assert_eq!(render_file("x{{ a }}", &Value::Null).unwrap(), "x");
}

#[test]
fn every_listed_filter_is_registered() {
    let strings = Renderer::for_strings();
    for name in filter_names() {
        let template = format!("{{{{ x | {name} }}}}");
        if let Err(error) = strings.render(&template, &json!({"x": "1"})) {
            assert!(
                !error.message().contains("unknown filter")
                    && error.kind() != RenderErrorKind::Syntax,
                "`{name}` is listed but not registered: {error}"
            );
        }
    }
    assert!(filter_names().len() > 100);
}
