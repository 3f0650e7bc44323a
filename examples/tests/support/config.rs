//! The YAML of the tests' configs: the demo's Services and routes, join tokens, and policies.

/// The SPIFFE ID of demo/servicea (join token `dev-servicea`).
pub const SERVICEA_ID: &str = "spiffe://cluster.local/ns/demo/sa/servicea";
/// The SPIFFE ID of demo/serviceb (join token `dev-serviceb`).
pub const SERVICEB_ID: &str = "spiffe://cluster.local/ns/demo/sa/serviceb";
/// The SPIFFE ID of demo/impostor (join token `dev-impostor`).
pub const IMPOSTOR_ID: &str = "spiffe://cluster.local/ns/demo/sa/impostor";
/// The path of serviceB's gRPC method.
pub const GET_PATH: &str = "/demo.ServiceB/Get";

/// Join tokens for demo/servicea (`dev-servicea`), demo/serviceb (`dev-serviceb`) and
/// demo/impostor (`dev-impostor`).
pub const JOIN_TOKENS: &str = r#"apiVersion: mesh.dev/v1alpha1
kind: JoinToken
metadata: { name: servicea, namespace: demo }
spec: { token: dev-servicea, serviceAccount: servicea }
---
apiVersion: mesh.dev/v1alpha1
kind: JoinToken
metadata: { name: serviceb, namespace: demo }
spec: { token: dev-serviceb, serviceAccount: serviceb }
---
apiVersion: mesh.dev/v1alpha1
kind: JoinToken
metadata: { name: impostor, namespace: demo }
spec: { token: dev-impostor, serviceAccount: impostor }
"#;

/// The demo's Services and a GRPCRoute that splits `serviceb` between v1 and v2 (no
/// TLSPolicy: the Services are PERMISSIVE and clients speak mTLS).
pub fn split_config(v1: u32, v2: u32) -> String {
    format!(
        r#"{JOIN_TOKENS}---
apiVersion: v1
kind: Service
metadata: {{ name: serviceb, namespace: demo }}
spec:
  ports: [{{ name: grpc, port: 50051 }}]
---
apiVersion: v1
kind: Service
metadata: {{ name: serviceb-v1, namespace: demo }}
spec:
  ports: [{{ name: grpc, port: 50051 }}]
---
apiVersion: v1
kind: Service
metadata: {{ name: serviceb-v2, namespace: demo }}
spec:
  ports: [{{ name: grpc, port: 50051 }}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{ name: split, namespace: demo }}
spec:
  parentRefs: [{{ group: "", kind: Service, name: serviceb, port: 50051 }}]
  rules:
  - backendRefs:
    - {{ name: serviceb-v1, port: 50051, weight: {v1} }}
    - {{ name: serviceb-v2, port: 50051, weight: {v2} }}
"#
    )
}

/// Service `name` (port 50051) of namespace `demo`, served at 127.0.0.1:`port` as listed in a
/// static EndpointSlice.
pub fn static_service(name: &str, port: u16) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata: {{ name: {name}, namespace: demo }}
spec:
  ports: [{{ name: grpc, port: 50051, targetPort: {port} }}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-static
  namespace: demo
  labels: {{ kubernetes.io/service-name: {name} }}
addressType: IPv4
ports: [{{ name: grpc, port: {port} }}]
endpoints:
- addresses: ["127.0.0.1"]
"#
    )
}

/// An AuthorizationPolicy on Service `target` of `demo`: only demo/`caller` may call
/// `/demo.ServiceB/Get` and `GET /hello`; everything else is denied.
pub fn authorize_only(caller: &str, target: &str) -> String {
    format!(
        r#"apiVersion: mesh.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {{ name: callers, namespace: demo }}
spec:
  targetRefs: [{{ kind: Service, name: {target} }}]
  defaultAction: DENY
  rules:
  - name: {caller}-reads
    action: ALLOW
    from: [{{ serviceAccount: {caller} }}]
    to:
    - grpc: {{ service: demo.ServiceB, method: Get }}
    - path: {{ prefix: /hello }}
      methods: [GET]
"#
    )
}

/// Every Service of `demo` STRICT, its servers demo/serviceb.
pub const STRICT: &str = r#"apiVersion: mesh.dev/v1alpha1
kind: TLSPolicy
metadata: { name: strict, namespace: demo }
spec: { mode: STRICT, serviceAccounts: [serviceb] }
"#;

/// Every Service of namespace `demo` in plaintext (for peers without certificates).
pub const PLAINTEXT: &str = "apiVersion: mesh.dev/v1alpha1\nkind: TLSPolicy\nmetadata: { name: off, namespace: demo }\nspec: { mode: DISABLE }\n";
