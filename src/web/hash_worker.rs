//! SHA-256 of file transfers off the main thread: a worker runs this same Wasm
//! module (`wasm_bindgen::module()`, posted to it) and hashes each transfer's
//! bytes as they come, so the page's main thread only copies them.
//!
//! Measured on the benchmark's 2-core box (bench/files/README.md, "Experiments"):
//! SHA-256 in Wasm costs ~3.8 ms per MiB of main-thread time on each end, and a
//! transfer hashing in a worker instead ran 14 % faster. The worker instantiates
//! the module with every import replaced by a function that throws: only the
//! `__pl_hash_*` exports below run there, and they touch nothing but their own
//! memory. The page's start function is not called (wasm-bindgen runs it from its
//! JS glue, which the worker does not load).
//!
//! Where the worker cannot run (a Content-Security-Policy without `worker-src
//! blob:`, or the `bundler` build of the npm package, where wasm-bindgen cannot
//! hand out the module: cargo feature `hash-worker` off) transfers hash on the
//! main thread as before ([`crate::core::transfer::TransferConfig::hash_elsewhere`]
//! stays off). If the worker dies, the transfers hashing there fail with a reason
//! and new ones hash on the main thread.

#[cfg(feature = "hash-worker")]
pub(crate) use page::hash_worker;

/// Why transfers hashed in the worker fail when it is gone.
pub(crate) const WORKER_STOPPED: &str = "the page's hashing worker stopped";

/// Whether the page's hashing worker lags so far behind that transfers wait.
pub(crate) fn hashing_lags() -> bool {
    hash_worker().is_some_and(|worker| worker.backlogged())
}

#[cfg(not(feature = "hash-worker"))]
pub(crate) use absent::hash_worker;

/// Test hook: the bytes handed to the hashing worker and not hashed yet above
/// which transfers wait for it (16 MiB). A small limit makes them wait often.
#[doc(hidden)]
pub fn set_hashing_backlog_limit(bytes: u64) {
    #[cfg(feature = "hash-worker")]
    page::set_backlog_limit(bytes);
    #[cfg(not(feature = "hash-worker"))]
    absent::set_backlog_limit(bytes);
}

/// Whether file transfers that start now hash in the page's worker rather than on
/// the main thread: with the cargo feature `hash-worker`, once the worker runs
/// (the first [`PeerFiles`](super::PeerFiles) starts it).
pub fn hashing_off_main_thread() -> bool {
    hash_worker().is_some()
}

/// Without the feature: no worker, so every transfer hashes on the main thread.
#[cfg(not(feature = "hash-worker"))]
mod absent {
    use std::rc::Rc;

    use crate::web::Error;

    pub(crate) enum HashWorker {}

    pub(crate) fn hash_worker() -> Option<Rc<HashWorker>> {
        None
    }

    impl HashWorker {
        pub(crate) fn open(&self) -> u32 {
            match *self {}
        }
        pub(crate) fn update(&self, _: u32, _: &[u8]) -> bool {
            match *self {}
        }
        pub(crate) async fn digest(self: Rc<Self>, _: u32) -> Result<[u8; 32], Error> {
            match *self {}
        }
        pub(crate) fn close(&self, _: u32) {
            match *self {}
        }
        pub(crate) fn backlogged(&self) -> bool {
            match *self {}
        }
        pub(crate) fn when_caught_up(&self, _: Box<dyn FnOnce()>) {
            match *self {}
        }
    }

    pub(crate) fn set_backlog_limit(_: u64) {}
}

/// In the worker: the exports it calls on its instance of this module.
#[cfg(feature = "hash-worker")]
mod worker {
    use std::cell::RefCell;

    use sha2::{Digest, Sha256};
    use wasm_bindgen::prelude::wasm_bindgen;

    use crate::core::vec_map::VecMap;

    thread_local! {
        /// Running hashers by the worker's id for them.
        static HASHERS: RefCell<(u32, VecMap<u32, Sha256>)> = const { RefCell::new((0, VecMap::new())) };
        /// Where the worker copies the next bytes to hash (it only grows: the
        /// bytes are written over, never zeroed first).
        static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        /// The last digest.
        static DIGEST: RefCell<[u8; 32]> = const { RefCell::new([0; 32]) };
    }

