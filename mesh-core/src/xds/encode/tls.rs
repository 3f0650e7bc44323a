//! Transport sockets for mTLS (gRFC A29): the workload's own certificate and the trust bundle
//! come from the client's certificate provider instance, never from the control plane.
//!
//! Both sides name the instance `default` (the one a gRPC bootstrap's `certificate_providers`
//! defines, and the workload identity for our own client). The trust bundle instance is given
//! twice, in `default_validation_context.ca_certificate_provider_instance` (the current field)
//! and in `validation_context_certificate_provider_instance` (the older one that earlier gRPC
//! releases read), as every gRPC implementation falls back from one to the other. The peer
//! SPIFFE IDs are likewise in both `match_typed_subject_alt_names` (as URI SANs, what Envoy
//! reads) and `match_subject_alt_names` (what gRPC reads).

use envoy_types::pb::envoy::config::core::v3::{TransportSocket, transport_socket::ConfigType};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateProviderPluginInstance, CertificateValidationContext, CommonTlsContext,
    DownstreamTlsContext, SubjectAltNameMatcher, UpstreamTlsContext,
    common_tls_context::{
        CertificateProviderInstance, CombinedCertificateValidationContext, ValidationContextType,
    },
    subject_alt_name_matcher::SanType,
};
use envoy_types::pb::google::protobuf::BoolValue;

use super::route::string_matcher;
use super::to_any;
use crate::model::StringMatch;

/// The name of the TLS transport socket.
pub(crate) const TLS_TRANSPORT_SOCKET: &str = "envoy.transport_sockets.tls";
/// The certificate provider instance that stands for the workload's identity.
const PROVIDER_INSTANCE: &str = "default";

/// A client's TLS socket to a cluster: accept servers whose SPIFFE ID matches one of
/// `peer_ids` (any, if empty).
pub(crate) fn upstream(peer_ids: &[StringMatch]) -> TransportSocket {
    let context = UpstreamTlsContext {
        common_tls_context: Some(common_tls_context(peer_ids)),
        ..Default::default()
    };
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET.into(),
        config_type: Some(ConfigType::TypedConfig(to_any(&context))),
    }
}

/// A server's TLS socket: require a client certificate that chains to the trust bundle.
pub(crate) fn downstream() -> TransportSocket {
    let context = DownstreamTlsContext {
        common_tls_context: Some(common_tls_context(&[])),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    };
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET.into(),
        config_type: Some(ConfigType::TypedConfig(to_any(&context))),
    }
}

/// Our identity from the `default` provider, the trust bundle from it too, and the peer
/// identities accepted.
#[allow(deprecated)] // the older fields are still what earlier gRPC releases read
fn common_tls_context(peer_ids: &[StringMatch]) -> CommonTlsContext {
    let instance = CertificateProviderPluginInstance {
        instance_name: PROVIDER_INSTANCE.into(),
        certificate_name: String::new(),
    };
    let validation = CertificateValidationContext {
        ca_certificate_provider_instance: Some(instance.clone()),
        match_typed_subject_alt_names: peer_ids
            .iter()
            .map(|id| SubjectAltNameMatcher {
                san_type: SanType::Uri as i32,
                matcher: Some(string_matcher(id)),
                oid: String::new(),
            })
            .collect(),
        match_subject_alt_names: peer_ids.iter().map(string_matcher).collect(),
        ..Default::default()
    };
    CommonTlsContext {
        tls_certificate_provider_instance: Some(instance),
        validation_context_type: Some(ValidationContextType::CombinedValidationContext(
            CombinedCertificateValidationContext {
                default_validation_context: Some(validation),
                validation_context_certificate_provider_instance: Some(
                    CertificateProviderInstance {
                        instance_name: PROVIDER_INSTANCE.into(),
                        certificate_name: String::new(),
                    },
                ),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use prost::{Message, Name};

    use super::*;

    fn unpack<M: Message + Default + Name>(socket: &TransportSocket) -> M {
        assert_eq!(socket.name, TLS_TRANSPORT_SOCKET);
        let Some(ConfigType::TypedConfig(any)) = &socket.config_type else {
            panic!("no typed_config");
        };
        assert_eq!(any.type_url, M::type_url());
        M::decode(any.value.as_slice()).unwrap()
    }

    fn combined(common: &CommonTlsContext) -> &CombinedCertificateValidationContext {
        match &common.validation_context_type {
            Some(ValidationContextType::CombinedValidationContext(c)) => c,
            other => panic!("not a combined validation context: {other:?}"),
        }
    }

    #[test]
    #[allow(deprecated)]
    fn upstream_names_the_default_provider_and_the_peer_ids() {
        let ids = [StringMatch::Exact("spiffe://td/ns/a/sa/b".into())];
        let context: UpstreamTlsContext = unpack(&upstream(&ids));
        let common = context.common_tls_context.unwrap();
        let identity = common.tls_certificate_provider_instance.as_ref().unwrap();
        assert_eq!(identity.instance_name, "default");
        let combined = combined(&common);
        let roots = combined
            .validation_context_certificate_provider_instance
            .as_ref()
            .unwrap();
        assert_eq!(roots.instance_name, "default");
        let validation = combined.default_validation_context.as_ref().unwrap();
        let ca = validation
            .ca_certificate_provider_instance
            .as_ref()
            .unwrap();
        assert_eq!(ca.instance_name, "default");
        let [typed] = validation.match_typed_subject_alt_names.as_slice() else {
            panic!("expected one typed SAN matcher");
        };
        assert_eq!(typed.san_type, SanType::Uri as i32);
        assert_eq!(typed.matcher.as_ref(), Some(&string_matcher(&ids[0])));
        assert_eq!(
            validation.match_subject_alt_names,
            [string_matcher(&ids[0])]
        );
    }

    #[test]
    fn downstream_requires_a_client_certificate_of_any_identity() {
        let context: DownstreamTlsContext = unpack(&downstream());
        assert_eq!(
            context.require_client_certificate,
            Some(BoolValue { value: true })
        );
        let common = context.common_tls_context.unwrap();
        assert!(common.tls_certificate_provider_instance.is_some());
        let validation = combined(&common)
            .default_validation_context
            .as_ref()
            .unwrap();
        assert!(validation.ca_certificate_provider_instance.is_some());
        assert!(validation.match_typed_subject_alt_names.is_empty());
    }
}
