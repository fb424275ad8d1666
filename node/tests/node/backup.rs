//! Backup under load and restore: `propledger backup` copies a running node's chain, books and
//! index while deposits keep landing; `propledger restore` puts the copy in a fresh directory;
//! a node started there verifies its books against the chain, catches up to the copied chain's
//! head, and then holds exactly what the source held for those blocks, and the documents the
//! API stored on disk.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use propledger_api::blobs::{BlobLocation, BlobStore, Sha256Hash};
use propledger_contracts::{
    PropertyTreasury, TestStablecoin,
    launch::{OfferingTerms, PropertyParams, launch_property},
};
use propledger_node::{
    Node,
    backup::{Books, Manifest, RESTORED_MARKER},
    node::DEV_PRIVATE_KEY,
};
use sqlx::{Connection, SqliteConnection};

use crate::{keys::Run, run::config};

/// A deadline that only a stuck indexer would miss.
const NEVER: Duration = Duration::from_secs(120);

pub(crate) fn provider(url: &str) -> DynProvider {
    let admin: PrivateKeySigner = DEV_PRIVATE_KEY.parse().expect("key");
    ProviderBuilder::new()
        .wallet(EthereumWallet::new(admin))
        .connect_http(url.parse().expect("url"))
        .erased()
}

pub(crate) fn dollars(n: u64) -> U256 {
    U256::from(n) * U256::from(1_000_000u64)
}

/// A property on the node's platform, and test dollars the admin may deposit into its treasury.
pub(crate) async fn property(node: &Node, provider: &DynProvider) -> Address {
    let now = provider
        .get_block_by_number(Default::default())
        .await
        .expect("block")
        .expect("latest")
        .header
        .timestamp;
    let params = PropertyParams {
        property_id: U256::from(1u64),
        name: "Oak St Shares".into(),
        symbol: "OAK".into(),
        parcel_id: keccak256("APN:OAK"),
        metadata_hash: keccak256("metadata:OAK"),
        metadata_uri: "ipfs://deed/OAK".into(),
        custodian: None,
        terms: OfferingTerms {
            price_per_share: dollars(50),
            min_purchase: U256::from(10u64).pow(U256::from(18u64)),
            max_per_investor: U256::ZERO,
            shares_for_sale: U256::from(10u64).pow(U256::from(23u64)),
            soft_cap: dollars(100),
            start: now,
            end: now + 365 * 24 * 3600,
        },
    };
    let property = launch_property(provider, node.platform(), &params)
        .await
        .expect("property");
    let treasury = property.treasury.address;
    let admin = node.platform().admin();
    let token = TestStablecoin::new(node.platform().settlement_token, provider);
    token
        .mint(admin, dollars(1_000_000))
        .send()
        .await
        .expect("mint")
        .get_receipt()
        .await
        .expect("mined");
    token
        .approve(treasury, U256::MAX)
        .send()
        .await
        .expect("approve")
        .get_receipt()
        .await
        .expect("mined");
    treasury
}

/// Deposits into the treasury one after another until `stop`: each books an entry.
fn load(
    provider: DynProvider,
    treasury: Address,
    stop: Arc<AtomicBool>,
    made: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let treasury = PropertyTreasury::new(treasury, &provider);
        while !stop.load(Ordering::Relaxed) {
            let n = made.fetch_add(1, Ordering::Relaxed);
            let reference = keccak256(format!("rent-{n}"));
            treasury
                .deposit(dollars(1 + n % 7), reference)
                .send()
                .await
                .expect("deposit")
                .get_receipt()
                .await
                .expect("mined");
        }
    })
}

/// The block after the last indexed one.
async fn next_block(books: &Path) -> u64 {
    let mut db = SqliteConnection::connect(&format!("sqlite:{}", books.display()))
        .await
        .expect("books");
    let next: Option<i64> = sqlx::query_scalar("SELECT next_block FROM idx_state")
        .fetch_optional(&mut db)
        .await
        .expect("checkpoint");
    db.close().await.expect("close");
    next.map_or(0, |n| u64::try_from(n).expect("block"))
}

