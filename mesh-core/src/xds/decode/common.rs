//! Checks shared by several resource types: packed messages, config sources, socket addresses,
//! durations, fractions.

use std::net::{IpAddr, SocketAddr};

use envoy_types::pb::envoy::config::core::v3::{
    Address, ConfigSource, address, config_source::ConfigSourceSpecifier, socket_address,
};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use envoy_types::pb::google::protobuf::{Any, Duration};
use prost::Message;

use super::error::{Context, DecodeError};
use crate::model::Share;

/// Unpacks `any` (at `field`) as an `M` whose type URL must be `type_url`; `what` names `M` in
/// errors.
pub(crate) fn unpack<M: Message + Default>(
    ctx: Context<'_>,
    field: &str,
    any: &Any,
    type_url: &str,
    what: &str,
) -> Result<M, DecodeError> {
    if any.type_url != type_url {
        return Err(ctx.error(field, format!("expected {what}, got {:?}", any.type_url)));
    }
    M::decode(any.value.as_slice())
        .map_err(|e| ctx.error(field, format!("not a valid {what} protobuf: {e}")))
}

/// Checks that a config source (at `field`) points back at this ADS stream: `ads` or `self`,
/// the only sources a gRPC client follows.
pub(crate) fn config_source(
    ctx: Context<'_>,
    field: &str,
    source: Option<&ConfigSource>,
) -> Result<(), DecodeError> {
    match source.and_then(|s| s.config_source_specifier.as_ref()) {
        Some(ConfigSourceSpecifier::Ads(_) | ConfigSourceSpecifier::Self_(_)) => Ok(()),
        Some(_) => Err(ctx.error(
            field,
            "must be `ads` or `self`: other config sources are not supported",
        )),
        None => Err(ctx.error(field, "is missing; set it to `ads`")),
    }
}

/// The largest `seconds` a protobuf `Duration` may hold (10,000 years).
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;

/// Reads a protobuf `Duration` (at `field`), which must be valid and not negative.
pub(crate) fn duration(
    ctx: Context<'_>,
    field: &str,
    proto: &Duration,
) -> Result<std::time::Duration, DecodeError> {
    let invalid =
        |why: &str| ctx.error(field, format!("{}s {}ns {why}", proto.seconds, proto.nanos));
    if proto.seconds < 0 || proto.nanos < 0 {
        return Err(invalid("is negative; durations must be zero or more"));
    }
    if proto.seconds > MAX_DURATION_SECONDS || proto.nanos > 999_999_999 {
        return Err(invalid("is not a valid protobuf Duration"));
    }
    // Both checked non-negative and in range above.
    Ok(std::time::Duration::new(
        proto.seconds.unsigned_abs(),
        proto.nanos.unsigned_abs(),
    ))
}

/// Reads a `FractionalPercent` (at `field`) as millionths, for any denominator. A numerator
/// over its denominator means every request, as in Envoy and gRPC: capped at a million.
pub(crate) fn per_million(
    ctx: Context<'_>,
    field: &str,
    proto: &FractionalPercent,
) -> Result<u32, DecodeError> {
    let scale: u64 = match DenominatorType::try_from(proto.denominator) {
        Ok(DenominatorType::Hundred) => 10_000,
        Ok(DenominatorType::TenThousand) => 100,
        Ok(DenominatorType::Million) => 1,
        Err(_) => {
            return Err(ctx.error(
                format!("{field}.denominator"),
                format!(
                    "{} is not HUNDRED, TEN_THOUSAND or MILLION",
                    proto.denominator
                ),
            ));
        }
    };
    let millionths = (u64::from(proto.numerator) * scale).min(u64::from(Share::MILLION));
    // At most a million, which fits.
    Ok(u32::try_from(millionths).unwrap_or(Share::MILLION))
}