    /// A new hasher; returns its id.
    #[wasm_bindgen(js_name = "__pl_hash_new", skip_typescript)]
    pub fn hash_new() -> u32 {
        HASHERS.with(|h| {
            let (next, hashers) = &mut *h.borrow_mut();
            *next = next.wrapping_add(1);
            hashers.insert(*next, Sha256::new());
            *next
        })
    }

    /// The address of a buffer of `len` bytes for the worker to fill.
    #[wasm_bindgen(js_name = "__pl_hash_buffer", skip_typescript)]
    pub fn hash_buffer(len: u32) -> u32 {
        BUFFER.with(|b| {
            let mut buffer = b.borrow_mut();
            if buffer.len() < len as usize {
                buffer.resize(len as usize, 0);
            }
            buffer.as_ptr() as u32
        })
    }

    /// Adds the first `len` bytes of the buffer to hasher `id`.
    #[wasm_bindgen(js_name = "__pl_hash_update", skip_typescript)]
    pub fn hash_update(id: u32, len: u32) {
        BUFFER.with(|b| {
            let buffer = b.borrow();
            let bytes = buffer.get(..len as usize).unwrap_or(&buffer[..]);
            HASHERS.with(|h| {
                if let Some(hasher) = h.borrow_mut().1.get_mut(&id) {
                    hasher.update(bytes);
                }
            });
        });
    }

    /// Ends hasher `id` (one never made is the empty digest): the address of its
    /// 32-byte digest, valid until the next call.
    #[wasm_bindgen(js_name = "__pl_hash_finish", skip_typescript)]
    pub fn hash_finish(id: u32) -> u32 {
        let hasher = HASHERS
            .with(|h| h.borrow_mut().1.remove(&id))
            .unwrap_or_default();
        DIGEST.with(|d| {
            let mut digest = d.borrow_mut();
            *digest = hasher.finalize().into();
            digest.as_ptr() as u32
        })
    }

    /// Drops hasher `id`.
    #[wasm_bindgen(js_name = "__pl_hash_free", skip_typescript)]
    pub fn hash_free(id: u32) {
        HASHERS.with(|h| h.borrow_mut().1.remove(&id));
    }
}

/// On the page: the worker, from the main thread.
#[cfg(feature = "hash-worker")]
mod page {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use futures_channel::oneshot;
    use gloo_events::EventListener;
    use js_sys::{Array, Uint8Array};
    use wasm_bindgen::{JsCast, JsValue};
    use web_sys::{MessageEvent, Url, Worker};

    use crate::core::vec_map::VecMap;
    use crate::web::Error;

