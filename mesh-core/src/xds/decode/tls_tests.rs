use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateProviderPluginInstance, SdsSecretConfig, SubjectAltNameMatcher, TlsCertificate,
    common_tls_context::{CertificateProviderInstance, CombinedCertificateValidationContext},
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::google::protobuf::BoolValue;

use super::*;
use crate::xds::decode::fixtures::{downstream_mtls, mtls_context, tls_socket};

const CTX: Context<'static> = Context {
    kind: "Cluster",
    resource: "c",
};
const ID: &str = "spiffe://td/ns/demo/sa/serviceb";

fn upstream_socket(common: CommonTlsContext) -> TransportSocket {
    tls_socket(&UpstreamTlsContext {
        common_tls_context: Some(common),
        ..Default::default()
    })
}

fn decode_upstream(common: CommonTlsContext) -> Result<UpstreamTls, DecodeError> {
    upstream(CTX, "transport_socket", &upstream_socket(common))
}

fn prefix(p: &str) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(MatchPattern::Prefix(p.into())),
        ignore_case: false,
    }
}

/// The validation context of [`mtls_context`], to change one field of it.
fn validation(common: &mut CommonTlsContext) -> &mut CertificateValidationContext {
    match &mut common.validation_context_type {
        Some(ValidationContextType::ValidationContext(v)) => v,
        other => panic!("not a validation context: {other:?}"),
    }
}

#[test]
fn typed_uri_sans_become_peer_ids() {
    let got = decode_upstream(mtls_context(&[ID])).unwrap();
    assert_eq!(got.peer_ids, [StringMatch::Exact(ID.into())]);
}

#[test]
#[allow(deprecated)]
fn untyped_sans_are_read_when_there_are_no_typed_ones() {
    let mut common = mtls_context(&[]);
    validation(&mut common).match_subject_alt_names = vec![prefix("spiffe://td/")];
    let got = decode_upstream(common).unwrap();
    assert_eq!(got.peer_ids, [StringMatch::Prefix("spiffe://td/".into())]);

    // Typed matchers win, as in Envoy.
    let mut both = mtls_context(&[ID]);
    validation(&mut both).match_subject_alt_names = vec![prefix("spiffe://td/")];
    let got = decode_upstream(both).unwrap();
    assert_eq!(got.peer_ids, [StringMatch::Exact(ID.into())]);
}

#[test]
#[allow(deprecated)]
fn the_trust_bundle_may_come_from_the_older_provider_fields() {
    let instance = CertificateProviderInstance {
        instance_name: "roots".into(),
        certificate_name: "ROOTCA".into(),
    };
    let only_instance = CommonTlsContext {
        validation_context_type: Some(
            ValidationContextType::ValidationContextCertificateProviderInstance(instance.clone()),
        ),
        ..mtls_context(&[])
    };
    assert_eq!(decode_upstream(only_instance).unwrap().peer_ids, []);

    let combined = CommonTlsContext {
        validation_context_type: Some(ValidationContextType::CombinedValidationContext(
            CombinedCertificateValidationContext {
                default_validation_context: Some(CertificateValidationContext {
                    match_subject_alt_names: vec![prefix("spiffe://td/ns/demo/")],
                    ..Default::default()
                }),
                validation_context_certificate_provider_instance: Some(instance),
                ..Default::default()
            },
        )),
        ..mtls_context(&[])
    };
    assert_eq!(
        decode_upstream(combined).unwrap().peer_ids,
        [StringMatch::Prefix("spiffe://td/ns/demo/".into())]
    );
}

