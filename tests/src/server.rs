//! Running an HTTP/1.1 server on its own thread and tokio runtime.
//!
//! Both servers are used from synchronous test code and from the binary, so
//! each owns a background thread; dropping the handle stops it. Connections
//! are kept alive between requests, as the clients under test pool them.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::body::Incoming;
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

    /// Called once per accepted connection.
    fn connection(&self) -> Self::Conn;

    /// Answers one request.
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: Self::Conn,
    ) -> impl Future<Output = Response<ResponseBody>> + Send;
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
        let conn = handler.connection();
        let handler = handler.clone();
        let service = service_fn(move |req| {
            let handler = handler.clone();
            let conn = conn.clone();
            async move { Ok::<_, Infallible>(handler.handle(req, conn).await) }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
