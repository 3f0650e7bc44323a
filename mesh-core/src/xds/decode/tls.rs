//! TLS transport sockets (gRFC A29) to the model's mTLS settings.
//!
//! Certificates come from certificate provider instances named by the control plane; for this
//! client every instance name means the workload's own identity (its SVID and the mesh's trust
//! bundle). What it cannot honour is refused, as gRPC does: certificates or trust bundles given
//! inline or over SDS, TLS parameters, custom handshakers and validators, and a context that
//! names no trust bundle. The peer's SPIFFE ID (its URI SAN) is matched with
//! `match_typed_subject_alt_names` (URI entries only), or else `match_subject_alt_names`.

use envoy_types::pb::envoy::config::core::v3::{TransportSocket, transport_socket::ConfigType};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, UpstreamTlsContext,
    common_tls_context::ValidationContextType, subject_alt_name_matcher::SanType,
};
use prost::{Message, Name};

use super::common::unpack;
use super::error::{Context, DecodeError};
use super::matcher::string_match;
use crate::model::{StringMatch, UpstreamTls};
use crate::xds::encode::TLS_TRANSPORT_SOCKET;

/// Decodes a cluster's transport socket (at `field`) into the server identities accepted.
pub(crate) fn upstream(
    ctx: Context<'_>,
    field: &str,
    socket: &TransportSocket,
) -> Result<UpstreamTls, DecodeError> {
    let context: UpstreamTlsContext = tls_context(ctx, field, socket, "UpstreamTlsContext")?;
    let field = format!("{field}.typed_config.common_tls_context");
    let Some(common) = &context.common_tls_context else {
        return Err(ctx.error(field, "is missing; it must name the certificate providers"));
    };
    let peer_ids = common_tls_context(ctx, &field, common)?;
    Ok(UpstreamTls { peer_ids })
}

/// Checks a server filter chain's transport socket (at `field`): mTLS that requires a client
/// certificate, which is all a server listener can ask for.
pub(crate) fn downstream(
    ctx: Context<'_>,
    field: &str,
    socket: &TransportSocket,
) -> Result<(), DecodeError> {
    let context: DownstreamTlsContext = tls_context(ctx, field, socket, "DownstreamTlsContext")?;
    let field = format!("{field}.typed_config");
    if !context.require_client_certificate.is_some_and(|b| b.value) {
        return Err(ctx.error(
            format!("{field}.require_client_certificate"),
            "must be true: servers accept mTLS only, TLS without a client certificate is not \
             supported",
        ));
    }
    if context.require_sni.is_some_and(|b| b.value) {
        return Err(ctx.error(format!("{field}.require_sni"), "is not supported"));
    }
    let field = format!("{field}.common_tls_context");
    let Some(common) = &context.common_tls_context else {
        return Err(ctx.error(field, "is missing; it must name the certificate providers"));
    };
    if !has_identity(common) {
        return Err(ctx.error(
            format!("{field}.tls_certificate_provider_instance"),
            "is missing; a server must present a certificate",
        ));
    }
    if !common_tls_context(ctx, &field, common)?.is_empty() {
        return Err(ctx.error(
            format!("{field}.validation_context"),
            "subject alt name matchers are not supported on a server; authorize clients with \
             RBAC instead",
        ));
    }
    Ok(())
}

/// Unpacks the TLS context `what` of a transport socket named `envoy.transport_sockets.tls`.
fn tls_context<M: Message + Default + Name>(
    ctx: Context<'_>,
    field: &str,
    socket: &TransportSocket,
    what: &str,
) -> Result<M, DecodeError> {
    if socket.name != TLS_TRANSPORT_SOCKET {
        return Err(ctx.error(
            format!("{field}.name"),
            format!(
                "{:?} is not supported; use {TLS_TRANSPORT_SOCKET:?}",
                socket.name
            ),
        ));
    }
    let field = format!("{field}.typed_config");
    let Some(ConfigType::TypedConfig(any)) = &socket.config_type else {
        return Err(ctx.error(field, format!("is missing; expected a {what}")));
    };
    unpack(ctx, &field, any, &M::type_url(), what)
}

/// Whether the context names a provider of the workload's own certificate.
#[allow(deprecated)] // the older field is still sent by some control planes
fn has_identity(common: &CommonTlsContext) -> bool {
    common.tls_certificate_provider_instance.is_some()
        || common
            .tls_certificate_certificate_provider_instance
            .is_some()
}

