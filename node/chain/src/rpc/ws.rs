//! WebSocket connections: the same JSON-RPC as over HTTP plus `eth_subscribe` (`newHeads`,
//! `logs`, `newPendingTransactions`). A subscriber that cannot keep up is disconnected rather
//! than buffered without bound.

use std::sync::Arc;

use alloy::{
    primitives::{B256, U256, keccak256, map::HashMap},
    rpc::types::Filter,
};
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::value::RawValue;
use tokio::{
    sync::{Notify, broadcast::error::RecvError, mpsc},
    task::JoinHandle,
};

use super::{
    Rpc,
    jsonrpc::{Error, Params, Result, to_raw},
};
use crate::{filters::LogFilter, service::ChainEvent};

/// Messages queued for one connection before it counts as too slow.
const OUTBOX: usize = 4_096;

#[derive(Debug, Clone)]
enum Kind {
    NewHeads,
    Logs(Box<LogFilter>),
    PendingTransactions,
}

/// One WebSocket connection's subscriptions and outbox.
pub(crate) struct Conn {
    out: mpsc::Sender<String>,
    subs: Mutex<HashMap<U256, JoinHandle<()>>>,
    max_subs: usize,
    next: Mutex<u64>,
    salt: B256,
    /// Wakes the connection to close it (a subscriber fell behind).
    close: Arc<Notify>,
}

impl Conn {
    /// `eth_subscribe` / `eth_unsubscribe`.
    pub(crate) fn subscription_call(
        &self,
        rpc: &Rpc,
        method: &str,
        p: &Params<'_>,
    ) -> Result<Box<RawValue>> {
        if method == "eth_unsubscribe" {
            p.at_most(1)?;
            let id: U256 = p.required(0)?;
            let removed = self.subs.lock().remove(&id);
            if let Some(h) = &removed {
                h.abort();
            }
            return to_raw(&removed.is_some());
        }
        p.at_most(2)?;
        let name: String = p.required(0)?;
        let kind = match name.as_str() {
            "newHeads" => Kind::NewHeads,
            "newPendingTransactions" => Kind::PendingTransactions,
            "logs" => {
                let filter: Filter = p.optional(1)?.unwrap_or_default();
                let lf = LogFilter::from_rpc(&filter)
                    .map_err(|e| Error::InvalidParams(e.to_string()))?;
                Kind::Logs(Box::new(lf))
            }
            other => {
                return Err(Error::InvalidParams(format!(
                    "unsupported subscription {other:?}"
                )));
            }
        };
        let mut subs = self.subs.lock();
        if subs.len() >= self.max_subs {
            return Err(Error::Server {
                code: -32005,
                message: format!(
                    "too many subscriptions on this connection: limit {}",
                    self.max_subs
                ),
            });
        }
        let id = {
            let mut n = self.next.lock();
            *n += 1;
            let mut seed = self.salt.to_vec();
            seed.extend_from_slice(&n.to_be_bytes());
            U256::from_be_slice(&keccak256(seed)[..16])
        };
        let events = rpc.shared.events.subscribe();
        let task = tokio::spawn(forward(
            events,
            kind,
            id,
            self.out.clone(),
            self.close.clone(),
        ));
        subs.insert(id, task);
        to_raw(&id)
    }
}

/// Pushes chain events matching one subscription into the connection's outbox.
async fn forward(
    mut events: tokio::sync::broadcast::Receiver<Arc<ChainEvent>>,
    kind: Kind,
    id: U256,
    out: mpsc::Sender<String>,
    close: Arc<Notify>,
) {
    let id_json = match serde_json::to_string(&id) {
        Ok(s) => s,
        Err(_) => return,
    };
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(RecvError::Lagged(_)) => {
                close.notify_one();
                return;
            }
            Err(RecvError::Closed) => return,
        };
        let mut results: Vec<String> = Vec::new();
        match (&kind, event.as_ref()) {
            (Kind::NewHeads, ChainEvent::Added(blocks)) => {
                for b in blocks {
                    if let Ok(s) = serde_json::to_string(&b.rpc_header()) {
                        results.push(s);
                    }
                }
            }
            (Kind::Logs(filter), ChainEvent::Added(blocks) | ChainEvent::Removed(blocks)) => {
                let removed = matches!(event.as_ref(), ChainEvent::Removed(_));
                let mut logs = Vec::new();
                for b in blocks {
                    filter.block_logs(b, removed, &mut logs);
                }
                for l in logs {
                    if let Ok(s) = serde_json::to_string(&l) {
                        results.push(s);
                    }
                }
            }
            (Kind::PendingTransactions, ChainEvent::Pending(hashes)) => {
                for h in hashes {
                    if let Ok(s) = serde_json::to_string(h) {
                        results.push(s);
                    }
                }
            }
            _ => {}
        }
        for r in results {
            let msg = format!(
                r#"{{"jsonrpc":"2.0","method":"eth_subscription","params":{{"subscription":{id_json},"result":{r}}}}}"#
            );
            if out.try_send(msg).is_err() {
                close.notify_one();
                return;
            }
        }
    }
}

/// Runs one connection until the client or the server closes it.
pub(crate) async fn serve(rpc: Arc<Rpc>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<String>(OUTBOX);
    let close = Arc::new(Notify::new());
    let conn = Conn {
        out: out_tx,
        subs: Mutex::new(HashMap::default()),
        max_subs: rpc.limits.max_subscriptions_per_connection,
        next: Mutex::new(0),
        salt: keccak256(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
                .to_be_bytes(),
        ),
        close: close.clone(),
    };
    let writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            if sink.send(Message::Text(msg.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut stopping = rpc.stopping.clone();
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            () = close.notified() => break,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t.to_string(),
            Some(Ok(Message::Binary(b))) => match String::from_utf8(b.to_vec()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = conn
                        .out
                        .send(super::jsonrpc::error_response(&Error::Parse))
                        .await;
                    continue;
                }
            },
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => continue,
        };
        if let Some(reply) = rpc.handle_body(&text, Some(&conn)).await
            && conn.out.send(reply).await.is_err()
        {
            break;
        }
    }
    for (_, task) in conn.subs.lock().drain() {
        task.abort();
    }
    drop(conn);
    let _ = writer.await;
}