async fn wait_indexed(books: &Path, head: u64) {
    let start = std::time::Instant::now();
    while next_block(books).await <= head {
        assert!(start.elapsed() < NEVER, "the indexer did not reach {head}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type EventRow = (i64, i64, String, String, String, String);
type EntryRow = (String, String, String, String, Option<String>);

/// The index and the books for blocks up to `head`: events, and the entries booked from them
/// with their status, content hash, source and chain hash.
async fn contents(books: &Path, head: u64) -> (Vec<EventRow>, Vec<EntryRow>) {
    let mut db = SqliteConnection::connect(&format!("sqlite:{}", books.display()))
        .await
        .expect("books");
    let head = i64::try_from(head).expect("block");
    let events = sqlx::query_as(
        "SELECT block_number, log_index, hex(block_hash), hex(tx_hash), event, decoded \
         FROM idx_events WHERE block_number <= ? ORDER BY block_number, log_index",
    )
    .bind(head)
    .fetch_all(&mut db)
    .await
    .expect("events");
    let entries = sqlx::query_as(
        "SELECT e.idempotency_key, e.status, hex(e.content_hash), e.source, hex(e.hash) \
         FROM ledger_entries e JOIN idx_bookings b ON b.entry_key = e.idempotency_key \
         WHERE b.block_number <= ? ORDER BY e.id",
    )
    .bind(head)
    .fetch_all(&mut db)
    .await
    .expect("entries");
    db.close().await.expect("close");
    (events, entries)
}

async fn block_hash(provider: &DynProvider, number: u64) -> B256 {
    provider
        .get_block_by_number(number.into())
        .await
        .expect("block")
        .expect("exists")
        .header
        .hash
}

/// The API's blob store of a node's data directory and books (blobs on disk, as with SQLite).
async fn blob_store(data_dir: &Path) -> (propledger_api::db::Db, BlobStore) {
    let url = format!("sqlite:{}", data_dir.join("ledger.db").display());
    let db = propledger_api::db::Db::connect(&url).await.expect("db");
    let store = BlobStore::new(BlobLocation::Disk, data_dir).expect("blob store");
    (db, store)
}

/// Stores `bytes` as an upload to the API does (spooled, then recorded in a transaction).
async fn store_blob(data_dir: &Path, bytes: &'static [u8]) -> Sha256Hash {
    let (db, store) = blob_store(data_dir).await;
    let body =
        futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(bytes))]);
    let spooled = store.spool(body, 1 << 20).await.expect("spool");
    let mut tx = db.begin().await.expect("begin");
    let sha = store.put(&mut tx, spooled).await.expect("put");
    tx.commit().await.expect("commit");
    sha
}

/// The bytes of a stored blob.
async fn read_blob(data_dir: &Path, sha: Sha256Hash) -> Vec<u8> {
    use futures_util::StreamExt;
    let (db, store) = blob_store(data_dir).await;
    let mut stream = store.open(&db, sha).await.expect("open the blob");
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.expect("read the blob"));
    }
    bytes
}

