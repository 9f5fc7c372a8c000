//! Live connection statistics from `RTCPeerConnection.getStats()`.
//!
//! See <https://developer.mozilla.org/en-US/docs/Web/API/RTCStatsReport>.

use super::Error;
use js_sys::Reflect;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::RtcPeerConnection;

/// A summary of one connection's statistics at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerStats {
    /// Bytes sent and received on the selected ICE candidate pair.
    pub bytes_sent: f64,
    pub bytes_received: f64,
    /// Round-trip time of the selected candidate pair, in ms.
    pub rtt_ms: Option<f64>,
    /// `host`, `srflx`, `prflx` or `relay`: how the local side reaches the peer.
    pub local_candidate_type: Option<String>,
    /// Inbound audio: bytes received and the latest level (0..1).
    pub audio_bytes_received: f64,
    pub audio_level: Option<f64>,
    /// Inbound audio: `totalAudioEnergy` and `totalSamplesDuration` (seconds),
    /// summed over the audio streams; see [`PeerStats::audio_level_since`].
    pub audio_energy: f64,
    pub audio_duration: f64,
    /// Inbound video: bytes received, frames decoded, and the largest frame size.
    pub video_bytes_received: f64,
    pub frames_decoded: f64,
    pub frame_width: Option<f64>,
    pub frame_height: Option<f64>,
    /// Number of inbound RTP streams of each kind.
    pub inbound_audio_streams: u32,
    pub inbound_video_streams: u32,
    /// Packets lost, summed over inbound streams.
    pub packets_lost: f64,
}

impl PeerStats {
    /// The inbound audio level (0..1, root mean square) over the time between
    /// `earlier` and this sample, as the WebRTC statistics spec computes it:
    /// √(Δ totalAudioEnergy / Δ totalSamplesDuration). `audio_level` is one
    /// instant's level: sampled once a second it can miss speech between samples,
    /// or keep meeting the pauses of a sound that repeats as often. None when no
    /// audio arrived in between (or the counters went back, as after a renegotiation
    /// that replaced the stream).
    pub fn audio_level_since(&self, earlier: &PeerStats) -> Option<f64> {
        let duration = self.audio_duration - earlier.audio_duration;
        let energy = self.audio_energy - earlier.audio_energy;
        (duration > 0.0 && energy >= 0.0).then(|| (energy / duration).sqrt())
    }
}

fn num(obj: &JsValue, key: &str) -> Option<f64> {
    Reflect::get(obj, &JsValue::from_str(key)).ok()?.as_f64()
}

fn text(obj: &JsValue, key: &str) -> Option<String> {
    Reflect::get(obj, &JsValue::from_str(key)).ok()?.as_string()
}

/// Collects a [`PeerStats`] from `pc`.
pub async fn peer_stats(pc: &RtcPeerConnection) -> Result<PeerStats, Error> {
    let report = JsFuture::from(pc.get_stats()).await?;
    let report: js_sys::Map = report.unchecked_into();
    let mut entries = Vec::new();
    report.for_each(&mut |value, _key| entries.push(value));

    let mut stats = PeerStats::default();
    let mut selected_pair: Option<JsValue> = None;
    for entry in &entries {
        match text(entry, "type").as_deref() {
            Some("inbound-rtp") => {
                let bytes = num(entry, "bytesReceived").unwrap_or(0.0);
                stats.packets_lost += num(entry, "packetsLost").unwrap_or(0.0);
                match text(entry, "kind").as_deref() {
                    Some("audio") => {
                        stats.inbound_audio_streams += 1;
                        stats.audio_bytes_received += bytes;
                        if let Some(level) = num(entry, "audioLevel") {
                            stats.audio_level = Some(stats.audio_level.unwrap_or(0.0).max(level));
                        }
                        stats.audio_energy += num(entry, "totalAudioEnergy").unwrap_or(0.0);
                        stats.audio_duration += num(entry, "totalSamplesDuration").unwrap_or(0.0);
                    }
                    Some("video") => {
                        stats.inbound_video_streams += 1;
                        stats.video_bytes_received += bytes;
                        stats.frames_decoded += num(entry, "framesDecoded").unwrap_or(0.0);
                        if let Some(w) = num(entry, "frameWidth") {
                            stats.frame_width = Some(stats.frame_width.unwrap_or(0.0).max(w));
                        }
                        if let Some(h) = num(entry, "frameHeight") {
                            stats.frame_height = Some(stats.frame_height.unwrap_or(0.0).max(h));
                        }
                    }
                    _ => {}
                }
            }
            Some("transport") => {
                if let Some(id) = text(entry, "selectedCandidatePairId") {
                    selected_pair = report.get(&JsValue::from_str(&id)).into();
                }
            }
            Some("candidate-pair") if selected_pair.is_none() => {
                let nominated = Reflect::get(entry, &JsValue::from_str("nominated"))
                    .ok()
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                if nominated && text(entry, "state").as_deref() == Some("succeeded") {
                    selected_pair = Some(entry.clone());
                }
            }
            _ => {}
        }
    }
    if let Some(pair) = selected_pair.filter(|p| !p.is_undefined()) {
        stats.bytes_sent = num(&pair, "bytesSent").unwrap_or(0.0);
        stats.bytes_received = num(&pair, "bytesReceived").unwrap_or(0.0);
        stats.rtt_ms = num(&pair, "currentRoundTripTime").map(|s| s * 1000.0);
        if let Some(local_id) = text(&pair, "localCandidateId") {
            let local = report.get(&JsValue::from_str(&local_id));
            stats.local_candidate_type = text(&local, "candidateType");
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn sample(energy: f64, duration: f64) -> PeerStats {
        PeerStats {
            audio_energy: energy,
            audio_duration: duration,
            ..PeerStats::default()
        }
    }

    #[test]
    fn audio_level_over_an_interval() {
        // A second at level 0.1 (energy = level² × seconds) after 2 s of silence.
        let earlier = sample(0.0, 2.0);
        let later = sample(0.01, 3.0);
        let level = later.audio_level_since(&earlier).unwrap();
        assert!((level - 0.1).abs() < 1e-9, "{level}");
        // Half of the second at 0.1, half silent: √(0.005) ≈ 0.071.
        let half = sample(0.005, 3.0).audio_level_since(&earlier).unwrap();
        assert!((half - 0.005f64.sqrt()).abs() < 1e-9, "{half}");
        // Nothing arrived, or the counters started again.
        assert_eq!(earlier.audio_level_since(&earlier), None);
        assert_eq!(sample(0.0, 0.5).audio_level_since(&later), None);
    }
}
