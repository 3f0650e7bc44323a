//! Invalid configs: every error says file:line, object, field, what is wrong and what to do.

use super::{assert_error, error_of, load};
use crate::config::load_documents;

/// An HTTPRoute `demo/r` on `web:80` whose one rule has `backend_refs` (a flow sequence).
fn route_to(backend_refs: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\n\
         kind: HTTPRoute\n\
         metadata: {{name: r, namespace: demo}}\n\
         spec:\n  \
           parentRefs: [{{group: '', kind: Service, name: web, port: 80}}]\n  \
           rules:\n    \
             - backendRefs:\n        \
                 {backend_refs}\n"
    )
}

/// An HTTPRoute `demo/r` on `web:80` with one rule whose one match is `matches` (line 7).
fn route_matching(matches: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\n\
         kind: HTTPRoute\n\
         metadata: {{name: r, namespace: demo}}\n\
         spec:\n  \
           parentRefs: [{{group: '', kind: Service, name: web, port: 80}}]\n  \
           rules:\n    \
             - matches: [{matches}]\n      \
               backendRefs: [{{name: v1}}]\n"
    )
}

#[test]
fn malformed_yaml_says_the_line() {
    assert_error(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x\nspec: {}\n",
        &[
            "test.yaml:4: invalid YAML: while parsing a flow mapping, did not find expected ',' or '}'; fix the syntax",
        ],
    );
    assert_error(
        "---\n# nothing\n---\napiVersion: v1\n  kind: Service\n",
        &["test.yaml:5: invalid YAML: "],
    );
    assert_error(
        "kind: 'Service\n",
        &["test.yaml:1: invalid YAML: unclosed quote"],
    );
}

#[test]
fn a_document_that_is_not_an_object() {
    assert_error(
        "\n- a\n",
        &[
            "test.yaml:2: not a Kubernetes object (expected mapping start); write a mapping with apiVersion, kind and metadata",
        ],
    );
}

#[test]
fn names_must_be_strings() {
    assert_error(
        "apiVersion: v1\nkind: Service\nmetadata: {name: [a]}\n",
        &[
            "test.yaml:3: ",
            "metadata.name and metadata.namespace must be strings",
        ],
    );
}

#[test]
fn unknown_kind_and_api_version() {
    assert_error(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
        &[
            "test.yaml:2: kind: \"Deployment\" is not a kind this config understands; use one of Service (v1)",
        ],
    );
    assert_error(
        "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: HTTPRoute\nmetadata: {name: x}\n",
        &[
            "test.yaml:1: apiVersion: HTTPRoute is read as apiVersion gateway.networking.k8s.io/v1, not \
           \"gateway.networking.k8s.io/v1beta1\"; change the apiVersion",
        ],
    );
    assert_error("metadata: {name: x}\n", &["test.yaml:1: kind: is missing"]);
}

#[test]
fn missing_or_bad_names() {
    assert_error(
        "\napiVersion: v1\nkind: Service\nmetadata:\n  namespace: demo\nspec: {ports: [{port: 1}]}\n",
        &["test.yaml:5: Service: metadata.name: is missing; give the Service a name"],
    );
    assert_error(
        "apiVersion: v1\nkind: Service\nmetadata: {name: Web}\nspec: {ports: [{port: 1}]}\n",
        &["test.yaml:1: Service default/Web: metadata.name: \"Web\" is not a valid name"],
    );
}

#[test]
fn typos_are_caught_where_they_are() {
    assert_error(
        &route_to("[{name: v1, wieght: 2}]"),
        &["test.yaml:8: HTTPRoute demo/r: unknown field `wieght`, expected one of"],
    );
    assert_error(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspce: {}\n",
        &["test.yaml:4: Service default/s: unknown field `spce`"],
    );
}

#[test]
fn unknown_services_in_backends_and_parents() {
    assert_error(
        &route_to("[{name: v1}, {name: nope}]"),
        &[
            "test.yaml:8: HTTPRoute demo/r: spec.rules[0].backendRefs[1].name: Service demo/nope does not exist; \
           create it or fix the name",
        ],
    );
    let yaml = route_to("[{name: v1}]").replace("name: web", "name: nope");
    assert_error(
        &yaml,
        &[
            "test.yaml:5: HTTPRoute demo/r: spec.parentRefs[0].name: Service demo/nope does not exist",
        ],
    );
}

#[test]
fn ports_the_service_does_not_have() {
    assert_error(
        &route_to("[{name: v1, port: 81}]"),
        &[
            "test.yaml:8: HTTPRoute demo/r: spec.rules[0].backendRefs[0].port: \
           Service demo/v1 has no port 81; use one of its ports: 8080",
        ],
    );
    let yaml = route_to("[{name: v1}]").replace("port: 80", "port: 81");
    assert_error(
        &yaml,
        &[
            "test.yaml:5: HTTPRoute demo/r: spec.parentRefs[0].port: Service demo/web has no port 81; use one of its ports: 80, 9090",
        ],
    );
}

