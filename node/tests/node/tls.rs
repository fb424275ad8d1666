//! The `propledger` binary against a provider over TLS: a chain behind a TLS-terminating proxy
//! whose certificate comes from a CA made by the test. With `--ca-file` naming that CA the node
//! deploys and indexes over `https://` and over `wss://`; without it, or with another CA, it
//! stops at once with a clear error. The provider's API key never reaches the log.

use std::net::{Ipv4Addr, SocketAddr};

use propledger_node::{
    chain::{ChainConfig, EmbeddedChain},
    deployment::DeploymentRecord,
};
use propledger_testkit::tls::{TestCa, TlsProxy};

use crate::keys::Run;

const API_KEY: &str = "Ab3dEfGh1jKlMnOpQr5tUvWx";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_deploys_and_indexes_over_https_and_wss_and_refuses_an_untrusted_ca() {
    let network_dir = tempfile::tempdir().expect("tempdir");
    let mut network = ChainConfig::new(network_dir.path());
    network.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    network.chain_id = 4242;
    let network = EmbeddedChain::start(network).await.expect("network");
    let ca = TestCa::new("Provider CA");
    let proxy = TlsProxy::start(&ca, network.local_addr()).await;
    let ca_file = ca.ca_file();
    let ca_arg = ca_file.to_str().expect("utf-8");
    let key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    let data = tempfile::tempdir().expect("tempdir");
    let data_dir = data.path().to_str().expect("utf-8");

    let https = format!("{}/?apikey={API_KEY}", proxy.https_url());
    let mut run = Run::start(&[
        "--data-dir",
        data_dir,
        "--rpc-url",
        &https,
        "--ca-file",
        ca_arg,
        "--private-key",
        key,
    ]);
    run.wait_for("platform contracts deployed");
    run.wait_for("indexer running");
    let log = run.stop();
    assert!(!log.contains(API_KEY), "{log}");
    let record = DeploymentRecord::load(data.path())
        .expect("load")
        .expect("deployed");
    assert_eq!(record.platform.chain_id, 4242);

    // The same node over wss: the recorded contracts are found there.
    let mut run = Run::start(&[
        "--data-dir",
        data_dir,
        "--rpc-url",
        &proxy.wss_url(),
        "--ca-file",
        ca_arg,
        "--private-key",
        key,
    ]);
    run.wait_for("platform contracts found");
    run.wait_for("indexer running");
    drop(run.stop());

    // Without the CA, or with another one, the certificate is refused: a clear error, at once.
    let other = TestCa::new("Another CA");
    let other_file = other.ca_file();
    for ca_args in [
        vec![],
        vec!["--ca-file", other_file.to_str().expect("utf-8")],
    ] {
        for url in [https.clone(), proxy.wss_url()] {
            let mut args = vec![
                "--data-dir",
                data_dir,
                "--rpc-url",
                &url,
                "--private-key",
                key,
            ];
            args.extend(ca_args.iter().copied());
            let mut refused = Run::start(&args);
            assert!(refused.failed());
            let log = refused.log();
            assert!(
                log.contains("TLS certificate is not trusted")
                    && log.contains("invalid peer certificate: UnknownIssuer")
                    && log.contains("--ca-file"),
                "{log}"
            );
            assert!(!log.contains(API_KEY), "{log}");
        }
    }
    network.shutdown().await.expect("stop");
}
