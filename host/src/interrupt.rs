//! Stopping a transfer from outside (Ctrl-C, SIGTERM, an embedder's cancel):
//! part tasks not yet running are refused and running ones are stopped, each
//! answered as a permanent failure, so the coordinator stops too and aborts
//! the upload (or keeps it with `--keep-partial`) through its normal path.

use tokio::sync::watch;

/// A cancellation signal shared by a transfer's fan-out.
#[derive(Clone)]
pub struct Interrupt {
    sender: std::sync::Arc<watch::Sender<Option<String>>>,
}

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt {
            sender: std::sync::Arc::new(watch::channel(None).0),
        }
    }
}

impl Interrupt {
    /// Stops the transfer, giving the reason.
    pub fn trigger(&self, reason: &str) {
        self.sender.send_replace(Some(reason.to_string()));
    }

    /// Why the transfer was stopped, if it was.
    pub fn reason(&self) -> Option<String> {
        self.sender.borrow().clone()
    }

    /// Waits until the transfer is stopped; returns the reason.
    pub async fn wait(&self) -> String {
        let mut receiver = self.sender.subscribe();
        loop {
            if let Some(reason) = receiver.borrow_and_update().clone() {
                return reason;
            }
            if receiver.changed().await.is_err() {
                // The sender lives as long as any clone of this value.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_wake_with_the_reason() {
        let i = Interrupt::default();
        assert_eq!(i.reason(), None);
        let waiter = tokio::spawn({
            let i = i.clone();
            async move { i.wait().await }
        });
        i.trigger("SIGINT");
        assert_eq!(waiter.await.unwrap(), "SIGINT");
        assert_eq!(i.wait().await, "SIGINT");
    }
}
