//! The monitoring files in `etc/`: the Grafana dashboard is valid JSON whose panels query
//! metrics the node exports, and the Prometheus config scrapes the devnet's metrics ports.

use std::path::PathBuf;

fn etc(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../etc")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

#[test]
fn the_dashboard_queries_exported_metrics() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&etc("grafana/avs-exex.json")).expect("valid JSON");
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| panel["targets"].as_array().expect("targets"))
        .map(|target| target["expr"].as_str().expect("expr"))
        .collect();
    for metric in [
        "avs_exex_host_head_block",
        "avs_exex_attested_host_head_block",
        "avs_exex_host_finished_height",
        "avs_exex_responses_signed_total",
        "avs_exex_submissions_total",
        "avs_exex_quorum_latency_seconds_bucket",
        "avs_exex_tasks_finalized_total",
        "avs_exex_signatures_received_total",
        "avs_exex_p2p_connected_peers",
        "avs_exex_wallet_balance_ether",
    ] {
        assert!(
            exprs.iter().any(|expr| expr.contains(metric)),
            "no panel shows {metric}: {exprs:?}"
        );
    }
}

#[test]
fn prometheus_scrapes_the_devnet_nodes() {
    let config = etc("prometheus.yml");
    // The devnet's default --base-port 9700: node i serves metrics on 9800 + i.
    for port in 9800..9804 {
        assert!(
            config.contains(&format!("127.0.0.1:{port}")),
            "no target for port {port}"
        );
    }
}
