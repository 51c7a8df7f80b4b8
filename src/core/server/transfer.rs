//! Leader transfer: hand leadership to a chosen (or the best) voter.

use super::Server;
use crate::core::{
    Entry, Error, Host, LogStore, NodeId, Result, Time, TransferEvent, NODE_ID_NONE,
};

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// Start handing leadership to `node_id`, or with `NODE_ID_NONE` to the
    /// most up-to-date active voter. `timeout` 0 means the election timeout.
    pub fn transfer_leader(&self, node_id: NodeId, timeout: Time) -> Result<()> {
        if !self.is_leader() {
            return Err(Error::NotLeader);
        }
        if self.transfer_target.get() != NODE_ID_NONE {
            return Err(Error::LeaderTransferInProgress);
        }
        let me = self.my_id();
        let target = if node_id != NODE_ID_NONE {
            self.node(node_id)
        } else {
            // The most up-to-date active voter: it needs the fewest entries.
            self.with_nodes(|l| {
                l.iter()
                    .filter(|n| n.id() != me && n.is_voting() && n.is_active() && n.match_idx() > 0)
                    .fold(
                        None::<&std::rc::Rc<crate::core::Node>>,
                        |best, n| match best {
                            Some(b) if b.match_idx() >= n.match_idx() => Some(b),
                            _ => Some(n),
                        },
                    )
                    .cloned()
            })
        };
        // Only a voter can win the election that completes the transfer.
        let Some(target) = target.filter(|t| t.id() != me && t.is_voting()) else {
            return Err(Error::InvalidNodeId);
        };
        if self.host.has_send_timeoutnow() && self.current_idx() == target.match_idx() {
            let _ = self.host.send_timeoutnow(&target);
            self.sent_timeout_now.set(true);
        }
        self.transfer_target.set(target.id());
        self.transfer_leader_time.set(if timeout != 0 {
            timeout
        } else {
            self.election_timeout()
        });
        Ok(())
    }

    /// The leader asked us to take over: campaign now, skipping the pre-vote.
    pub fn timeout_now(&self) -> Result<()> {
        if self.is_leader() {
            return Ok(());
        }
        self.election_start(true)
    }

    /// End a transfer in progress, telling the host how it ended.
    pub fn reset_transfer_leader(&self, timed_out: bool) {
        let target = self.transfer_target.get();
        if target == NODE_ID_NONE {
            return;
        }
        let event = if timed_out {
            TransferEvent::Timeout
        } else if target == self.leader_id() {
            TransferEvent::ExpectedLeader
        } else {
            TransferEvent::UnexpectedLeader
        };
        self.host.notify_transfer_event(event);
        self.transfer_target.set(NODE_ID_NONE);
        self.transfer_leader_time.set(0);
        self.sent_timeout_now.set(false);
    }
}
