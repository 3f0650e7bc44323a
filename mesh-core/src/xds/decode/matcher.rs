//! Header matchers (`HeaderMatcher`, `StringMatcher`) to [`model::HeaderMatch`].

use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, header_matcher::HeaderMatchSpecifier,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};

use super::error::{Context, DecodeError};
use crate::model::{self, Pattern, StringMatch};

/// Decodes a header matcher at `field`.
#[allow(deprecated)] // the *_match variants are deprecated but still sent (gRPC reads them)
pub(crate) fn header(
    ctx: Context<'_>,
    field: &str,
    proto: &HeaderMatcher,
) -> Result<model::HeaderMatch, DecodeError> {
    if proto.name.is_empty() {
        return Err(ctx.error(format!("{field}.name"), "is empty"));
    }
    let mut invert = proto.invert_match;
    let matcher = match &proto.header_match_specifier {
        Some(HeaderMatchSpecifier::ExactMatch(s)) => StringMatch::Exact(s.clone()),
        Some(HeaderMatchSpecifier::PrefixMatch(s)) => StringMatch::Prefix(s.clone()),
        Some(HeaderMatchSpecifier::SuffixMatch(s)) => StringMatch::Suffix(s.clone()),
        Some(HeaderMatchSpecifier::ContainsMatch(s)) => StringMatch::Contains(s.clone()),
        Some(HeaderMatchSpecifier::SafeRegexMatch(re)) => StringMatch::Regex(pattern(
            ctx,
            &format!("{field}.safe_regex_match.regex"),
            &re.regex,
        )?),
        Some(HeaderMatchSpecifier::PresentMatch(present)) => {
            // `present_match: false` takes the requests without the header.
            invert ^= !present;
            StringMatch::Present
        }
        Some(HeaderMatchSpecifier::StringMatch(m)) => {
            string_match(ctx, &format!("{field}.string_match"), m)?
        }
        Some(HeaderMatchSpecifier::RangeMatch(_)) => {
            return Err(ctx.error(format!("{field}.range_match"), "is not supported"));
        }
        None => return Err(ctx.error(field, "has no match specifier")),
    };
    Ok(model::HeaderMatch {
        name: proto.name.to_ascii_lowercase(),
        matcher,
        invert,
    })
}

/// Decodes a string matcher at `field`.
pub(crate) fn string_match(
    ctx: Context<'_>,
    field: &str,
    proto: &StringMatcher,
) -> Result<StringMatch, DecodeError> {
    if proto.ignore_case {
        return Err(ctx.error(
            format!("{field}.ignore_case"),
            "is not supported; match the exact case",
        ));
    }
    Ok(match &proto.match_pattern {
        Some(MatchPattern::Exact(s)) => StringMatch::Exact(s.clone()),
        Some(MatchPattern::Prefix(s)) => StringMatch::Prefix(s.clone()),
        Some(MatchPattern::Suffix(s)) => StringMatch::Suffix(s.clone()),
        Some(MatchPattern::Contains(s)) => StringMatch::Contains(s.clone()),
        Some(MatchPattern::SafeRegex(re)) => StringMatch::Regex(pattern(
            ctx,
            &format!("{field}.safe_regex.regex"),
            &re.regex,
        )?),
        Some(MatchPattern::Custom(_)) => {
            return Err(ctx.error(format!("{field}.custom"), "is not supported"));
        }
        None => return Err(ctx.error(field, "has no match pattern")),
    })
}

