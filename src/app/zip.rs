//! "Download all (.zip)": every received file in one archive, under its folder
//! path, in any browser (Firefox and Safari have no folder picker for "Save all
//! to a folder…", and saving a folder of many files one link at a time is no way
//! to get it). The archive is a Blob of the received files' own Blobs between
//! headers from `core::zip`: nothing is copied, whatever the size; only each
//! file's CRC-32 is computed first, reading it once in 2 MiB slices.

use super::dom::Dom;
use super::App;
use crate::core::zip::{dos_date_time, ZipWriter};
use crate::web::files::read_block;
use crate::web::Error;
use js_sys::{Array, Uint8Array};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, Url};

const SLICE_BYTES: u64 = 2 * 1024 * 1024;
const ZIP_NAME: &str = "peerlink-files.zip";

impl Dom {
    /// Shows "Download all (.zip)" once two or more files have arrived.
    pub(super) fn refresh_zip_all(&self) {
        let files = self.received_files().len();
        self.zip_all.set_hidden(files < 2);
        if self.zip_all.get_attribute("data-state").as_deref() != Some("working") {
            self.zip_all
                .set_text_content(Some(&format!("Download all {files} files (.zip)")));
        }
    }
}

impl App {
    /// Builds the archive of every received file and saves it.
    pub(super) fn zip_all(self: &Rc<Self>) {
        let d = &self.dom;
        if d.zip_all.get_attribute("data-state").as_deref() == Some("working") {
            return;
        }
        let files = d.received_files();
        let _ = d.zip_all.set_attribute("data-state", "working");
        let app = self.clone();
        spawn_local(async move {
            let result = build_archive(&files, |done, total| {
                let percent = if total > 0.0 {
                    done / total * 100.0
                } else {
                    100.0
                };
                app.dom
                    .zip_all
                    .set_text_content(Some(&format!("Preparing the .zip… {percent:.0} %")));
            })
            .await;
            let d = &app.dom;
            let _ = d.zip_all.set_attribute("data-state", "idle");
            d.refresh_zip_all();
            match result.and_then(|archive| save(d, &archive)) {
                Ok(()) => {}
                Err(e) => d.set_status("error", &format!("Could not make the .zip: {e}")),
            }
        });
    }
}

/// The archive of `files` (path, contents), as a Blob.
async fn build_archive(
    files: &[(String, Blob)],
    progress: impl Fn(f64, f64),
) -> Result<Blob, Error> {
    let total: f64 = files.iter().map(|(_, b)| b.size()).sum();
    let now = js_sys::Date::new_0();
    let time = dos_date_time(
        now.get_full_year(),
        now.get_month() + 1,
        now.get_date(),
        now.get_hours(),
        now.get_minutes(),
        now.get_seconds(),
    );
    let mut zip = ZipWriter::new();
    let parts = Array::new();
    let mut done = 0.0;
    for (path, blob) in files {
        let crc = crc32_of(blob, |read| progress(done + read, total)).await?;
        done += blob.size();
        let path = zip.unique_path(path);
        parts.push(&Uint8Array::from(
            &zip.add(&path, blob.size() as u64, crc, time)[..],
        ));
        parts.push(blob);
    }
    parts.push(&Uint8Array::from(&zip.finish()[..]));
    let options = BlobPropertyBag::new();
    options.set_type("application/zip");
    Ok(Blob::new_with_blob_sequence_and_options(&parts, &options)?)
}

/// CRC-32 of `blob`, read in slices; `progress` gets the bytes read so far.
async fn crc32_of(blob: &Blob, progress: impl Fn(f64)) -> Result<u32, Error> {
    let mut hasher = crc32fast::Hasher::new();
    let size = blob.size() as u64;
    let mut at = 0;
    while at < size {
        let len = SLICE_BYTES.min(size - at);
        hasher.update(&read_block(blob, at, len).await?.to_vec());
        at += len;
        progress(at as f64);
    }
    Ok(hasher.finalize())
}

/// Saves `archive` through a link, kept with its object URL until the next
/// archive (revoking it at once could cut the download short).
fn save(d: &Dom, archive: &Blob) -> Result<(), Error> {
    let url = Url::create_object_url_with_blob(archive)?;
    let old = d
        .doc
        .query_selector("[data-testid=zip-download]")
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into::<HtmlAnchorElement>().ok());
    let a = match old {
        Some(old) => {
            let _ = Url::revoke_object_url(&old.href());
            old
        }
        None => {
            let a: HtmlAnchorElement = d
                .element("a")
                .and_then(|e| e.dyn_into().ok())
                .ok_or_else(|| Error::InvalidInput("no document".into()))?;
            let _ = a.set_attribute("data-testid", "zip-download");
            a.set_hidden(true);
            let _ = d.zip_all.after_with_node_1(&a);
            a
        }
    };
    a.set_href(&url);
    a.set_download(ZIP_NAME);
    let _ = a.set_attribute("data-size", &archive.size().to_string());
    a.click();
    Ok(())
}
