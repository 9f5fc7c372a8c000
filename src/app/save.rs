//! "Save all to a folder…": every received file written into a folder the user
//! picks, under its folder path (a shared folder keeps its tree), where the browser
//! has `showDirectoryPicker` (File System Access API; Chromium). Elsewhere each file
//! has its own Save link only.

use super::dom::Dom;
use super::App;
use crate::core::transfer::numbered_file_name;
use crate::web::store::{subdir, write_file};
use crate::web::Error;
use js_sys::{Function, Object, Reflect};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Blob, Element, FileSystemDirectoryHandle};

/// The property of a row's Save link that holds the received file.
const FILE_PROPERTY: &str = "peerlinkFile";

/// Most "name (n).ext" tried before giving up on a free name.
const MAX_COPIES: u32 = 1000;

/// Remembers on the Save link `a` the file it saves.
pub(super) fn keep_file(a: &Element, blob: &Blob) {
    let _ = Reflect::set(a, &JsValue::from_str(FILE_PROPERTY), blob);
}

/// The received file kept on Save link `a`, if any.
pub(super) fn kept_file(a: &Element) -> Option<Blob> {
    Reflect::get(a, &JsValue::from_str(FILE_PROPERTY))
        .ok()?
        .dyn_into()
        .ok()
}

/// The browser's folder picker, if it has one.
fn directory_picker() -> Option<Function> {
    let window = web_sys::window()?;
    Reflect::get(&window, &JsValue::from_str("showDirectoryPicker"))
        .ok()?
        .dyn_into()
        .ok()
}

impl Dom {
    /// Every received file with its path in the room's folder tree.
    pub(super) fn received_files(&self) -> Vec<(String, Blob)> {
        self.rows("[data-testid=transfer][data-direction=incoming][data-state=verified]")
            .into_iter()
            .filter_map(|li| {
                let path = li.get_attribute("data-path")?;
                let a = li
                    .query_selector("[data-testid=transfer-download]")
                    .ok()??;
                Some((path, kept_file(&a)?))
            })
            .collect()
    }

    /// Shows the button when the browser can pick a folder and a file has arrived.
    pub fn refresh_save_all(&self) {
        let files = self.received_files().len();
        self.save_all
            .set_hidden(files == 0 || directory_picker().is_none());
        let label = match files {
            1 => "Save the file to a folder…".to_owned(),
            n => format!("Save all {n} files to a folder…"),
        };
        self.save_all.set_text_content(Some(&label));
        self.refresh_zip_all();
    }
}

impl App {
    /// Asks for a folder and writes every received file into it.
    pub(super) fn save_all(self: &Rc<Self>) {
        let Some(picker) = directory_picker() else {
            return;
        };
        let files = self.dom.received_files();
        let options = Object::new();
        let _ = Reflect::set(&options, &"mode".into(), &"readwrite".into());
        // Called now, inside the click: the picker needs the user's gesture.
        let picked = picker
            .call1(&JsValue::UNDEFINED, &options)
            .and_then(|p| p.dyn_into::<js_sys::Promise>());
        let app = self.clone();
        spawn_local(async move {
            let dir = match picked {
                Ok(promise) => JsFuture::from(promise).await,
                Err(e) => Err(e),
            };
            let dir: FileSystemDirectoryHandle = match dir {
                Ok(dir) => dir.unchecked_into(),
                // The user closed the picker: nothing to say.
                Err(e) if dom_error_name(&e).as_deref() == Some("AbortError") => return,
                Err(e) => {
                    let e = Error::from(e);
                    app.dom
                        .add_system_line(&format!("Could not open a folder: {e}"));
                    return;
                }
            };
            let mut saved = 0;
            for (path, blob) in &files {
                match save_one(&dir, path, blob).await {
                    Ok(()) => saved += 1,
                    Err(e) => app
                        .dom
                        .add_system_line(&format!("Could not save {path}: {e}")),
                }
            }
            app.dom.add_system_line(&format!(
                "Saved {saved} of {} files to the folder “{}”.",
                files.len(),
                dir.name()
            ));
        });
    }
}

/// The `name` of a `DOMException`.
fn dom_error_name(error: &JsValue) -> Option<String> {
    error.dyn_ref::<web_sys::DomException>().map(|e| e.name())
}

/// Writes `blob` at `path` (`/`-separated, already sanitized by the transfer
/// protocol) under `dir`, creating its folders; a name already taken gets " (n)".
async fn save_one(dir: &FileSystemDirectoryHandle, path: &str, blob: &Blob) -> Result<(), Error> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let Some((name, folders)) = parts.split_last() else {
        return Err(Error::InvalidInput(format!("no file name in {path:?}")));
    };
    let mut here = Clone::clone(dir);
    for folder in folders {
        here = subdir(&here, folder).await?;
    }
    let name = free_name(&here, name).await?;
    write_file(&here, &name, blob).await?;
    Ok(())
}

/// `name`, or `stem (n).ext` with the smallest n not yet taken in `dir`.
async fn free_name(dir: &FileSystemDirectoryHandle, name: &str) -> Result<String, Error> {
    for n in 0..MAX_COPIES {
        let candidate = numbered_file_name(name, n);
        match JsFuture::from(dir.get_file_handle(&candidate)).await {
            Ok(_) => continue, // taken
            Err(e) if dom_error_name(&e).as_deref() == Some("NotFoundError") => {
                return Ok(candidate);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::InvalidInput(format!(
        "{MAX_COPIES} files named like {name} already exist"
    )))
}
