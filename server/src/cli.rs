//! The `peerlink-server` command line.

use crate::{Config, RateLimit, Server};
use clap::Parser;
use peerlink_protocol::IceServer;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// peerlink signaling server: WebSocket rooms on /ws, plus the built page.
///
/// After binding, prints exactly one line to stdout,
/// `peerlink-server listening on http://IP:PORT`, with the port actually bound
/// (so `--listen 127.0.0.1:0` works). Logs go to stderr; set RUST_LOG to tune.
#[derive(Debug, Clone, Parser)]
#[command(name = "peerlink-server", version, about, long_about = None)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve this directory (the built page) on the same port, falling back to
    /// its index.html for unknown paths.
    #[arg(long = "static", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,

    /// Most peers in one room.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_peers: u16,

    /// ICE server URL handed to clients (stun:, stuns:, turn: or turns:);
    /// repeat for several, e.g. `turn:turn.example.org:3478?transport=udp`.
    #[arg(long = "ice-server", value_name = "URL", value_parser = parse_ice_url)]
    pub ice_servers: Vec<String>,

    /// Username for the turn:/turns: URLs.
    #[arg(long, value_name = "NAME")]
    pub ice_username: Option<String>,

    /// Credential for the turn:/turns: URLs.
    #[arg(long, value_name = "SECRET")]
    pub ice_credential: Option<String>,

    /// Frames per second one connection may send, sustained.
    #[arg(long, value_name = "PER_SEC", default_value_t = 50.0,
          value_parser = parse_positive_rate)]
    pub rate_limit: f64,

    /// Frames one connection may send back to back before the rate applies.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,

    /// Seconds between WebSocket pings to each client.
    #[arg(long, value_name = "SECS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ping_interval: u64,

    /// Drop a client that sends nothing (not even a pong) for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
}

fn parse_ice_url(url: &str) -> Result<String, String> {
    const SCHEMES: [&str; 4] = ["stun:", "stuns:", "turn:", "turns:"];
    let has_host = SCHEMES
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .is_some_and(|rest| !rest.is_empty());
    if has_host && !url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(url.to_owned())
    } else {
        Err(
            "expected stun:HOST[:PORT], stuns:, turn:HOST[:PORT][?transport=udp|tcp] or turns:"
                .into(),
        )
    }
}

fn parse_positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err("expected a positive number of frames per second".into()),
    }
}

fn is_turn(url: &str) -> bool {
    url.starts_with("turn:") || url.starts_with("turns:")
}

impl Args {
    /// The server settings these arguments describe.
    pub fn to_config(&self) -> Config {
        let (turn, stun): (Vec<String>, Vec<String>) = self
            .ice_servers
            .iter()
            .cloned()
            .partition(|url| is_turn(url));
        let mut ice_servers = Vec::new();
        if !stun.is_empty() {
            ice_servers.push(IceServer {
                urls: stun,
                username: None,
                credential: None,
            });
        }
        if !turn.is_empty() {
            ice_servers.push(IceServer {
                urls: turn,
                username: self.ice_username.clone(),
                credential: self.ice_credential.clone(),
            });
        }
        Config {
            static_dir: self.static_dir.clone(),
            max_peers: usize::from(self.max_peers),
            ice_servers,
            rate_limit: RateLimit {
                per_second: self.rate_limit,
                burst: self.rate_burst,
            },
            ping_interval: Duration::from_secs(self.ping_interval),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            ..Config::default()
        }
    }
}

/// Binds, prints the listening line, and serves until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(dir) = &args.static_dir {
        anyhow::ensure!(dir.is_dir(), "--static {}: not a directory", dir.display());
        if !dir.join("index.html").is_file() {
            tracing::warn!(dir = %dir.display(), "no index.html in the static directory");
        }
    }
    let has_turn = args.ice_servers.iter().any(|url| is_turn(url));
    if has_turn && (args.ice_username.is_none() || args.ice_credential.is_none()) {
        tracing::warn!("turn: URLs given without --ice-username and --ice-credential");
    }
    let server = Server::bind(args.listen, args.to_config())
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    // Listen for the signals before the line is printed: a script that sends SIGTERM
    // as soon as it has read the line must get a clean shutdown, not the default
    // action (tokio installs a handler only when its stream is created).
    let stop = shutdown_signal()?;
    announce(server.local_addr())?;
    tracing::info!(addr = %server.local_addr(), "serving");
    server.run_until(stop).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Prints the one stdout line scripts wait for, and flushes it at once (stdout is
/// block-buffered when it is a pipe).
fn announce(addr: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "peerlink-server listening on http://{addr}")?;
    stdout.flush()
}

/// Installs the handlers for Ctrl-C (SIGINT) and, on Unix, SIGTERM now, and returns
/// a future that completes when either arrives.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| anyhow::anyhow!("cannot listen for {name}: {e}"))
    };
    let mut interrupt = listen(SignalKind::interrupt(), "Ctrl-C")?;
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("Ctrl-C: shutting down"),
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        }
    })
}

/// Installs the Ctrl-C handler now, and returns a future that completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut interrupt = tokio::signal::windows::ctrl_c()
        .map_err(|e| anyhow::anyhow!("cannot listen for Ctrl-C: {e}"))?;
    Ok(async move {
        interrupt.recv().await;
        tracing::info!("Ctrl-C: shutting down");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn ice_urls_and_credentials() {
        let args = Args::try_parse_from([
            "peerlink-server",
            "--ice-server",
            "stun:stun.example.org:3478",
            "--ice-server",
            "turn:turn.example.org:3478?transport=udp",
            "--ice-username",
            "u",
            "--ice-credential",
            "c",
        ])
        .unwrap();
        let config = args.to_config();
        assert_eq!(config.ice_servers.len(), 2);
        assert_eq!(config.ice_servers[0].urls, ["stun:stun.example.org:3478"]);
        assert_eq!(config.ice_servers[0].username, None);
        assert_eq!(config.ice_servers[1].username.as_deref(), Some("u"));
        assert_eq!(config.ice_servers[1].credential.as_deref(), Some("c"));
        assert!(Args::try_parse_from(["peerlink-server", "--ice-server", "http://x"]).is_err());
        assert!(Args::try_parse_from(["peerlink-server", "--ice-server", "turn:"]).is_err());
    }

    #[test]
    fn defaults() {
        let args = Args::try_parse_from(["peerlink-server"]).unwrap();
        assert_eq!(args.listen, "127.0.0.1:8080".parse().unwrap());
        let config = args.to_config();
        assert_eq!(config.max_peers, 8);
        assert_eq!(config.rate_limit, RateLimit::default());
        assert!(config.ice_servers.is_empty());
        assert!(Args::try_parse_from(["peerlink-server", "--max-peers", "0"]).is_err());
        assert!(Args::try_parse_from(["peerlink-server", "--rate-limit", "-1"]).is_err());
    }
}