#[test]
fn upstream_contexts_this_client_cannot_honour_are_errors() {
    let no_roots = CommonTlsContext {
        validation_context_type: None,
        ..mtls_context(&[])
    };
    let err = decode_upstream(no_roots).unwrap_err();
    assert!(err.reason.contains("no trust bundle"), "{err}");
    assert_eq!(
        err.field,
        "transport_socket.typed_config.common_tls_context"
    );

    let mut no_ca = mtls_context(&[ID]);
    validation(&mut no_ca).ca_certificate_provider_instance = None;
    assert!(decode_upstream(no_ca).is_err());

    let sds = CommonTlsContext {
        validation_context_type: Some(ValidationContextType::ValidationContextSdsSecretConfig(
            SdsSecretConfig::default(),
        )),
        ..mtls_context(&[])
    };
    assert!(decode_upstream(sds).unwrap_err().reason.contains("SDS"));

    let inline = CommonTlsContext {
        tls_certificates: vec![TlsCertificate::default()],
        ..mtls_context(&[])
    };
    assert_eq!(
        decode_upstream(inline).unwrap_err().field,
        "transport_socket.typed_config.common_tls_context.tls_certificates"
    );

    let mut trusted_ca = mtls_context(&[]);
    validation(&mut trusted_ca).trusted_ca = Some(Default::default());
    assert!(
        decode_upstream(trusted_ca)
            .unwrap_err()
            .field
            .ends_with("validation_context.trusted_ca")
    );

    let mut dns = mtls_context(&[ID]);
    validation(&mut dns).match_typed_subject_alt_names[0].san_type = SanType::Dns as i32;
    let err = decode_upstream(dns).unwrap_err();
    assert!(
        err.field
            .ends_with("match_typed_subject_alt_names[0].san_type"),
        "{err}"
    );
    assert!(err.reason.contains("DNS"), "{err}");

    let mut no_matcher = mtls_context(&[]);
    validation(&mut no_matcher).match_typed_subject_alt_names = vec![SubjectAltNameMatcher {
        san_type: SanType::Uri as i32,
        ..Default::default()
    }];
    assert!(decode_upstream(no_matcher).is_err());
}

#[test]
fn the_socket_must_be_tls_with_the_right_context() {
    let mut renamed = upstream_socket(mtls_context(&[]));
    renamed.name = "envoy.transport_sockets.raw_buffer".into();
    let err = upstream(CTX, "transport_socket", &renamed).unwrap_err();
    assert_eq!(err.field, "transport_socket.name");

    let err = upstream(CTX, "transport_socket", &downstream_mtls()).unwrap_err();
    assert!(err.reason.contains("expected UpstreamTlsContext"), "{err}");

    let empty = tls_socket(&UpstreamTlsContext::default());
    let err = upstream(CTX, "transport_socket", &empty).unwrap_err();
    assert_eq!(
        err.field,
        "transport_socket.typed_config.common_tls_context"
    );
}

#[test]
fn downstream_requires_client_certificates_and_an_identity() {
    assert!(downstream(CTX, "ts", &downstream_mtls()).is_ok());

    let optional_client_cert = tls_socket(&DownstreamTlsContext {
        common_tls_context: Some(mtls_context(&[])),
        require_client_certificate: Some(BoolValue { value: false }),
        ..Default::default()
    });
    let err = downstream(CTX, "ts", &optional_client_cert).unwrap_err();
    assert_eq!(err.field, "ts.typed_config.require_client_certificate");

    let no_identity = tls_socket(&DownstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            tls_certificate_provider_instance: None,
            ..mtls_context(&[])
        }),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    });
    let err = downstream(CTX, "ts", &no_identity).unwrap_err();
    assert!(err.reason.contains("present a certificate"), "{err}");

    let with_sans = tls_socket(&DownstreamTlsContext {
        common_tls_context: Some(mtls_context(&[ID])),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    });
    let err = downstream(CTX, "ts", &with_sans).unwrap_err();
    assert!(err.reason.contains("RBAC"), "{err}");
}

#[test]
fn any_provider_instance_name_is_the_workload_identity() {
    let mut common = mtls_context(&[]);
    common.tls_certificate_provider_instance = Some(CertificateProviderPluginInstance {
        instance_name: "spiffe".into(),
        certificate_name: "leaf".into(),
    });
    assert!(decode_upstream(common).is_ok());
}
