//! Running an HTTP/1.1 server on its own thread and tokio runtime.
//!
//! Both servers are used from synchronous test code and from the binary, so
//! each owns a background thread; dropping the handle stops it. Connections
//! are kept alive between requests, as the clients under test pool them.
//!
//! For fault injection a handler can close a connection without answering
//! ([`Cut`]), and a response body can wait until what it gave hyper has
//! reached the socket ([`ConnIo`]) before failing, which makes hyper close
//! the connection mid-body at an exact byte.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::body::ResponseBody;

/// What a server does with requests.
pub trait Handler: Send + Sync + 'static {
    /// State shared by the requests of one connection (e.g. its bandwidth
    /// budget).
    type Conn: Clone + Send + Sync + 'static;

    /// Called once per accepted connection, with its socket's flush signal.
    fn connection(&self, io: ConnIo) -> Self::Conn;

    /// Answers one request, or closes the connection without an answer.
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: Self::Conn,
    ) -> impl Future<Output = Result<Response<ResponseBody>, Cut>> + Send;
}

/// A handler's decision to close the connection without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut;

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection cut by fault injection")
    }
}

impl std::error::Error for Cut {}

/// Counts the completed flushes of one connection's socket and wakes a
/// waiting response body on each. Hyper flushes its socket only once its
/// write buffer is empty, so a flush completed after a body handed over its
/// last chunk means that chunk is in the kernel.
#[derive(Clone, Debug, Default)]
pub struct ConnIo {
    inner: Arc<ConnIoInner>,
}

#[derive(Debug, Default)]
struct ConnIoInner {
    flushes: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

impl ConnIo {
    /// Completed flushes so far.
    pub fn flushes(&self) -> u64 {
        self.inner.flushes.load(Ordering::Acquire)
    }

    /// Wakes `cx` at the next completed flush.
    pub fn wake_on_flush(&self, cx: &Context<'_>) {
        *self.inner.waker.lock().unwrap() = Some(cx.waker().clone());
    }

    fn flushed(&self) {
        self.inner.flushes.fetch_add(1, Ordering::AcqRel);
        if let Some(w) = self.inner.waker.lock().unwrap().take() {
            w.wake();
        }
    }
}

/// A socket that reports its flushes to a [`ConnIo`].
struct TrackedIo<T> {
    inner: T,
    signal: ConnIo,
}

impl<T: Read + Unpin> Read for TrackedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for TrackedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = r {
            this.signal.flushed();
        }
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

/// A running server; dropping it stops the accept loop and the runtime.
pub struct Background {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Binds `addr` now (so bind errors reach the caller) and serves `handler`
    /// on a new thread.
    pub fn start<H: Handler>(name: &str, addr: SocketAddr, handler: Arc<H>) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("{name}-worker"))
            .enable_all()
            .build()?;
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, handler, rx));
                // Open connections are cancelled; a blocking CRC computation
                // is not waited for.
                runtime.shutdown_timeout(Duration::from_millis(200));
            })?;
        Ok(Self {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ferry-testbed: cannot register listener: {e}");
            return;
        }
    };
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors and the like: back off, keep serving.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let signal = ConnIo::default();
        let conn = handler.connection(signal.clone());
        let handler = handler.clone();
        let service = service_fn(move |req| {
            let handler = handler.clone();
            let conn = conn.clone();
            async move { handler.handle(req, conn).await }
        });
        let io = TrackedIo {
            inner: TokioIo::new(stream),
            signal,
        };
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(io, service)
                .await;
        });
    }
}
