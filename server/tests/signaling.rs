//! Rooms and relaying, driven by real WebSocket clients against an in-process
//! server.

mod common;

use common::{assert_relay_works, config, pair, start, Client, Closed};
use peerlink_protocol::{
    ErrorCode, IceServer, PeerInfo, ServerMessage, MAX_NAME_CHARS, MAX_PASSWORD_CHARS,
    MAX_ROOM_CHARS,
};
use peerlink_server::Config;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn join_gets_welcome_and_others_get_peer_joined() {
    let ice = IceServer {
        urls: vec!["stun:stun.example.org:3478".into()],
        username: None,
        credential: None,
    };
    let server = start(Config {
        ice_servers: vec![ice.clone()],
        max_peers: 5,
        ..config()
    })
    .await;
    let addr = server.local_addr();

    let mut ann = Client::connect(addr).await;
    ann.join("lobby", "  Ann  ", None).await;
    let ann_id = match ann.recv().await {
        ServerMessage::Welcome {
            id,
            peers,
            ice_servers,
            max_peers,
        } => {
            assert!(peers.is_empty());
            assert_eq!(ice_servers, vec![ice]);
            assert_eq!(max_peers, 5);
            id
        }
        other => panic!("expected welcome, got {other:?}"),
    };

    let (_bob, bob_id, peers) = Client::joined(addr, "lobby", "Bob").await;
    assert_ne!(bob_id, ann_id);
    // Names are trimmed.
    assert_eq!(
        peers,
        vec![PeerInfo {
            id: ann_id.clone(),
            name: "Ann".into()
        }]
    );
    assert_eq!(
        ann.recv().await,
        ServerMessage::PeerJoined {
            peer: PeerInfo {
                id: bob_id.clone(),
                name: "Bob".into()
            }
        }
    );

    // A third joiner sees both, oldest first.
    let (_cy, cy_id, peers) = Client::joined(addr, "lobby", "Cy").await;
    let ids: Vec<_> = peers.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [ann_id.as_str(), bob_id.as_str()]);
    assert!(matches!(ann.recv().await, ServerMessage::PeerJoined { peer } if peer.id == cy_id));
}

#[tokio::test]
async fn signals_are_relayed_both_ways_verbatim() {
    let server = start(config()).await;
    let (mut a, a_id, mut b, b_id) = pair(server.local_addr(), "relay").await;

    let offer = json!({
        "kind": "description",
        "sdp_type": "offer",
        "sdp": "v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\n",
        "extra": {"nested": [1, 2.5, -3, null, true, "é\u{1F600}"], "empty": {}},
    });
    a.signal(&b_id, offer.clone()).await;
    assert_eq!(b.recv_signal_from(&a_id).await, offer);

    let answer = json!({"kind": "candidate", "candidate": "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host", "sdp_mid": "0", "sdp_m_line_index": 0});
    b.signal(&a_id, answer.clone()).await;
    assert_eq!(a.recv_signal_from(&b_id).await, answer);

    // Any JSON value is carried, not just objects.
    a.signal(&b_id, json!("just a string")).await;
    assert_eq!(b.recv_signal_from(&a_id).await, json!("just a string"));
}

#[tokio::test]
async fn peer_left_on_close_and_on_dropped_connection() {
    let server = start(config()).await;
    let addr = server.local_addr();
    let (mut a, _, mut b, b_id) = pair(addr, "leaving").await;
    let (c, c_id, _) = Client::joined(addr, "leaving", "Cy").await;
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { .. }));
    assert!(matches!(b.recv().await, ServerMessage::PeerJoined { .. }));

    // A clean close.
    let mut c = c;
    c.ws.close(None).await.unwrap();
    assert_eq!(a.recv().await, ServerMessage::PeerLeft { id: c_id.clone() });
    assert_eq!(b.recv().await, ServerMessage::PeerLeft { id: c_id });

    // A dropped TCP connection without a close frame.
    drop(b);
    assert_eq!(a.recv().await, ServerMessage::PeerLeft { id: b_id.clone() });

    // Signals to a departed peer are refused.
    a.signal(&b_id, json!({})).await;
    assert_eq!(a.recv_error().await, ErrorCode::UnknownPeer);
    a.ping_pong().await;
}

