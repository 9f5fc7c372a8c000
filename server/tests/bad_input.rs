//! Every class of bad input gets its error code, and neither the offending
//! connection (where it survives) nor anyone else in the room is affected.

mod common;

use common::{assert_relay_works, config, pair, start, Client, Closed};
use futures_util::{SinkExt, StreamExt};
use peerlink_protocol::{ErrorCode, ServerMessage, MAX_TEXT_FRAME_BYTES};
use peerlink_server::{Config, RateLimit, HARD_FRAME_CAP_BYTES};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Sends each frame from the bad client `a` (a member of the room), expects
/// `code` for each, then checks that `a` and `b` still relay and `a` still pings.
async fn assert_refused(frames: &[Message], code: ErrorCode) {
    let server = start(config()).await;
    let (mut a, a_id, mut b, b_id) = pair(server.local_addr(), "bad").await;
    for frame in frames {
        a.ws.send(frame.clone()).await.unwrap();
        assert_eq!(a.recv_error().await, code, "for frame {frame:?}");
    }
    a.ping_pong().await;
    assert_relay_works(&mut a, &a_id, &mut b, &b_id).await;
    // b received nothing from the bad frames: its next frame is a fresh relay.
    assert_relay_works(&mut b, &b_id, &mut a, &a_id).await;
}

