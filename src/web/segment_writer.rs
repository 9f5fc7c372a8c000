//! Writes received segments into the origin private file system from a dedicated
//! worker, through
//! [`FileSystemSyncAccessHandle`](https://developer.mozilla.org/en-US/docs/Web/API/FileSystemSyncAccessHandle):
//! the fast path of OPFS. The worker writes the received buffers straight into the
//! file (they are transferred to it, not copied); a `createWritable()` stream on the
//! page would first join them into one buffer and hand that to the browser process,
//! which writes a swap file on its own threads and renames it at `close()`.
//!
//! Each segment is written as `<name>.part`, flushed, closed and only then renamed
//! (`move()`) to `<name>`, so a reload in the middle of a write never leaves a
//! short segment under its real name (as `createWritable()` guarantees too).
//!
//! The worker is one per page, started from a Blob URL at the first segment. It
//! answers a first message saying whether it can write here (sync access handles
//! and `move()` exist in workers of Chromium 110+, Firefox 111+, Safari 17+); where
//! it cannot, or cannot start at all (e.g. a Content-Security-Policy without
//! `worker-src blob:`), [`segment_writer`] is `None` and the caller writes from
//! the page as before. A segment whose write fails comes back with its buffers, so
//! the caller can still keep the bytes in memory.