    /// Messages to the worker: the module, then `[0, handle, bytes]` (hash them),
    /// `[1, handle]` (answer `[handle, digest]` and forget it), `[2, handle]`
    /// (forget it). Handles are the page's; the worker maps them to its hashers.
    const WORKER_JS: &str = r#"'use strict';
let wasm = null;
const hashers = new Map();
function stub() { throw new Error('not available in the hashing worker'); }
onmessage = async ({ data }) => {
  if (data instanceof WebAssembly.Module) {
    try {
      const imports = {};
      for (const i of WebAssembly.Module.imports(data)) (imports[i.module] ??= {})[i.name] = stub;
      wasm = (await WebAssembly.instantiate(data, imports)).exports;
      // Self-test: SHA-256("abc"), through the same calls as a transfer's bytes.
      const id = wasm.__pl_hash_new();
      const abc = new Uint8Array([97, 98, 99]);
      new Uint8Array(wasm.memory.buffer, wasm.__pl_hash_buffer(3) >>> 0, 3).set(abc);
      wasm.__pl_hash_update(id, 3);
      const at = wasm.__pl_hash_finish(id) >>> 0;
      const hex = [...new Uint8Array(wasm.memory.buffer, at, 32)].map((b) => b.toString(16).padStart(2, '0')).join('');
      if (hex !== 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad') throw new Error(hex);
      postMessage('ready');
    } catch (e) {
      postMessage('failed');
      close();
    }
    return;
  }
  const [op, handle, bytes] = data;
  let id = hashers.get(handle);
  if (op === 0) {
    if (id === undefined) hashers.set(handle, (id = wasm.__pl_hash_new()));
    const view = new Uint8Array(bytes);
    const at = wasm.__pl_hash_buffer(view.length) >>> 0;
    new Uint8Array(wasm.memory.buffer, at, view.length).set(view);
    wasm.__pl_hash_update(id, view.length);
    postMessage(view.length);
  } else if (op === 1) {
    hashers.delete(handle);
    const at = wasm.__pl_hash_finish(id ?? 0) >>> 0;
    postMessage([handle, new Uint8Array(wasm.memory.buffer, at, 32).slice()]);
  } else if (id !== undefined) {
    hashers.delete(handle);
    wasm.__pl_hash_free(id);
  }
};
"#;

    /// The page's hashing worker.
    pub(crate) struct HashWorker {
        worker: Worker,
        ready: Cell<bool>,
        dead: Cell<bool>,
        next_handle: Cell<u32>,
        /// Digests asked for, by handle.
        pending: RefCell<VecMap<u32, oneshot::Sender<[u8; 32]>>>,
        /// Bytes posted and not hashed yet (the worker counts them back).
        outstanding: Cell<u64>,
        /// What waits for the worker to catch up (see [`HashWorker::backlogged`]).
        waiters: RefCell<Vec<Box<dyn FnOnce()>>>,
        _listeners: RefCell<Vec<EventListener>>,
    }

    /// Bytes handed to the worker and not hashed yet above which transfers wait:
    /// a worker slower than the link (a slow device) would otherwise collect the
    /// copies of everything received or read.
    const BACKLOG_LIMIT: u64 = 16 * 1024 * 1024;

    thread_local! {
        static LIMIT: Cell<u64> = const { Cell::new(BACKLOG_LIMIT) };
    }

    /// Sets the backlog limit (tests make the worker lag with a small one).
    pub(crate) fn set_backlog_limit(bytes: u64) {
        LIMIT.with(|limit| limit.set(bytes));
    }

    thread_local! {
        /// `None` until first asked for; then the worker, or `None` if it could not
        /// be made.
        static SHARED: RefCell<Option<Option<Rc<HashWorker>>>> = const { RefCell::new(None) };
    }

    /// The page's hashing worker once it runs; the first call starts it (and
    /// answers `None` until it has said it is ready). `None` for good when it cannot
    /// run.
    pub(crate) fn hash_worker() -> Option<Rc<HashWorker>> {
        let worker = SHARED.with(|shared| {
            shared
                .borrow_mut()
                .get_or_insert_with(|| HashWorker::start().ok())
                .clone()
        })?;
        (worker.ready.get() && !worker.dead.get()).then_some(worker)
    }

    impl HashWorker {
        fn start() -> Result<Rc<Self>, Error> {
            let url = crate::web::script_url(WORKER_JS)?;
            let worker = Worker::new(&url);
            let _ = Url::revoke_object_url(&url);
            let this = Rc::new(Self {
                worker: worker?,
                ready: Cell::new(false),
                dead: Cell::new(false),
                next_handle: Cell::new(0),
                pending: RefCell::new(VecMap::new()),
                outstanding: Cell::new(0),
                waiters: RefCell::new(Vec::new()),
                _listeners: RefCell::new(Vec::new()),
            });
            let weak = Rc::downgrade(&this);
            let on_message = EventListener::new(&this.worker, "message", move |event| {
                let Some(this) = weak.upgrade() else { return };
                let Some(data) = event.dyn_ref::<MessageEvent>().map(MessageEvent::data) else {
                    return;
                };
                if let Some(hashed) = data.as_f64() {
                    this.hashed(hashed as u64);
                    return;
                }
                match data.as_string().as_deref() {
                    Some("ready") => this.ready.set(true),
                    Some(_) => this.stop(),
                    None => this.answered(&data),
                }
            });
            let weak = Rc::downgrade(&this);
            // A worker that cannot start (or dies) fires "error".
            let on_error = EventListener::new(&this.worker, "error", move |_| {
                if let Some(this) = weak.upgrade() {
                    this.stop();
                }
            });
            this._listeners.borrow_mut().extend([on_message, on_error]);
            this.worker.post_message(&wasm_bindgen::module())?;
            Ok(this)
        }

        /// Gives up on the worker: digests asked for are never answered (their
        /// receivers see the sender dropped), and what waited goes on (to find
        /// the worker gone).
        fn stop(&self) {
            self.dead.set(true);
            self.pending.borrow_mut().clear();
            // Not from inside the caller (it may hold a transfer's state).
            let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
            wasm_bindgen_futures::spawn_local(async move {
                for then in waiters {
                    then();
                }
            });
        }

        /// The worker hashed `bytes` more.
        fn hashed(&self, bytes: u64) {
            self.outstanding
                .set(self.outstanding.get().saturating_sub(bytes));
            if !self.backlogged() {
                self.wake();
            }
        }

        fn wake(&self) {
            let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
            for then in waiters {
                then();
            }
        }

        /// Whether the worker lags so far behind that transfers should wait for it
        /// (the receiver holds its acknowledgements back, the sender its reads).
        pub(crate) fn backlogged(&self) -> bool {
            !self.dead.get() && self.outstanding.get() > LIMIT.with(Cell::get)
        }

        /// Runs `then` once the worker is no longer backlogged (now if it is not).
        pub(crate) fn when_caught_up(&self, then: Box<dyn FnOnce()>) {
            if self.backlogged() {
                self.waiters.borrow_mut().push(then);
            } else {
                then();
            }
        }

        fn answered(&self, data: &JsValue) {
            let reply: &Array = data.unchecked_ref();
            let handle = reply.get(0).as_f64().unwrap_or(-1.0) as u32;
            let digest = Uint8Array::new(&reply.get(1));
            let mut bytes = [0_u8; 32];
            if digest.length() == 32 {
                digest.copy_to(&mut bytes);
            }
            if let Some(reply) = self.pending.borrow_mut().remove(&handle) {
                let _ = reply.send(bytes);
            }
        }

        fn post(&self, message: &Array, transfer: Option<&JsValue>) -> bool {
            if self.dead.get() {
                return false;
            }
            let sent = match transfer {
                Some(t) => self
                    .worker
                    .post_message_with_transfer(message, &Array::of1(t)),
                None => self.worker.post_message(message),
            };
            if sent.is_err() {
                self.stop();
            }
            !self.dead.get()
        }

        /// A new running hash.
        pub(crate) fn open(&self) -> u32 {
            let handle = self.next_handle.get().wrapping_add(1).max(1);
            self.next_handle.set(handle);
            handle
        }

        /// Adds `bytes` (copied out of Wasm memory, the copy handed over) to
        /// `handle`'s hash; `false` if the worker is gone.
        pub(crate) fn update(&self, handle: u32, bytes: &[u8]) -> bool {
            let copy = Uint8Array::from(bytes).buffer();
            let message = Array::of3(&0.into(), &handle.into(), &copy);
            self.outstanding
                .set(self.outstanding.get() + bytes.len() as u64);
            self.post(&message, Some(&copy))
        }

        /// The digest of everything given to `handle`, which is then forgotten;
        /// `Err` if the worker is gone.
        pub(crate) async fn digest(self: Rc<Self>, handle: u32) -> Result<[u8; 32], Error> {
            let (reply, answer) = oneshot::channel();
            self.pending.borrow_mut().insert(handle, reply);
            if !self.post(&Array::of2(&1.into(), &handle.into()), None) {
                return Err(stopped());
            }
            answer.await.map_err(|_| stopped())
        }

        /// Forgets `handle` (a transfer that ended without a digest).
        pub(crate) fn close(&self, handle: u32) {
            self.pending.borrow_mut().remove(&handle);
            self.post(&Array::of2(&2.into(), &handle.into()), None);
        }
    }

    fn stopped() -> Error {
        Error::InvalidInput(super::WORKER_STOPPED.into())
    }
}