const DOCUMENT: &[u8] = b"appraisal report, 12 Elm St";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_to_a_node_that_verifies_and_catches_up() {
    let source_dir = tempfile::tempdir().expect("tempdir");
    let source = Node::start(config(source_dir.path()))
        .await
        .expect("source node");
    let source_chain = provider(source.rpc_url());
    let treasury = property(&source, &source_chain).await;
    let document = store_blob(source_dir.path(), DOCUMENT).await;

    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicU64::new(0));
    let loader = load(source_chain.clone(), treasury, stop.clone(), made.clone());
    while made.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The backup, by the binary, while deposits land.
    let backups = tempfile::tempdir().expect("tempdir");
    let out = backups.path().join("b1");
    let mut run = Run::start(&[
        "--data-dir",
        source_dir.path().to_str().expect("utf-8"),
        "backup",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let log = run.finish();
    assert!(!run.failed(), "backup failed:\n{log}");
    let after_backup = made.load(Ordering::Relaxed);
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(out.join("backup.json")).expect("manifest"))
            .expect("manifest json");
    let chain = manifest.chain.clone().expect("the chain is in the backup");
    let copied_head = chain.summary.head_number;
    assert!(matches!(manifest.books, Books::Sqlite { .. }));
    assert_eq!(
        manifest.blobs.len(),
        1,
        "the document's blob is in the backup"
    );
    // The books were copied first: their index is not ahead of the copied chain.
    let copied_next = next_block(&out.join("ledger.db")).await;
    assert!(
        copied_next <= copied_head + 1,
        "index at {copied_next}, chain at {copied_head}"
    );

    // More business after the backup, then the source settles.
    while made.load(Ordering::Relaxed) < after_backup + 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    loader.await.expect("load");
    let source_head = source_chain.get_block_number().await.expect("head");
    assert!(
        source_head > copied_head,
        "the source moved on after the backup"
    );
    wait_indexed(&source_dir.path().join("ledger.db"), source_head).await;

    // A damaged backup is refused, and nothing is restored.
    let damaged = backups.path().join("damaged");
    copy_dir(&out, &damaged);
    let mut log = std::fs::read(damaged.join("chain/chain.log")).expect("log");
    let middle = log.len() / 2;
    log[middle] ^= 0x20;
    std::fs::write(damaged.join("chain/chain.log"), log).expect("write");
    let target_root = tempfile::tempdir().expect("tempdir");
    let refused = target_root.path().join("refused");
    let mut run = Run::start(&[
        "--data-dir",
        refused.to_str().expect("utf-8"),
        "restore",
        "--from",
        damaged.to_str().expect("utf-8"),
    ]);
    assert!(run.failed());
    assert!(run.log().contains("the backup is damaged"), "{}", run.log());
    assert!(!refused.exists(), "nothing restored from a damaged backup");

    // The restore, by the binary, into a fresh directory.
    let restored_dir = target_root.path().join("restored");
    let mut run = Run::start(&[
        "--data-dir",
        restored_dir.to_str().expect("utf-8"),
        "restore",
        "--from",
        out.to_str().expect("utf-8"),
    ]);
    let log = run.finish();
    assert!(!run.failed(), "restore failed:\n{log}");
    assert!(restored_dir.join(RESTORED_MARKER).exists());

    let restored = Node::start(config(&restored_dir))
        .await
        .expect("restored node");
    assert!(
        !restored_dir.join(RESTORED_MARKER).exists(),
        "the start verified the restored books"
    );
    assert_eq!(restored.platform(), source.platform());
    assert_eq!(read_blob(&restored_dir, document).await, DOCUMENT);
    let restored_chain = provider(restored.rpc_url());
    // The chain is the source's, up to the backup's head.
    assert_eq!(
        restored_chain.get_block_number().await.expect("head"),
        copied_head
    );
    for number in [0, copied_head / 2, copied_head] {
        assert_eq!(
            block_hash(&restored_chain, number).await,
            block_hash(&source_chain, number).await,
            "block {number}"
        );
    }
    // The index catches up to the copied head, and then the books and the index hold what
    // the source holds for those blocks.
    let restored_books = restored_dir.join("ledger.db");
    wait_indexed(&restored_books, copied_head).await;
    let (events, entries) = contents(&restored_books, copied_head).await;
    let (source_events, source_entries) =
        contents(&source_dir.path().join("ledger.db"), copied_head).await;
    assert!(
        entries.len() >= 20,
        "the deposits made before the backup are booked"
    );
    assert_eq!(events, source_events);
    assert_eq!(entries, source_entries);
    // And it goes on: new business on the restored node is indexed and booked. The restored
    // node's own outbox shares the admin key, so a nonce taken by it meanwhile is retried.
    let mut attempt = 0;
    let pending = loop {
        match PropertyTreasury::new(treasury, &restored_chain)
            .deposit(dollars(3), keccak256("after-restore"))
            .send()
            .await
        {
            Ok(p) => break p,
            Err(e) if attempt < 5 && e.to_string().contains("nonce too low") => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("deposit: {e:?}"),
        }
    };
    let receipt = pending.get_receipt().await.expect("mined");
    let block = receipt.block_number.expect("block");
    wait_indexed(&restored_books, block).await;
    let (_, after) = contents(&restored_books, block).await;
    assert_eq!(after.len(), entries.len() + 1);

    restored.shutdown().await.expect("stop");
    source.shutdown().await.expect("stop");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}
