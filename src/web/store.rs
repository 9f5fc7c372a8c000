//! Partial incoming files in the
//! [origin private file system](https://developer.mozilla.org/en-US/docs/Web/API/File_System_API/Origin_private_file_system)
//! (OPFS), so that a transfer survives a reload of the receiving page.
//!
//! Layout: `peerlink-incoming/<resume token>/` holds `offer.json` (the sanitized
//! offer, token included, as its `offer` message) and the received bytes as
//! segment files `seg-00000000`, `seg-00000001`, … in file order. Each segment
//! becomes visible under its name only once complete (written as `.part` by a
//! worker through a sync access handle and then renamed, see
//! `web::segment_writer`; where that worker cannot run, written from the page
//! with one `createWritable()` … `close()`), so a reload in the middle of a write
//! leaves the previous segments intact. After a
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

use super::segment_writer::{segment_writer, WriteFailed};
use super::Error;
use crate::core::transfer::{ControlMessage, FileOffer};
use futures_channel::mpsc;
use futures_channel::oneshot;
use futures_util::StreamExt;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    Blob, BlobPropertyBag, File, FileSystemDirectoryHandle, FileSystemFileHandle,
    FileSystemGetDirectoryOptions, FileSystemGetFileOptions, FileSystemHandle,
    FileSystemHandleKind, FileSystemRemoveOptions, FileSystemWritableFileStream,
};

const ROOT: &str = "peerlink-incoming";
const OFFER_FILE: &str = "offer.json";
const SEGMENT_PREFIX: &str = "seg-";
const LOCK_PREFIX: &str = "peerlink-incoming/";

/// A partial file whose newest byte is older than this (a day) is deleted.
pub const MAX_AGE_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// A held Web Lock: released when dropped. Without the Web Locks API it holds
/// nothing.
#[derive(Debug, Default)]
struct LockGuard {
    name: String,
    /// Resolves the promise that holds the lock.
    release: std::cell::RefCell<Option<js_sys::Function>>,
    /// The request's promise: settles once the lock is released.
    released: Option<js_sys::Promise>,
}

thread_local! {
    /// The folders of this page's received files, each with the Blob that reads
    /// them (and so its lock held): until [`release_received`], or the next load.
    static KEPT: std::cell::RefCell<Vec<(Blob, TransferDir)>> = const {
        std::cell::RefCell::new(Vec::new())
    };
    /// Partial files this page found and locked that no room uses (listed with
    /// [`stored_downloads`], or left by a room that left): the next
    /// [`load_stored`] starts with them. Dropping them would release their locks
    /// only asynchronously, and a scan right after could find them still locked
    /// and miss them.
    static UNUSED: std::cell::RefCell<Vec<StoredTransfer>> = const {
        std::cell::RefCell::new(Vec::new())
    };
    /// One [`load_stored`] at a time: a second one would find the folders the
    /// first has locked meanwhile and skip them (a join while the page lists
    /// its stored downloads).
    static SCAN: std::rc::Rc<futures_util::lock::Mutex<()>> =
        std::rc::Rc::new(futures_util::lock::Mutex::new(()));
    /// Locks this page let go of, each with the promise that settles once it is
    /// free: releasing takes effect only after the current task, so asking for
    /// the same lock again at once would find it still held by ourselves.
    static RELEASING: std::cell::RefCell<Vec<(String, js_sys::Promise)>> = const {
        std::cell::RefCell::new(Vec::new())
    };
    /// Bumped whenever a partial file comes free (see `hand_on`).
    static UNUSED_GENERATION: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Told when a partial file comes free (see [`unused_added`]).
    static UNUSED_WATCHERS: std::cell::RefCell<Vec<oneshot::Sender<()>>> = const {
        std::cell::RefCell::new(Vec::new())
    };
}

/// Keeps partial files found by [`load_stored`] that nothing uses for the next one.
pub(crate) fn keep_unused(stored: impl IntoIterator<Item = StoredTransfer>) {
    UNUSED.with(|unused| unused.borrow_mut().extend(stored));
}

