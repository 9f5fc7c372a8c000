//! The built `peerlink-server` binary: listening line, and clean exit on SIGTERM
//! with a WebSocket open.

mod common;

use common::{Client, Closed};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_peerlink-server");

#[test]
fn help_lists_the_flags() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--listen",
        "--static",
        "--max-peers",
        "--ice-server",
        "--ice-username",
        "--ice-credential",
        "--rate-limit",
        "--rate-burst",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
}

#[test]
fn bad_arguments_fail() {
    let output = Command::new(BIN)
        .args(["--ice-server", "http://not-ice"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let missing = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--static",
            "/nonexistent/peerlink",
        ])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        missing.stdout.is_empty(),
        "no listening line without a server"
    );
}

/// The server started on a free port, its address from the listening line, and the
/// rest of its stdout.
async fn start() -> (
    std::process::Child,
    SocketAddr,
    BufReader<std::process::ChildStdout>,
) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (line, rest) = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        (line, reader)
    })
    .await
    .unwrap();

    let url = line
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("peerlink-server listening on http://"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr: SocketAddr = url.parse().unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0, "the line must show the bound port");
    (child, addr, rest)
}

fn terminate(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the server to exit after a signal: successfully, having printed nothing
/// after its listening line.
async fn exits_cleanly(mut child: std::process::Child, rest: BufReader<std::process::ChildStdout>) {
    let exit = tokio::time::timeout(
        common::WAIT,
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("server did not exit after SIGTERM")
    .unwrap()
    .unwrap();
    assert!(exit.success(), "exit status {exit}");
    let rest: Vec<String> = rest.lines().map(Result::unwrap).collect();
    assert!(rest.is_empty(), "extra stdout lines: {rest:?}");
}

#[tokio::test]
async fn prints_listening_line_and_exits_cleanly_on_sigterm() {
    let (child, addr, rest) = start().await;

    // It serves: a client joins, and stays connected across the signal.
    let (mut client, _, _) = Client::joined(addr, "cli", "Ann").await;
    client.ping_pong().await;

    terminate(&child);

    // The open WebSocket is closed with 1001 (going away) rather than holding the
    // shutdown up.
    match client.closed().await {
        Closed::Frame(code) => assert_eq!(code, Some(1001)),
        Closed::Abrupt => panic!("expected a close frame"),
    }
    exits_cleanly(child, rest).await;
}

/// Once the line is out, SIGTERM is a clean shutdown: the handlers are in place
/// before the line is printed (a signal that came first used to kill the process).
#[tokio::test]
async fn sigterm_right_after_the_listening_line_is_a_clean_exit() {
    let (child, _, rest) = start().await;
    terminate(&child);
    exits_cleanly(child, rest).await;
}
