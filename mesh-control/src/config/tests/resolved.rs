//! Valid configs and what they resolve to.

use std::net::SocketAddr;

use mesh_core::model::{
    Endpoint, HealthStatus, PathMatch, Route, RouteAction, StringMatch, UpstreamProtocol,
};

use super::{load, port};
use crate::config::{ServiceRef, embedded_default, load_documents};

/// A route in one line: `name: path [headers] -> cluster*weight, ...`.
fn describe(route: &Route) -> String {
    let path = match &route.matcher.path {
        PathMatch::Prefix(p) => format!("prefix {p:?}"),
        PathMatch::Exact(p) => format!("exact {p:?}"),
        PathMatch::Regex(p) => format!("regex {:?}", p.as_str()),
    };
    let headers: String = route
        .matcher
        .headers
        .iter()
        .map(|h| match &h.matcher {
            StringMatch::Exact(v) => format!(" {}={v}", h.name),
            StringMatch::Regex(p) => format!(" {}~{}", h.name, p.as_str()),
            other => format!(" {}:{other:?}", h.name),
        })
        .collect();
    let RouteAction::Forward(clusters) = &route.action else {
        panic!("not forwarding")
    };
    let clusters: Vec<_> = clusters
        .iter()
        .map(|c| format!("{}*{}", c.cluster.split('.').next().unwrap(), c.weight))
        .collect();
    format!("{}: {path}{headers} -> {}", route.name, clusters.join(", "))
}

fn describe_all(routes: &[Route]) -> Vec<String> {
    routes.iter().map(describe).collect()
}

#[test]
fn services_get_their_ports_and_a_default_route() {
    let config = load("").unwrap();
    assert_eq!(config.services.len(), 3);
    let http = port(&config, "web", 80);
    assert_eq!(
        (http.name.as_deref(), http.protocol),
        (Some("http"), UpstreamProtocol::Http1)
    );
    assert_eq!(port(&config, "web", 9090).protocol, UpstreamProtocol::Http2);
    assert_eq!(
        describe_all(&http.routes),
        ["demo/web:80/default: prefix \"\" -> web*1"]
    );
    assert_eq!(
        http.routes[0].action,
        RouteAction::Forward(vec![mesh_core::model::WeightedCluster {
            cluster: "web.demo.svc.cluster.local:80".into(),
            weight: 1
        }])
    );
}

#[test]
fn app_protocols_and_the_default_namespace() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  selector: {app: s}\n  type: ClusterIP\n  \
                ports:\n  - {name: a, port: 1, appProtocol: kubernetes.io/h2c}\n  - {name: b, port: 2, appProtocol: http2}\n  \
                - {name: c, port: 3, appProtocol: http}\n  - {name: d, port: 4, appProtocol: kubernetes.io/http, targetPort: web}\n\
                status: {loadBalancer: {}}\n";
    let config = load_documents(&[("s.yaml".into(), yaml.into())]).unwrap();
    let ports = &config.services[&ServiceRef::new("default", "s")].ports;
    let protocols: Vec<_> = ports.iter().map(|p| p.protocol).collect();
    use UpstreamProtocol::{Http1, Http2};
    assert_eq!(protocols, [Http2, Http2, Http1, Http1]);
}

#[test]
fn endpoint_slices_give_endpoints_on_the_target_port() {
    let yaml = "\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: demo
  uid: 1234
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8000, protocol: TCP}]
endpoints:
  - addresses: [10.0.0.1, 10.0.0.2]
  - addresses: [10.0.0.3]
    conditions: {ready: false, serving: true}
";
    let config = load(yaml).unwrap();
    let endpoint = |a: &str, health| Endpoint {
        address: a.parse::<SocketAddr>().unwrap(),
        weight: 1,
        health,
    };
    assert_eq!(
        port(&config, "web", 80).endpoints,
        [
            endpoint("10.0.0.1:8000", HealthStatus::Healthy),
            endpoint("10.0.0.2:8000", HealthStatus::Healthy),
            endpoint("10.0.0.3:8000", HealthStatus::Unhealthy),
        ]
    );
    assert!(port(&config, "web", 9090).endpoints.is_empty());
}

#[test]
fn an_unnamed_port_takes_the_unnamed_slice_port() {
    let yaml = "\
apiVersion: v1
kind: Service
metadata: {name: one}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: one-x, labels: {kubernetes.io/service-name: one}}
addressType: IPv6
ports: [{port: 8080}]
endpoints: [{addresses: ['::1']}]
";
    let config = load_documents(&[("a.yaml".into(), yaml.into())]).unwrap();
    let port = &config.services[&ServiceRef::new("default", "one")].ports[0];
    assert_eq!(port.endpoints[0].address, "[::1]:8080".parse().unwrap());
}

const HTTP_ROUTE: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split, namespace: demo}
spec:
  parentRefs: [{group: '', kind: Service, name: web, port: 80}]
  rules:
    - matches:
        - path: {type: PathPrefix, value: /hello/}
        - path: {type: RegularExpression, value: '/h[a-z]+'}
          headers: [{name: X-User, type: RegularExpression, value: 'a.*'}]
      backendRefs:
        - {name: v1, port: 8080, weight: 80}
        - {name: v2, weight: 20}
    - matches:
        - path: {type: Exact, value: /hello/world}
          method: POST
        - headers: [{name: x-canary, value: 'true'}]
      backendRefs: [{name: v2}]
