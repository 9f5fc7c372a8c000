//! Shared test helpers: an in-process server on port 0 and a WebSocket client
//! that awaits the frames a test expects (with a timeout, never a sleep).
#![allow(dead_code)] // Each test file uses a different subset.

use futures_util::{SinkExt, StreamExt};
use peerlink_protocol::{ErrorCode, PeerInfo, ServerMessage};
use peerlink_server::{Config, Server};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How long to wait for a frame that should arrive. Generous: the machine may be
/// busy compiling.
pub const WAIT: Duration = Duration::from_secs(15);

/// Starts a server on 127.0.0.1:0.
/// Set RUST_LOG (e.g. `peerlink_server=debug`) to see the server's logs.
pub async fn start(config: Config) -> Server {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    Server::bind("127.0.0.1:0", config).await.unwrap()
}

/// A test config: defaults, but a rate limit no ordinary test hits.
pub fn config() -> Config {
    Config {
        rate_limit: peerlink_server::RateLimit {
            per_second: 10_000.0,
            burst: 10_000,
        },
        ..Config::default()
    }
}

/// One WebSocket client.
pub struct Client {
    pub ws: WebSocketStream<TcpStream>,
}

/// How a connection ended, as the client saw it.
#[derive(Debug)]
pub enum Closed {
    /// A close frame, with its code if any.
    Frame(Option<u16>),
    /// EOF or a reset without a close frame.
    Abrupt,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Self::handshake(addr, stream).await
    }

    /// Connects with a tiny receive buffer, so a client that stops reading
    /// backs up into the server quickly.
    pub async fn connect_with_small_buffer(addr: SocketAddr) -> Client {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        Self::handshake(addr, stream).await
    }

    async fn handshake(addr: SocketAddr, stream: TcpStream) -> Client {
        let url = format!("ws://{addr}/ws");
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, stream))
            .await
            .expect("handshake timed out")
            .unwrap();
        Client { ws }
    }

    /// Connects and joins `room` as `name`; returns the client, its id and the
    /// peers listed in the welcome.
    pub async fn joined(
        addr: SocketAddr,
        room: &str,
        name: &str,
    ) -> (Client, String, Vec<PeerInfo>) {
        Self::joined_with_password(addr, room, name, None).await
    }

    pub async fn joined_with_password(
        addr: SocketAddr,
        room: &str,
        name: &str,
        password: Option<&str>,
    ) -> (Client, String, Vec<PeerInfo>) {
        let mut client = Client::connect(addr).await;
        client.join(room, name, password).await;
        match client.recv().await {
            ServerMessage::Welcome { id, peers, .. } => (client, id, peers),
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// Connects and joins `room` as `name` with a resume token.
    pub async fn joined_resuming(
        addr: SocketAddr,
        room: &str,
        name: &str,
        token: &str,
    ) -> (Client, String, Vec<PeerInfo>) {
        let mut client = Client::connect(addr).await;
        client
            .send_json(json!({"type": "join", "room": room, "name": name, "resume": token}))
            .await;
        match client.recv().await {
            ServerMessage::Welcome { id, peers, .. } => (client, id, peers),
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub async fn join(&mut self, room: &str, name: &str, password: Option<&str>) {
        let mut join = json!({"type": "join", "room": room, "name": name});
        if let Some(password) = password {
            join["password"] = json!(password);
        }
        self.send_json(join).await;
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).await.unwrap();
    }

    /// Sends a text frame, returning the error instead of failing the test.
    pub async fn send_text_unchecked(
        &mut self,
        text: String,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.ws.send(Message::text(text)).await
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn signal(&mut self, to: &str, data: Value) {
        self.send_json(json!({"type": "signal", "to": to, "data": data}))
            .await;
    }

    /// The next protocol frame, skipping WebSocket pings and pongs.
    pub async fn recv(&mut self) -> ServerMessage {
        tokio::time::timeout(WAIT, self.recv_untimed())
            .await
            .expect("timed out waiting for a frame")
    }

    /// [`Client::recv`] without the timeout, for callers with their own.
    pub async fn recv_untimed(&mut self) -> ServerMessage {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("bad server frame {text:?}: {e}"))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next frame, which must be an error; returns its code.
    pub async fn recv_error(&mut self) -> ErrorCode {
        match self.recv().await {
            ServerMessage::Error { code, message } => {
                assert!(!message.is_empty(), "error {code} without a message");
                code
            }
            other => panic!("expected an error frame, got {other:?}"),
        }
    }

    /// The next frame must be a signal from `from`; returns its data.
    pub async fn recv_signal_from(&mut self, from: &str) -> Value {
        match self.recv().await {
            ServerMessage::Signal { from: got, data } => {
                assert_eq!(got, from, "signal from the wrong peer");
                data
            }
            other => panic!("expected a signal, got {other:?}"),
        }
    }

    /// Pings at the protocol level and expects the pong next.
    pub async fn ping_pong(&mut self) {
        self.send_json(json!({"type": "ping"})).await;
        assert_eq!(self.recv().await, ServerMessage::Pong);
    }

    /// Reads until the connection ends; text frames before the end are ignored.
    /// After a close frame it keeps polling, which sends the client's close reply
    /// and completes the closing handshake like a browser would.
    pub async fn closed(&mut self) -> Closed {
        let ending = async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(frame))) => {
                        while let Some(Ok(_)) = self.ws.next().await {}
                        return Closed::Frame(frame.map(|f: CloseFrame| u16::from(f.code)));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return Closed::Abrupt,
                }
            }
        };
        tokio::time::timeout(WAIT, ending)
            .await
            .expect("connection did not close")
    }
}

/// Asserts that `a` and `b` (same room) can still signal each other both ways.
pub async fn assert_relay_works(a: &mut Client, a_id: &str, b: &mut Client, b_id: &str) {
    let there = json!({"kind": "check", "n": 1});
    a.signal(b_id, there.clone()).await;
    assert_eq!(b.recv_signal_from(a_id).await, there);
    let back = json!({"kind": "check", "n": 2});
    b.signal(a_id, back.clone()).await;
    assert_eq!(a.recv_signal_from(b_id).await, back);
}

/// A room with two good clients, `a` and `b`, who have seen each other join.
pub async fn pair(addr: SocketAddr, room: &str) -> (Client, String, Client, String) {
    let (mut a, a_id, _) = Client::joined(addr, room, "Ann").await;
    let (b, b_id, peers) = Client::joined(addr, room, "Bob").await;
    assert_eq!(peers.len(), 1);
    match a.recv().await {
        ServerMessage::PeerJoined { peer } => assert_eq!(peer.id, b_id),
        other => panic!("expected peer_joined, got {other:?}"),
    }
    (a, a_id, b, b_id)
}
