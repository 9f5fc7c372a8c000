//! Files out of a drag-and-drop, folders included with their structure.
//!
//! `DataTransfer.files` lists only the top-level items of a drop (a dropped folder
//! shows up as one unreadable pseudo-file). The entries API walks folders:
//! [`DataTransferItem.webkitGetAsEntry()`](https://developer.mozilla.org/en-US/docs/Web/API/DataTransferItem/webkitGetAsEntry)
//! gives a `FileSystemDirectoryEntry`, whose reader returns at most 100 entries per
//! `readEntries` call (so it is called until it returns an empty batch).
//!
//! The items of a `DataTransfer` are only readable during the `drop` event, so
//! [`DroppedItems::take`] grabs the entries synchronously and [`DroppedItems::files`]
//! walks them afterwards.

use super::Error;
use js_sys::{Array, Promise};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DataTransfer, File, FileSystemDirectoryEntry, FileSystemDirectoryReader, FileSystemEntry,
    FileSystemFileEntry,
};

/// A file to send, with its path relative to the drop for files inside a dropped
/// folder (`"album/sub/b.bin"`, like `webkitRelativePath` from a folder picker), or
/// `None` for a file dropped on its own.
#[derive(Debug, Clone)]
pub struct DroppedFile {
    pub file: File,
    pub relative_path: Option<String>,
}

enum Item {
    /// A file dropped on its own (or by a browser without the entries API).
    File(File),
    /// A dropped folder, walked later.
    Directory(FileSystemDirectoryEntry),
}

/// What a drop carried, taken out of the `DataTransfer` while the event runs.
pub struct DroppedItems(Vec<Item>);

impl DroppedItems {
    /// Takes the dropped files and folders; call it inside the `drop` handler.
    pub fn take(transfer: &DataTransfer) -> Self {
        let list = transfer.items();
        let mut items = Vec::new();
        for i in 0..list.length() {
            let Some(item) = list.get(i) else { continue };
            if item.kind() != "file" {
                continue;
            }
            let entry = item.webkit_get_as_entry().ok().flatten();
            match entry {
                Some(entry) if entry.is_directory() => {
                    items.push(Item::Directory(entry.unchecked_into()));
                }
                _ => {
                    if let Ok(Some(file)) = item.get_as_file() {
                        items.push(Item::File(file));
                    }
                }
            }
        }
        if items.is_empty() {
            // No items list (older engines): the top-level files are all there is.
            if let Some(files) = transfer.files() {
                items.extend((0..files.length()).filter_map(|i| files.item(i).map(Item::File)));
            }
        }
        Self(items)
    }

    /// How many top-level items were dropped.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing usable was dropped.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every file of the drop, folders walked depth-first (empty folders carry
    /// nothing to send and are skipped).
    pub async fn files(self) -> Result<Vec<DroppedFile>, Error> {
        let mut out = Vec::new();
        for item in self.0 {
            match item {
                Item::File(file) => out.push(DroppedFile {
                    file,
                    relative_path: None,
                }),
                Item::Directory(dir) => walk_directory(dir, &mut out).await?,
            }
        }
        Ok(out)
    }
}

/// Appends every file under `root` with its path starting at `root`'s name.
pub async fn walk_directory(
    root: FileSystemDirectoryEntry,
    out: &mut Vec<DroppedFile>,
) -> Result<(), Error> {
    let mut pending = vec![(root.name(), root)];
    while let Some((prefix, dir)) = pending.pop() {
        let reader = dir.create_reader();
        let mut entries = Vec::new();
        loop {
            let batch = read_entries(&reader).await?;
            if batch.length() == 0 {
                break;
            }
            entries.extend(batch.iter().map(JsCast::unchecked_into::<FileSystemEntry>));
        }
        // Sorted, so a folder's files arrive in a stable order whatever the platform.
        entries.sort_unstable_by_key(|e| e.name());
        let mut subdirs = Vec::new();
        for entry in entries {
            let path = format!("{prefix}/{}", entry.name());
            if entry.is_directory() {
                subdirs.push((path, entry.unchecked_into::<FileSystemDirectoryEntry>()));
            } else if entry.is_file() {
                let file = entry_file(entry.unchecked_ref()).await?;
                out.push(DroppedFile {
                    file,
                    relative_path: Some(path),
                });
            }
        }
        // Popped in order: the first subfolder is walked next.
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// One `readEntries` batch (callbacks turned into a promise; the resolve and
/// reject functions belong to the promise, so no Rust closure outlives this call).
async fn read_entries(reader: &FileSystemDirectoryReader) -> Result<Array, Error> {
    let mut call_error = None;
    let promise = Promise::new(&mut |resolve, reject| {
        if let Err(e) = reader.read_entries_with_callback_and_callback(&resolve, &reject) {
            call_error = Some(e);
        }
    });
    if let Some(e) = call_error {
        return Err(e.into());
    }
    let batch = JsFuture::from(promise).await?;
    batch
        .dyn_into::<Array>()
        .map_err(|_| Error::InvalidInput("readEntries returned no list".into()))
}

async fn entry_file(entry: &FileSystemFileEntry) -> Result<File, Error> {
    let promise = Promise::new(&mut |resolve, reject| {
        entry.file_with_callback_and_callback(&resolve, &reject);
    });
    let file = JsFuture::from(promise).await?;
    file.dyn_into::<File>()
        .map_err(|_| Error::InvalidInput("a dropped entry gave no file".into()))
}
