//! [`ControlBus`] for [`RedisBus`]: thin async adapters over the shared state.

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::watch;

use super::RedisBus;
use crate::control::{BusError, ControlBus, ControlState, PairEvent, Registration};
use crate::entity::{ChannelKind, ClientId, SessionKey, StreamKey};
use crate::handoff::HandoffSwap;

impl ControlBus for RedisBus {
    fn register(
        &self,
        key: StreamKey,
        channel: ChannelKind,
        session: SessionKey,
    ) -> BoxFuture<'_, Result<Registration, BusError>> {
        async move { self.shared.register(key, channel, session).await }.boxed()
    }

    fn take_control(
        &self,
        session: &SessionKey,
        client_id: &ClientId,
    ) -> BoxFuture<'_, Result<ControlState, BusError>> {
        let (session, client_id) = (session.clone(), client_id.clone());
        async move { self.shared.change("take", &session, &client_id).await }.boxed()
    }

    fn cede_control(
        &self,
        session: &SessionKey,
        client_id: &ClientId,
    ) -> BoxFuture<'_, Result<ControlState, BusError>> {
        let (session, client_id) = (session.clone(), client_id.clone());
        async move { self.shared.change("cede", &session, &client_id).await }.boxed()
    }

    fn control(&self, session: &SessionKey) -> BoxFuture<'_, Result<ControlState, BusError>> {
        let session = session.clone();
        async move { self.shared.read_state(&session, false).await }.boxed()
    }

    fn watch_control(
        &self,
        session: &SessionKey,
    ) -> BoxFuture<'_, Result<watch::Receiver<ControlState>, BusError>> {
        let session = session.clone();
        async move {
            self.shared.wait_subscribed().await?;
            let receiver = self.shared.local_watch(&session);
            // Subscribed first, then read: no change can fall between the two.
            self.shared.read_state(&session, false).await?;
            Ok(receiver)
        }
        .boxed()
    }

    fn send_to_pair(
        &self,
        key: &StreamKey,
        channel: ChannelKind,
        event: PairEvent,
    ) -> BoxFuture<'_, Result<bool, BusError>> {
        let key = key.clone();
        async move { self.shared.send_to_pair(&key, channel, event).await }.boxed()
    }

    fn swap_handoff(
        &self,
        session: &SessionKey,
        swap: HandoffSwap,
    ) -> BoxFuture<'_, Result<Result<ControlState, ControlState>, BusError>> {
        let session = session.clone();
        async move { self.shared.swap_handoff(&session, swap).await }.boxed()
    }

    fn viewers(&self, session: &SessionKey) -> BoxFuture<'_, Result<usize, BusError>> {
        let session = session.clone();
        async move { self.shared.viewers(&session).await }.boxed()
    }
}