";

#[test]
fn an_http_route_orders_its_matches_by_precedence() {
    let config = load(HTTP_ROUTE).unwrap();
    assert_eq!(
        describe_all(&port(&config, "web", 80).routes),
        [
            "demo/split/rule1/match0: exact \"/hello/world\" :method=POST -> v2*1",
            "demo/split/rule0/match1: regex \"/h[a-z]+\" x-user~a.* -> v1*80, v2*20",
            "demo/split/rule0/match0: exact \"/hello\" -> v1*80, v2*20",
            "demo/split/rule0/match0: prefix \"/hello/\" -> v1*80, v2*20",
            "demo/split/rule1/match1: prefix \"/\" x-canary=true -> v2*1",
            "demo/web:80/default: prefix \"\" -> web*1",
        ]
    );
    // The other port of the Service keeps its default route only.
    assert_eq!(port(&config, "web", 9090).routes.len(), 1);
}

#[test]
fn routes_of_several_objects_sort_together_then_by_name() {
    let route = |name: &str, backend: &str| {
        format!(
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: demo}}\n\
             spec:\n  parentRefs: [{{group: '', kind: Service, name: web}}]\n  \
             rules: [{{matches: [{{path: {{value: /a}}}}], backendRefs: [{{name: {backend}}}]}}]\n"
        )
    };
    let yaml = format!("{}{}", route("zeta", "v1"), route("alpha", "v2"));
    let config = load(&yaml).unwrap();
    // Without a port in parentRefs, the route attaches to every port of the Service.
    for number in [80, 9090] {
        let names: Vec<_> = port(&config, "web", number)
            .routes
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        let default = format!("demo/web:{number}/default");
        assert_eq!(
            names,
            [
                "demo/alpha/rule0/match0",
                "demo/alpha/rule0/match0",
                "demo/zeta/rule0/match0",
                "demo/zeta/rule0/match0",
                &default
            ]
        );
    }
}

#[test]
fn grpc_route_methods_become_paths() {
    let yaml = "\
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: demo}
spec:
  parentRefs: [{group: core, kind: Service, name: web, port: 9090}]
  rules:
    - matches:
        - method: {service: pkg.Greeter, method: SayHello}
        - method: {service: pkg.Greeter}
        - method: {method: SayHello}
        - method: {type: RegularExpression, service: 'pkg\\..*'}
          headers: [{name: x-v, value: '2'}]
      backendRefs: [{name: v1}]
    - backendRefs: [{name: v2, weight: 3}, {name: v1, weight: 0}, {name: v2, weight: 2}]
";
    let config = load(yaml).unwrap();
    assert_eq!(
        describe_all(&port(&config, "web", 9090).routes),
        [
            "demo/g/rule0/match0: exact \"/pkg.Greeter/SayHello\" -> v1*1",
            "demo/g/rule0/match3: regex \"/(?:pkg\\\\..*)/(?:[^/]+)\" x-v=2 -> v1*1",
            "demo/g/rule0/match2: regex \"/[^/]+/SayHello\" -> v1*1",
            "demo/g/rule0/match1: prefix \"/pkg.Greeter/\" -> v1*1",
            // No matches: every call. Zero weights drop out, repeated backends add up, and
            // the port's catch-all is left out as it could never match.
            "demo/g/rule1/match0: prefix \"/\" -> v2*5",
        ]
    );
}

#[test]
fn empty_files_and_documents_are_fine() {
    let config = load_documents(&[
        ("empty.yaml".into(), String::new()),
        (
            "comments.yaml".into(),
            "# nothing yet\n---\n---\n# still nothing\n".into(),
        ),
    ])
    .unwrap();
    assert!(config.services.is_empty());
}

#[test]
fn the_embedded_default_is_the_demo() {
    let config = embedded_default();
    let names: Vec<_> = config.services.keys().map(ToString::to_string).collect();
    assert_eq!(
        names,
        ["demo/serviceb", "demo/serviceb-v1", "demo/serviceb-v2"]
    );
    let serviceb = port(&config, "serviceb", 50051);
    assert_eq!(
        (serviceb.name.as_deref(), serviceb.protocol),
        (Some("grpc"), UpstreamProtocol::Http2)
    );
    assert_eq!(
        describe_all(&serviceb.routes),
        [
            "demo/serviceb-http/rule0/match0: exact \"/hello\" -> serviceb-v1*80, serviceb-v2*20",
            "demo/serviceb-http/rule0/match0: prefix \"/hello/\" -> serviceb-v1*80, serviceb-v2*20",
            "demo/serviceb-split/rule0/match0: prefix \"/\" -> serviceb-v1*80, serviceb-v2*20",
        ]
    );
    assert_eq!(
        describe_all(&port(&config, "serviceb-v1", 50051).routes),
        ["demo/serviceb-v1:50051/default: prefix \"\" -> serviceb-v1*1"]
    );
    assert!(
        config
            .services
            .values()
            .all(|s| s.ports.iter().all(|p| p.endpoints.is_empty()))
    );
}
