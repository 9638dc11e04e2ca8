//! The contract and the router agree: every route is in `api-spec/openapi.yaml`, every spec path is
//! routed, and the spec's error codes are the server's.

use std::collections::BTreeSet;

fn spec() -> serde_yaml::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../api-spec/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("api-spec/openapi.yaml");
    serde_yaml::from_str(&text).expect("the spec is YAML")
}

#[test]
fn the_spec_and_the_router_name_the_same_routes() {
    let spec = spec();
    let paths = spec["paths"].as_mapping().expect("paths");
    let mut in_spec = BTreeSet::new();
    for (path, item) in paths {
        let path = path.as_str().expect("path").to_owned();
        for (method, _) in item.as_mapping().expect("path item") {
            let m = method.as_str().expect("method");
            if ["get", "put", "post", "delete", "patch", "head", "options"].contains(&m) {
                in_spec.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    let routed: BTreeSet<(String, String)> = lantian_http::route_table().into_iter().collect();
    let unspecified: Vec<_> = routed.difference(&in_spec).collect();
    let unrouted: Vec<_> = in_spec.difference(&routed).collect();
    assert!(
        unspecified.is_empty(),
        "routes missing from the spec: {unspecified:?}"
    );
    assert!(
        unrouted.is_empty(),
        "spec paths with no route: {unrouted:?}"
    );
}

#[test]
fn the_spec_lists_exactly_the_servers_error_codes() {
    let spec = spec();
    let in_spec: BTreeSet<String> = spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_sequence()
        .expect("ErrorCode enum")
        .iter()
        .map(|v| v.as_str().expect("code").to_owned())
        .collect();
    let served: BTreeSet<String> = lantian_protocol::error::CODES
        .iter()
        .map(|(c, ..)| c.to_string())
        .collect();
    assert_eq!(in_spec, served);
    // The table in the description names each code with its status.
    let description = spec["components"]["schemas"]["ErrorCode"]["description"]
        .as_str()
        .expect("description");
    for (code, status, ..) in lantian_protocol::error::CODES {
        assert!(
            description.contains(&format!("| {code} | {status} |")),
            "{code} {status} missing from the table"
        );
    }
}
