//! How a write is carried out: one transaction holds the change, its audit-log row and (with
//! an `Idempotency-Key`) the response stored for replays, so a crash or a retry finds all of
//! them or none.
//!
//! ```text
//! let mut w = match Write::begin(&app, &ctx, actor, "POST", ROUTE, idem, fingerprint).await? {
//!     Begun::Replay(response) => return Ok(response),
//!     Begun::Fresh(w) => w,
//! };
//! let property = properties::create(w.tx(), ...).await?;   // an error drops w: rollback
//! w.finish(StatusCode::CREATED, &property, Some(id)).await
//! ```

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::extract::RequestContext;
use super::state::App;
use crate::audit::{self, Record};
use crate::auth::Actor;
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::idempotency::{self, Fingerprint, IdempotencyKey, Saved, Stored};
use crate::outbox::{self, ActionId, Call, NewAction, failpoint};

/// A write in progress.
pub struct Write<'a> {
    app: &'a App,
    ctx: &'a RequestContext,
    actor: Actor,
    method: &'static str,
    route: &'static str,
    idem: Option<(IdempotencyKey, Fingerprint)>,
    tx: Tx,
    enqueued: bool,
}

/// What beginning a write found.
pub enum Begun<'a> {
    /// A new write, its transaction open.
    Fresh(Box<Write<'a>>),
    /// The same request was made with this key before: its response.
    Replay(Response),
}

/// The response to a replayed request.
fn replay(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let empty = stored.body.is_empty();
    let mut resp = (status, stored.body).into_response();
    if !empty {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

impl<'a> Write<'a> {
    /// Begins a write: opens the transaction and, with a key, looks for an earlier response to
    /// the same request (a key reused for another request is a conflict).
    pub async fn begin(
        app: &'a App,
        ctx: &'a RequestContext,
        actor: Actor,
        method: &'static str,
        route: &'static str,
        idem: Option<IdempotencyKey>,
        request: &[&[u8]],
    ) -> Result<Begun<'a>> {
        let mut tx = app.db().begin().await?;
        let idem = idem.map(|k| (k, Fingerprint::of(route, request)));
        if let Some((key, fp)) = &idem
            && let Some(stored) =
                idempotency::lookup(tx.exec(), &actor.reference(), key, fp).await?
        {
            return Ok(Begun::Replay(replay(stored)));
        }
        Ok(Begun::Fresh(Box::new(Write {
            app,
            ctx,
            actor,
            method,
            route,
            idem,
            tx,
            enqueued: false,
        })))
    }

    /// The transaction, for the change.
    pub fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// Notes that an outbox action was queued in this write's transaction by other means than
    /// [`Write::enqueue`], so the senders are woken when it commits.
    pub fn note_enqueued(&mut self) {
        self.enqueued = true;
    }

    /// The actor making the write.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Records a chain write in this transaction, signed by the key of `role`; it is sent once
    /// the write commits. Refused (and the write with it) while chain actions are held.
    pub async fn enqueue(
        &mut self,
        role: &str,
        kind: &str,
        call: Call,
        after: Option<ActionId>,
        resource: Option<(&str, String)>,
    ) -> Result<ActionId> {
        let chain = self.app.writable_chain()?;
        let id = outbox::enqueue(
            &mut self.tx,
            NewAction {
                chain_id: chain.chain_id,
                key_role: role,
                signer: chain.signer(role)?,
                kind,
                call,
                after,
                actor: &self.actor,
                resource,
            },
        )
        .await?;
        self.enqueued = true;
        Ok(id)
    }

    /// Records the audit row and the response for replays, commits, and returns the response.
    pub async fn finish<T: Serialize>(
        self,
        status: StatusCode,
        body: &T,
        resource_id: Option<String>,
    ) -> Result<Response> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::Internal(format!("serializing a response: {e}")))?;
        self.finish_with_stored(status, bytes.clone(), bytes, resource_id)
            .await
    }

    /// As [`Write::finish`], for a response without a body (204).
    pub async fn finish_empty(
        self,
        status: StatusCode,
        resource_id: Option<String>,
    ) -> Result<Response> {
        self.finish_with_stored(status, Vec::new(), Vec::new(), resource_id)
            .await
    }

    /// As [`Write::finish`], for a response that shows a secret once: `stored` is what a
    /// replay gets instead (the same without the secret).
    pub async fn finish_with_stored(
        mut self,
        status: StatusCode,
        shown: Vec<u8>,
        stored: Vec<u8>,
        resource_id: Option<String>,
    ) -> Result<Response> {
        audit::append(
            self.tx.exec(),
            &Record {
                request_id: &self.ctx.request_id,
                actor: &self.actor,
                method: self.method,
                route: self.route,
                resource_id: resource_id.as_deref(),
                status: status.as_u16(),
            },
        )
        .await?;
        if let Some((key, fp)) = &self.idem {
            let saved = idempotency::save(
                self.tx.exec(),
                &self.actor.reference(),
                key,
                fp,
                &Stored {
                    status: status.as_u16(),
                    body: stored,
                },
            )
            .await?;
            if saved == Saved::Raced {
                // Another request with this key committed first: undo this one and answer as
                // that one did.
                drop(self.tx);
                let first =
                    idempotency::lookup(self.app.db().reader(), &self.actor.reference(), key, fp)
                        .await?
                        .ok_or_else(|| {
                            Error::Internal("an idempotent response vanished".to_owned())
                        })?;
                return Ok(replay(first));
            }
        }
        self.tx.commit().await?;
        self.ctx.mark_audited();
        if self.enqueued {
            failpoint::hit("outbox.recorded");
            self.app.inner.outbox_wake.notify_waiters();
        }
        if shown.is_empty() {
            return Ok(status.into_response());
        }
        let mut resp = (status, shown).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(resp)
    }
}