/// Reads a `socket_address` with an IP literal and a numeric port (at `field`).
pub(crate) fn socket_address(
    ctx: Context<'_>,
    field: &str,
    address: Option<&Address>,
) -> Result<SocketAddr, DecodeError> {
    let Some(address::Address::SocketAddress(socket)) = address.and_then(|a| a.address.as_ref())
    else {
        return Err(ctx.error(field, "must be a socket_address"));
    };
    let ip: IpAddr = socket.address.parse().map_err(|_| {
        ctx.error(
            format!("{field}.socket_address.address"),
            format!("{:?} is not an IPv4 or IPv6 literal", socket.address),
        )
    })?;
    let port = match socket.port_specifier {
        Some(socket_address::PortSpecifier::PortValue(port)) => {
            u16::try_from(port).map_err(|_| {
                ctx.error(
                    format!("{field}.socket_address.port_value"),
                    format!("{port} is not a port number (0-65535)"),
                )
            })?
        }
        _ => {
            return Err(ctx.error(
                format!("{field}.socket_address.port_value"),
                "is missing (named ports are not supported)",
            ));
        }
    };
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xds::decode::fixtures::{address, ads, any};

    const CTX: Context<'static> = Context {
        kind: "Cluster",
        resource: "c",
    };

    #[test]
    fn socket_addresses() {
        let a = socket_address(CTX, "address", Some(&address("::1", 80))).unwrap();
        assert_eq!(a, "[::1]:80".parse().unwrap());
        let err = socket_address(CTX, "address", Some(&address("localhost", 80))).unwrap_err();
        assert_eq!(err.field, "address.socket_address.address");
        let err = socket_address(CTX, "address", Some(&address("10.0.0.1", 70000))).unwrap_err();
        assert_eq!(err.field, "address.socket_address.port_value");
        let err = socket_address(CTX, "address", None).unwrap_err();
        assert_eq!(err.field, "address");
    }

    #[test]
    fn fractions_become_millionths_capped_at_a_million() {
        let f = |numerator, denominator: DenominatorType| FractionalPercent {
            numerator,
            denominator: denominator as i32,
        };
        let read = |p: FractionalPercent| per_million(CTX, "f", &p).unwrap();
        assert_eq!(read(f(5, DenominatorType::Hundred)), 50_000);
        assert_eq!(read(f(5, DenominatorType::TenThousand)), 500);
        assert_eq!(read(f(5, DenominatorType::Million)), 5);
        assert_eq!(read(f(250, DenominatorType::Hundred)), Share::MILLION);
        assert_eq!(read(f(u32::MAX, DenominatorType::Hundred)), Share::MILLION);
        let bad = FractionalPercent {
            numerator: 1,
            denominator: 7,
        };
        let err = per_million(CTX, "f", &bad).unwrap_err();
        assert_eq!(err.field, "f.denominator");
    }

    #[test]
    fn durations() {
        let d = |seconds, nanos| Duration { seconds, nanos };
        assert_eq!(
            duration(CTX, "f", &d(2, 5)).unwrap(),
            std::time::Duration::new(2, 5)
        );
        for bad in [
            d(-1, 0),
            d(0, -1),
            d(0, 1_000_000_000),
            d(MAX_DURATION_SECONDS + 1, 0),
        ] {
            let err = duration(CTX, "a.b", &bad).unwrap_err();
            assert_eq!(err.field, "a.b", "{bad:?}");
        }
        assert!(
            duration(CTX, "f", &d(-1, 0))
                .unwrap_err()
                .reason
                .contains("negative")
        );
    }

    #[test]
    fn config_sources() {
        assert!(config_source(CTX, "f", Some(&ads())).is_ok());
        let path = ConfigSource {
            config_source_specifier: Some(ConfigSourceSpecifier::ApiConfigSource(
                Default::default(),
            )),
            ..Default::default()
        };
        assert!(
            config_source(CTX, "f", Some(&path))
                .unwrap_err()
                .reason
                .contains("ads")
        );
        assert!(config_source(CTX, "f", None).is_err());
    }

    #[test]
    fn unpack_checks_the_type_url() {
        let packed = any("type.googleapis.com/x.Y", &Address::default());
        let err = unpack::<Address>(CTX, "f", &packed, "type.googleapis.com/x.Z", "Z").unwrap_err();
        assert!(err.reason.contains("expected Z"), "{err}");
        assert!(unpack::<Address>(CTX, "f", &packed, "type.googleapis.com/x.Y", "Y").is_ok());
    }
}