/// Keeps a partial file that just came free (its writer is done) for the next
/// [`load_stored`], and says so ([`unused_added`]).
fn hand_on(stored: StoredTransfer) {
    keep_unused([stored]);
    UNUSED_GENERATION.with(|g| g.set(g.get() + 1));
    for watcher in UNUSED_WATCHERS.with(|w| std::mem::take(&mut *w.borrow_mut())) {
        let _ = watcher.send(());
    }
}

/// Counts the partial files that came free: a scan that saw no copy can tell
/// whether one came free while it ran.
pub(crate) fn unused_generation() -> u64 {
    UNUSED_GENERATION.with(std::cell::Cell::get)
}

/// Resolves when a partial file next becomes free for the taking (e.g. a transfer
/// whose sender left has written its last segment): a scan that found its folder
/// still in use could look again.
pub(crate) fn unused_added() -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    UNUSED_WATCHERS.with(|w| w.borrow_mut().push(tx));
    rx
}

/// A partial download of an earlier page load, as [`stored_downloads`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDownload {
    /// Names it for [`discard_stored_download`] (not its resume token).
    pub key: String,
    pub name: String,
    pub relative_path: Option<String>,
    pub size: u64,
    pub mime_type: String,
    /// Bytes stored: where it continues.
    pub bytes: u64,
    /// When its last bytes were written (ms since the epoch); it is deleted
    /// [`MAX_AGE_MS`] after that.
    pub written_ms: f64,
}

impl StoredTransfer {
    fn download(&self) -> StoredDownload {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.dir.name.as_bytes());
        let key = crate::core::transfer::sha256_to_hex(&digest.into())[..16].to_owned();
        StoredDownload {
            key,
            name: self.offer.name.clone(),
            relative_path: self.offer.relative_path.clone(),
            size: self.offer.size,
            mime_type: self.offer.mime_type.clone(),
            bytes: self.len(),
            written_ms: self.written_ms,
        }
    }
}

/// The partial downloads of earlier page loads that a room can continue: each one
/// continues when its sender offers it again in a room this page joins (its
/// sender's page still open, or sending the same file again). Without a room
/// yet, so a page can say what is waiting before the user joins. Those a joined
/// room is continuing are not listed.
pub async fn stored_downloads() -> Result<Vec<StoredDownload>, Error> {
    let found = load_stored().await?;
    let list = found.iter().map(StoredTransfer::download).collect();
    keep_unused(found);
    Ok(list)
}

/// Deletes the partial download `key` from [`stored_downloads`]; `false` if it is
/// not there (a joined room is continuing it, or it is gone).
pub async fn discard_stored_download(key: &str) -> Result<bool, Error> {
    let found = UNUSED.with(|unused| {
        let mut unused = unused.borrow_mut();
        let i = unused.iter().position(|s| s.download().key == key)?;
        Some(unused.remove(i))
    });
    match found {
        Some(stored) => stored.dir.remove().await.map(|()| true),
        None => Ok(false),
    }
}

/// Frees the storage behind `file`, a received file's Blob (`RoomEvent::FileReceived`):
/// a file over one segment lives in the origin private file system, read by that
/// Blob, until the next page load — or until this. The Blob cannot be read after
/// it. `false` if `file` is not such a Blob (e.g. a smaller file, kept in memory).
pub async fn release_received(file: &Blob) -> Result<bool, Error> {
    let found = KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        let i = kept
            .iter()
            .position(|(blob, _)| js_sys::Object::is(blob, file))?;
        Some(kept.remove(i).1)
    });
    match found {
        Some(dir) => dir.remove().await.map(|()| true),
        None => Ok(false),
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(release) = self.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::UNDEFINED);
            if let Some(released) = self.released.take() {
                let name = std::mem::take(&mut self.name);
                RELEASING.with(|r| r.borrow_mut().push((name, released)));
            }
        }
    }
}

