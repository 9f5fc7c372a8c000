//! The "perfect negotiation" pattern as a state machine.
//!
//! Both ends of a connection may start an offer at any time (adding a track, a screen
//! share, an ICE restart). When offers collide ("glare"), the *polite* peer rolls back
//! its own offer and accepts the remote one; the *impolite* peer ignores the remote
//! offer and keeps its own. Roles come from the peer ids so that exactly one side of
//! each pair is polite without any extra message.
//!
//! See <https://developer.mozilla.org/en-US/docs/Web/API/WebRTC_API/Perfect_negotiation>.
//! The browser glue owns the RTCPeerConnection and asks this machine what to do.

/// Whether the local peer plays the polite role towards `remote_id`.
///
/// The peer with the lexicographically smaller id is polite; ids are unique within a
/// server, so for any pair exactly one side is polite.
pub fn is_polite(local_id: &str, remote_id: &str) -> bool {
    local_id < remote_id
}

/// The kind of a remote session description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescriptionKind {
    Offer,
    Answer,
}

impl DescriptionKind {
    /// Parses the SDP type name used by WebRTC (`"offer"`, `"answer"`).
    pub fn from_sdp_type(sdp_type: &str) -> Option<Self> {
        match sdp_type {
            "offer" => Some(Self::Offer),
            "answer" => Some(Self::Answer),
            _ => None,
        }
    }
}

/// What to do with a remote description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteDescriptionAction {
    /// Glare on the impolite side: drop the remote offer (and the candidates that
    /// follow it) and keep our own offer. With `resend_offer`, our offer went out
    /// before this one came in: send it again. The remote offered instead of
    /// answering, so it may never have had ours (lost with a signaling connection
    /// that died, say); a polite remote that gets it rolls back and answers, and
    /// one that had it already answers a second time, which `Stale` drops.
    Ignore { resend_offer: bool },
    /// An answer while no offer of ours is out (signaling is stable): a late
    /// copy of one already applied. Drop it.
    Stale,
    /// Apply it with `setRemoteDescription` (for the polite side this implicitly rolls
    /// back our own offer); if `answer_needed`, then call `setLocalDescription()` and
    /// send the result.
    Apply { answer_needed: bool },
}

/// Per-connection negotiation state.
#[derive(Debug, Clone)]
pub struct PerfectNegotiation {
    polite: bool,
    making_offer: bool,
    ignore_offer: bool,
    remote_answer_pending: bool,
}

impl PerfectNegotiation {
    /// A fresh state for a connection where the local side is `polite` or not.
    pub fn new(polite: bool) -> Self {
        Self {
            polite,
            making_offer: false,
            ignore_offer: false,
            remote_answer_pending: false,
        }
    }

    /// Whether the local side is polite.
    pub fn polite(&self) -> bool {
        self.polite
    }

    /// Whether an offer of ours is being made (between `negotiationneeded` and the
    /// end of `setLocalDescription`).
    pub fn making_offer(&self) -> bool {
        self.making_offer
    }

    /// Call when `negotiationneeded` fires, before `setLocalDescription()`.
    pub fn offer_started(&mut self) {
        self.making_offer = true;
    }

    /// Call when our `setLocalDescription()` has settled (either way).
    pub fn offer_finished(&mut self) {
        self.making_offer = false;
    }

    /// Decides what to do with a remote description. `signaling_stable` is whether the
    /// connection's `signalingState` is `"stable"` right now.
    pub fn remote_description(
        &mut self,
        kind: DescriptionKind,
        signaling_stable: bool,
    ) -> RemoteDescriptionAction {
        if kind == DescriptionKind::Answer && signaling_stable && !self.remote_answer_pending {
            return RemoteDescriptionAction::Stale;
        }
        let ready_for_offer =
            !self.making_offer && (signaling_stable || self.remote_answer_pending);
        let collision = kind == DescriptionKind::Offer && !ready_for_offer;
        self.ignore_offer = !self.polite && collision;
        if self.ignore_offer {
            return RemoteDescriptionAction::Ignore {
                resend_offer: !self.making_offer && !signaling_stable,
            };
        }
        self.remote_answer_pending = kind == DescriptionKind::Answer;
        RemoteDescriptionAction::Apply {
            answer_needed: kind == DescriptionKind::Offer,
        }
    }