/// Checks what this client cannot honour and returns the peer identity matchers.
#[allow(deprecated)] // reading the deprecated fields is what refusing them takes
fn common_tls_context(
    ctx: Context<'_>,
    field: &str,
    common: &CommonTlsContext,
) -> Result<Vec<StringMatch>, DecodeError> {
    let unsupported = [
        (common.tls_params.is_some(), "tls_params"),
        (common.custom_handshaker.is_some(), "custom_handshaker"),
        (!common.tls_certificates.is_empty(), "tls_certificates"),
        (
            !common.tls_certificate_sds_secret_configs.is_empty(),
            "tls_certificate_sds_secret_configs",
        ),
        (
            common.tls_certificate_certificate_provider.is_some(),
            "tls_certificate_certificate_provider",
        ),
        (
            common.custom_tls_certificate_selector.is_some(),
            "custom_tls_certificate_selector",
        ),
    ];
    refuse(ctx, field, &unsupported)?;
    let (roots, peer_ids) = match &common.validation_context_type {
        Some(ValidationContextType::ValidationContext(v)) => {
            validation_context(ctx, &format!("{field}.validation_context"), v)?
        }
        Some(ValidationContextType::CombinedValidationContext(combined)) => {
            let field = format!("{field}.combined_validation_context");
            refuse(
                ctx,
                &field,
                &[
                    (
                        combined.validation_context_sds_secret_config.is_some(),
                        "validation_context_sds_secret_config",
                    ),
                    (
                        combined.validation_context_certificate_provider.is_some(),
                        "validation_context_certificate_provider",
                    ),
                ],
            )?;
            let (roots, peer_ids) = match &combined.default_validation_context {
                Some(v) => {
                    validation_context(ctx, &format!("{field}.default_validation_context"), v)?
                }
                None => (false, Vec::new()),
            };
            let roots = roots
                || combined
                    .validation_context_certificate_provider_instance
                    .is_some();
            (roots, peer_ids)
        }
        Some(ValidationContextType::ValidationContextCertificateProviderInstance(_)) => {
            (true, Vec::new())
        }
        Some(
            ValidationContextType::ValidationContextSdsSecretConfig(_)
            | ValidationContextType::ValidationContextCertificateProvider(_),
        ) => {
            return Err(ctx.error(
                field,
                "the validation context must come from a certificate provider instance \
                 (SDS and inline providers are not supported)",
            ));
        }
        None => (false, Vec::new()),
    };
    if !roots {
        return Err(ctx.error(
            field,
            "names no trust bundle; set ca_certificate_provider_instance in the validation \
             context",
        ));
    }
    Ok(peer_ids)
}

/// Whether the validation context names a trust bundle provider, and its SAN matchers.
#[allow(deprecated)] // match_subject_alt_names is what gRPC reads
fn validation_context(
    ctx: Context<'_>,
    field: &str,
    v: &CertificateValidationContext,
) -> Result<(bool, Vec<StringMatch>), DecodeError> {
    let unsupported = [
        (v.trusted_ca.is_some(), "trusted_ca"),
        (v.system_root_certs.is_some(), "system_root_certs"),
        (v.watched_directory.is_some(), "watched_directory"),
        (
            !v.verify_certificate_spki.is_empty(),
            "verify_certificate_spki",
        ),
        (
            !v.verify_certificate_hash.is_empty(),
            "verify_certificate_hash",
        ),
        (
            v.require_signed_certificate_timestamp
                .is_some_and(|b| b.value),
            "require_signed_certificate_timestamp",
        ),
        (v.crl.is_some(), "crl"),
        (
            v.custom_validator_config.is_some(),
            "custom_validator_config",
        ),
        (v.allow_expired_certificate, "allow_expired_certificate"),
    ];
    refuse(ctx, field, &unsupported)?;
    let mut peer_ids = Vec::new();
    if v.match_typed_subject_alt_names.is_empty() {
        for (i, m) in v.match_subject_alt_names.iter().enumerate() {
            peer_ids.push(string_match(
                ctx,
                &format!("{field}.match_subject_alt_names[{i}]"),
                m,
            )?);
        }
    }
    for (i, m) in v.match_typed_subject_alt_names.iter().enumerate() {
        let field = format!("{field}.match_typed_subject_alt_names[{i}]");
        if m.san_type != SanType::Uri as i32 {
            let name = SanType::try_from(m.san_type).map_or("unknown", |t| t.as_str_name());
            return Err(ctx.error(
                format!("{field}.san_type"),
                format!("{name} is not supported; peers are matched by SPIFFE ID, use URI"),
            ));
        }
        let Some(matcher) = &m.matcher else {
            return Err(ctx.error(format!("{field}.matcher"), "is missing"));
        };
        peer_ids.push(string_match(ctx, &format!("{field}.matcher"), matcher)?);
    }
    Ok((v.ca_certificate_provider_instance.is_some(), peer_ids))
}

/// Fails on the first `(set, name)` that is set: a field this client cannot honour.
fn refuse(ctx: Context<'_>, field: &str, fields: &[(bool, &str)]) -> Result<(), DecodeError> {
    match fields.iter().find(|(set, _)| *set) {
        Some((_, name)) => Err(ctx.error(
            format!("{field}.{name}"),
            "is not supported by this client; remove it",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
