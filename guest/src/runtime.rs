//! A single-threaded executor over `wasi:io/poll`.
//!
//! Futures wait on WASI pollables through [`wait`]; [`block_on`] drives the
//! root future and, whenever it is pending, blocks in one `poll` call on every
//! pollable that some future waits for. That is all the concurrency a part
//! copy needs: many requests in flight, one instance, no threads.
//!
//! Pollables are children of the streams and futures they watch, so a
//! registration is removed as soon as its future completes or is dropped:
//! the reactor never keeps a child alive past its parent.

use crate::wasi::clocks::monotonic_clock;
use crate::wasi::io::poll::{poll, Pollable};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

#[derive(Default)]
struct Reactor {
    next_id: u64,
    waiting: BTreeMap<u64, (Rc<Pollable>, Waker)>,
}

thread_local! {
    static REACTOR: RefCell<Reactor> = RefCell::new(Reactor::default());
}

/// Waits until `pollable` is ready.
pub async fn wait(pollable: Pollable) {
    Wait {
        pollable: Rc::new(pollable),
        id: None,
    }
    .await
}

/// Waits for `duration` on the monotonic clock.
pub async fn sleep(duration: Duration) {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    wait(monotonic_clock::subscribe_duration(nanos)).await
}

struct Wait {
    pollable: Rc<Pollable>,
    id: Option<u64>,
}

impl Wait {
    fn unregister(&mut self) {
        if let Some(id) = self.id.take() {
            REACTOR.with(|r| r.borrow_mut().waiting.remove(&id));
        }
    }
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.pollable.ready() {
            self.unregister();
            return Poll::Ready(());
        }
        let pollable = self.pollable.clone();
        let id = REACTOR.with(|r| {
            let mut r = r.borrow_mut();
            let id = self.id.unwrap_or_else(|| {
                r.next_id += 1;
                r.next_id
            });
            r.waiting.insert(id, (pollable, cx.waker().clone()));
            id
        });
        self.id = Some(id);
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        self.unregister();
    }
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `future` to completion on this instance.
///
/// # Panics
/// If the future is pending while nothing is registered to wake it (a bug:
/// every pending future in this crate waits on a pollable).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let woken = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if woken.0.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                return value;
            }
            continue;
        }
        let (pollables, wakers): (Vec<Rc<Pollable>>, Vec<Waker>) = REACTOR.with(|r| {
            r.borrow()
                .waiting
                .values()
                .map(|(p, w)| (p.clone(), w.clone()))
                .unzip()
        });
        assert!(
            !pollables.is_empty(),
            "ferry runtime: future pending with nothing to wait for"
        );
        let refs: Vec<&Pollable> = pollables.iter().map(|p| p.as_ref()).collect();
        for index in poll(&refs) {
            wakers[index as usize].wake_by_ref();
        }
    }
}