#[tokio::test]
async fn ping_is_answered_before_and_after_join() {
    let server = start(config()).await;
    let mut client = Client::connect(server.local_addr()).await;
    client.ping_pong().await;
    client.join("r", "Ann", None).await;
    assert!(matches!(client.recv().await, ServerMessage::Welcome { .. }));
    client.ping_pong().await;
}

#[tokio::test]
async fn room_full_refuses_and_leaves_everyone_working() {
    let server = start(Config {
        max_peers: 2,
        ..config()
    })
    .await;
    let addr = server.local_addr();
    let (mut a, a_id, mut b, b_id) = pair(addr, "small").await;

    let mut late = Client::connect(addr).await;
    late.join("small", "Late", None).await;
    assert_eq!(late.recv_error().await, ErrorCode::RoomFull);
    // The refused connection is still usable: it can join another room.
    late.join("other", "Late", None).await;
    assert!(matches!(late.recv().await, ServerMessage::Welcome { .. }));

    assert_relay_works(&mut a, &a_id, &mut b, &b_id).await;

    // When someone leaves there is room again.
    drop(b);
    assert_eq!(a.recv().await, ServerMessage::PeerLeft { id: b_id });
    let (_c, _, peers) = Client::joined(addr, "small", "Cy").await;
    assert_eq!(peers.len(), 1);
}

#[tokio::test]
async fn wrong_password_is_refused() {
    let server = start(config()).await;
    let addr = server.local_addr();
    let (mut a, a_id, _) = Client::joined_with_password(addr, "vault", "Ann", Some("s3cret")).await;

    let mut b = Client::connect(addr).await;
    b.join("vault", "Bob", None).await;
    assert_eq!(b.recv_error().await, ErrorCode::WrongPassword);
    b.join("vault", "Bob", Some("S3CRET")).await;
    assert_eq!(b.recv_error().await, ErrorCode::WrongPassword);
    b.join("vault", "Bob", Some("s3cret")).await;
    let b_id = match b.recv().await {
        ServerMessage::Welcome { id, .. } => id,
        other => panic!("expected welcome, got {other:?}"),
    };
    // Ann heard only about the successful join.
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { peer } if peer.id == b_id));
    assert_relay_works(&mut a, &a_id, &mut b, &b_id).await;
}

#[tokio::test]
async fn bad_names_rooms_and_passwords_are_refused() {
    let server = start(config()).await;
    let addr = server.local_addr();
    let (mut a, a_id, mut b, b_id) = pair(addr, "names").await;

    let mut client = Client::connect(addr).await;
    let long_name = "n".repeat(MAX_NAME_CHARS + 1);
    for name in ["", "   ", long_name.as_str(), "bell\u{7}", "new\nline"] {
        client.join("names", name, None).await;
        assert_eq!(
            client.recv_error().await,
            ErrorCode::BadName,
            "name {name:?}"
        );
    }
    let long_room = "r".repeat(MAX_ROOM_CHARS + 1);
    for room in ["", " ", long_room.as_str(), "tab\there", "nul\u{0}"] {
        client.join(room, "Cy", None).await;
        assert_eq!(
            client.recv_error().await,
            ErrorCode::BadRoom,
            "room {room:?}"
        );
    }
    let long_password = "p".repeat(MAX_PASSWORD_CHARS + 1);
    client.join("fresh", "Cy", Some(&long_password)).await;
    assert_eq!(client.recv_error().await, ErrorCode::BadMessage);

    // None of those joined anything, and limits are inclusive.
    let longest = "é".repeat(MAX_NAME_CHARS);
    client.join("names", &longest, None).await;
    match client.recv().await {
        ServerMessage::Welcome { peers, .. } => assert_eq!(peers.len(), 2),
        other => panic!("expected welcome, got {other:?}"),
    }
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { peer } if peer.name == longest));
    assert!(matches!(b.recv().await, ServerMessage::PeerJoined { .. }));
    assert_relay_works(&mut a, &a_id, &mut b, &b_id).await;
}

