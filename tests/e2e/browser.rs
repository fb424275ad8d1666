//! The web app in headless Chromium against the real node on its embedded chain: investors with
//! a wallet injected in their browser, an operator with an API key (`tests/browser/run.mjs`,
//! driven by playwright-core). Screenshots go to `docs/screenshots/`.

use std::path::PathBuf;
use std::process::Command;

use crate::setup::{Chain, Db, Setup};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

#[tokio::test(flavor = "multi_thread")]
async fn investors_and_an_operator_in_a_browser() {
    let setup = Setup::start(Chain::Embedded, Db::Sqlite).await;
    let admin = std::fs::read_to_string(setup.data_dir.path().join("admin.key"))
        .expect("the admin key")
        .trim()
        .to_owned();
    let root = root();
    let out = Command::new("node")
        .current_dir(&root)
        .arg("tests/browser/run.mjs")
        .args(["--api", &setup.node.api_url])
        .args(["--rpc", &setup.rpc_url])
        .args(["--admin-key", &admin])
        .arg("--shots")
        .arg(root.join("docs/screenshots"))
        .output()
        .expect("node runs the browser test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("\"ok\":true"),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        setup.node.log()
    );
    setup.node.stop();
}
