//! Cluster membership: adding and removing nodes, and the configuration
//! changes carried by log entries (applied when appended, undone when popped).

use std::rc::Rc;

use super::props::is_voting_cfg_change;
use super::Server;
use crate::core::{
    log_type, Entry, Host, Index, LogStore, MembershipEvent, Node, NodeId, Result, NODE_ID_NONE,
};

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// Add a node, or make an existing non-voting one voting. `None` for an
    /// invalid id or a node that already votes.
    pub fn add_node(&self, user_data: usize, id: NodeId, is_self: bool) -> Option<Rc<Node>> {
        self.add_node_internal(None, user_data, id, is_self)
    }

    /// Add a non-voting node; `None` when the id is taken or invalid.
    pub fn add_non_voting_node(
        &self,
        user_data: usize,
        id: NodeId,
        is_self: bool,
    ) -> Option<Rc<Node>> {
        self.add_non_voting_node_internal(None, user_data, id, is_self)
    }

    fn add_node_internal(
        &self,
        entry: Option<&E>,
        user_data: usize,
        id: NodeId,
        is_self: bool,
    ) -> Option<Rc<Node>> {
        if id == NODE_ID_NONE {
            return None;
        }
        if let Some(node) = self.node(id) {
            if node.is_voting() {
                return None;
            }
            node.set_voting(true);
            return Some(node);
        }
        let node = Rc::new(Node::new(id, user_data));
        {
            let mut nodes = self.nodes.borrow_mut();
            nodes.push(node.clone());
        }
        if is_self {
            self.set_my_node(Some(node.clone()));
        }
        self.host
            .notify_membership_event(Some(&node), entry, MembershipEvent::Add);
        Some(node)
    }

    fn add_non_voting_node_internal(
        &self,
        entry: Option<&E>,
        user_data: usize,
        id: NodeId,
        is_self: bool,
    ) -> Option<Rc<Node>> {
        if self.node(id).is_some() {
            return None;
        }
        let node = self.add_node_internal(entry, user_data, id, is_self)?;
        node.set_voting(false);
        Some(node)
    }

    /// Remove `node` from the configuration (no-op if it is not in it). The
    /// host hears about it first; afterwards nothing here refers to the node.
    pub fn remove_node(&self, node: &Node) {
        let Some(rc) = self.node(node.id()).filter(|n| std::ptr::eq(&**n, node)) else {
            return;
        };
        self.host
            .notify_membership_event(Some(&rc), None, MembershipEvent::Remove);
        {
            let mut nodes = self.nodes.borrow_mut();
            nodes.remove(&rc);
        }
        if self.leader_id() == rc.id() {
            self.set_leader_id(NODE_ID_NONE);
        }
        if self.is_me(&rc) {
            self.set_my_node(None);
        }
    }

    /// Remove every node (used when loading a snapshot's configuration), keeping ourselves.
    pub(crate) fn remove_all_nodes_but_self(&self) {
        let me = self.my_node();
        self.nodes
            .borrow_mut()
            .retain(|n| me.as_ref().is_some_and(|m| Rc::ptr_eq(m, n)));
    }

    /// The configuration change in `entry`, just appended at `idx`, takes effect.
    pub fn handle_append_cfg_change(&self, entry: &E, idx: Index) {
        if !log_type::is_cfg_change(entry.entry_type()) {
            return;
        }
        let id = self.host.get_node_id(entry, idx);
        if id == NODE_ID_NONE {
            return;
        }
        let node = self.node(id);
        let is_self = id == self.my_id();
        match entry.entry_type() {
            log_type::ADD_NONVOTING_NODE => {
                if is_self {
                    return;
                }
                match node {
                    Some(n) if !n.is_active() => n.set_active(true),
                    Some(_) => {}
                    None => {
                        self.add_non_voting_node_internal(Some(entry), 0, id, false);
                    }
                }
            }
            log_type::ADD_NODE => {
                // A duplicate ADD_NODE for a voter changes nothing (and its rollback neither).
                if node.is_some_and(|n| n.is_voting()) {
                    self.noop_cfg_changes.borrow_mut().insert(idx);
                    return;
                }
                self.add_node_internal(Some(entry), 0, id, is_self);
            }
            log_type::REMOVE_NODE => {
                if let Some(n) = node {
                    n.set_active(false);
                }
            }
            _ => {}
        }
    }

    /// Undo the configuration change of `entry` at `idx`, which is being popped.
    pub fn handle_remove_cfg_change(&self, entry: &E, idx: Index) {
        if !log_type::is_cfg_change(entry.entry_type()) {
            return;
        }
        let id = self.host.get_node_id(entry, idx);
        if id == NODE_ID_NONE {
            return;
        }
        if self.noop_cfg_changes.borrow_mut().remove(&idx) {
            return;
        }
        let Some(node) = self.node(id) else {
            return;
        };
        match entry.entry_type() {
            log_type::REMOVE_NODE => node.set_active(true),
            log_type::ADD_NONVOTING_NODE if id != self.my_id() => self.remove_node(&node),
            log_type::ADD_NODE => node.set_voting(false),
            _ => {}
        }
    }

    /// After loading a log at restart, rebuild the configuration its entries
    /// describe (those after the snapshot, whose configuration is loaded separately).
    pub fn restore_log(&self) -> Result<()> {
        let first = self
            .log
            .first_idx()
            .max(self.snapshot_last_idx() + 1)
            .max(1);
        for idx in first..=self.current_idx() {
            let Some(entry) = self.entry_at(idx) else {
                continue;
            };
            if is_voting_cfg_change(&entry) && idx > self.commit_idx() {
                self.voting_cfg_change_log_idx.set(idx);
            }
            // Entries appended through `append_entry` already took effect:
            // re-applying them must not mark them as no-ops.
            let was_noop = self.noop_cfg_changes.borrow().contains(&idx);
            self.handle_append_cfg_change(&entry, idx);
            if !was_noop {
                self.noop_cfg_changes.borrow_mut().remove(&idx);
            }
        }
        Ok(())
    }

    /// Forget all state: term, vote, roles, nodes and the log.
    pub fn clear(&self) {
        self.current_term.set(0);
        self.voted_for.set(NODE_ID_NONE);
        self.timeout_elapsed.set(0);
        self.randomize_election_timeout();
        self.voting_cfg_change_log_idx.set(-1);
        self.set_state(crate::core::State::Follower);
        self.set_leader_id(NODE_ID_NONE);
        self.commit_idx.set(0);
        self.noop_cfg_changes.borrow_mut().clear();
        self.last_applied_idx.set(0);
        self.last_applied_term.set(0);
        let old = {
            let mut nodes = self.nodes.borrow_mut();
            let old = std::mem::take(&mut *nodes);
            // The server keeps its epoch; the nodes leaving stop bumping it.
            nodes.epoch = self.epoch.clone();
            old.list.iter().for_each(|n| n.set_epoch(None));
            old
        };
        self.epoch.set(self.epoch.get().wrapping_add(1));
        self.set_my_node(None);
        self.flush_memo.set(None);
        self.commit_tally.set(None);
        self.vote_tally.set(None);
        self.lone_voter_memo.set(None);
        drop(old);
        self.log.reset(1, 1);
        self.fail_reads();
    }
}