#[tokio::test]
async fn signal_to_another_room_or_unknown_id_is_refused() {
    let server = start(config()).await;
    let addr = server.local_addr();
    let (mut a, a_id, mut b, b_id) = pair(addr, "one").await;
    let (mut x, x_id, mut y, y_id) = pair(addr, "two").await;

    a.signal(&x_id, json!({"secret": true})).await;
    assert_eq!(a.recv_error().await, ErrorCode::UnknownPeer);
    a.signal("no-such-peer", json!({})).await;
    assert_eq!(a.recv_error().await, ErrorCode::UnknownPeer);
    a.signal(&a_id, json!({})).await;
    assert_eq!(a.recv_error().await, ErrorCode::UnknownPeer);

    // x never saw a's signal: the next thing it gets is y's.
    assert_relay_works(&mut y, &y_id, &mut x, &x_id).await;
    assert_relay_works(&mut a, &a_id, &mut b, &b_id).await;
}

#[tokio::test]
async fn signal_before_join_is_refused() {
    let server = start(config()).await;
    let addr = server.local_addr();
    let (mut a, a_id, _) = Client::joined(addr, "early", "Ann").await;

    let mut early = Client::connect(addr).await;
    early.signal(&a_id, json!({"too": "soon"})).await;
    assert_eq!(early.recv_error().await, ErrorCode::NotJoined);

    early.join("early", "Bob", None).await;
    let early_id = match early.recv().await {
        ServerMessage::Welcome { id, .. } => id,
        other => panic!("expected welcome, got {other:?}"),
    };
    // a's first frame is the join, not the refused signal.
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { peer } if peer.id == early_id));
    assert_relay_works(&mut a, &a_id, &mut early, &early_id).await;
}

#[tokio::test]
async fn second_join_is_refused_and_membership_is_kept() {
    let server = start(config()).await;
    let addr = server.local_addr();
    let (mut a, a_id, mut b, b_id) = pair(addr, "first").await;

    a.join("second", "Ann", None).await;
    assert_eq!(a.recv_error().await, ErrorCode::AlreadyJoined);
    a.join("first", "Ann again", None).await;
    assert_eq!(a.recv_error().await, ErrorCode::AlreadyJoined);

    assert_relay_works(&mut a, &a_id, &mut b, &b_id).await;
    // "second" was never created with a in it.
    let (_c, _, peers) = Client::joined(addr, "second", "Cy").await;
    assert!(peers.is_empty());
}

#[tokio::test]
async fn server_pings_and_drops_silent_connections() {
    let server = start(Config {
        ping_interval: Duration::from_millis(50),
        idle_timeout: Duration::from_millis(400),
        ..config()
    })
    .await;
    let addr = server.local_addr();
    let (mut silent, silent_id, _) = Client::joined(addr, "quiet", "Sid").await;
    let (mut live, _, _) = Client::joined(addr, "quiet", "Liv").await;

    // `live` keeps reading, so its client answers the server's pings and it
    // survives; `silent` is never polled, sends no pongs, and is dropped.
    let seen_ping = async {
        loop {
            use futures_util::StreamExt;
            match live.ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Ping(_))) => return,
                Some(Ok(_)) => {}
                other => panic!("live connection ended: {other:?}"),
            }
        }
    };
    tokio::time::timeout(common::WAIT, seen_ping).await.unwrap();
    assert_eq!(live.recv().await, ServerMessage::PeerLeft { id: silent_id });
    live.ping_pong().await;

    // The silent client finds a close frame (1001, going away) after its backlog.
    match silent.closed().await {
        Closed::Frame(code) => assert_eq!(code, Some(1001)),
        Closed::Abrupt => panic!("expected a close frame"),
    }
}

