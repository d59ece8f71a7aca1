//! Whether the ports a node is configured to listen on are free: the metrics and Node API
//! servers' TCP ports and every p2p listen address (TCP, or UDP for QUIC). `run` checks them
//! before it touches the data directory, so a port in use is one line with the OS reason and
//! leaves nothing behind; `config check` reports the same.
//!
//! Each port is bound and released at once; another process can still take it before the node
//! binds it for real, and the node's own bind then fails with the same kind of message.

use crate::config::NodeConfig;
use libp2p::{Multiaddr, multiaddr::Protocol};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

/// Binds every configured port once; the first that cannot be bound is the error.
pub fn check(config: &NodeConfig) -> eyre::Result<()> {
    bind_tcp("metrics_addr", config.metrics_addr)?;
    bind_tcp("node_api_addr", config.node_api_addr)?;
    for addr in &config.p2p.listen_addrs {
        check_listen_addr(addr)?;
    }
    Ok(())
}

fn bind_tcp(setting: &str, addr: SocketAddr) -> eyre::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    TcpListener::bind(addr)
        .map(drop)
        .map_err(|e| eyre::eyre!("{setting} {addr} cannot be bound: {e}"))
}

/// A p2p listen address's socket, if it names a fixed IP and port this process can bind.
fn check_listen_addr(addr: &Multiaddr) -> eyre::Result<()> {
    let mut ip: Option<IpAddr> = None;
    let mut socket = None;
    for protocol in addr {
        match protocol {
            Protocol::Ip4(v4) => ip = Some(v4.into()),
            Protocol::Ip6(v6) => ip = Some(v6.into()),
            Protocol::Tcp(port) => socket = Some((false, port)),
            Protocol::Udp(port) => socket = Some((true, port)),
            _ => {}
        }
    }
    let (Some(ip), Some((udp, port))) = (ip, socket) else {
        // A DNS name or another transport: libp2p resolves and reports it at start-up.
        return Ok(());
    };
    if port == 0 {
        return Ok(());
    }
    let at = SocketAddr::new(ip, port);
    let bound = if udp {
        UdpSocket::bind(at).map(drop)
    } else {
        TcpListener::bind(at).map(drop)
    };
    bound.map_err(|e| eyre::eyre!("p2p listen address {addr} cannot be bound: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_named_with_the_os_reason() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = check_listen_addr(&format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "p2p listen address /ip4/127.0.0.1/tcp/{port} cannot be bound"
            )),
            "{err}"
        );
        assert!(
            err.to_lowercase().contains("address already in use"),
            "{err}"
        );
        let err = bind_tcp("metrics_addr", taken.local_addr().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("metrics_addr 127.0.0.1:"), "{err}");
        // Free, ephemeral and unresolvable addresses pass.
        drop(taken);
        check_listen_addr(&format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()).unwrap();
        check_listen_addr(&"/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()).unwrap();
        check_listen_addr(&"/dns4/example.invalid/tcp/9000".parse().unwrap()).unwrap();
    }
}