#[tokio::test]
async fn malformed_json_is_bad_json() {
    assert_refused(
        &[
            Message::text("{nope"),
            Message::text(""),
            Message::text("[1,2]"),
            Message::text("42"),
            Message::text(r#"{"type":5}"#),
            Message::text(r#"{"no_type":"ping"}"#),
        ],
        ErrorCode::BadJson,
    )
    .await;
}

#[tokio::test]
async fn unknown_type_is_unknown_type() {
    assert_refused(
        &[
            Message::text(r#"{"type":"dance"}"#),
            Message::text(r#"{"type":"welcome","id":"x"}"#),
            Message::text(r#"{"type":"PING"}"#),
        ],
        ErrorCode::UnknownType,
    )
    .await;
}

#[tokio::test]
async fn known_type_with_bad_fields_is_bad_message() {
    assert_refused(
        &[
            Message::text(r#"{"type":"join"}"#),
            Message::text(r#"{"type":"join","room":1,"name":"x"}"#),
            Message::text(r#"{"type":"join","room":"r","name":"x","password":7}"#),
            Message::text(r#"{"type":"signal","to":5,"data":{}}"#),
            Message::text(r#"{"type":"signal","data":{}}"#),
            Message::text(r#"{"type":"signal","to":"x"}"#),
        ],
        ErrorCode::BadMessage,
    )
    .await;
}

#[tokio::test]
async fn binary_frames_are_refused() {
    assert_refused(
        &[
            Message::binary(b"{\"type\":\"ping\"}".to_vec()),
            Message::binary(vec![0u8; 1000]),
        ],
        ErrorCode::BinaryFrame,
    )
    .await;
}

/// A signal frame from `to`'s point of view of exactly `len` bytes.
fn signal_of_len(to: &str, len: usize) -> String {
    let empty = json!({"type": "signal", "to": to, "data": ""}).to_string();
    let padding = "x".repeat(len - empty.len());
    let frame = json!({"type": "signal", "to": to, "data": padding}).to_string();
    assert_eq!(frame.len(), len);
    frame
}

#[tokio::test]
async fn frames_over_the_limit_are_too_large_and_not_relayed() {
    let server = start(config()).await;
    let (mut a, a_id, mut b, b_id) = pair(server.local_addr(), "big").await;

    a.send_text(signal_of_len(&b_id, MAX_TEXT_FRAME_BYTES + 1))
        .await;
    assert_eq!(a.recv_error().await, ErrorCode::TooLarge);
    a.send_text(signal_of_len(&b_id, HARD_FRAME_CAP_BYTES - 1024))
        .await;
    assert_eq!(a.recv_error().await, ErrorCode::TooLarge);

    // Exactly at the limit is fine, and is b's next frame.
    let at_limit = signal_of_len(&b_id, MAX_TEXT_FRAME_BYTES);
    a.send_text(at_limit.clone()).await;
    let data = b.recv_signal_from(&a_id).await;
    let sent: serde_json::Value = serde_json::from_str(&at_limit).unwrap();
    assert_eq!(data, sent["data"]);

    a.ping_pong().await;
    assert_relay_works(&mut a, &a_id, &mut b, &b_id).await;
}

#[tokio::test]
async fn frames_over_the_hard_cap_close_only_that_connection() {
    let server = start(config()).await;
    let addr = server.local_addr();
    let (mut a, a_id, mut b, b_id) = pair(addr, "huge").await;
    let (mut huge, huge_id, _) = Client::joined(addr, "huge", "Hugo").await;
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { .. }));
    assert!(matches!(b.recv().await, ServerMessage::PeerJoined { .. }));

    // The client may see the send fail if the server closes mid-frame.
    let _ = huge
        .send_text_unchecked(signal_of_len(&a_id, HARD_FRAME_CAP_BYTES + 10 * 1024))
        .await;
    match huge.closed().await {
        Closed::Frame(code) => assert_eq!(code, Some(1009)),
        // Closing while the client is still writing can reset the socket.
        Closed::Abrupt => {}
    }
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerLeft {
            id: huge_id.clone()
        }
    );
    assert_eq!(b.recv().await, ServerMessage::PeerLeft { id: huge_id });
    assert_relay_works(&mut a, &a_id, &mut b, &b_id).await;
}

#[tokio::test]
async fn floods_are_rate_limited_with_one_notice() {
    let server = start(Config {
        rate_limit: RateLimit {
            per_second: 2.0,
            burst: 10,
        },
        // One notice for the whole test: any second error frame is a failure.
        rate_notice_interval: Duration::from_secs(3600),
        ..Config::default()
    })
    .await;
    let addr = server.local_addr();
    let (mut a, a_id, mut b, b_id) = pair(addr, "flood").await;
    let (mut flooder, _, _) = Client::joined(addr, "flood", "Flo").await;
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { .. }));
    assert!(matches!(b.recv().await, ServerMessage::PeerJoined { .. }));

    // The join used one token. Send far more than the rest of the burst.
    let flood = 60;
    for _ in 0..flood {
        flooder
            .ws
            .feed(Message::text(r#"{"type":"ping"}"#))
            .await
            .unwrap();
    }
    flooder.ws.flush().await.unwrap();

    let mut pongs = 0;
    loop {
        match flooder.recv().await {
            ServerMessage::Pong => pongs += 1,
            ServerMessage::Error { code, .. } => {
                assert_eq!(code, ErrorCode::RateLimited);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The burst was honoured (a token or so may refill while the flood arrives).
    assert!(
        (9..flood / 2).contains(&pongs),
        "{pongs} pongs before the notice"
    );

    // Others in the room are unaffected meanwhile.
    assert_relay_works(&mut a, &a_id, &mut b, &b_id).await;

    // Once tokens refill the flooder is served again, and it gets no further
    // error frames for the dropped ones.
    let mut answered = false;
    for _ in 0..20 {
        flooder.send_json(json!({"type": "ping"})).await;
        match tokio::time::timeout(Duration::from_millis(700), next_text(&mut flooder)).await {
            Ok(frame) => {
                assert_eq!(frame, ServerMessage::Pong, "only pongs after the notice");
                answered = true;
                break;
            }
            Err(_) => continue,
        }
    }
    assert!(answered, "flooder was never served again");
}

async fn next_text(client: &mut Client) -> ServerMessage {
    loop {
        match client.ws.next().await {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(_)) => {}
            other => panic!("connection ended: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_without_stalling_the_room() {
    let server = start(Config {
        outbound_queue: 8,
        ..config()
    })
    .await;
    let addr = server.local_addr();
    let (a, a_id, mut b, b_id) = pair(addr, "slow").await;
    let mut slow = Client::connect_with_small_buffer(addr).await;
    slow.join("slow", "Sloth", None).await;
    let slow_id = match slow.recv().await {
        ServerMessage::Welcome { id, .. } => id,
        other => panic!("expected welcome, got {other:?}"),
    };
    assert!(matches!(b.recv().await, ServerMessage::PeerJoined { .. }));
    // From here on `slow` is never read again.

    // a sends big signals to slow until slow is dropped; a keeps reading its own
    // frames (peer_joined, then unknown_peer errors once slow is gone).
    let (mut a_sink, mut a_stream) = a.ws.split();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let payload = "s".repeat(60 * 1024);
    let target = slow_id.clone();
    let slow_left = ServerMessage::PeerLeft {
        id: slow_id.clone(),
    };
    let sender = tokio::spawn(async move {
        let frame = json!({"type": "signal", "to": target, "data": payload}).to_string();
        let mut sent = 0u32;
        while !*stop_rx.borrow_and_update() && sent < 100_000 {
            a_sink.send(Message::text(frame.clone())).await.unwrap();
            sent += 1;
        }
        a_sink
    });
    let drain = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(Ok(message)) = a_stream.next().await {
            if let Message::Text(text) = message {
                let frame: ServerMessage = serde_json::from_str(&text).unwrap();
                let done = frame
                    == ServerMessage::PeerLeft {
                        id: slow_id.clone(),
                    };
                frames.push(frame);
                if done {
                    return (a_stream, frames);
                }
            }
        }
        panic!("a's connection ended");
    });

    // b, an idle bystander, sees slow leave.
    let left = tokio::time::timeout(Duration::from_secs(60), b.recv_untimed()).await;
    assert_eq!(left.expect("slow client was never dropped"), slow_left);
    stop_tx.send(true).unwrap();
    let a_sink = sender.await.unwrap();
    let (a_stream, frames) = tokio::time::timeout(Duration::from_secs(60), drain)
        .await
        .unwrap()
        .unwrap();
    // a was never refused for anything but signaling the departed peer.
    for frame in &frames[..frames.len() - 1] {
        assert!(
            matches!(
                frame,
                ServerMessage::PeerJoined { .. }
                    | ServerMessage::Error {
                        code: ErrorCode::UnknownPeer,
                        ..
                    }
            ),
            "unexpected {frame:?}"
        );
    }
    let mut a = Client {
        ws: a_sink.reunite(a_stream).unwrap(),
    };
    // Skip any unknown_peer errors still in flight, then relay normally.
    a.signal(&b_id, json!({"after": "slow"})).await;
    assert_eq!(b.recv_signal_from(&a_id).await, json!({"after": "slow"}));
    b.signal(&a_id, json!({"back": true})).await;
    loop {
        match a.recv().await {
            ServerMessage::Error {
                code: ErrorCode::UnknownPeer,
                ..
            } => {}
            ServerMessage::Signal { from, data } => {
                assert_eq!(from, b_id);
                assert_eq!(data, json!({"back": true}));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn invalid_utf8_text_closes_only_that_connection() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;

    let server = start(config()).await;
    let addr = server.local_addr();
    let (mut a, a_id, mut b, b_id) = pair(addr, "utf8").await;
    let (mut broken, broken_id, _) = Client::joined(addr, "utf8", "Bad").await;
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { .. }));
    assert!(matches!(b.recv().await, ServerMessage::PeerJoined { .. }));

    // The WebSocket protocol requires failing the connection (RFC 6455 §8.1), so
    // there is no error frame for this one: the connection closes with 1007.
    let frame = Frame::message(vec![b'"', 0xff, 0xfe, b'"'], OpCode::Data(Data::Text), true);
    broken.ws.send(Message::Frame(frame)).await.unwrap();
    match broken.closed().await {
        Closed::Frame(code) => assert_eq!(code, Some(1007)),
        Closed::Abrupt => panic!("expected a close frame"),
    }
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerLeft {
            id: broken_id.clone()
        }
    );
    assert_eq!(b.recv().await, ServerMessage::PeerLeft { id: broken_id });
    assert_relay_works(&mut a, &a_id, &mut b, &b_id).await;
}