#[tokio::test]
async fn shutdown_closes_websockets_and_does_not_hang_on_silent_clients() {
    let server = start(Config {
        close_grace: Duration::from_millis(300),
        ..config()
    })
    .await;
    let addr = server.local_addr();
    let (mut a, _, _) = Client::joined(addr, "bye", "Ann").await;
    // Never polled again, so it never answers the server's close frame.
    let (_unresponsive, _, _) = Client::joined(addr, "bye", "Bob").await;

    let shutdown = tokio::spawn(server.shutdown());
    match a.closed().await {
        Closed::Frame(code) => assert_eq!(code, Some(1001)),
        Closed::Abrupt => panic!("expected a close frame"),
    }
    tokio::time::timeout(common::WAIT, shutdown)
        .await
        .expect("shutdown hung")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

const TOKEN: &str = "resume-token-0123456789abcdef";

#[tokio::test]
async fn a_resume_token_gives_the_same_id_after_the_socket_closes() {
    let server = start(config()).await;
    let addr = server.local_addr();
    let (mut ann, ann_id, _) = Client::joined_resuming(addr, "back", "Ann", TOKEN).await;
    let (mut bob, bob_id, _) = Client::joined(addr, "back", "Bob").await;
    assert!(matches!(ann.recv().await, ServerMessage::PeerJoined { peer } if peer.id == bob_id));

    drop(ann);
    assert_eq!(
        bob.recv().await,
        ServerMessage::PeerLeft { id: ann_id.clone() }
    );
    let (mut ann, again, peers) = Client::joined_resuming(addr, "back", "Ann", TOKEN).await;
    assert_eq!(again, ann_id, "the token keeps the id");
    assert_eq!(peers.len(), 1);
    assert!(matches!(bob.recv().await, ServerMessage::PeerJoined { peer } if peer.id == ann_id));
    assert_relay_works(&mut ann, &ann_id, &mut bob, &bob_id).await;
}

#[tokio::test]
async fn a_newer_socket_with_the_token_replaces_the_older_one() {
    let server = start(config()).await;
    let addr = server.local_addr();
    let (mut old, ann_id, _) = Client::joined_resuming(addr, "swap", "Ann", TOKEN).await;
    let (mut bob, bob_id, _) = Client::joined(addr, "swap", "Bob").await;
    assert!(matches!(old.recv().await, ServerMessage::PeerJoined { peer } if peer.id == bob_id));

    let (mut new, new_id, peers) = Client::joined_resuming(addr, "swap", "Ann", TOKEN).await;
    assert_eq!(new_id, ann_id);
    assert_eq!(
        peers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        [bob_id.as_str()]
    );
    assert_eq!(old.recv_error().await, ErrorCode::Replaced);
    match old.closed().await {
        Closed::Frame(code) => assert_eq!(code, Some(4000)),
        Closed::Abrupt => panic!("expected a close frame"),
    }
    // Bob saw no leave and no join: his next frame is Ann's signal.
    assert_relay_works(&mut new, &ann_id, &mut bob, &bob_id).await;
}

#[tokio::test]
async fn the_id_survives_a_server_restart() {
    let server = start(config()).await;
    let (_ann, ann_id, _) = Client::joined_resuming(server.local_addr(), "r", "Ann", TOKEN).await;
    tokio::time::timeout(common::WAIT, server.shutdown())
        .await
        .expect("shutdown hung")
        .unwrap();
    let server = start(config()).await;
    let (_ann, again, _) = Client::joined_resuming(server.local_addr(), "r", "Ann", TOKEN).await;
    assert_eq!(again, ann_id);
}

#[tokio::test]
async fn a_malformed_resume_token_is_refused() {
    let server = start(config()).await;
    let mut client = Client::connect(server.local_addr()).await;
    client
        .send_json(json!({"type": "join", "room": "r", "name": "Eve", "resume": "not a token!"}))
        .await;
    assert_eq!(client.recv_error().await, ErrorCode::BadMessage);
    // Still usable: a proper join works on the same connection.
    client.join("r", "Eve", None).await;
    assert!(matches!(client.recv().await, ServerMessage::Welcome { .. }));
}
