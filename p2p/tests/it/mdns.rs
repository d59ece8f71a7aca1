//! mDNS discovery end to end: two swarms with `mdns: true` and no bootnodes find each other,
//! connect and see each other's topic subscription.
//!
//! mDNS needs multicast on a non-loopback interface (libp2p's mDNS skips loopback), and a test
//! must not send multicast onto the host's real network. So the nodes run in a network
//! namespace of their own: the test re-runs itself (this test binary, exactly this test, with
//! `AVS_P2P_MDNS_NETNS` set) under `unshare --net`, where a veth pair with both ends inside the
//! namespace is the only non-loopback link; that inner run starts the nodes, and the outer one
//! checks that it ran and passed. Only when such a namespace cannot be made (no
//! `unshare` or `ip`, no privilege for namespaces, no veth in the kernel) does it print why and
//! skip.

use crate::support::*;
use avs_p2p::{Network, NetworkHandle};
use libp2p::identity::Keypair;
use std::{process::Stdio, time::Duration};

/// Set (to `1`) only in the namespace the outer run made: there the test runs the nodes.
const INSIDE: &str = "AVS_P2P_MDNS_NETNS";
/// This test's path in the test binary, for re-running exactly it inside the namespace.
const TEST: &str = "mdns::two_nodes_without_bootnodes_connect_over_mdns";
/// Bound on the whole inner run (namespace set-up, two swarms, discovery, connection).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Exit code of the set-up script when the namespace cannot be built: skip, not fail.
const SETUP_UNAVAILABLE: i32 = 77;

/// Brings up loopback and a veth pair (10.77.0.1 ↔ 10.77.0.2, both ends in this namespace),
/// then runs the command given as arguments.
const SETUP: &str = r#"
unavailable() { echo "network namespace set-up failed: $1" >&2; exit 77; }
ip link set lo up || unavailable "ip link set lo up"
ip link add avs-md0 type veth peer name avs-md1 || unavailable "no veth pair (kernel without veth?)"
ip addr add 10.77.0.1/24 dev avs-md0 || unavailable "ip addr add avs-md0"
ip addr add 10.77.0.2/24 dev avs-md1 || unavailable "ip addr add avs-md1"
ip link set avs-md0 multicast on up || unavailable "ip link set avs-md0 up"
ip link set avs-md1 multicast on up || unavailable "ip link set avs-md1 up"
exec "$@"
"#;

#[tokio::test]
async fn two_nodes_without_bootnodes_connect_over_mdns() {
    if std::env::var_os(INSIDE).is_some() {
        return connect_two_mdns_nodes().await;
    }
    // Can this process make a network namespace at all?
    let probe = tokio::process::Command::new("unshare")
        .args(["--net", "--", "ip", "link", "show", "lo"])
        .stdin(Stdio::null())
        .output()
        .await;
    match probe {
        Err(e) => {
            eprintln!("SKIPPED: mDNS test needs `unshare` (util-linux) to isolate multicast: {e}");
            return;
        }
        Ok(out) if !out.status.success() => {
            eprintln!(
                "SKIPPED: cannot create a network namespace for the mDNS test ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Ok(_) => {}
    }

    let exe = std::env::current_exe().expect("test binary path");
    let child = tokio::process::Command::new("unshare")
        .args(["--net", "--", "sh", "-c", SETUP, "sh"])
        .arg(&exe)
        .args(["--exact", TEST, "--nocapture"])
        .env(INSIDE, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("unshare starts");
    let out = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("inner mDNS test did not finish within {RUN_TIMEOUT:?}"))
        .expect("inner mDNS test runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(SETUP_UNAVAILABLE) {
        eprintln!("SKIPPED: {}", stderr.trim());
        return;
    }
    assert!(
        out.status.success(),
        "inner mDNS test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // A filter typo would run nothing and still exit 0.
    assert!(
        stdout.contains(&format!("test {TEST} ... ok")) && stdout.contains("1 passed"),
        "inner mDNS test did not run:\n{stdout}\n{stderr}"
    );
}

/// The test proper, inside the namespace (see the module docs): elsewhere it would put
/// multicast on the host's network.
async fn connect_two_mdns_nodes() {
    let a = mdns_node().await;
    let b = mdns_node().await;
    let (pa, pb) = (a.handle.peer_id(), b.handle.peer_id());
    let (ha, hb) = (&a.handle, &b.handle);
    eventually(
        "both mDNS nodes connected to and subscribed with each other",
        || async move {
            let (sa, sb) = (ha.status().await.ok()?, hb.status().await.ok()?);
            (sa.connected.contains(&pb)
                && sa.subscribed.contains(&pb)
                && sb.connected.contains(&pa)
                && sb.subscribed.contains(&pa))
            .then_some(())
        },
    )
    .await;
    // Each sees the other, not itself.
    for (h, other) in [(&a.handle, pb), (&b.handle, pa)] {
        let s = h.status().await.expect("network running");
        assert_eq!(s.connected, vec![other], "{} connected to", h.peer_id());
    }
    shutdown(&[a.handle, b.handle]).await;
}

/// A node with mDNS on, no bootnodes, listening on every interface: mDNS only announces
/// addresses of the interface it answers on, so a loopback-only listener would announce none.
async fn mdns_node() -> Network {
    let mut config = config(Vec::new());
    config.listen_addrs = vec!["/ip4/0.0.0.0/tcp/0".parse().expect("static multiaddr")];
    config.mdns = true;
    Network::start(Keypair::generate_ed25519(), config)
        .await
        .expect("network with mDNS starts")
}

async fn shutdown(handles: &[NetworkHandle]) {
    for h in handles {
        h.shutdown().await;
    }
}
