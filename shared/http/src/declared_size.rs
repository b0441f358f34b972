//! Refusing a body whose declared length is over the contract's limit before any of it is read.
//!
//! The limit on reading ([`axum::extract::DefaultBodyLimit`]) waits for 64 KiB to arrive before
//! it refuses, so a webhook declaring a gigabyte and sending a byte every few seconds was read
//! for as long as that took (the body timeout of [`crate::server`] bounds it too, but there is
//! nothing to wait for). Every route is covered, a GET declaring a body included: the check
//! sees only the request's head.
//!
//! A layer of its own rather than `axum::middleware::from_fn`, which boxed a future for every
//! request to run one comparison: about 1,000 of a health check's 31,000 instructions
//! (`scripts/profile.sh`, BENCHMARKS.md §8.17).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::HttpBody;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::future::Either;
use tower::{Layer, Service};

use tacos_core::error::Error;

use crate::error::ApiError;
use crate::MAX_BODY_BYTES;

/// The layer: see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefuseOversizeLayer;

impl<S> Layer<S> for RefuseOversizeLayer {
    type Service = RefuseOversize<S>;

    fn layer(&self, inner: S) -> RefuseOversize<S> {
        RefuseOversize { inner }
    }
}

/// Answers 413 `PAYLOAD_TOO_LARGE` to a request whose body declares more than
/// [`MAX_BODY_BYTES`] (hyper's body reports its `Content-Length` as its exact size); passes every
/// other request on.
#[derive(Debug, Clone)]
pub struct RefuseOversize<S> {
    inner: S,
}

impl<S> Service<Request> for RefuseOversize<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Refused<S::Error>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.body().size_hint().lower() > MAX_BODY_BYTES as u64 {
            Either::Left(Refused(PhantomData))
        } else {
            Either::Right(self.inner.call(request))
        }
    }
}

/// The 413, built when polled rather than when the request is refused: the request's trace
/// ([`crate::trace`]) is in scope only while its future is polled, and the error's body names the
/// trace id its `X-Trace-Id` header does (built in `call`, the body named another).
pub struct Refused<E>(PhantomData<fn() -> E>);

impl<E> Future for Refused<E> {
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(ApiError(Error::PayloadTooLarge).into_response()))
    }
}
