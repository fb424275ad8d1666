//! Writes made from the node's command line (`propledger users create`, `propledger keys
//! create`) and at first start, recorded in the audit log as the system's, in the same
//! transaction as the change.

use crate::audit::{self, Record};
use crate::auth::Actor;
use crate::auth::secret::{Secret, hash_password};
use crate::db::Db;
use crate::error::Result;
use crate::keys::{self, ApiKey, NewKey};
use crate::users::{self, NewUser, TotpEnrollment, User};

/// The actor of command-line writes.
fn command_line() -> Actor {
    Actor::system("command line")
}

fn request_id() -> String {
    format!("cli-{}", uuid::Uuid::now_v7())
}

/// Creates a staff user; returns the user and their TOTP enrollment (to show once).
pub async fn create_user(db: &Db, new: &NewUser) -> Result<(User, TotpEnrollment)> {
    new.validate()?;
    let hash = hash_password(new.password.clone()).await?;
    let mut tx = db.begin().await?;
    let (user, totp) = users::create(&mut tx, new, hash).await?;
    let rid = request_id();
    let id = user.id.to_string();
    audit::append(
        tx.exec(),
        &Record {
            request_id: &rid,
            actor: &command_line(),
            method: "CLI",
            route: "users create",
            resource_id: Some(&id),
            status: 201,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((user, totp))
}

/// Makes an API key; returns its record and the key (to show once).
pub async fn create_key(db: &Db, new: &NewKey) -> Result<(ApiKey, Secret)> {
    let mut tx = db.begin().await?;
    let actor = command_line();
    let (key, secret) = keys::create(&mut tx, &actor, new).await?;
    let rid = request_id();
    let id = key.id.to_string();
    audit::append(
        tx.exec(),
        &Record {
            request_id: &rid,
            actor: &actor,
            method: "CLI",
            route: "keys create",
            resource_id: Some(&id),
            status: 201,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((key, secret))
}

/// A staff user by name (for `--user` on the command line).
pub async fn user_by_name(db: &Db, username: &str) -> Result<User> {
    users::by_username(db.reader(), username).await
}
