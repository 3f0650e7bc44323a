//! Request bodies that can be sent more than once.
//!
//! A retry sends the request again, body included, so the body must be kept. [`prepare`] reads
//! what the body has ready at once (without waiting) up to [`MAX_REPLAY`] bytes: a unary gRPC
//! message or a small HTTP body is complete that way and becomes [`Prepared::Replayable`]. A body
//! that is larger, or not complete without waiting (a streaming call), goes out once as a
//! stream: the frames already read, then the rest ([`Prepared::Streaming`]); it is not retried.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::BoxError;
use crate::connect::RequestBody;

/// The most body bytes kept for retries (as Envoy's default buffer limit, 64 KiB).
pub(crate) const MAX_REPLAY: usize = 64 * 1024;

/// A request body made ready to send.
pub(crate) enum Prepared {
    /// Complete and small: can be sent any number of times.
    Replayable(Replay),
    /// Sent once, as it comes.
    Streaming(RequestBody),
}

/// Reads what `body` has ready at once, up to [`MAX_REPLAY`] bytes. The data frames are kept
/// as they came (sharing their bytes, not copying them).
pub(crate) fn prepare(mut body: RequestBody) -> Prepared {
    let mut buffered = Buffered::default();
    let mut size = 0;
    while !body.is_end_stream() {
        match body.frame().now_or_never() {
            Some(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    size += data.len();
                    buffered.data.push(data);
                    if size > MAX_REPLAY {
                        return streaming(buffered, Ok(body));
                    }
                }
                Err(frame) => buffered.trailers = frame.into_trailers().ok(),
            },
            Some(None) => break,
            Some(Some(Err(error))) => return streaming(buffered, Err(error)),
            None => return streaming(buffered, Ok(body)),
        }
    }
    Prepared::Replayable(Replay(Arc::new(buffered)))
}

/// The body to stream: what was `read`, then the `rest` of the body or the error it broke with.
fn streaming(read: Buffered, rest: Result<RequestBody, BoxError>) -> Prepared {
    let data = read.data.into_iter().map(|data| Ok(Frame::data(data)));
    let trailers = read.trailers.map(|t| Ok(Frame::trailers(t)));
    let (error, rest) = match rest {
        Ok(rest) => (None, Some(rest)),
        Err(error) => (Some(Err(error)), None),
    };
    let read = data.chain(trailers).chain(error).collect();
    Prepared::Streaming(Prefixed { read, rest }.boxed_unsync())
}

/// The frames read so far, then the rest of the body.
struct Prefixed {
    read: VecDeque<Result<Frame<Bytes>, BoxError>>,
    rest: Option<RequestBody>,
}

impl Body for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(frame) = self.read.pop_front() {
            return Poll::Ready(Some(frame));
        }
        match &mut self.rest {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_empty() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }
}

/// A complete body, kept to be sent again.
#[derive(Default)]
struct Buffered {
    data: Vec<Bytes>,
    trailers: Option<HeaderMap>,
}

/// A complete body, shared by the attempts that send it.
pub(crate) struct Replay(Arc<Buffered>);

impl Replay {
    /// A fresh copy of the body for one attempt (the bytes are shared, not copied).
    pub(crate) fn body(&self) -> RequestBody {
        ReplayBody {
            buffered: Arc::clone(&self.0),
            next: 0,
            trailers_sent: false,
        }
        .boxed_unsync()
    }
}

/// One attempt's read of a [`Replay`].
struct ReplayBody {
    buffered: Arc<Buffered>,
    /// The next data chunk to send.
    next: usize,
    trailers_sent: bool,
}

impl Body for ReplayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(data) = self.buffered.data.get(self.next).cloned() {
            self.next += 1;
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if self.trailers_sent {
            return Poll::Ready(None);
        }
        self.trailers_sent = true;
        Poll::Ready(
            self.buffered
                .trailers
                .clone()
                .map(|t| Ok(Frame::trailers(t))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.buffered.data.len()
            && (self.trailers_sent || self.buffered.trailers.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        let left = self.buffered.data[self.next.min(self.buffered.data.len())..]
            .iter()
            .map(|d| d.len() as u64)
            .sum();
        SizeHint::with_exact(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    fn boxed<B>(body: B) -> RequestBody
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        body.map_err(Into::into).boxed_unsync()
    }

    async fn collect(body: RequestBody) -> Bytes {
        body.collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn a_complete_small_body_is_replayed_identically() {
        let Prepared::Replayable(replay) = prepare(boxed(Full::new(Bytes::from("hello")))) else {
            panic!("a ready 5-byte body is replayable");
        };
        for _ in 0..3 {
            let body = replay.body();
            assert_eq!(body.size_hint().exact(), Some(5));
            assert_eq!(collect(body).await, "hello");
        }
    }

    #[tokio::test]
    async fn a_replay_shares_the_bytes_of_the_body() {
        let message = Bytes::from(vec![1; 100]);
        let Prepared::Replayable(replay) = prepare(boxed(Full::new(message.clone()))) else {
            panic!("a ready body is replayable");
        };
        for _ in 0..2 {
            let mut body = replay.body();
            let frame = body.frame().await.unwrap().unwrap();
            let data = frame.into_data().unwrap();
            assert_eq!(data.as_ptr(), message.as_ptr(), "not a copy");
            assert!(body.frame().await.is_none());
        }
    }

    #[tokio::test]
    async fn a_body_that_breaks_streams_what_came_then_the_error() {
        let frames: [Result<Frame<Bytes>, BoxError>; 2] =
            [Ok(Frame::data(Bytes::from("part"))), Err("broken".into())];
        let body = boxed(StreamBody::new(futures_util::stream::iter(frames)));
        let Prepared::Streaming(mut body) = prepare(body) else {
            panic!("a broken body is not replayed");
        };
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "part");
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.to_string(), "broken");
    }

    #[tokio::test]
    async fn an_empty_body_stays_empty() {
        let empty = http_body_util::Empty::<Bytes>::new();
        let Prepared::Replayable(replay) = prepare(boxed(empty)) else {
            panic!("an empty body is replayable");
        };
        assert!(replay.body().is_end_stream());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_streams_whole() {
        let chunks = (0..3).map(|_| Ok::<_, BoxError>(Frame::data(Bytes::from(vec![7; 40_000]))));
        let body = boxed(StreamBody::new(futures_util::stream::iter(chunks)));
        let Prepared::Streaming(body) = prepare(body) else {
            panic!("a 120 kB body is over the limit");
        };
        assert_eq!(collect(body).await.len(), 120_000);
    }

    #[tokio::test]
    async fn a_body_still_coming_streams_without_waiting() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
        tx.send(Ok(Frame::data(Bytes::from("first "))))
            .await
            .unwrap();
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        let Prepared::Streaming(body) = prepare(boxed(StreamBody::new(stream))) else {
            panic!("a body whose end has not come is streamed");
        };
        tx.send(Ok(Frame::data(Bytes::from("second"))))
            .await
            .unwrap();
        drop(tx);
        assert_eq!(collect(body).await, "first second");
    }
}