#[test]
fn invalid_regular_expressions() {
    assert_error(
        &route_matching("{path: {type: RegularExpression, value: '/a('}}"),
        &[
            "test.yaml:7: HTTPRoute demo/r: spec.rules[0].matches[0].path.value: invalid regular expression \"/a(\"",
            "RE2",
        ],
    );
    assert_error(
        &route_matching("{headers: [{name: x, type: RegularExpression, value: '['}]}"),
        &[
            "test.yaml:7: HTTPRoute demo/r: spec.rules[0].matches[0].headers[0].value: invalid regular expression \"[\"",
        ],
    );
    let grpc = route_matching("{method: {type: RegularExpression, service: svc, method: '*x'}}")
        .replace("HTTPRoute", "GRPCRoute");
    assert_error(
        &grpc,
        &[
            "test.yaml:7: GRPCRoute demo/r: spec.rules[0].matches[0].method.method: invalid regular expression \"*x\"",
        ],
    );
}

#[test]
fn other_bad_matches() {
    assert_error(
        &route_matching("{path: {value: hello}}"),
        &["path.value: \"hello\" does not start with '/'; write it as /hello"],
    );
    assert_error(
        &route_matching("{method: FETCH}"),
        &["matches[0].method: \"FETCH\" is not an HTTP method"],
    );
    assert_error(
        &route_matching("{queryParams: [{name: a, value: b}]}"),
        &["queryParams: matching on query parameters is not supported yet"],
    );
    assert_error(
        &route_matching("{headers: [{name: 'a b', value: c}]}"),
        &["headers[0].name: \"a b\" is not a valid header name"],
    );
    let grpc = route_matching("{method: {service: a/b}}").replace("HTTPRoute", "GRPCRoute");
    assert_error(
        &grpc,
        &["method.service: \"a/b\" is not a gRPC service name"],
    );
    let grpc = route_matching("{method: {}}").replace("HTTPRoute", "GRPCRoute");
    assert_error(
        &grpc,
        &["matches[0].method: names neither service nor method"],
    );
}

#[test]
fn duplicate_names_say_both_places() {
    let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\nspec: {ports: [{port: 1}]}\n";
    assert_error(
        service,
        &[
            "test.yaml:1: Service demo/web: metadata.name: is defined twice, here and at services.yaml:1; remove one of them or rename it",
        ],
    );
    let twice = format!(
        "{}---\n{}",
        route_to("[{name: v1}]"),
        route_to("[{name: v2}]")
    );
    assert_error(
        &twice,
        &[
            "test.yaml:10: HTTPRoute demo/r: metadata.name: is defined twice, here and at test.yaml:1",
        ],
    );
}

#[test]
fn weights() {
    assert_error(
        &route_to("[{name: v1, weight: 0}, {name: v2, weight: 0}]"),
        &[
            "test.yaml:7: HTTPRoute demo/r: spec.rules[0].backendRefs: weights are all zero; \
           Gateway API would answer every request with HTTP 500, so this config refuses it",
        ],
    );
    assert_error(
        &route_to("[{name: v1, weight: -1}]"),
        &[
            "test.yaml:8: HTTPRoute demo/r: spec.rules[0].backendRefs[0].weight: -1 is negative; use 0 or more",
        ],
    );
    assert_error(&route_to("[]"), &["spec.rules[0].backendRefs: is missing"]);
}

#[test]
fn service_port_mistakes() {
    let service = |ports: &str| {
        format!("apiVersion: v1\nkind: Service\nmetadata: {{name: s}}\nspec:\n  ports:\n{ports}")
    };
    assert_error(
        &service("  - {name: a, port: 80}\n  - {name: b, port: 80}\n"),
        &[
            "test.yaml:7: Service default/s: spec.ports[1].port: 80 is already the port of spec.ports[0]; give each port its own number",
        ],
    );
    assert_error(
        &service("  - {name: a, port: 80, appProtocol: h3}\n"),
        &[
            "test.yaml:6: Service default/s: spec.ports[0].appProtocol: \"h3\" is not supported; use kubernetes.io/h2c",
        ],
    );
    assert_error(
        &service("  - {name: a, port: 70000}\n"),
        &[
            "test.yaml:6: Service default/s: spec.ports[0].port: 70000 is out of range; use a port from 1 to 65535",
        ],
    );
    assert_error(
        &service("  - {port: 1}\n  - {name: b, port: 2}\n"),
        &["spec.ports[0].name: is missing; a Service with several ports must name each"],
    );
    assert_error(
        &service("  - {port: 1, protocol: UDP}\n"),
        &["spec.ports[0].protocol: \"UDP\" is not supported"],
    );
    assert_error(
        &service("    []\n"),
        &["test.yaml:1: Service default/s: spec.ports: is empty"],
    );
}

