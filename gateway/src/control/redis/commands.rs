//! The Redis bus's command connection: script calls and publishes, each within the call
//! deadline, and a fresh connection after a call that timed out.
//!
//! redis-rs's `ConnectionManager` reconnects on errors that say the connection dropped, not
//! on a timeout; a connection that hangs without closing (a partition, a dropped NAT entry)
//! would time out every call forever. So a timeout replaces the connection.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Call, RedisBusOptions, Shared};
use crate::control::BusError;
use service_kit::sync::lock;

/// The current command connection and how many times it was replaced.
pub(super) struct Commands {
    generation: u64,
    manager: ConnectionManager,
}

impl Commands {
    /// A lazy connection: nothing is dialled until the first call.
    pub(super) fn connect(
        client: &redis::Client,
        options: &RedisBusOptions,
    ) -> redis::RedisResult<Self> {
        let timeout = options.call_timeout;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self {
            generation: 0,
            manager,
        })
    }
}

/// How a call ended, before it becomes a [`BusError`].
enum Failure {
    Error(redis::RedisError),
    TimedOut,
}

impl Shared {
    /// Runs one call of `bus.lua`.
    pub(super) async fn invoke<T: redis::FromRedisValue>(
        &self,
        call: Call<'_>,
    ) -> Result<T, BusError> {
        let o = &self.options;
        let mut invocation = self.script.prepare_invoke();
        invocation
            .arg(call.op)
            .arg(&o.prefix)
            .arg(call.session)
            .arg(o.grace.as_millis() as u64)
            .arg(o.socket_ttl.as_millis() as u64);
        for arg in &call.args {
            invocation.arg(arg);
        }
        let (generation, mut conn) = self.command_connection();
        let outcome = tokio::time::timeout(o.call_timeout, invocation.invoke_async(&mut conn));
        self.settle(generation, outcome.await).map_err(|failure| {
            match failure {
                Failure::Error(error) => {
                    tracing::warn!(error.message = %error, op = call.op, "redis bus call failed");
                }
                Failure::TimedOut => tracing::warn!(op = call.op, "redis bus call timed out"),
            }
            BusError
        })
    }

    /// Publishes `payload` on `channel`; returns how many subscribers Redis handed it to.
    pub(super) async fn publish(&self, channel: String, payload: String) -> Result<u64, BusError> {
        let (generation, mut conn) = self.command_connection();
        let mut command = redis::cmd("PUBLISH");
        command.arg(channel).arg(payload);
        let outcome =
            tokio::time::timeout(self.options.call_timeout, command.query_async(&mut conn));
        self.settle(generation, outcome.await).map_err(|failure| {
            match failure {
                Failure::Error(error) => {
                    tracing::warn!(error.message = %error, "redis bus publish failed");
                }
                Failure::TimedOut => tracing::warn!("redis bus publish timed out"),
            }
            BusError
        })
    }

    fn command_connection(&self) -> (u64, ConnectionManager) {
        let commands = self.commands();
        (commands.generation, commands.manager.clone())
    }

    fn commands(&self) -> std::sync::MutexGuard<'_, Commands> {
        // Replacing the connection is one assignment: no panic point leaves it half done.
        lock(&self.commands)
    }

    /// Classifies a call's outcome; a timeout replaces the connection it ran on.
    fn settle<T>(
        &self,
        generation: u64,
        outcome: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, Failure> {
        let failure = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) if error.is_timeout() => Failure::TimedOut,
            Ok(Err(error)) => Failure::Error(error),
            Err(_) => Failure::TimedOut,
        };
        if matches!(failure, Failure::TimedOut) {
            self.replace_command_connection(generation);
        }
        Err(failure)
    }

    /// Replaces the command connection `generation` unless a concurrent timeout already did
    /// (calls in flight on the old one keep it until they end).
    fn replace_command_connection(&self, generation: u64) {
        let mut commands = self.commands();
        if commands.generation != generation {
            return;
        }
        match Commands::connect(&self.client, &self.options) {
            Ok(fresh) => {
                commands.manager = fresh.manager;
                commands.generation += 1;
                tracing::info!("redis bus command connection replaced after a timeout");
            }
            // Only a malformed URL fails, and the URL was accepted at start.
            Err(error) => {
                tracing::warn!(error.message = %error, "redis bus command connection not replaced")
            }
        }
    }
}