/// Compiles a regular expression at `field`.
pub(crate) fn pattern(ctx: Context<'_>, field: &str, source: &str) -> Result<Pattern, DecodeError> {
    Pattern::new(source).map_err(|e| ctx.error(field, e.to_string()))
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::r#type::matcher::v3::RegexMatcher;

    use super::*;

    const CTX: Context<'static> = Context {
        kind: "RouteConfiguration",
        resource: "r",
    };

    fn matcher(spec: HeaderMatchSpecifier, invert: bool) -> HeaderMatcher {
        HeaderMatcher {
            name: "X-Env".into(),
            invert_match: invert,
            header_match_specifier: Some(spec),
            ..Default::default()
        }
    }

    fn string(pattern: MatchPattern) -> HeaderMatchSpecifier {
        HeaderMatchSpecifier::StringMatch(StringMatcher {
            match_pattern: Some(pattern),
            ignore_case: false,
        })
    }

    #[test]
    #[allow(deprecated)]
    fn decodes_every_supported_matcher() {
        let cases = [
            (
                HeaderMatchSpecifier::ExactMatch("a".into()),
                StringMatch::Exact("a".into()),
            ),
            (
                HeaderMatchSpecifier::PrefixMatch("a".into()),
                StringMatch::Prefix("a".into()),
            ),
            (
                HeaderMatchSpecifier::SuffixMatch("a".into()),
                StringMatch::Suffix("a".into()),
            ),
            (
                HeaderMatchSpecifier::ContainsMatch("a".into()),
                StringMatch::Contains("a".into()),
            ),
            (
                HeaderMatchSpecifier::SafeRegexMatch(RegexMatcher {
                    regex: "a+".into(),
                    ..Default::default()
                }),
                StringMatch::Regex(Pattern::new("a+").unwrap()),
            ),
            (
                string(MatchPattern::Exact("b".into())),
                StringMatch::Exact("b".into()),
            ),
            (
                string(MatchPattern::Prefix("b".into())),
                StringMatch::Prefix("b".into()),
            ),
            (
                string(MatchPattern::Suffix("b".into())),
                StringMatch::Suffix("b".into()),
            ),
            (
                string(MatchPattern::Contains("b".into())),
                StringMatch::Contains("b".into()),
            ),
            (
                string(MatchPattern::SafeRegex(RegexMatcher {
                    regex: "b+".into(),
                    ..Default::default()
                })),
                StringMatch::Regex(Pattern::new("b+").unwrap()),
            ),
            (
                HeaderMatchSpecifier::PresentMatch(true),
                StringMatch::Present,
            ),
        ];
        for (spec, expected) in cases {
            let got = header(CTX, "h", &matcher(spec, true)).unwrap();
            assert_eq!(
                got,
                model::HeaderMatch {
                    name: "x-env".into(),
                    matcher: expected,
                    invert: true
                }
            );
        }
    }

    #[test]
    fn present_false_means_absent() {
        let got = header(
            CTX,
            "h",
            &matcher(HeaderMatchSpecifier::PresentMatch(false), false),
        )
        .unwrap();
        assert_eq!((got.matcher, got.invert), (StringMatch::Present, true));
    }

    #[test]
    fn invalid_matchers_are_errors() {
        let bad_regex = string(MatchPattern::SafeRegex(RegexMatcher {
            regex: "(".into(),
            ..Default::default()
        }));
        assert_eq!(
            header(CTX, "h", &matcher(bad_regex, false))
                .unwrap_err()
                .field,
            "h.string_match.safe_regex.regex"
        );
        let ignore_case = HeaderMatchSpecifier::StringMatch(StringMatcher {
            match_pattern: Some(MatchPattern::Exact("a".into())),
            ignore_case: true,
        });
        assert_eq!(
            header(CTX, "h", &matcher(ignore_case, false))
                .unwrap_err()
                .field,
            "h.string_match.ignore_case"
        );
        let range = HeaderMatchSpecifier::RangeMatch(Default::default());
        assert_eq!(
            header(CTX, "h", &matcher(range, false)).unwrap_err().field,
            "h.range_match"
        );
        let unnamed = HeaderMatcher {
            header_match_specifier: Some(HeaderMatchSpecifier::PresentMatch(true)),
            ..Default::default()
        };
        assert_eq!(header(CTX, "h", &unnamed).unwrap_err().field, "h.name");
    }
}
