//! Partial incoming files in the
//! [origin private file system](https://developer.mozilla.org/en-US/docs/Web/API/File_System_API/Origin_private_file_system)
//! (OPFS), so that a transfer survives a reload of the receiving page.
//!
//! Layout: `peerlink-incoming/<resume token>/` holds `offer.json` (the sanitized
//! offer, token included, as its `offer` message) and the received bytes as
//! segment files `seg-00000000`, `seg-00000001`, … in file order. Each segment is
//! written with one `createWritable()` … `close()`, which only makes it visible
//! once complete, so a reload in the middle of a write leaves the previous segments
//! intact. After a
//! reload the page reads the contiguous segments from 0 ([`load_stored`]): their
//! total length is where the transfer resumes.
//!
//! A folder without `offer.json` is garbage (a finished transfer whose segments the
//! saved Blob still referenced) and is deleted at the next load, as is a partial
//! file untouched for [`MAX_AGE_MS`] (its sender is long gone).
//!
//! Tabs of one origin share this storage. A tab holds a
//! [Web Lock](https://developer.mozilla.org/en-US/docs/Web/API/Web_Locks_API) named
//! after the folder for as long as it writes, restores or still reads a partial
//! file, and [`load_stored`] skips folders locked by another tab: a second tab never
//! takes over (or deletes) a transfer that a live tab is receiving.

use super::Error;
use crate::core::transfer::{ControlMessage, FileOffer};
use futures_channel::mpsc;
use futures_util::StreamExt;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    Blob, File, FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemGetDirectoryOptions,
    FileSystemGetFileOptions, FileSystemHandle, FileSystemHandleKind, FileSystemRemoveOptions,
    FileSystemWritableFileStream,
};

const ROOT: &str = "peerlink-incoming";
const OFFER_FILE: &str = "offer.json";
const SEGMENT_PREFIX: &str = "seg-";
const LOCK_PREFIX: &str = "peerlink-incoming/";

/// A partial file whose newest byte is older than this (a day) is deleted.
pub const MAX_AGE_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// A held Web Lock: released when dropped, unless [`kept`](Self::keep) for the
/// page's lifetime. Without the Web Locks API it holds nothing.
#[derive(Debug, Default)]
struct LockGuard(std::cell::RefCell<Option<js_sys::Function>>);

impl LockGuard {
    /// Holds the lock until the page goes (its promise is never resolved).
    fn keep(&self) {
        self.0.borrow_mut().take();
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(release) = self.0.borrow_mut().take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }
}

/// `navigator.locks.request(name, {ifAvailable: true}, …)`: the lock if no other tab
/// holds it, `None` if one does. Where the API is missing, an empty guard.
async fn try_lock(name: &str) -> Result<Option<LockGuard>, Error> {
    let Some(window) = web_sys::window() else {
        return Ok(Some(LockGuard::default()));
    };
    let locks = Reflect::get(&window.navigator(), &JsValue::from_str("locks"))?;
    if locks.is_undefined() || locks.is_null() {
        return Ok(Some(LockGuard::default()));
    }
    let request: js_sys::Function = Reflect::get(&locks, &JsValue::from_str("request"))?
        .dyn_into()
        .map_err(|_| Error::InvalidInput("navigator.locks.request is not a function".into()))?;
    let (granted_tx, granted_rx) = futures_channel::oneshot::channel::<Option<js_sys::Function>>();
    // Called exactly once by the lock manager (with null when the lock is taken); the
    // promise it returns holds the lock until `release` is called.
    let callback = wasm_bindgen::closure::Closure::once_into_js(move |lock: JsValue| -> JsValue {
        if lock.is_null() {
            let _ = granted_tx.send(None);
            return JsValue::UNDEFINED;
        }
        let mut release = None;
        let held = js_sys::Promise::new(&mut |resolve, _reject| release = Some(resolve));
        let _ = granted_tx.send(release);
        held.into()
    });
    let options = js_sys::Object::new();
    Reflect::set(&options, &JsValue::from_str("ifAvailable"), &JsValue::TRUE)?;
    let _ = request.call3(&locks, &JsValue::from_str(name), &options, &callback)?;
    match granted_rx.await {
        Ok(Some(release)) => Ok(Some(LockGuard(std::cell::RefCell::new(Some(release))))),
        Ok(None) => Ok(None),
        Err(_) => Err(Error::InvalidInput("the lock request was dropped".into())),
    }
}

/// A partial incoming file found in storage after a reload.
#[derive(Debug, Clone)]
pub struct StoredTransfer {
    /// The offer as this page accepted it (sanitized, with its resume token).
    pub offer: FileOffer,
    /// The stored bytes, in order: segment files from 0, as long as they are
    /// contiguous.
    pub segments: Vec<File>,
    dir: TransferDir,
}