fn slice(labels: &str, body: &str) -> String {
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: e\n  namespace: demo\n  \
         labels: {{{labels}}}\naddressType: IPv4\n{body}"
    )
}

#[test]
fn endpoint_slice_mistakes() {
    let ok_body = "ports: [{name: http, port: 80}]\nendpoints: [{addresses: [10.0.0.1]}]\n";
    assert_error(
        &slice("app: web", ok_body),
        &[
            "test.yaml:1: EndpointSlice demo/e: metadata.labels: has no kubernetes.io/service-name label; add it",
        ],
    );
    assert_error(
        &slice("kubernetes.io/service-name: nope", ok_body),
        &[
            "EndpointSlice demo/e: metadata.labels[kubernetes.io/service-name]: Service demo/nope does not exist",
        ],
    );
    assert_error(
        &slice(
            "kubernetes.io/service-name: web",
            "ports: [{name: http, port: 80}]\nendpoints:\n  - addresses: [10.0.0.1, 10.0.0.256]\n",
        ),
        &[
            "test.yaml:10: EndpointSlice demo/e: endpoints[0].addresses[1]: \"10.0.0.256\" is not an IPv4 address",
        ],
    );
    assert_error(
        &slice(
            "kubernetes.io/service-name: web",
            "ports: [{name: htp, port: 80}]\n",
        ),
        &[
            "test.yaml:8: EndpointSlice demo/e: ports[0].name: matches no port of Service demo/web (its ports: http, grpc)",
        ],
    );
    assert_error(
        &slice(
            "kubernetes.io/service-name: web",
            "ports: [{name: http, port: 0}]\n",
        ),
        &["ports[0].port: 0 is out of range"],
    );
    let fqdn = slice("kubernetes.io/service-name: web", "").replace("IPv4", "FQDN");
    assert_error(
        &fqdn,
        &[
            "test.yaml:7: EndpointSlice demo/e: addressType: \"FQDN\" is not supported; use IPv4 or IPv6",
        ],
    );
}

#[test]
fn references_across_namespaces_are_not_supported_yet() {
    assert_error(
        &route_to("[{name: v1, namespace: other}]"),
        &[
            "spec.rules[0].backendRefs[0].namespace: \"other\": cross-namespace backends are not supported yet",
        ],
    );
    let yaml = route_to("[{name: v1}]").replace("name: web,", "name: web, namespace: other,");
    assert_error(
        &yaml,
        &["spec.parentRefs[0].namespace: \"other\": cross-namespace parents are not supported yet"],
    );
}

#[test]
fn parents_must_be_services() {
    let yaml = route_to("[{name: v1}]").replace("group: '', kind: Service, ", "");
    assert_error(
        &yaml,
        &[
            "test.yaml:5: HTTPRoute demo/r: spec.parentRefs[0]: refers to a Gateway; in this mesh routes attach to Services",
        ],
    );
}

#[test]
fn unsupported_rule_features_are_refused() {
    let yaml = route_to("[{name: v1}]\n      filters: [{type: RequestHeaderModifier}]");
    assert_error(
        &yaml,
        &["test.yaml:9: HTTPRoute demo/r: spec.rules[0].filters: filters are not supported yet"],
    );
}

#[test]
fn all_errors_come_at_once_without_follow_ups() {
    let yaml = "\
apiVersion: v1
kind: Service
metadata: {name: broken, namespace: demo}
spec: {ports: [{port: 1, appProtocol: nope}]}
---
kind: Nope
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: demo}
spec:
  parentRefs: [{group: '', kind: Service, name: broken, port: 1}]
  rules: [{backendRefs: [{name: broken}, {name: v1, weight: -2}]}]
";
    let text = error_of(yaml);
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("test.yaml:4: Service demo/broken: spec.ports[0].appProtocol"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("test.yaml:6: apiVersion: is missing"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("test.yaml:13: HTTPRoute demo/r: spec.rules[0].backendRefs[1].weight"),
        "{text}"
    );
}

#[test]
fn errors_are_in_file_order() {
    let bad = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 0}]}\n";
    let errors = load_documents(&[
        ("b.yaml".into(), bad.into()),
        ("a.yaml".into(), bad.replace("name: s", "name: t")),
    ])
    .unwrap_err();
    let files: Vec<_> = errors.errors().iter().map(|e| e.file()).collect();
    assert_eq!(files, ["a.yaml", "b.yaml"]);
    assert!(load("").is_ok());
}
