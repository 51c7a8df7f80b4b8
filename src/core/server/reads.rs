//! Linearizable reads: a read may proceed once a quorum acknowledged a
//! heartbeat sent after it arrived and the state machine caught up with it.

use super::props::majority_value;
use super::{ReadCallback, ReadRequest, Server};
use crate::core::{Entry, Error, Host, LogStore, MsgId, Node, Result};

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// Queue a read; `callback(true)` runs when it is safe, `callback(false)`
    /// if leadership is lost (or the server goes away) first.
    pub fn recv_read_request(&self, callback: ReadCallback) -> Result<()> {
        if !self.is_leader() {
            return Err(Error::NotLeader);
        }
        let msg_id = self.msg_id.get() + 1;
        self.set_msg_id(msg_id);
        self.read_queue.borrow_mut().push_back(ReadRequest {
            read_idx: self.current_idx(),
            msg_id,
            callback,
        });
        if self.config().auto_flush {
            return self.flush(0);
        }
        Ok(())
    }

    /// The highest message id acknowledged by a majority of the voters (we
    /// acknowledge our own latest one): reads and check-quorum rely on it.
    pub(crate) fn quorum_msg_id(&self) -> MsgId {
        self.majority_msg_id(Node::is_voting)
    }

    fn majority_msg_id(&self, counts: impl Fn(&Node) -> bool) -> MsgId {
        let ids = self.with_nodes(|l| {
            l.iter()
                .filter(|n| counts(n))
                .map(|n| {
                    if self.is_me(n) {
                        self.msg_id.get()
                    } else {
                        n.match_msgid()
                    }
                })
                .collect()
        });
        majority_value(ids).unwrap_or(0)
    }

    /// Answer the reads that became safe; fail them all if we no longer lead.
    pub fn process_read_queue(&self) {
        if self.read_queue.borrow().is_empty() {
            return;
        }
        if !self.is_leader() {
            self.fail_reads();
            return;
        }
        // Our no-op of this term must be applied before reads are meaningful.
        if self.last_applied_term() < self.current_term() {
            return;
        }
        let acked = self.quorum_msg_id();
        loop {
            let ready = self
                .read_queue
                .borrow()
                .front()
                .is_some_and(|r| r.msg_id <= acked && r.read_idx <= self.last_applied_idx());
            if !ready {
                return;
            }
            if self.time_millis() > self.exec_deadline.get() {
                self.pending_operations.set(true);
                return;
            }
            let req = self.read_queue.borrow_mut().pop_front();
            if let Some(req) = req {
                (req.callback)(true);
            }
        }
    }

    /// Fail every queued read (`callback(false)`), oldest first.
    pub fn fail_reads(&self) {
        loop {
            let req = self.read_queue.borrow_mut().pop_front();
            match req {
                Some(req) => (req.callback)(false),
                None => return,
            }
        }
    }
}
