//! Time: the periodic tick (heartbeats, elections, check-quorum) and the
//! configuration values that drive it.

use super::Server;
use crate::core::{Entry, Error, Host, LogStore, Result, Time, NODE_ID_NONE};

/// Configuration keys (`raft_config_e`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigKey {
    ElectionTimeout = 1,
    RequestTimeout = 2,
    AutoFlush = 3,
    LogEnabled = 4,
    NonblockingApply = 5,
    DisableApply = 6,
}

impl ConfigKey {
    pub fn from_raw(raw: i32) -> Option<ConfigKey> {
        Some(match raw {
            1 => ConfigKey::ElectionTimeout,
            2 => ConfigKey::RequestTimeout,
            3 => ConfigKey::AutoFlush,
            4 => ConfigKey::LogEnabled,
            5 => ConfigKey::NonblockingApply,
            6 => ConfigKey::DisableApply,
            _ => return None,
        })
    }
}

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// One tick, measuring elapsed time with the host's clock.
    #[inline(always)]
    pub fn periodic(&self) -> Result<()> {
        let now = self.time_millis();
        let last = self.timestamp.get();
        // The first tick only starts the clock; a clock going back counts as no time.
        let elapsed = if last == 0 { 0 } else { (now - last).max(0) };
        self.timestamp.set(now.max(last));
        self.periodic_internal(elapsed)
    }

    /// One tick, `msec` milliseconds after the previous one.
    #[inline(always)]
    pub fn periodic_internal(&self, msec: Time) -> Result<()> {
        let msec = msec.max(0);
        let elapsed = self.timeout_elapsed.get().saturating_add(msec);
        self.timeout_elapsed.set(elapsed);
        // Most ticks find a follower whose timer has not fired: nothing but
        // (with auto-flush) pending applies to do.
        if !self.is_leader()
            && self.transfer_target.get() == NODE_ID_NONE
            && elapsed < self.election_timeout_rand()
            && !self.is_single_node_voting_cluster()
        {
            if self.config().auto_flush {
                return self.exec_operations();
            }
            return Ok(());
        }
        self.periodic_timers(msec)
    }

    /// The rest of [`Self::periodic_internal`], once `msec` is counted.
    #[inline(never)]
    fn periodic_timers(&self, msec: Time) -> Result<()> {
        // The only voter may lead without asking anyone.
        if !self.is_leader() && self.is_single_node_voting_cluster() {
            self.set_current_term(self.current_term() + 1)?;
            self.become_leader()?;
        }

        if self.transfer_target.get() != NODE_ID_NONE {
            self.transfer_leader_time
                .set(self.transfer_leader_time.get() - msec);
            if self.transfer_leader_time.get() < 0 {
                self.reset_transfer_leader(true);
            }
        }

        if self.is_leader() {
            if self.request_timeout() <= self.timeout_elapsed() {
                self.set_msg_id(self.msg_id.get() + 1);
                self.timeout_elapsed.set(0);
                let _ = self.send_appendentries_all();
            }
            // Check-quorum: step down if no majority acknowledged anything newer.
            self.quorum_timeout.set(self.quorum_timeout.get() - msec);
            if self.quorum_timeout.get() < 0 {
                let quorum_id = self.quorum_msg_id();
                if self.last_acked_msg_id.get() == quorum_id {
                    self.debug(NODE_ID_NONE, || {
                        "quorum does not exist, stepping down".into()
                    });
                    self.become_follower();
                }
                self.update_quorum_meta(quorum_id);
            }
        } else if self.election_timeout_rand() <= self.timeout_elapsed() {
            self.election_start(false)?;
        }

        if self.config().auto_flush {
            return self.exec_operations();
        }
        Ok(())
    }

    /// Read a configuration value (booleans as 0/1).
    pub fn config_get(&self, key: ConfigKey) -> i64 {
        let c = self.config();
        match key {
            ConfigKey::ElectionTimeout => c.election_timeout,
            ConfigKey::RequestTimeout => c.request_timeout,
            ConfigKey::AutoFlush => i64::from(c.auto_flush),
            ConfigKey::LogEnabled => i64::from(c.log_enabled),
            ConfigKey::NonblockingApply => i64::from(c.nonblocking_apply),
            ConfigKey::DisableApply => i64::from(c.disable_apply),
        }
    }

    /// Set a configuration value. Timeouts must be positive (`Misuse`
    /// otherwise); a new election timeout restarts the quorum timer and
    /// redraws the randomized timeout.
    pub fn config_set(&self, key: ConfigKey, value: i64) -> Result<()> {
        let mut c = self.config();
        match key {
            ConfigKey::ElectionTimeout | ConfigKey::RequestTimeout if value <= 0 => {
                return Err(Error::Misuse)
            }
            ConfigKey::ElectionTimeout => c.election_timeout = value,
            ConfigKey::RequestTimeout => c.request_timeout = value,
            ConfigKey::AutoFlush => c.auto_flush = value != 0,
            ConfigKey::LogEnabled => c.log_enabled = value != 0,
            ConfigKey::NonblockingApply => c.nonblocking_apply = value != 0,
            ConfigKey::DisableApply => c.disable_apply = value != 0,
        }
        self.config.set(c);
        if key == ConfigKey::ElectionTimeout {
            self.update_quorum_meta(self.last_acked_msg_id.get());
            self.randomize_election_timeout();
        }
        Ok(())
    }
}
