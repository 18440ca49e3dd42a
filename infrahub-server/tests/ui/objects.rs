//! The object pages: list, detail, create and edit forms, delete.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::common::*;

/// A server with the network schema and a site; returns the site's id.
async fn network() -> (TestServer, String) {
    let server = server().await;
    server.load_schema(&network_schema()).await;
    let site = create(&server, "LocationSite", json!({"name": {"value": "paris"}})).await;
    (server, site)
}

/// Creates a node through the API; returns its id.
async fn create(server: &TestServer, kind: &str, data: Value) -> String {
    let data = server
        .admin_graphql(
            "main",
            &format!(
                "mutation($data: {kind}CreateInput!) {{ {kind}Create(data: $data) {{ object {{ id }} }} }}"
            ),
            json!({ "data": data }),
        )
        .await;
    data[format!("{kind}Create")]["object"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn device(server: &TestServer, name: &str, site: &str, role: &str) -> String {
    create(
        server,
        "InfraDevice",
        json!({"name": {"value": name}, "role": {"value": role}, "site": {"id": site}}),
    )
    .await
}

/// The number of devices, read through the API.
async fn device_count(server: &TestServer) -> u64 {
    server
        .admin_graphql("main", "{ InfraDevice { count } }", json!({}))
        .await["InfraDevice"]["count"]
        .as_u64()
        .unwrap()
}

/// A page's text with the escaped slashes of attribute values (`&#x2f;`) as slashes.
trait PageText {
    /// Asserts a 200 and returns the body with `/` unescaped.
    fn page(&self) -> String;
}

impl PageText for Answer {
    fn page(&self) -> String {
        self.ok().replace("&#x2f;", "/")
    }
}

/// An answer's body with `/` unescaped, whatever its status.
fn text(answer: &Answer) -> String {
    answer.body.replace("&#x2f;", "/")
}

/// The id in a `Location` of `/objects/{kind}/{id}`.
fn created_id(location: &str, kind: &str) -> String {
    let prefix = format!("/objects/{kind}/");
    let rest = location
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{location}"));
    rest.split('?').next().unwrap().to_string()
}

#[tokio::test]
async fn the_list_filters_searches_orders_and_pages() {
    let (server, site) = network().await;
    for i in 0..53 {
        let role = if i % 10 == 0 { "core" } else { "edge" };
        device(&server, &format!("dev-{i:02}"), &site, role).await;
    }
    let mut admin = server.admin().await;

    let page = admin.get("/objects/InfraDevice").await;
    let body = &page.page();
    assert!(body.contains("1–50 of 53"), "{body}");
    assert!(body.contains(">dev-00</a>"));
    assert!(
        !body.contains(">dev-52</a>"),
        "ordered by name, first page only"
    );
    assert!(body.contains("offset=50"), "a next page link");
    // Columns: attributes in order weight order, the site by its display label, linked.
    assert!(
        body.contains(">Role<span class=\"visually-hidden\">, order by Role</span></a></th>"),
        "{body}"
    );
    assert!(body.contains(&format!("/objects/LocationSite/{site}")));
    assert!(
        body.contains(">Edge<"),
        "a dropdown shows its choice's label"
    );
    assert!(body.contains("Create Device"));

    let second = admin.get("/objects/InfraDevice?offset=50").await;
    let body = &second.page();
    assert!(body.contains("51–53 of 53"), "{body}");
    assert!(body.contains(">dev-52</a>"));

    // A dropdown filter, a text filter (contains), a relationship filter and the search.
    let core = admin.get("/objects/InfraDevice?role__value=core").await;
    let body = &core.page();
    assert!(body.contains("1–6 of 6"), "{body}");
    assert!(!body.contains(">dev-01</a>"));
    let named = admin.get("/objects/InfraDevice?name__value=V-1").await;
    assert!(named.page().contains("1–10 of 10"), "{}", named.body);
    let by_site = admin
        .get(&format!("/objects/InfraDevice?site__ids={site}&limit=5"))
        .await;
    assert!(by_site.page().contains("1–5 of 53"), "{}", by_site.body);
    let searched = admin.get("/objects/InfraDevice?q=dev-4").await;
    assert!(searched.page().contains("1–10 of 10"), "{}", searched.body);
    let nothing = admin.get("/objects/InfraDevice?q=zzz").await;
    assert!(
        nothing.page().contains("No Device matches"),
        "{}",
        nothing.body
    );
    let unordered = admin.get("/objects/InfraDevice?order=created").await;
    assert!(unordered.page().contains("of 53"));
    // A column header orders by its attribute, then the other way.
    let body = admin.get("/objects/InfraDevice").await.page();
    assert!(
        body.contains("/objects/InfraDevice?order=name__value\""),
        "the name column orders by name: {body}"
    );
    let descending = admin
        .get("/objects/InfraDevice?order=name__value__desc")
        .await
        .page();
    assert!(descending.contains("aria-sort=\"descending\""));
    let first = descending
        .find(">dev-52</a>")
        .expect("dev-52 on the first page");
    let later = descending
        .find(">dev-40</a>")
        .expect("dev-40 on the first page");
    assert!(first < later, "largest name first");
    assert!(!descending.contains(">dev-00</a>"));
    let refused = admin.get("/objects/InfraDevice?order=secret__value").await;
    assert!(
        text(&refused).contains("cannot order InfraDevice by `secret__value`"),
        "{}",
        refused.body
    );

    // Paging is bounded.
    let big = admin.get("/objects/InfraDevice?limit=100000").await;
    assert!(big.page().contains("1–53 of 53"), "{}", big.body);
    let far = admin
        .get("/objects/InfraDevice?offset=99999999999999999999")
        .await;
    assert_eq!(far.status, StatusCode::OK);
    let far = admin.get("/objects/InfraDevice?offset=5000").await;
    assert!(
        far.page().contains("No objects on this page"),
        "{}",
        far.body
    );
    let bad_peer = admin.get("/objects/InfraDevice?site__ids=nope").await;
    assert_eq!(bad_peer.status, StatusCode::BAD_REQUEST);

    // The empty state invites to create.
    let empty = admin.get("/objects/InfraInterface").await;
    let body = &empty.page();
    assert!(body.contains("No Interface yet"), "{body}");
    assert!(body.contains("href=\"/objects/InfraInterface/new\""));
}

#[tokio::test]
async fn a_generic_lists_every_implementing_kind() {
    let (server, site) = network().await;
    let dev = device(&server, "r1", &site, "edge").await;
    create(
        &server,
        "CoreStandardGroup",
        json!({"name": {"value": "important"}, "members": [{"id": dev}]}),
    )
    .await;
    let mut admin = server.admin().await;
    let page = admin.get("/objects/CoreGroup").await;
    let body = &page.page();
    assert!(body.contains(">important</a>"), "{body}");
    assert!(
        body.contains("<code>CoreStandardGroup</code>"),
        "a Kind column"
    );
    assert!(
        body.contains("href=\"/objects/CoreStandardGroup/new\""),
        "{body}"
    );
    assert!(body.contains("href=\"/objects/CoreGeneratorGroup/new\"") || body.contains("Create"));
    // A generic's detail address goes to the concrete kind's.
    let id = body
        .split("/objects/CoreStandardGroup/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .filter(|id| *id != "new")
        .unwrap_or_default()
        .to_string();
    let found = server
        .admin_graphql(
            "main",
            "{ CoreStandardGroup { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let group = found["CoreStandardGroup"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.is_empty() || id == group);
    // A many-relationship peer given by hand (as when it is beyond the listed ones).
    let created = admin
        .post_form(
            "/objects/CoreStandardGroup/new",
            &[("name", "by-hand"), ("members__ref", &format!("{dev}\r\n"))],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let by_hand = created_id(created.location(), "CoreStandardGroup");
    let members = server
        .admin_graphql(
            "main",
            "query($ids: [ID]) { CoreStandardGroup(ids: $ids) { edges { node { members { edges { node { id } } } } } } }",
            json!({"ids": [by_hand]}),
        )
        .await;
    assert_eq!(
        members["CoreStandardGroup"]["edges"][0]["node"]["members"]["edges"][0]["node"]["id"],
        dev.as_str()
    );
    let redirect = admin.get(&format!("/objects/CoreGroup/{group}")).await;
    assert_eq!(redirect.status, StatusCode::SEE_OTHER);
    assert_eq!(
        redirect.location(),
        format!("/objects/CoreStandardGroup/{group}")
    );
}

#[tokio::test]
async fn the_detail_shows_metadata_relationship_tabs_and_groups() {
    let (server, site) = network().await;
    let dev = device(&server, "r1", &site, "core").await;
    for i in 0..5 {
        create(
            &server,
            "InfraInterface",
            json!({"name": {"value": format!("eth{i}")}, "device": {"id": dev}}),
        )
        .await;
    }
    create(
        &server,
        "CoreStandardGroup",
        json!({"name": {"value": "important"}, "members": [{"id": dev}]}),
    )
    .await;
    let admin_id = server
        .admin_graphql("main", "{ AccountProfile { id } }", json!({}))
        .await["AccountProfile"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .admin_graphql(
            "main",
            "mutation($id: String, $owner: String) { InfraDeviceUpdate(data: {id: $id, asn: {value: 65001, is_protected: true, source: $owner, owner: $owner}}) { ok } }",
            json!({"id": dev, "owner": admin_id}),
        )
        .await;
    let mut admin = server.admin().await;
    let page = admin.get(&format!("/objects/InfraDevice/{dev}")).await;
    assert!(
        page.page().contains(&format!(
            "<a href=\"/objects/CoreAccount/{admin_id}\">Admin</a>"
        )),
        "source and owner link to the account: {}",
        page.body
    );
    let body = &page.page();
    assert!(body.contains("<h1>r1</h1>"), "{body}");
    assert!(body.contains("65001"));
    assert!(body.contains(">Core<"));
    assert!(body.contains("<td>Yes</td>"), "asn is protected");
    assert!(body.contains("<time datetime="), "updated_at");
    assert!(body.contains(&format!("/objects/LocationSite/{site}")));
    assert!(body.contains(">paris</a>"));
    assert!(body.contains("tab=interfaces"));
    assert!(body.contains("tab=member_of_groups"));
    assert!(body.contains(">Edit</a>"));
    assert!(body.contains(">Delete</a>"));

    let tab = admin
        .get(&format!(
            "/objects/InfraDevice/{dev}?tab=interfaces&limit=2"
        ))
        .await;
    let body = &tab.page();
    assert!(body.contains("1–2 of 5"), "{body}");
    assert!(body.contains("offset=2"));
    assert!(body.contains(&format!("/objects/InfraInterface/new?device={dev}")));
    let last = admin
        .get(&format!(
            "/objects/InfraDevice/{dev}?tab=interfaces&limit=2&offset=4"
        ))
        .await;
    assert!(last.page().contains("5–5 of 5"), "{}", last.body);

    let groups = admin
        .get(&format!("/objects/InfraDevice/{dev}?tab=member_of_groups"))
        .await;
    assert!(groups.page().contains(">important</a>"), "{}", groups.body);

    // Unknown kinds and ids.
    assert_eq!(
        admin.get("/objects/NoSuchKind").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin
            .get("/objects/InfraDevice/3f2c4a55-0000-4000-8000-000000000000")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin.get("/objects/InfraDevice/not-an-id").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_attribute_kind_is_created_through_the_form_and_edited() {
    let (server, site) = network().await;
    let mut admin = server.admin().await;
    let form = admin.get("/objects/InfraDevice/new").await;
    let body = &form.page();
    assert!(body.contains("name=\"name\""));
    assert!(body.contains("type=\"number\""), "asn");
    assert!(body.contains("type=\"checkbox\""), "enabled");
    assert!(body.contains("<option value=\"edge\">Edge</option>"));
    assert!(body.contains("class=\"code\""), "json and list");
    assert!(body.contains(&format!("<option value=\"{site}\">paris</option>")));
    assert!(body.contains("class=\"required\""));

    let answer = admin
        .post_form(
            "/objects/InfraDevice/new",
            &[
                ("name", "spine-1"),
                ("role", "core"),
                ("asn", "65000"),
                ("enabled", "false"),
                ("management_ip", "10.0.0.1/24"),
                ("mac", "00:1a:2b:3c:4d:5e"),
                ("config", "{\"vlan\": 10}"),
                ("tags_list", "a\r\nb"),
                ("site", &site),
                ("site__ref", ""),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let id = created_id(answer.location(), "InfraDevice");
    let read = server
        .admin_graphql(
            "main",
            "query($ids: [ID]) { InfraDevice(ids: $ids) { edges { node { name { value } role { value } asn { value } enabled { value } management_ip { value } mac { value } config { value } tags_list { value } site { node { id } } } } } }",
            json!({"ids": [id]}),
        )
        .await;
    let node = &read["InfraDevice"]["edges"][0]["node"];
    assert_eq!(node["name"]["value"], "spine-1");
    assert_eq!(node["role"]["value"], "core");
    assert_eq!(node["asn"]["value"], 65000);
    assert_eq!(node["enabled"]["value"], false);
    assert_eq!(node["management_ip"]["value"], "10.0.0.1/24");
    assert!(
        node["mac"]["value"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("00-1a-2b-3c-4d-5e"),
        "{node}"
    );
    assert_eq!(node["config"]["value"], json!({"vlan": 10}));
    assert_eq!(node["tags_list"]["value"], json!(["a", "b"]));
    assert_eq!(node["site"]["node"]["id"], site.as_str());

    // The edit form holds the values; a change writes only it; unchecking works.
    let edit = admin.get(&format!("/objects/InfraDevice/{id}/edit")).await;
    let body = &edit.page();
    assert!(body.contains("value=\"spine-1\""), "{body}");
    assert!(body.contains("<option value=\"core\" selected>Core</option>"));
    let answer = admin
        .post_form(
            &format!("/objects/InfraDevice/{id}/edit"),
            &[
                ("name", "spine-2"),
                ("role", ""),
                ("asn", "65000"),
                ("enabled", "false"),
                ("enabled", "true"),
                ("management_ip", "10.0.0.1/24"),
                ("mac", ""),
                ("config", "{\n  \"vlan\": 10\n}"),
                ("tags_list", "[\"x\"]"),
                ("site", &site),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), format!("/objects/InfraDevice/{id}"));
    let read = server
        .admin_graphql(
            "main",
            "query($ids: [ID]) { InfraDevice(ids: $ids) { edges { node { name { value } role { value } enabled { value } mac { value } tags_list { value } } } } }",
            json!({"ids": [id]}),
        )
        .await;
    let node = &read["InfraDevice"]["edges"][0]["node"];
    assert_eq!(node["name"]["value"], "spine-2");
    assert!(node["role"]["value"].is_null());
    assert_eq!(node["enabled"]["value"], true);
    assert!(node["mac"]["value"].is_null());
    assert_eq!(node["tags_list"]["value"], json!(["x"]));

    // A component created from its parent's tab has the parent preselected.
    let child = admin
        .get(&format!("/objects/InfraInterface/new?device={id}"))
        .await;
    assert!(
        child
            .ok()
            .contains(&format!("<option value=\"{id}\" selected>spine-2</option>")),
        "{}",
        child.body
    );
    let answer = admin
        .post_form(
            "/objects/InfraInterface/new",
            &[("name", "eth0"), ("speed", "1000"), ("device", &id)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
}

#[tokio::test]
async fn api_errors_are_shown_next_to_their_field_and_nothing_is_written() {
    let (server, site) = network().await;
    device(&server, "taken", &site, "edge").await;
    let mut admin = server.admin().await;
    let before = device_count(&server).await;

    // Duplicate unique name: the API's message next to `name`, the values kept.
    let answer = admin
        .post_form(
            "/objects/InfraDevice/new",
            &[
                ("name", "taken"),
                ("asn", "12"),
                ("enabled", "false"),
                ("site", &site),
            ],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    let body = &answer.body;
    assert!(body.contains("id=\"name-error\""), "{body}");
    assert!(body.contains("uniqueness"), "{body}");
    assert!(body.contains("value=\"12\""), "the values are kept");

    // An invalid IP: the API's message next to the field.
    let answer = admin
        .post_form(
            "/objects/InfraDevice/new",
            &[
                ("name", "new-1"),
                ("management_ip", "999.1.1.1"),
                ("site", &site),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(&answer).contains("id=\"management_ip-error\""),
        "{}",
        answer.body
    );
    assert!(text(&answer).contains("value=\"999.1.1.1\""));

    // Invalid JSON: refused before the API, next to the field.
    let answer = admin
        .post_form(
            "/objects/InfraDevice/new",
            &[("name", "new-2"), ("config", "{nope"), ("site", &site)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(&answer).contains("id=\"config-error\""),
        "{}",
        answer.body
    );
    assert!(text(&answer).contains("Invalid JSON"));
    assert!(text(&answer).contains("{nope"));

    // A missing mandatory relationship.
    let answer = admin
        .post_form("/objects/InfraDevice/new", &[("name", "new-3")])
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(&answer).contains("id=\"site-error\""),
        "{}",
        answer.body
    );

    // Fields the kind does not have are refused, with nothing written.
    let answer = admin
        .post_form(
            "/objects/InfraDevice/new",
            &[("name", "new-4"), ("site", &site), ("is_admin", "true")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&answer).contains("is_admin"), "{}", answer.body);

    assert_eq!(device_count(&server).await, before);
}

#[tokio::test]
async fn the_delete_lists_the_cascade_then_deletes() {
    // Sites know their devices: the engine refuses to leave a device without its site.
    let server = server().await;
    let mut schema = network_schema();
    schema["schemas"][0]["nodes"][0]["relationships"] = json!([
        {"name": "devices", "peer": "InfraDevice", "cardinality": "many", "optional": true}
    ]);
    server.load_schema(&schema).await;
    let site = create(&server, "LocationSite", json!({"name": {"value": "paris"}})).await;
    let dev = device(&server, "r1", &site, "edge").await;
    for i in 0..3 {
        create(
            &server,
            "InfraInterface",
            json!({"name": {"value": format!("eth{i}")}, "device": {"id": dev}}),
        )
        .await;
    }
    let mut admin = server.admin().await;
    let confirm = admin
        .get(&format!("/objects/InfraDevice/{dev}/delete"))
        .await;
    let body = &confirm.page();
    assert!(body.contains("It also deletes 3 objects"), "{body}");
    assert!(body.contains(">eth0</a>") && body.contains(">eth2</a>"));
    assert!(body.contains("data-confirm="));

    // The site is required by the device: its delete is refused and says why.
    let refused = admin
        .post_form(&format!("/objects/LocationSite/{site}/delete"), &[])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("nothing was deleted"));
    assert!(refused.body.contains("mandatory"), "{}", refused.body);

    let done = admin
        .post_form(&format!("/objects/InfraDevice/{dev}/delete"), &[])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/objects/InfraDevice");
    let left = server
        .admin_graphql(
            "main",
            "{ InfraDevice { count } InfraInterface { count } LocationSite { count } }",
            json!({}),
        )
        .await;
    assert_eq!(left["InfraDevice"]["count"], 0);
    assert_eq!(left["InfraInterface"]["count"], 0);
    assert_eq!(left["LocationSite"]["count"], 1);
}

#[tokio::test]
async fn hostile_requests_write_nothing() {
    let (server, site) = network().await;
    let dev = device(&server, "<script>alert(1)</script>", &site, "edge").await;
    let mut admin = server.admin().await;

    // HTML in values is escaped everywhere.
    for path in [
        "/objects/InfraDevice".to_string(),
        format!("/objects/InfraDevice/{dev}"),
        format!("/objects/InfraDevice/{dev}/edit"),
        format!("/objects/InfraDevice/{dev}/delete"),
    ] {
        let body = admin.get(&path).await;
        assert!(!body.page().contains("<script>alert"), "{path}");
        assert!(body.body.contains("&lt;script&gt;"), "{path}");
    }

    let fields = [("name", "forged"), ("site", site.as_str())];
    // A form from another site.
    let forged = admin
        .post_form_from(
            "/objects/InfraDevice/new",
            &fields,
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let forged = admin
        .post_form_from(
            &format!("/objects/InfraDevice/{dev}/delete"),
            &[],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Nobody signed in (anonymous reads are allowed, writes are not).
    let mut anonymous = server.anonymous();
    let list = anonymous.get("/objects/InfraDevice").await;
    assert!(
        !list.page().contains("Create Device"),
        "read-only for anonymous"
    );
    let answer = anonymous
        .post_form("/objects/InfraDevice/new", &fields)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(answer.location().starts_with("/login"));

    // Time travel: read-only.
    let at = "2100-01-01T00:00:00Z";
    let past = admin
        .get(&format!("/objects/InfraDevice/{dev}?at={at}"))
        .await;
    assert!(!past.page().contains(">Edit</a>"));
    let refused = admin
        .post_form(&format!("/objects/InfraDevice/new?at={at}"), &fields)
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let refused = admin
        .post_form(&format!("/objects/InfraDevice/{dev}/delete?at={at}"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);

    // An account without any role.
    server
        .admin_graphql(
            "main",
            r#"mutation { CoreAccountCreate(data: {name: {value: "bob"}, password: {value: "bob-password"}, account_type: {value: "User"}}) { object { id } } }"#,
            json!({}),
        )
        .await;
    let mut bob = server.sign_in("bob", "bob-password").await;
    let answer = bob.post_form("/objects/InfraDevice/new", &fields).await;
    assert_ne!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let answer = bob
        .post_form(&format!("/objects/InfraDevice/{dev}/delete"), &[])
        .await;
    assert_ne!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);

    assert_eq!(device_count(&server).await, 1);
}

#[tokio::test]
async fn hierarchies_show_their_parent_and_children() {
    let server = server().await;
    server
        .load_schema(&json!({"schemas": [{"version": "1.0",
        "generics": [{"name": "Generic", "namespace": "Loc", "hierarchical": true,
            "human_friendly_id": ["name__value"], "display_label": "name__value",
            "attributes": [{"name": "name", "kind": "Text", "unique": true}]}],
        "nodes": [
            {"name": "Region", "namespace": "Loc", "inherit_from": ["LocGeneric"], "parent": "", "children": "LocCountry"},
            {"name": "Country", "namespace": "Loc", "inherit_from": ["LocGeneric"], "parent": "LocRegion", "children": ""}
        ]}]}))
        .await;
    let region = create(&server, "LocRegion", json!({"name": {"value": "europe"}})).await;
    let mut admin = server.admin().await;
    // The country's form offers the regions as parents, preselected from the region's tab.
    let form = admin
        .get(&format!("/objects/LocCountry/new?parent={region}"))
        .await;
    assert!(
        form.page()
            .contains(&format!("<option value=\"{region}\" selected>europe")),
        "{}",
        form.body
    );
    let created = admin
        .post_form(
            "/objects/LocCountry/new",
            &[("name", "france"), ("parent", &region)],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let country = created_id(created.location(), "LocCountry");
    let page = admin.get(&format!("/objects/LocCountry/{country}")).await;
    assert!(
        page.page()
            .contains(&format!("/objects/LocRegion/{region}\">europe</a>")),
        "{}",
        page.body
    );
    let children = admin
        .get(&format!("/objects/LocRegion/{region}?tab=children"))
        .await;
    assert!(children.page().contains(">france</a>"), "{}", children.body);
}
