//! Where a transfer's SHA-256 is computed: here, or by the glue off the main thread.
//!
//! Hashing every byte on both ends is most of what a transfer costs the page's main
//! thread (~3 ms per MiB each in Wasm). With [`TransferConfig::hash_elsewhere`] the
//! manager leaves it to the glue: it hands over the bytes to hash, in file order
//! ([`Output::HashBytes`]), asks once for the digest when it needs it
//! ([`Output::DigestWanted`]) and carries on when the glue answers
//! ([`TransferManager::digest_ready`](super::TransferManager::digest_ready)). A
//! transfer that must know a digest on the spot — one restored from stored bytes,
//! or checking a copy the receiver held from an earlier offer — hashes here.
//!
//! [`TransferConfig::hash_elsewhere`]: super::TransferConfig::hash_elsewhere

use std::collections::VecDeque;

use sha2::{Digest, Sha256};

use super::types::{Output, TransferKey};

#[derive(Debug, Clone)]
pub(super) enum Hashing {
    /// Hashed here, as the bytes come.
    Here(Sha256),
    /// Hashed by the glue; the digest once it has answered.
    Elsewhere {
        digest: Option<[u8; 32]>,
        asked: bool,
    },
}

impl Hashing {
    pub(super) fn new(elsewhere: bool) -> Self {
        if elsewhere {
            Self::Elsewhere {
                digest: None,
                asked: false,
            }
        } else {
            Self::here()
        }
    }

    /// A fresh hasher here (for a transfer that has fed nothing yet, or starts over).
    pub(super) fn here() -> Self {
        Self::Here(Sha256::new())
    }

    /// Takes the next bytes of the file.
    pub(super) fn update(
        &mut self,
        key: TransferKey,
        bytes: &[u8],
        outputs: &mut VecDeque<Output>,
    ) {
        match self {
            Self::Here(hasher) => hasher.update(bytes),
            Self::Elsewhere { .. } => {
                if !bytes.is_empty() {
                    outputs.push_back(Output::HashBytes {
                        key,
                        bytes: bytes.to_vec(),
                    });
                }
            }
        }
    }

    /// The digest of all bytes taken, if known now; hashing elsewhere, the glue is
    /// asked for it (once) and the caller tries again after
    /// [`Self::answer`].
    pub(super) fn digest(
        &mut self,
        key: TransferKey,
        outputs: &mut VecDeque<Output>,
    ) -> Option<[u8; 32]> {
        match self {
            Self::Here(hasher) => Some(hasher.clone().finalize().into()),
            Self::Elsewhere { digest, asked } => {
                if digest.is_none() && !*asked {
                    *asked = true;
                    outputs.push_back(Output::DigestWanted { key });
                }
                *digest
            }
        }
    }

    /// The digest the glue was asked for; `false` if none was asked.
    pub(super) fn answer(&mut self, value: [u8; 32]) -> bool {
        match self {
            Self::Elsewhere {
                digest,
                asked: true,
            } if digest.is_none() => {
                *digest = Some(value);
                true
            }
            _ => false,
        }
    }
}