/// `navigator.locks.request(name, {ifAvailable: true}, …)`: the lock if no other tab
/// holds it, `None` if one does. Where the API is missing, an empty guard.
async fn try_lock(name: &str) -> Result<Option<LockGuard>, Error> {
    // Our own release of it first (see RELEASING).
    let ours: Vec<js_sys::Promise> = RELEASING.with(|r| {
        let mut r = r.borrow_mut();
        let (mine, rest) = std::mem::take(&mut *r)
            .into_iter()
            .partition(|(n, _)| n == name);
        *r = rest;
        mine.into_iter().map(|(_, p)| p).collect()
    });
    for released in ours {
        let _ = JsFuture::from(released).await;
    }
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
    let released = request
        .call3(&locks, &JsValue::from_str(name), &options, &callback)?
        .dyn_into::<js_sys::Promise>()
        .ok();
    match granted_rx.await {
        Ok(Some(release)) => Ok(Some(LockGuard {
            name: name.to_owned(),
            release: std::cell::RefCell::new(Some(release)),
            released,
        })),
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
    /// When its newest file was written (ms since the epoch).
    pub written_ms: f64,
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
    _lock: std::rc::Rc<LockGuard>,
}

pub(super) async fn opfs_root() -> Result<FileSystemDirectoryHandle, Error> {
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

pub(crate) async fn subdir(
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

/// Deletes folder `name` of `parent` with everything in it.
pub(super) async fn remove_subdir(
    parent: &FileSystemDirectoryHandle,
    name: &str,
) -> Result<(), Error> {
    let options = FileSystemRemoveOptions::new();
    options.set_recursive(true);
    JsFuture::from(parent.remove_entry_with_options(name, &options)).await?;
    Ok(())
}

/// Writes `data` (a string or bytes) as the whole content of file `name` in `dir`
/// and returns its handle. The content becomes visible only at `close()`.
/// Writes `data` (a string, a buffer or a Blob) to file `name` of `dir`, created or
/// replaced; a failed write leaves the file as it was.
pub(crate) async fn write_file(
    dir: &FileSystemDirectoryHandle,
    name: &str,
    data: &JsValue,
) -> Result<FileSystemFileHandle, Error> {
    let options = FileSystemGetFileOptions::new();
    options.set_create(true);
    let handle: FileSystemFileHandle =
        JsFuture::from(dir.get_file_handle_with_options(name, &options))
            .await?
            .unchecked_into();
    let writable: FileSystemWritableFileStream = JsFuture::from(handle.create_writable())
        .await?
        .unchecked_into();
    let written = match (data.as_string(), data.dyn_ref::<Blob>()) {
        (Some(text), _) => writable.write_with_str(&text),
        (None, Some(blob)) => writable.write_with_blob(blob),
        (None, None) => writable.write_with_buffer_source(data.unchecked_ref()),
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
    Ok(handle)
}

/// Stores one segment (`parts`: views of received frames, in order) as file `index`
/// of `dir` and returns it as a `File` (read from disk, not from memory). On failure
/// the parts come back (unless lost with a storage worker that died).
async fn store_segment(
    dir: &FileSystemDirectoryHandle,
    index: u32,
    parts: js_sys::Array,
) -> Result<File, WriteFailed> {
    let name = format!("{SEGMENT_PREFIX}{index:08}");
    match segment_writer().await {
        Some(writer) => writer.write(dir, &name, parts).await,
        None => write_segment_from_page(dir, &name, parts).await,
    }
}

/// [`store_segment`] without a worker: one write of one buffer (a Blob of the parts
/// would copy them into the browser's blob storage first).
async fn write_segment_from_page(
    dir: &FileSystemDirectoryHandle,
    name: &str,
    parts: js_sys::Array,
) -> Result<File, WriteFailed> {
    let views: Vec<js_sys::Uint8Array> = parts.iter().map(|p| p.unchecked_into()).collect();
    let total: u32 = views.iter().map(|v| v.length()).sum();
    let bytes = js_sys::Uint8Array::new_with_length(total);
    let mut at = 0;
    for view in &views {
        bytes.set(view, at);
        at += view.length();
    }
    let stored = async {
        let handle = write_file(dir, name, &bytes).await?;
        Ok::<_, Error>(JsFuture::from(handle.get_file()).await?.unchecked_into())
    };
    stored.await.map_err(|error| WriteFailed {
        error,
        parts: Some(parts),
    })
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
        let dir = Self {
            parent,
            name: token.to_owned(),
            dir,
            _lock: std::rc::Rc::new(lock),
        };
        dir.write_offer(offer).await?;
        Ok(dir)
    }

    async fn remove(&self) -> Result<(), Error> {
        remove_subdir(&self.parent, &self.name).await
    }

    /// Records `offer` as the one these bytes belong to (a held copy taken up by a
    /// new offer of the same file).
    async fn write_offer(&self, offer: &FileOffer) -> Result<(), Error> {
        let record = ControlMessage::Offer(offer.clone()).to_json();
        write_file(&self.dir, OFFER_FILE, &JsValue::from_str(&record)).await?;
        Ok(())
    }

    async fn forget_offer(&self) -> Result<(), Error> {
        JsFuture::from(self.dir.remove_entry(OFFER_FILE)).await?;
        Ok(())
    }
}

/// What the sink of one incoming file is asked to do, in order.
#[derive(Debug)]
pub(crate) enum StoreJob {
    /// Keep the next segment: views of the received frames' payloads, in order.
    Segment(js_sys::Array),
    /// The transfer is over. With a reply: the file was verified; answer with all of
    /// it (a Blob of the segments, of this MIME type) once every segment is kept.
    /// Without: drop everything.
    Finish(Option<(String, oneshot::Sender<Result<Blob, Error>>)>),
}

/// Starts the sink of one incoming file, which keeps its segments in order.
///
/// With `store` (and a resume token in the offer) each segment goes to a file in
/// the origin private file system, which is then the only copy: the received file
/// is a Blob of those files, and a reload can resume from them. The folder is
/// created first (unless `existing`, after a reload or for a held copy: its
/// segments come first, and `offer` replaces the one stored with them).
/// Otherwise — or as soon as storage fails, reported once through `warn` — segments
/// become in-memory Blobs (which the browser may spill to disk): storage problems
/// never lose bytes, they only make the transfer unresumable after a reload.
///
/// `kept` is called after each segment is kept (so the caller can count what is
/// still waiting, e.g. to hold back acknowledgements while storage lags).
pub(crate) fn spawn_sink(
    offer: FileOffer,
    store: bool,
    existing: Option<StoredTransfer>,
    warn: impl Fn(Error) + 'static,
    kept: impl Fn() + 'static,
) -> mpsc::UnboundedSender<StoreJob> {
    let (tx, mut rx) = mpsc::unbounded::<StoreJob>();
    spawn_local(async move {
        let segments = js_sys::Array::new();
        let mut index = 0;
        let dir = match (existing, offer.resume_token.as_deref()) {
            (Some(stored), _) => {
                for file in &stored.segments {
                    segments.push(file);
                }
                index = stored.segments.len() as u32;
                if stored.offer != offer {
                    // A held copy taken up by a new offer: a reload resumes that one.
                    if let Err(e) = stored.dir.write_offer(&offer).await {
                        warn(e);
                    }
                }
                Some(stored.dir)
            }
            (None, Some(token)) if store => match TransferDir::create(&offer, token).await {
                Ok(dir) => Some(dir),
                Err(e) => {
                    warn(e);
                    None
                }
            },
            (None, _) => None,
        };
        // Segments in storage (and so a folder the final Blob reads).
        let mut stored = index;
        // Storage failed once: a gap would make later segments useless there.
        let mut broken = dir.is_none();
        // Bytes could not be kept at all (no memory for a Blob): the file is lost.
        let mut lost = None;
        while let Some(job) = rx.next().await {
            match job {
                StoreJob::Segment(parts) => {
                    // What could not be stored: kept in memory instead.
                    let unstored = match dir.as_ref().filter(|_| !broken) {
                        Some(dir) => match store_segment(&dir.dir, index, parts).await {
                            Ok(file) => {
                                segments.push(&file);
                                stored += 1;
                                None
                            }
                            Err(failed) => {
                                broken = true;
                                if failed.parts.is_none() {
                                    lost = Some(failed.error.clone());
                                }
                                warn(failed.error);
                                failed.parts
                            }
                        },
                        None => Some(parts),
                    };
                    index += 1;
                    if let Some(parts) = unstored {
                        match Blob::new_with_u8_array_sequence(&parts) {
                            Ok(blob) => {
                                segments.push(&blob);
                            }
                            Err(e) => lost = Some(Error::from(e)),
                        }
                    }
                    kept();
                }
                StoreJob::Finish(reply) => {
                    let (file, reply) = match reply {
                        Some((mime_type, reply)) => {
                            let file = match lost.take() {
                                Some(e) => Err(e),
                                None => {
                                    let options = BlobPropertyBag::new();
                                    options.set_type(&mime_type);
                                    Blob::new_with_blob_sequence_and_options(&segments, &options)
                                        .map_err(Error::from)
                                }
                            };
                            (Some(file), Some(reply))
                        }
                        None => (None, None),
                    };
                    if let Some(dir) = &dir {
                        let saved = file.as_ref().and_then(|f| f.as_ref().ok());
                        let result = match saved.filter(|_| stored > 0) {
                            // The saved Blob reads the segments: no other tab may
                            // delete them while this page lives (or until it
                            // releases them); the next load does. Registered
                            // before the file is handed out, so it can be released
                            // as soon as it is.
                            Some(blob) => {
                                let forgotten = dir.forget_offer().await;
                                KEPT.with(|kept| {
                                    kept.borrow_mut().push((blob.clone(), dir.clone()))
                                });
                                forgotten
                            }
                            None => dir.remove().await,
                        };
                        if let Err(e) = result {
                            warn(e);
                        }
                    }
                    if let (Some(file), Some(reply)) = (file, reply) {
                        let _ = reply.send(file);
                    }
                    return;
                }
            }
        }
        // Dropped without a verdict: its sender left (or its page is going). The
        // partial copy stays for the file's next offer or a reload, handed on still
        // locked: released, a scan could find it locked by this very page (a
        // release lands later) and miss it.
        if let Some(dir) = dir {
            if let Some(stored) = take_up(dir).await {
                hand_on(stored);
            }
        }
    });
    tx
}

/// Whether `stored` holds the start of the file `offer` offers: same name, folder
/// path, size and type, and some bytes (a file's sender that reloaded offers it again
/// under a new id and token).
pub(crate) fn holds_start_of(stored: &StoredTransfer, offer: &FileOffer) -> bool {
    let (had, new) = (&stored.offer, offer);
    had.name == new.name
        && had.relative_path == new.relative_path
        && had.size == new.size
        && had.mime_type == new.mime_type
        && !stored.is_empty()
        && stored.len() <= new.size
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
    let scan = SCAN.with(std::rc::Rc::clone);
    let _one_at_a_time = scan.lock().await;
    let parent = opfs_root().await?;
    let mut found = Vec::new();
    // Those this page holds already (their folders are locked: the scan skips
    // them), read again: a segment the page before a reload was writing may have
    // been committed since they were listed.
    let unused = UNUSED.with(|unused| std::mem::take(&mut *unused.borrow_mut()));
    for stored in unused {
        if let Some(stored) = take_up(stored.dir).await {
            found.push(stored);
        }
    }
    let mut handles = Vec::new();
    let entries = parent.values();
    while let Some(value) = next_value(&entries).await? {
        let handle: FileSystemHandle = value.unchecked_into();
        if handle.kind() == FileSystemHandleKind::Directory {
            handles.push(handle);
        }
    }
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
            _lock: std::rc::Rc::new(lock),
        };
        if let Some(stored) = take_up(dir).await {
            found.push(stored);
        }
    }
    Ok(found)
}

/// The partial file in `dir` (locked by this page), or `None` after deleting a
/// folder that is finished, never got its offer written, or was abandoned long ago.
async fn take_up(dir: TransferDir) -> Option<StoredTransfer> {
    match read_transfer(dir.clone()).await {
        Ok(Some(stored)) if js_sys::Date::now() - stored.written_ms < MAX_AGE_MS => Some(stored),
        Ok(_) | Err(_) => {
            let _ = dir.remove().await;
            None
        }
    }
}

/// The transfer stored in `dir`; `None` if it has no valid offer.
async fn read_transfer(dir: TransferDir) -> Result<Option<StoredTransfer>, Error> {
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
    // The folder is named after the token of the offer that created it; a held copy
    // taken up by a later offer of the same file records that offer's token.
    let Some(offer) = offer.filter(|o| o.resume_token.is_some()) else {
        return Ok(None);
    };
    segments.sort_unstable_by_key(|(index, _)| *index);
    let segments = segments
        .into_iter()
        .enumerate()
        .take_while(|(position, (index, _))| *position as u32 == *index)
        .map(|(_, (_, file))| file)
        .collect();
    Ok(Some(StoredTransfer {
        offer,
        segments,
        written_ms: newest,
        dir,
    }))
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

    fn parts(bytes: &[u8]) -> js_sys::Array {
        js_sys::Array::of1(&js_sys::Uint8Array::from(bytes))
    }

    async fn text(blob: &Blob) -> String {
        JsFuture::from(blob.text())
            .await
            .unwrap()
            .as_string()
            .unwrap()
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
        let sink = spawn_sink(offer(1, &token), true, None, |e| panic!("{e}"), || {});
        sink.unbounded_send(StoreJob::Segment(parts(b"abcd")))
            .unwrap();
        sink.unbounded_send(StoreJob::Segment(parts(b"ef")))
            .unwrap();
        wait_for_file(&token, "seg-00000001").await;
        // While this "tab" writes, loading (as another tab would) skips the folder,
        // complete as it is.
        let while_writing = load_stored().await.unwrap();
        assert!(while_writing
            .iter()
            .all(|t| t.offer.resume_token.as_deref() != Some(token.as_str())));

        // The sink goes (the page reloaded): the next load finds both segments.
        drop(sink);
        let stored = load_until(&token).await.expect("the stored transfer");
        assert_eq!(stored.offer, offer(1, &token));
        assert_eq!(stored.segments.len(), 2);
        assert_eq!(stored.len(), 6);

        // Taken up again and dropped without a verdict: all gone.
        let again = spawn_sink(
            stored.offer.clone(),
            true,
            Some(stored),
            |e| panic!("{e}"),
            || {},
        );
        again.unbounded_send(StoreJob::Finish(None)).unwrap();
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
    async fn a_sink_dropped_without_a_verdict_hands_its_copy_on_still_locked() {
        let token = "66".repeat(16);
        let added = unused_added();
        let sink = spawn_sink(offer(6, &token), true, None, |e| panic!("{e}"), || {});
        sink.unbounded_send(StoreJob::Segment(parts(b"abcdef")))
            .unwrap();
        // Its sender left: the sink goes with its last segment still to write.
        drop(sink);
        added.await.expect("told when the copy came free");
        // Never released: nobody (another tab, or a scan of this page) can take
        // the folder meanwhile...
        assert!(try_lock(&format!("{LOCK_PREFIX}{token}"))
            .await
            .unwrap()
            .is_none());
        // ...and the next scan has it at once, with the segment written last.
        let (mine, others): (Vec<_>, Vec<_>) = load_stored()
            .await
            .unwrap()
            .into_iter()
            .partition(|t| t.offer.resume_token.as_deref() == Some(token.as_str()));
        keep_unused(others);
        assert_eq!(mine.len(), 1, "the handed-on copy");
        assert_eq!(mine[0].len(), 6);
        mine[0].dir.remove().await.unwrap();
    }

    #[wasm_bindgen_test]
    async fn a_lock_this_page_let_go_of_can_be_taken_again_at_once() {
        for round in 0..20 {
            let name = format!("{LOCK_PREFIX}test-relock-{round}");
            let held = try_lock(&name).await.unwrap().expect("free at first");
            drop(held);
            assert!(try_lock(&name).await.unwrap().is_some(), "round {round}");
        }
    }

    #[wasm_bindgen_test]
    async fn stored_downloads_are_listed_handed_to_the_next_load_and_discarded() {
        let token = "55".repeat(16);
        let sink = spawn_sink(offer(5, &token), true, None, |e| panic!("{e}"), || {});
        sink.unbounded_send(StoreJob::Segment(parts(b"abcd")))
            .unwrap();
        drop(sink);
        let stored = load_until(&token).await.expect("the stored transfer");
        // Let go and asked for again at once: our own release is waited for, so
        // the folder is not mistaken for another tab's.
        drop(stored);
        let listed = stored_downloads().await.unwrap();
        let mine: Vec<&StoredDownload> = listed.iter().filter(|d| d.name == "f5.bin").collect();
        assert_eq!(mine.len(), 1, "{listed:?}");
        let download = mine[0].clone();
        assert_eq!((download.size, download.bytes), (100, 4));
        assert_eq!(download.key.len(), 16);
        assert!(
            !download.key.contains(&token[..16]),
            "the key is not the token"
        );
        let age = js_sys::Date::now() - download.written_ms;
        assert!((0.0..60_000.0).contains(&age), "{age}");
        // Listing kept it (locked) for the next load: a room joining now gets it.
        let found = load_stored().await.unwrap();
        assert!(found
            .iter()
            .any(|t| t.offer.resume_token.as_deref() == Some(token.as_str())));
        keep_unused(found);
        // Discarded: the folder goes, and it is not listed again.
        assert!(discard_stored_download(&download.key).await.unwrap());
        assert!(!discard_stored_download(&download.key).await.unwrap());
        let root = opfs_root().await.unwrap();
        assert!(JsFuture::from(root.get_directory_handle(&token))
            .await
            .is_err());
        let listed = stored_downloads().await.unwrap();
        assert!(listed.iter().all(|d| d.key != download.key), "{listed:?}");
    }

    #[wasm_bindgen_test]
    async fn a_verified_file_is_read_from_its_stored_segments() {
        let token = "33".repeat(16);
        let sink = spawn_sink(offer(3, &token), true, None, |e| panic!("{e}"), || {});
        sink.unbounded_send(StoreJob::Segment(parts(b"abc")))
            .unwrap();
        drop(sink);
        let stored = load_until(&token).await.expect("the stored transfer");
        // Resumed after a "reload": the stored segment comes first.
        let kept = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = kept.clone();
        let sink = spawn_sink(
            stored.offer.clone(),
            true,
            Some(stored),
            |e| panic!("{e}"),
            move || counter.set(counter.get() + 1),
        );
        let more = js_sys::Array::of2(
            &js_sys::Uint8Array::from(&b"de"[..]),
            &js_sys::Uint8Array::from(&b"f"[..]),
        );
        sink.unbounded_send(StoreJob::Segment(more)).unwrap();
        let (reply, file) = oneshot::channel();
        sink.unbounded_send(StoreJob::Finish(Some(("text/plain".into(), reply))))
            .unwrap();
        let blob = file.await.unwrap().unwrap();
        assert_eq!(blob.type_(), "text/plain");
        assert_eq!(text(&blob).await, "abcdef");
        assert_eq!(kept.get(), 1, "the one new segment, once stored");
        // Both segments are files in storage, the only copy: the folder stays, without
        // its offer (so it can no longer be resumed, and the next load deletes it).
        let root = opfs_root().await.unwrap();
        let dir: FileSystemDirectoryHandle = JsFuture::from(root.get_directory_handle(&token))
            .await
            .unwrap()
            .unchecked_into();
        assert!(JsFuture::from(dir.get_file_handle("seg-00000001"))
            .await
            .is_ok());
        assert!(JsFuture::from(dir.get_file_handle(OFFER_FILE))
            .await
            .is_err());
    }

    #[wasm_bindgen_test]
    async fn releasing_a_received_file_deletes_its_folder() {
        let token = "44".repeat(16);
        let sink = spawn_sink(offer(5, &token), true, None, |e| panic!("{e}"), || {});
        sink.unbounded_send(StoreJob::Segment(parts(b"abc")))
            .unwrap();
        let (reply, file) = oneshot::channel();
        sink.unbounded_send(StoreJob::Finish(Some((String::new(), reply))))
            .unwrap();
        let blob = file.await.unwrap().unwrap();
        assert_eq!(text(&blob).await, "abc");
        let other = Blob::new().unwrap();
        assert!(
            !release_received(&other).await.unwrap(),
            "not a received file"
        );
        assert!(release_received(&blob).await.unwrap());
        let root = opfs_root().await.unwrap();
        assert!(
            JsFuture::from(root.get_directory_handle(&token))
                .await
                .is_err(),
            "its folder is gone"
        );
        assert!(!release_received(&blob).await.unwrap(), "released once");
    }

    #[wasm_bindgen_test]
    async fn without_storage_a_verified_file_is_kept_in_memory() {
        // No resume token: nothing may go to storage.
        let mut no_token = offer(4, "unused");
        no_token.resume_token = None;
        // Every segment is reported kept (what holds acknowledgements back counts on it).
        let kept = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = kept.clone();
        let sink = spawn_sink(
            no_token,
            true,
            None,
            |e| panic!("{e}"),
            move || counter.set(counter.get() + 1),
        );
        sink.unbounded_send(StoreJob::Segment(parts(b"12")))
            .unwrap();
        sink.unbounded_send(StoreJob::Segment(parts(b"345")))
            .unwrap();
        let (reply, file) = oneshot::channel();
        sink.unbounded_send(StoreJob::Finish(Some((String::new(), reply))))
            .unwrap();
        assert_eq!(text(&file.await.unwrap().unwrap()).await, "12345");
        assert_eq!(kept.get(), 2);
    }

    #[wasm_bindgen_test]
    async fn without_the_worker_the_page_writes_a_segment() {
        let dir = subdir(&opfs_root().await.unwrap(), "page-writer-test")
            .await
            .unwrap();
        // Views inside larger buffers, as received frames' payloads are.
        use crate::web::segment_writer::tests::framed;
        let parts = js_sys::Array::of2(&framed(b"from "), &framed(b"the page"));
        let file = write_segment_from_page(&dir, "seg-00000000", parts)
            .await
            .map_err(|f| f.error)
            .unwrap();
        assert_eq!(text(&file).await, "from the page");
        remove_subdir(&opfs_root().await.unwrap(), "page-writer-test")
            .await
            .unwrap();
    }

    #[wasm_bindgen_test]
    async fn only_contiguous_segments_count() {
        let token = "22".repeat(16);
        let sink = spawn_sink(offer(2, &token), true, None, |e| panic!("{e}"), || {});
        sink.unbounded_send(StoreJob::Segment(parts(b"x"))).unwrap();
        wait_for_file(&token, "seg-00000000").await;
        // A segment after a gap (as a failed write would leave).
        let dir = subdir(&opfs_root().await.unwrap(), &token).await.unwrap();
        write_file(&dir, "seg-00000002", &js_sys::Uint8Array::from(&b"yz"[..]))
            .await
            .unwrap();
        drop(sink);
        let stored = load_until(&token).await.expect("the stored transfer");
        assert_eq!(stored.len(), 1, "segment 2 without segment 1 is useless");
        let finish = spawn_sink(
            stored.offer.clone(),
            true,
            Some(stored),
            |e| panic!("{e}"),
            || {},
        );
        let _ = finish.unbounded_send(StoreJob::Finish(None));
    }
}
