//! Plain HTTP on the signaling port: health check and the static page.

mod common;

use common::{assert_relay_works, config, pair, start};
use peerlink_server::Config;
use std::path::PathBuf;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "peerlink-server-test-{tag}-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

async fn get(url: String) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn healthz_is_ok() {
    let server = start(config()).await;
    let (status, body) = get(format!("http://{}/healthz", server.local_addr())).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn without_static_dir_other_paths_are_404() {
    let server = start(config()).await;
    let (status, _) = get(format!("http://{}/", server.local_addr())).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn static_files_with_index_fallback_beside_the_websocket() {
    let dir = TempDir::new("static");
    std::fs::write(
        dir.0.join("index.html"),
        "<!doctype html><title>peerlink</title>",
    )
    .unwrap();
    std::fs::create_dir_all(dir.0.join("pkg")).unwrap();
    std::fs::write(dir.0.join("pkg/app.js"), "export const app = 1;").unwrap();

    let server = start(Config {
        static_dir: Some(dir.0.clone()),
        ..config()
    })
    .await;
    let base = format!("http://{}", server.local_addr());

    let index = "<!doctype html><title>peerlink</title>";
    assert_eq!(get(format!("{base}/")).await, (200, index.to_owned()));
    assert_eq!(
        get(format!("{base}/index.html")).await,
        (200, index.to_owned())
    );
    assert_eq!(
        get(format!("{base}/pkg/app.js")).await,
        (200, "export const app = 1;".to_owned())
    );
    // Unknown paths (client-side routes) get the page.
    assert_eq!(
        get(format!("{base}/room/lobby")).await,
        (200, index.to_owned())
    );
    assert_eq!(get(format!("{base}/healthz")).await, (200, "ok".to_owned()));

    let response = reqwest::get(format!("{base}/pkg/app.js")).await.unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.contains("javascript"), "{content_type}");

    // The WebSocket still works on the same port.
    let (mut a, a_id, mut b, b_id) = pair(server.local_addr(), "static").await;
    assert_relay_works(&mut a, &a_id, &mut b, &b_id).await;
}
