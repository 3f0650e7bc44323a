//! Answers the inbound layers give themselves, in the caller's protocol: a gRPC caller gets a
//! trailers-only response (HTTP 200 with `grpc-status` and `grpc-message` in the headers), an
//! HTTP caller a status code.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http_body_util::BodyExt;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;

use crate::body::ResponseBody;

/// The header (or trailer) carrying a gRPC status code; a constant, so that no lookup parses
/// the name.
pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// The header (or trailer) carrying a gRPC status message.
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// Whether a request is gRPC, which decides how it is answered.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/grpc"))
}

/// A refusal: what the caller is told, in both protocols.
pub(crate) struct Refusal {
    /// The HTTP status for an HTTP caller.
    pub(crate) http: StatusCode,
    /// The gRPC status code for a gRPC caller.
    pub(crate) grpc: u8,
    /// Why, for the caller (`grpc-message`; not sent to HTTP callers).
    pub(crate) message: String,
    /// One more header for either protocol, such as a retry hint.
    pub(crate) header: Option<(HeaderName, HeaderValue)>,
}

impl Refusal {
    /// The response telling a gRPC (`grpc`) or HTTP caller.
    pub(crate) fn response<B>(self, grpc: bool) -> Response<ResponseBody<B>> {
        let mut response = Response::new(ResponseBody::empty());
        if !grpc {
            *response.status_mut() = self.http;
        }
        let headers = response.headers_mut();
        if grpc {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            headers.insert(GRPC_STATUS, HeaderValue::from(u16::from(self.grpc)));
            headers.insert(GRPC_MESSAGE, grpc_message(&self.message));
        }
        if let Some((name, value)) = self.header {
            headers.insert(name, value);
        }
        response
    }
}

/// `message` as a `grpc-message` value: percent-encoded outside printable ASCII (gRPC's rule).
fn grpc_message(message: &str) -> HeaderValue {
    let mut encoded = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    // Only printable ASCII is left, which is always a valid header value.
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static("refused"))
}

/// The most of a refused request's body read before answering.
const DRAIN_LIMIT: usize = 64 * 1024;
/// The longest wait for a refused request's body before answering anyway.
const DRAIN_WAIT: Duration = Duration::from_millis(100);

/// A boxed wait, done before a refusal is sent.
type Drain = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Reads (and drops) what the caller sends of a refused request's body, up to [`DRAIN_LIMIT`]
/// or [`DRAIN_WAIT`], before the refusal goes out.
///
/// Answering an HTTP/2 request before its body has arrived makes the server reset the stream,
/// and the body frames still in flight then count as errors against hyper's limit of 1,024 such
/// resets per connection (RUSTSEC-2024-0003), after which the whole connection is closed with
/// the caller's other calls on it. A unary gRPC body is already there, so this costs nothing
/// for it.
pub(crate) fn drain<B>(body: B) -> Drain
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    Box::pin(async move {
        let read = async {
            let mut body = std::pin::pin!(body);
            let mut read = 0;
            while read < DRAIN_LIMIT {
                match BodyExt::frame(&mut body).await {
                    Some(Ok(frame)) => {
                        read += frame.data_ref().map_or(0, bytes::Buf::remaining);
                    }
                    _ => break,
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_WAIT, read).await;
    })
}

pin_project! {
    /// The response future of a layer that may answer a call itself: the handler's response, or
    /// the layer's refusal.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] future: F },
        Refused { drain: Drain, response: Option<Response<ResponseBody<B>>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    /// The handler's answer.
    pub(crate) fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    /// The layer's refusal, sent once `drain` is done (see [`drain`]).
    pub(crate) fn refused(response: Response<ResponseBody<B>>, drain: Drain) -> Self {
        Self {
            state: State::Refused {
                drain,
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx).map_ok(ResponseBody::wrap),
            StateProj::Refused { drain, response } => {
                ready!(drain.as_mut().poll(cx));
                match response.take() {
                    Some(response) => Poll::Ready(Ok(response)),
                    None => panic!("a refusal polled again after it completed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(
            grpc_message("rule a/b: 100% denied"),
            "rule a/b: 100%25 denied"
        );
        assert_eq!(grpc_message("é"), "%C3%A9");
    }

    #[test]
    fn refusals_speak_the_callers_protocol() {
        let refusal = || Refusal {
            http: StatusCode::FORBIDDEN,
            grpc: 7,
            message: "no".into(),
            header: None,
        };
        let grpc = refusal().response::<()>(true);
        assert_eq!(grpc.status(), StatusCode::OK);
        assert_eq!(grpc.headers()["grpc-status"], "7");
        assert_eq!(grpc.headers()["grpc-message"], "no");
        let http = refusal().response::<()>(false);
        assert_eq!(http.status(), StatusCode::FORBIDDEN);
        assert!(http.headers().get("grpc-status").is_none());
    }
}