use super::{Error, JsError};
use crate::core::vec_map::VecMap;
use futures_channel::oneshot;
use gloo_events::EventListener;
use js_sys::{Array, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{File, FileSystemDirectoryHandle, MessageEvent, Url, Worker};

/// The worker. Requests are `{id, ping: true}` (answered `{id, ok}`: whether it can
/// write here) or `{id, dir, name, parts}` (answered `{id, file}`, or `{id, name,
/// message, parts}`: the error, with the parts transferred back).
const WORKER_JS: &str = r#""use strict";
onmessage = async ({ data: m }) => {
  if (m.ping) {
    const ok = typeof FileSystemFileHandle === "function"
      && typeof FileSystemFileHandle.prototype.createSyncAccessHandle === "function"
      && typeof FileSystemFileHandle.prototype.move === "function";
    postMessage({ id: m.id, ok });
    return;
  }
  let access = null;
  try {
    const handle = await m.dir.getFileHandle(m.name + ".part", { create: true });
    access = await handle.createSyncAccessHandle();
    access.truncate(0);
    let at = 0;
    for (const part of m.parts) {
      for (let done = 0; done < part.byteLength;) {
        const n = access.write(part.subarray(done), { at: at + done });
        if (n <= 0) throw new Error("the file took no bytes");
        done += n;
      }
      at += part.byteLength;
    }
    access.flush();
    access.close();
    access = null;
    await handle.move(m.name);
    postMessage({ id: m.id, file: await handle.getFile() });
  } catch (e) {
    try { if (access) access.close(); } catch (_) {}
    const name = e && e.name ? String(e.name) : "Error";
    const message = String(e && e.message ? e.message : e);
    postMessage({ id: m.id, name, message, parts: m.parts }, m.parts.map((p) => p.buffer));
  }
};
"#;

/// A segment the worker could not write: why, and its parts (`None` if they were
/// lost with the worker).
pub(crate) struct WriteFailed {
    pub error: Error,
    pub parts: Option<Array>,
}

pub(crate) struct SegmentWriter {
    worker: Worker,
    pending: RefCell<VecMap<u32, oneshot::Sender<JsValue>>>,
    next_id: Cell<u32>,
    /// The worker failed (an error event): no more requests.
    dead: Cell<bool>,
    _listeners: RefCell<Vec<EventListener>>,
}

/// The page's writer: not asked for yet, starting (with whoever waits for it), or
/// known (`None`: there is none here).
enum Slot {
    Untried,
    Starting(Vec<oneshot::Sender<Option<Rc<SegmentWriter>>>>),
    Known(Option<Rc<SegmentWriter>>),
}

thread_local! {
    static WRITER: RefCell<Slot> = const { RefCell::new(Slot::Untried) };
}

/// The page's segment writer, once it has said it can write here; `None` where it
/// cannot (then write from the page).
pub(crate) async fn segment_writer() -> Option<Rc<SegmentWriter>> {
    let waiting = WRITER.with(|slot| {
        let mut slot = slot.borrow_mut();
        match &mut *slot {
            Slot::Known(writer) => Ok(writer.clone()),
            Slot::Starting(waiters) => {
                let (tx, rx) = oneshot::channel();
                waiters.push(tx);
                Err(Some(rx))
            }
            Slot::Untried => {
                *slot = Slot::Starting(Vec::new());
                Err(None)
            }
        }
    });
    let writer = match waiting {
        Ok(known) => known,
        Err(Some(rx)) => rx.await.ok().flatten(),
        Err(None) => {
            // Should this future be dropped while starting, the next call starts
            // afresh (and whoever waited gets `None`).
            struct Untry;
            impl Drop for Untry {
                fn drop(&mut self) {
                    WRITER.with(|slot| {
                        let mut slot = slot.borrow_mut();
                        if matches!(*slot, Slot::Starting(_)) {
                            *slot = Slot::Untried;
                        }
                    });
                }
            }
            let untry = Untry;
            let writer = start().await;
            std::mem::forget(untry);
            let previous = WRITER.with(|slot| slot.replace(Slot::Known(writer.clone())));
            if let Slot::Starting(waiters) = previous {
                for waiter in waiters {
                    let _ = waiter.send(writer.clone());
                }
            }
            writer
        }
    };
    writer.filter(|w| !w.dead.get())
}

async fn start() -> Option<Rc<SegmentWriter>> {
    let url = super::script_url(WORKER_JS).ok()?;
    let writer = start_at(&url).await;
    // The worker has fetched its script by the time it answers (or failed to).
    let _ = Url::revoke_object_url(&url);
    writer
}

/// The worker at `url`, once it has answered that it can write; `None` if it
/// cannot, or cannot start.
async fn start_at(url: &str) -> Option<Rc<SegmentWriter>> {
    let writer = SegmentWriter::new(url).ok()?;
    let ping = js_sys::Object::new();
    Reflect::set(&ping, &"ping".into(), &JsValue::TRUE).ok()?;
    let reply = writer.request(&ping, None).ok()?.await.ok()?;
    let ok = Reflect::get(&reply, &"ok".into()).ok()?.is_truthy();
    ok.then_some(writer)
}

impl SegmentWriter {
    fn new(url: &str) -> Result<Rc<Self>, Error> {
        let worker = Worker::new(url)?;
        let writer = Rc::new(Self {
            worker,
            pending: RefCell::new(VecMap::new()),
            next_id: Cell::new(0),
            dead: Cell::new(false),
            _listeners: RefCell::new(Vec::new()),
        });
        let weak = Rc::downgrade(&writer);
        let on_message = EventListener::new(&writer.worker, "message", move |event| {
            let Some(this) = weak.upgrade() else { return };
            let Some(event) = event.dyn_ref::<MessageEvent>() else {
                return;
            };
            let data = event.data();
            let id = Reflect::get(&data, &"id".into())
                .ok()
                .and_then(|id| id.as_f64())
                .map(|id| id as u32);
            let reply = id.and_then(|id| this.pending.borrow_mut().remove(&id));
            if let Some(reply) = reply {
                let _ = reply.send(data);
            }
        });
        let weak = Rc::downgrade(&writer);
        // A worker that cannot start (or dies) fires "error": every request still
        // waiting fails, and no more are made.
        let on_error = EventListener::new(&writer.worker, "error", move |_| {
            let Some(this) = weak.upgrade() else { return };
            this.dead.set(true);
            this.pending.borrow_mut().clear();
        });
        writer
            ._listeners
            .borrow_mut()
            .extend([on_message, on_error]);
        Ok(writer)
    }

    fn request(
        &self,
        message: &js_sys::Object,
        transfer: Option<&Array>,
    ) -> Result<oneshot::Receiver<JsValue>, Error> {
        if self.dead.get() {
            return Err(Error::InvalidInput("the storage worker has stopped".into()));
        }
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        Reflect::set(message, &"id".into(), &JsValue::from(id))?;
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        let posted = match transfer {
            Some(transfer) => self.worker.post_message_with_transfer(message, transfer),
            None => self.worker.post_message(message),
        };
        if let Err(e) = posted {
            self.pending.borrow_mut().remove(&id);
            return Err(e.into());
        }
        Ok(rx)
    }

    /// Writes `parts` (byte views, in order) as file `name` of `dir`, and returns
    /// it as a `File` (read from disk). The parts' buffers are transferred to the
    /// worker: after a failure they come back in [`WriteFailed::parts`].
    pub(crate) async fn write(
        &self,
        dir: &FileSystemDirectoryHandle,
        name: &str,
        parts: Array,
    ) -> Result<File, WriteFailed> {
        let message = js_sys::Object::new();
        let buffers = Array::new();
        let prepared = (|| -> Result<(), JsValue> {
            Reflect::set(&message, &"dir".into(), dir)?;
            Reflect::set(&message, &"name".into(), &JsValue::from_str(name))?;
            Reflect::set(&message, &"parts".into(), &parts)?;
            for part in parts.iter() {
                let buffer = Reflect::get(&part, &"buffer".into())?;
                // Two views of one buffer: transferred once.
                if !buffers.includes(&buffer, 0) {
                    buffers.push(&buffer);
                }
            }
            Ok(())
        })();
        if let Err(e) = prepared {
            return Err(WriteFailed {
                error: e.into(),
                parts: Some(parts),
            });
        }
        // Not posted (nothing was transferred): the parts are still ours.
        let reply = match self.request(&message, Some(&buffers)) {
            Ok(reply) => reply,
            Err(error) => {
                return Err(WriteFailed {
                    error,
                    parts: Some(parts),
                })
            }
        };
        let Ok(reply) = reply.await else {
            return Err(WriteFailed {
                error: Error::InvalidInput("the storage worker stopped during a write".into()),
                parts: None,
            });
        };
        let field = |name: &str| Reflect::get(&reply, &name.into()).unwrap_or(JsValue::UNDEFINED);
        let file = field("file");
        if file.is_instance_of::<File>() {
            return Ok(file.unchecked_into());
        }
        let error = JsError {
            name: field("name").as_string().unwrap_or_else(|| "Error".into()),
            message: field("message").as_string().unwrap_or_else(|| {
                "the storage worker answered neither a file nor an error".into()
            }),
        };
        Err(WriteFailed {
            error: error.into(),
            parts: field("parts").dyn_into::<Array>().ok(),
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::web::store::{opfs_root, remove_subdir, subdir};
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    wasm_bindgen_test_configure!(run_in_browser);

    /// A view of `bytes` inside a larger buffer (as a received frame's payload
    /// follows its header).
    pub(in crate::web) fn framed(bytes: &[u8]) -> js_sys::Uint8Array {
        let mut frame = vec![0xEE; 4];
        frame.extend_from_slice(bytes);
        let buffer = js_sys::Uint8Array::from(&frame[..]).buffer();
        js_sys::Uint8Array::new_with_byte_offset_and_length(&buffer, 4, bytes.len() as u32)
    }

    async fn names(dir: &FileSystemDirectoryHandle) -> Vec<String> {
        let mut names = Vec::new();
        let entries = dir.keys();
        loop {
            let step = JsFuture::from(entries.next().unwrap()).await.unwrap();
            if Reflect::get(&step, &"done".into()).unwrap().is_truthy() {
                break;
            }
            names.push(
                Reflect::get(&step, &"value".into())
                    .unwrap()
                    .as_string()
                    .unwrap(),
            );
        }
        names.sort();
        names
    }

    #[wasm_bindgen_test]
    async fn a_worker_that_cannot_start_is_no_writer() {
        // As under a Content-Security-Policy that forbids it: its script never runs,
        // the worker fires "error", and segments are written from the page instead.
        assert!(start_at("/no-such-worker.js").await.is_none());
    }

    #[wasm_bindgen_test]
    async fn the_worker_writes_segments_and_hands_back_what_it_could_not_write() {
        let Some(writer) = segment_writer().await else {
            // Chromium has sync access handles in workers: the worker must be used.
            let agent = web_sys::window().unwrap().navigator().user_agent().unwrap();
            assert!(!agent.contains("Chrome/"), "no storage worker in {agent}");
            return;
        };
        let root = opfs_root().await.unwrap();
        let dir = subdir(&root, "writer-test").await.unwrap();

        let file = writer
            .write(
                &dir,
                "seg-1",
                Array::of2(&framed(b"hello "), &framed(b"world")),
            )
            .await
            .map_err(|f| f.error)
            .unwrap();
        let text = JsFuture::from(file.text()).await.unwrap().as_string();
        assert_eq!(text.as_deref(), Some("hello world"));
        // Under its real name only once complete: no `.part` is left behind.
        assert_eq!(names(&dir).await, ["seg-1"]);

        // A folder that is gone: the write fails and the bytes come back intact.
        remove_subdir(&root, "writer-test").await.unwrap();
        let failed = writer
            .write(
                &dir,
                "seg-2",
                Array::of2(&framed(b"kept "), &framed(b"anyway")),
            )
            .await
            .expect_err("the folder was removed");
        // The browser's own error (NotFoundError in Chromium, UnknownError in Firefox).
        assert!(matches!(failed.error, Error::Js(_)), "{}", failed.error);
        let parts = failed.parts.expect("the parts come back");
        let back: Vec<u8> = parts
            .iter()
            .flat_map(|p| p.unchecked_into::<js_sys::Uint8Array>().to_vec())
            .collect();
        assert_eq!(back, b"kept anyway");
    }
}