impl StoredTransfer {
    /// Bytes stored.
    pub fn len(&self) -> u64 {
        self.segments.iter().map(|f| f.size() as u64).sum()
    }

    /// Whether nothing was stored yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone)]
struct TransferDir {
    parent: FileSystemDirectoryHandle,
    name: String,
    dir: FileSystemDirectoryHandle,
    /// This tab's claim on the folder (shared by clones).
    lock: std::rc::Rc<LockGuard>,
}

async fn opfs_root() -> Result<FileSystemDirectoryHandle, Error> {
    let window = web_sys::window().ok_or_else(|| Error::InvalidInput("no window".into()))?;
    let navigator = window.navigator();
    // `navigator.storage` is missing outside secure contexts.
    let storage = Reflect::get(&navigator, &JsValue::from_str("storage"))?;
    if storage.is_undefined() || storage.is_null() {
        return Err(Error::InvalidInput("no navigator.storage here".into()));
    }
    let root: FileSystemDirectoryHandle = JsFuture::from(navigator.storage().get_directory())
        .await?
        .unchecked_into();
    subdir(&root, ROOT).await
}

async fn subdir(
    parent: &FileSystemDirectoryHandle,
    name: &str,
) -> Result<FileSystemDirectoryHandle, Error> {
    let options = FileSystemGetDirectoryOptions::new();
    options.set_create(true);
    Ok(
        JsFuture::from(parent.get_directory_handle_with_options(name, &options))
            .await?
            .unchecked_into(),
    )
}

async fn write_file(
    dir: &FileSystemDirectoryHandle,
    name: &str,
    data: &JsValue,
) -> Result<(), Error> {
    let options = FileSystemGetFileOptions::new();
    options.set_create(true);
    let handle: FileSystemFileHandle =
        JsFuture::from(dir.get_file_handle_with_options(name, &options))
            .await?
            .unchecked_into();
    let writable: FileSystemWritableFileStream = JsFuture::from(handle.create_writable())
        .await?
        .unchecked_into();
    let written = match data.dyn_ref::<Blob>() {
        Some(blob) => writable.write_with_blob(blob),
        None => writable.write_with_str(&data.as_string().unwrap_or_default()),
    };
    match written {
        Ok(promise) => {
            if let Err(e) = JsFuture::from(promise).await {
                let _ = JsFuture::from(writable.abort()).await;
                return Err(e.into());
            }
        }
        Err(e) => {
            let _ = JsFuture::from(writable.abort()).await;
            return Err(e.into());
        }
    }
    JsFuture::from(writable.close()).await?;
    Ok(())
}

impl TransferDir {
    async fn create(offer: &FileOffer, token: &str) -> Result<Self, Error> {
        let parent = opfs_root().await?;
        // A fresh random token: nobody else holds it.
        let lock = try_lock(&format!("{LOCK_PREFIX}{token}"))
            .await?
            .unwrap_or_default();
        let dir = subdir(&parent, token).await?;
        // Stored as the offer message itself: the wire format's (de)serializer is
        // already in the binary, a separate one for `FileOffer` would add to it.
        let record = ControlMessage::Offer(offer.clone()).to_json();
        write_file(&dir, OFFER_FILE, &JsValue::from_str(&record)).await?;
        Ok(Self {
            parent,
            name: token.to_owned(),
            dir,
            lock: std::rc::Rc::new(lock),
        })
    }

    async fn remove(&self) -> Result<(), Error> {
        let options = FileSystemRemoveOptions::new();
        options.set_recursive(true);
        JsFuture::from(self.parent.remove_entry_with_options(&self.name, &options)).await?;
        Ok(())
    }

