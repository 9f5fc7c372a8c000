//! Picking a transfer up again after the receiver's page reloads.
//!
//! A reloaded page joins the room again under a new peer id, so the sender cannot
//! recognise it by id. Instead every offer carries a random `resume_token` (≥ 128
//! bits, made by the sender), known only to the two ends. The reloaded receiver
//! asks each peer with [`ControlMessage::Reattach`](super::ControlMessage::Reattach)
//! carrying an HMAC-SHA256 of the token bound to both peer ids of *that* link
//! ([`reattach_proof`]). The token itself never goes out again, and a proof is
//! useless on any other link: a peer that receives one cannot replay it to the
//! sender (the sender expects a proof naming the asking peer and itself).

use sha2::{Digest, Sha256};

use super::manager::TransferManager;
use super::wire::TransferId;

/// Shortest and longest token accepted, in hex digits (128 and 256 bits).
const TOKEN_HEX_MIN: usize = 32;
const TOKEN_HEX_MAX: usize = 64;

const HMAC_BLOCK: usize = 64;

/// Whether `token` is 32–64 lower-case hex digits (what [`resume_token_from_bytes`]
/// makes). Anything else in an offer is dropped.
pub fn is_valid_resume_token(token: &str) -> bool {
    (TOKEN_HEX_MIN..=TOKEN_HEX_MAX).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A token from random bytes (e.g. 16 from `crypto.getRandomValues`): lower-case hex.
pub fn resume_token_from_bytes(bytes: &[u8]) -> String {
    super::wire::to_hex(bytes)
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; HMAC_BLOCK];
    if key.len() > HMAC_BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The proof that the peer `requester` knows the token of transfer `id`, for the
/// link between `requester` and `holder` (the sender): lower-case hex of
/// HMAC-SHA256(token, "peerlink-reattach/v1" ‖ requester ‖ holder ‖ id), with each
/// field NUL-terminated.
pub fn reattach_proof(token: &str, requester: &str, holder: &str, id: TransferId) -> String {
    let mut message = Vec::new();
    for part in ["peerlink-reattach/v1", requester, holder, &id.to_string()] {
        message.extend_from_slice(part.as_bytes());
        message.push(0);
    }
    let mac = hmac_sha256(token.as_bytes(), &message);
    resume_token_from_bytes(&mac)
}

/// Whether `proof` is the right [`reattach_proof`] (compared in constant time).
pub fn verify_reattach_proof(
    token: &str,
    requester: &str,
    holder: &str,
    id: TransferId,
    proof: &str,
) -> bool {
    let expected = reattach_proof(token, requester, holder, id);
    expected.len() == proof.len()
        && expected
            .bytes()
            .zip(proof.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl TransferManager {
    /// Sending side: whether outgoing transfer `id` is unfinished, has a resume token,
    /// and `proof` is the reattach proof of the peer `requester` asking us (`holder`)
    /// for it. If so, the glue may move this manager to the link with `requester`.
    pub fn accepts_reattach(
        &self,
        id: TransferId,
        proof: &str,
        requester: &str,
        holder: &str,
    ) -> bool {
        self.outgoing.get(&id).is_some_and(|t| {
            !t.phase.is_terminal()
                && t.offer
                    .resume_token
                    .as_deref()
                    .is_some_and(|token| verify_reattach_proof(token, requester, holder, id, proof))
        })
    }

    /// Whether any outgoing transfer is unfinished (worth keeping after its receiver
    /// left, in case it reloads and reattaches).
    pub fn has_unfinished_outgoing(&self) -> bool {
        self.outgoing.values().any(|t| !t.phase.is_terminal())
    }

    /// Whether the manager holds no transfer at all (so another one can replace it).
    pub fn is_empty(&self) -> bool {
        self.outgoing.is_empty() && self.incoming.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::transfer::{ControlMessage, OutgoingFile, Output, TransferPhase};

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            resume_token_from_bytes(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_long_key_is_hashed_first() {
        // RFC 4231 test case 6: 131-byte key.
        let key = [0xaa; 131];
        let mac = hmac_sha256(
            &key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            resume_token_from_bytes(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn tokens_are_validated() {
        let token = resume_token_from_bytes(&[0xab; 16]);
        assert_eq!(token.len(), 32);
        assert!(is_valid_resume_token(&token));
        assert!(is_valid_resume_token(&"0".repeat(64)));
        assert!(!is_valid_resume_token(&"0".repeat(31)));
        assert!(!is_valid_resume_token(&"0".repeat(65)));
        assert!(!is_valid_resume_token(&"A".repeat(32)));
        assert!(!is_valid_resume_token(&format!("{}/", "0".repeat(31))));
        assert!(!is_valid_resume_token(""));
    }

    #[test]
    fn proof_is_bound_to_both_peers_and_the_transfer() {
        let token = resume_token_from_bytes(&[7; 16]);
        let proof = reattach_proof(&token, "r2", "s", 3);
        assert!(verify_reattach_proof(&token, "r2", "s", 3, &proof));
        // Replayed by another peer, to another holder, for another id, or with
        // another token: refused.
        assert!(!verify_reattach_proof(&token, "m", "s", 3, &proof));
        assert!(!verify_reattach_proof(&token, "r2", "x", 3, &proof));
        assert!(!verify_reattach_proof(&token, "r2", "s", 4, &proof));
        let other = resume_token_from_bytes(&[8; 16]);
        assert!(!verify_reattach_proof(&other, "r2", "s", 3, &proof));
        assert!(!verify_reattach_proof(&token, "r2", "s", 3, &proof[1..]));
        assert!(!verify_reattach_proof(&token, "r2", "s", 3, ""));
        // Field boundaries matter: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            reattach_proof(&token, "ab", "c", 1),
            reattach_proof(&token, "a", "bc", 1)
        );
    }

    fn offered(token: Option<String>) -> (TransferManager, TransferId) {
        let mut mgr = TransferManager::default();
        mgr.on_connection_restored();
        let id = mgr
            .offer_file(
                OutgoingFile {
                    name: "a.bin".into(),
                    relative_path: None,
                    size: 10,
                    mime_type: String::new(),
                    resume_token: token,
                },
                0.0,
            )
            .unwrap();
        (mgr, id)
    }

    #[test]
    fn offers_carry_valid_tokens_only() {
        let token = resume_token_from_bytes(&[1; 16]);
        let (mut mgr, id) = offered(Some(token.clone()));
        let sent = std::iter::from_fn(|| mgr.poll_output()).find_map(|o| match o {
            Output::SendControl(ControlMessage::Offer(offer)) => Some(offer),
            _ => None,
        });
        assert_eq!(sent.unwrap().resume_token.as_deref(), Some(token.as_str()));
        assert!(mgr.has_unfinished_outgoing());
        assert!(!mgr.is_empty());
        let (bad, bad_id) = offered(Some("not a token".into()));
        assert_eq!(
            bad.offer(TransferKey::outgoing(bad_id))
                .unwrap()
                .resume_token,
            None
        );
        // No token: nobody can reattach.
        assert!(!bad.accepts_reattach(bad_id, "", "r", "s"));
        let _ = id;
    }

    #[test]
    fn received_offers_keep_valid_tokens_only() {
        let mut mgr = TransferManager::default();
        mgr.on_connection_restored();
        let token = resume_token_from_bytes(&[2; 16]);
        for (id, t) in [(1, Some(token.clone())), (2, Some("../etc".to_owned()))] {
            mgr.handle_control(
                ControlMessage::Offer(crate::core::transfer::FileOffer {
                    id,
                    name: "x".into(),
                    relative_path: None,
                    size: 1,
                    mime_type: String::new(),
                    resume_token: t,
                }),
                0.0,
            );
        }
        let kept = |id| {
            mgr.offer(TransferKey::incoming(id))
                .unwrap()
                .resume_token
                .clone()
        };
        assert_eq!(kept(1), Some(token));
        assert_eq!(kept(2), None);
    }

    #[test]
    fn sender_accepts_reattach_only_with_the_right_proof_while_unfinished() {
        let token = resume_token_from_bytes(&[3; 16]);
        let (mut mgr, id) = offered(Some(token.clone()));
        let good = reattach_proof(&token, "new-peer", "me", id);
        assert!(mgr.accepts_reattach(id, &good, "new-peer", "me"));
        assert!(!mgr.accepts_reattach(id, &good, "intruder", "me"));
        assert!(!mgr.accepts_reattach(id + 1, &good, "new-peer", "me"));
        let forged = reattach_proof(&resume_token_from_bytes(&[4; 16]), "new-peer", "me", id);
        assert!(!mgr.accepts_reattach(id, &forged, "new-peer", "me"));
        // The manager ignores the message itself (the glue handles it).
        mgr.handle_control(
            ControlMessage::Reattach {
                id,
                proof: good.clone(),
            },
            0.0,
        );
        // Finished transfers cannot be reattached.
        mgr.cancel(TransferKey::outgoing(id)).unwrap();
        assert_eq!(
            mgr.phase(TransferKey::outgoing(id)),
            Some(TransferPhase::Cancelled)
        );
        assert!(!mgr.accepts_reattach(id, &good, "new-peer", "me"));
        assert!(!mgr.has_unfinished_outgoing());
    }

    #[test]
    fn reattach_message_round_trips() {
        let msg = ControlMessage::Reattach {
            id: 9,
            proof: "ab".into(),
        };
        let json = msg.to_json();
        assert_eq!(json, r#"{"type":"reattach","id":9,"proof":"ab"}"#);
        assert_eq!(ControlMessage::parse(&json).unwrap(), msg);
    }

    use crate::core::transfer::TransferKey;
}