    /// Call when `setRemoteDescription` has settled.
    pub fn remote_description_applied(&mut self) {
        self.remote_answer_pending = false;
    }

    /// Whether a failure to add a remote candidate is expected (it belonged to an
    /// offer we ignored) and must not be reported.
    pub fn ignoring_offer(&self) -> bool {
        self.ignore_offer
    }
}

/// Whether a remote ICE candidate belongs to an ICE generation that the current
/// remote description no longer uses, so a failure to add it is expected.
///
/// Candidates are trickled while negotiation goes on: after glare, an offer rolled
/// back by the polite side may still have candidates in flight, and after an ICE
/// restart the old generation's candidates can arrive late. Such a candidate names
/// its generation's username fragment (`ufrag X` in the candidate line); if no
/// `a=ice-ufrag:` line of `remote_sdp` carries it, it is stale. A candidate without
/// a ufrag is never called stale.
pub fn candidate_is_stale(candidate: &str, remote_sdp: &str) -> bool {
    let mut words = candidate.split_ascii_whitespace();
    let Some(ufrag) = words.by_ref().skip_while(|w| *w != "ufrag").nth(1) else {
        return false;
    };
    !remote_sdp
        .lines()
        .filter_map(|line| line.trim_end().strip_prefix("a=ice-ufrag:"))
        .any(|current| current == ufrag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANDIDATE: &str = "candidate:1 1 udp 2122260223 10.77.0.1 50000 typ host \
                             generation 0 ufrag AbCd network-id 1";

    #[test]
    fn candidate_of_the_current_generation_is_not_stale() {
        let sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
                   a=ice-ufrag:AbCd\r\na=ice-pwd:x\r\n";
        assert!(!candidate_is_stale(CANDIDATE, sdp));
    }

    #[test]
    fn candidate_of_an_old_generation_is_stale() {
        let sdp = "v=0\r\na=ice-ufrag:NeW1\r\n";
        assert!(candidate_is_stale(CANDIDATE, sdp));
        assert!(candidate_is_stale(CANDIDATE, ""));
    }

    #[test]
    fn candidate_without_ufrag_is_never_stale() {
        let bare = "candidate:1 1 udp 2122260223 10.77.0.1 50000 typ host";
        assert!(!candidate_is_stale(bare, ""));
        assert!(!candidate_is_stale("candidate:1 ufrag", "a=ice-ufrag:x"));
    }

    #[test]
    fn exactly_one_side_is_polite() {
        assert!(is_polite("a", "b"));
        assert!(!is_polite("b", "a"));
        assert_ne!(is_polite("x1", "x2"), is_polite("x2", "x1"));
    }

    #[test]
    fn offer_in_stable_state_is_answered() {
        let mut n = PerfectNegotiation::new(false);
        assert_eq!(
            n.remote_description(DescriptionKind::Offer, true),
            RemoteDescriptionAction::Apply {
                answer_needed: true
            }
        );
    }

    #[test]
    fn glare_impolite_ignores_polite_yields() {
        let mut impolite = PerfectNegotiation::new(false);
        let mut polite = PerfectNegotiation::new(true);
        impolite.offer_started();
        polite.offer_started();
        impolite.offer_finished();
        polite.offer_finished();
        // Both are now in have-local-offer (not stable) when the other's offer lands.
        // The impolite side keeps its offer and sends it again (the polite side
        // may not have it).
        assert_eq!(
            impolite.remote_description(DescriptionKind::Offer, false),
            RemoteDescriptionAction::Ignore { resend_offer: true }
        );
        assert!(impolite.ignoring_offer());
        assert_eq!(
            polite.remote_description(DescriptionKind::Offer, false),
            RemoteDescriptionAction::Apply {
                answer_needed: true
            }
        );
        assert!(!polite.ignoring_offer());
        // The polite side's answer reaches the impolite side, which applies it.
        assert_eq!(
            impolite.remote_description(DescriptionKind::Answer, false),
            RemoteDescriptionAction::Apply {
                answer_needed: false
            }
        );
        assert!(!impolite.ignoring_offer());
    }

    #[test]
    fn offer_while_making_offer_collides_even_if_stable() {
        let mut n = PerfectNegotiation::new(false);
        n.offer_started();
        // Our offer is not out yet: nothing to send again, it goes when made.
        assert_eq!(
            n.remote_description(DescriptionKind::Offer, true),
            RemoteDescriptionAction::Ignore {
                resend_offer: false
            }
        );
        n.offer_finished();
        assert_eq!(
            n.remote_description(DescriptionKind::Offer, true),
            RemoteDescriptionAction::Apply {
                answer_needed: true
            }
        );
    }

    #[test]
    fn offer_during_pending_remote_answer_is_not_a_collision() {
        let mut n = PerfectNegotiation::new(false);
        assert_eq!(
            n.remote_description(DescriptionKind::Answer, false),
            RemoteDescriptionAction::Apply {
                answer_needed: false
            }
        );
        // While the answer is still being applied the state is not yet stable, but an
        // offer that arrives now follows it and is fine.
        assert_eq!(
            n.remote_description(DescriptionKind::Offer, false),
            RemoteDescriptionAction::Apply {
                answer_needed: true
            }
        );
        n.remote_description_applied();
        assert_eq!(
            n.remote_description(DescriptionKind::Offer, false),
            RemoteDescriptionAction::Ignore { resend_offer: true }
        );
    }

    #[test]
    fn an_answer_with_no_offer_out_is_stale() {
        let mut n = PerfectNegotiation::new(true);
        n.offer_started();
        n.offer_finished();
        assert_eq!(
            n.remote_description(DescriptionKind::Answer, false),
            RemoteDescriptionAction::Apply {
                answer_needed: false
            }
        );
        n.remote_description_applied();
        // A second copy of that answer (our offer was sent twice) finds us stable.
        assert_eq!(
            n.remote_description(DescriptionKind::Answer, true),
            RemoteDescriptionAction::Stale
        );
        // So does one while a new offer is being made but not yet out.
        n.offer_started();
        assert_eq!(
            n.remote_description(DescriptionKind::Answer, true),
            RemoteDescriptionAction::Stale
        );
    }

    #[test]
    fn the_polite_side_answers_a_resent_offer_once_more() {
        // The impolite side sent its offer twice; the polite side applied the
        // first (rolling back its own) and is stable when the copy lands: it
        // answers that too, and the impolite side drops the second answer.
        let mut polite = PerfectNegotiation::new(true);
        let mut impolite = PerfectNegotiation::new(false);
        assert_eq!(
            polite.remote_description(DescriptionKind::Offer, true),
            RemoteDescriptionAction::Apply {
                answer_needed: true
            }
        );
        polite.remote_description_applied();
        assert_eq!(
            impolite.remote_description(DescriptionKind::Answer, false),
            RemoteDescriptionAction::Apply {
                answer_needed: false
            }
        );
        impolite.remote_description_applied();
        assert_eq!(
            impolite.remote_description(DescriptionKind::Answer, true),
            RemoteDescriptionAction::Stale
        );
    }

    #[test]
    fn sdp_type_names() {
        assert_eq!(
            DescriptionKind::from_sdp_type("offer"),
            Some(DescriptionKind::Offer)
        );
        assert_eq!(
            DescriptionKind::from_sdp_type("answer"),
            Some(DescriptionKind::Answer)
        );
        assert_eq!(DescriptionKind::from_sdp_type("pranswer"), None);
    }
}