    async fn forget_offer(&self) -> Result<(), Error> {
        JsFuture::from(self.dir.remove_entry(OFFER_FILE)).await?;
        Ok(())
    }
}

/// What the writer of one incoming file is asked to do, in order.
#[derive(Debug)]
pub(crate) enum StoreJob {
    /// Store segment `index` (the next one).
    Segment(u32, Blob),
    /// The transfer is over. `keep_segments`: a saved Blob still reads them (they
    /// go at the next load); otherwise everything is deleted now.
    Finish { keep_segments: bool },
}

/// Starts the writer of one incoming file's partial copy: it creates the folder
/// (unless `existing`, after a reload) and then stores segments in order. Storage
/// problems never affect the transfer itself; they only make it unresumable after a
/// reload (and are reported once as a warning through `warn`).
pub(crate) fn spawn_writer(
    offer: FileOffer,
    existing: Option<StoredTransfer>,
    warn: impl Fn(Error) + 'static,
) -> Option<mpsc::UnboundedSender<StoreJob>> {
    let token = offer.resume_token.clone()?;
    let (tx, mut rx) = mpsc::unbounded::<StoreJob>();
    spawn_local(async move {
        let dir = match existing {
            Some(stored) => Ok(stored.dir),
            None => TransferDir::create(&offer, &token).await,
        };
        let dir = match dir {
            Ok(dir) => Some(dir),
            Err(e) => {
                warn(e);
                None
            }
        };
        let mut broken = dir.is_none();
        while let Some(job) = rx.next().await {
            let Some(dir) = &dir else { continue };
            match job {
                StoreJob::Segment(index, blob) => {
                    if broken {
                        continue; // a gap would make later segments useless
                    }
                    let name = format!("{SEGMENT_PREFIX}{index:08}");
                    if let Err(e) = write_file(&dir.dir, &name, &blob).await {
                        broken = true;
                        warn(e);
                    }
                }
                StoreJob::Finish { keep_segments } => {
                    let result = if keep_segments {
                        // This page's Blob reads the segments: no other tab may
                        // delete them while it lives.
                        dir.lock.keep();
                        dir.forget_offer().await
                    } else {
                        dir.remove().await
                    };
                    if let Err(e) = result {
                        warn(e);
                    }
                    return;
                }
            }
        }
    });
    Some(tx)
}

async fn next_value(iterator: &js_sys::AsyncIterator) -> Result<Option<JsValue>, Error> {
    let step = JsFuture::from(iterator.next()?).await?;
    if Reflect::get(&step, &JsValue::from_str("done"))?.is_truthy() {
        return Ok(None);
    }
    Ok(Some(Reflect::get(&step, &JsValue::from_str("value"))?))
}

/// The partial incoming files of earlier page loads (deleting leftovers of finished
/// ones). Empty where storage is unavailable.
pub async fn load_stored() -> Result<Vec<StoredTransfer>, Error> {
    let parent = opfs_root().await?;
    let mut handles = Vec::new();
    let entries = parent.values();
    while let Some(value) = next_value(&entries).await? {
        let handle: FileSystemHandle = value.unchecked_into();
        if handle.kind() == FileSystemHandleKind::Directory {
            handles.push(handle);
        }
    }
    let mut found = Vec::new();
    for handle in handles {
        let name = handle.name();
        // Another tab is receiving (or still reading) this one: leave it alone.
        let Some(lock) = try_lock(&format!("{LOCK_PREFIX}{name}")).await? else {
            continue;
        };
        let dir = TransferDir {
            parent: Clone::clone(&parent),
            name,
            dir: handle.unchecked_into(),
            lock: std::rc::Rc::new(lock),
        };
        match read_transfer(dir.clone()).await {
            Ok(Some((stored, newest))) if js_sys::Date::now() - newest < MAX_AGE_MS => {
                found.push(stored)
            }
            // Finished, never got its offer written, or abandoned long ago.
            Ok(_) | Err(_) => {
                let _ = dir.remove().await;
            }
        }
    }
    Ok(found)
}

/// The transfer stored in `dir` and the time its newest file was written (ms since
/// the epoch); `None` if it has no valid offer.
async fn read_transfer(dir: TransferDir) -> Result<Option<(StoredTransfer, f64)>, Error> {
    let mut newest = 0.0_f64;
    let mut offer = None;
    let mut segments = Vec::new();
    let entries = dir.dir.values();
    while let Some(value) = next_value(&entries).await? {
        let handle: FileSystemHandle = value.unchecked_into();
        if handle.kind() != FileSystemHandleKind::File {
            continue;
        }
        let name = handle.name();
        let handle: FileSystemFileHandle = handle.unchecked_into();
        if name == OFFER_FILE {
            let file: File = JsFuture::from(handle.get_file()).await?.unchecked_into();
            newest = newest.max(file.last_modified());
            let text = JsFuture::from(file.text()).await?.as_string();
            offer = match text.map(|t| ControlMessage::parse(&t)) {
                Some(Ok(ControlMessage::Offer(offer))) => Some(offer),
                _ => None,
            };
        } else if let Some(index) = name
            .strip_prefix(SEGMENT_PREFIX)
            .and_then(|i| i.parse::<u32>().ok())
        {
            let file: File = JsFuture::from(handle.get_file()).await?.unchecked_into();
            newest = newest.max(file.last_modified());
            segments.push((index, file));
        }
    }
    // The folder is named after the token: an offer for another token is not ours.
    let Some(offer) = offer.filter(|o| o.resume_token.as_deref() == Some(dir.name.as_str())) else {
        return Ok(None);
    };
    segments.sort_unstable_by_key(|(index, _)| *index);
    let segments = segments
        .into_iter()
        .enumerate()
        .take_while(|(position, (index, _))| *position as u32 == *index)
        .map(|(_, (_, file))| file)
        .collect();
    Ok(Some((
        StoredTransfer {
            offer,
            segments,
            dir,
        },
        newest,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    wasm_bindgen_test_configure!(run_in_browser);

    fn offer(id: u32, token: &str) -> FileOffer {
        FileOffer {
            id,
            name: format!("f{id}.bin"),
            relative_path: None,
            size: 100,
            mime_type: String::new(),
            resume_token: Some(token.to_owned()),
        }
    }

    fn blob(bytes: &[u8]) -> Blob {
        let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
        Blob::new_with_u8_array_sequence(&parts).unwrap()
    }

    /// Loads until `token`'s record shows up (its writer, which holds the lock,
    /// finishes asynchronously), for at most ~5 s.
    async fn load_until(token: &str) -> Option<StoredTransfer> {
        for _ in 0..100 {
            let found = load_stored().await.unwrap();
            if let Some(t) = found
                .into_iter()
                .find(|t| t.offer.resume_token.as_deref() == Some(token))
            {
                return Some(t);
            }
            gloo_timers::future::TimeoutFuture::new(50).await;
        }
        None
    }

    /// Waits (~5 s at most) until the folder of `token` holds file `name`.
    async fn wait_for_file(token: &str, name: &str) {
        for _ in 0..100 {
            let root = opfs_root().await.unwrap();
            if let Ok(dir) = JsFuture::from(root.get_directory_handle(token)).await {
                let dir: FileSystemDirectoryHandle = dir.unchecked_into();
                if JsFuture::from(dir.get_file_handle(name)).await.is_ok() {
                    return;
                }
            }
            gloo_timers::future::TimeoutFuture::new(50).await;
        }
        panic!("{token}/{name} was never written");
    }

    #[wasm_bindgen_test]
    async fn segments_survive_and_a_live_writer_keeps_its_folder_to_itself() {
        let token = "11".repeat(16);
        let writer = spawn_writer(offer(1, &token), None, |e| panic!("{e}")).unwrap();
        writer
            .unbounded_send(StoreJob::Segment(0, blob(b"abcd")))
            .unwrap();
        writer
            .unbounded_send(StoreJob::Segment(1, blob(b"ef")))
            .unwrap();
        wait_for_file(&token, "seg-00000001").await;
        // While this "tab" writes, loading (as another tab would) skips the folder,
        // complete as it is.
        let while_writing = load_stored().await.unwrap();
        assert!(while_writing
            .iter()
            .all(|t| t.offer.resume_token.as_deref() != Some(token.as_str())));

        // The writer goes (the page reloaded): the next load finds both segments.
        drop(writer);
        let stored = load_until(&token).await.expect("the stored transfer");
        assert_eq!(stored.offer, offer(1, &token));
        assert_eq!(stored.segments.len(), 2);
        assert_eq!(stored.len(), 6);

        // Taken up again and finished without keeping the segments: all gone.
        let again = spawn_writer(stored.offer.clone(), Some(stored), |e| panic!("{e}")).unwrap();
        again
            .unbounded_send(StoreJob::Finish {
                keep_segments: false,
            })
            .unwrap();
        drop(again);
        for _ in 0..100 {
            let root = opfs_root().await.unwrap();
            if JsFuture::from(root.get_directory_handle(&token))
                .await
                .is_err()
            {
                return;
            }
            gloo_timers::future::TimeoutFuture::new(50).await;
        }
        panic!("the finished transfer's folder is still there");
    }

    #[wasm_bindgen_test]
    async fn only_contiguous_segments_count() {
        let token = "22".repeat(16);
        let writer = spawn_writer(offer(2, &token), None, |e| panic!("{e}")).unwrap();
        writer
            .unbounded_send(StoreJob::Segment(0, blob(b"x")))
            .unwrap();
        writer
            .unbounded_send(StoreJob::Segment(2, blob(b"yz")))
            .unwrap();
        drop(writer);
        let stored = load_until(&token).await.expect("the stored transfer");
        assert_eq!(stored.len(), 1, "segment 2 without segment 1 is useless");
        let finish = spawn_writer(stored.offer.clone(), Some(stored), |e| panic!("{e}")).unwrap();
        let _ = finish.unbounded_send(StoreJob::Finish {
            keep_segments: false,
        });
    }
}
