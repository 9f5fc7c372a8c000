//! While the page is hidden (another tab in front, the window minimised), its
//! title counts what arrived meanwhile — chat messages and file offers — as
//! "(3) room — peerlink", so the tab says something is waiting; showing the page
//! again clears the count.

use super::App;

impl App {
    /// Something arrived that the user should see: counted while the page is hidden.
    pub(super) fn notice(&self) {
        if self.dom.doc.hidden() {
            self.unread.set(self.unread.get().saturating_add(1));
            self.show_title();
        }
    }

    /// `visibilitychange`: shown again, the count goes.
    pub(super) fn visibility_changed(&self) {
        if !self.dom.doc.hidden() && self.unread.get() > 0 {
            self.unread.set(0);
            self.show_title();
        }
    }

    /// The room's name tells tabs apart when several rooms are open; the count
    /// comes first, where a narrow tab still shows it.
    pub(super) fn show_title(&self) {
        let base = match self.room.borrow().as_ref() {
            Some(room) => format!("{} — peerlink", room.room_name()),
            None => "peerlink".to_owned(),
        };
        let title = match self.unread.get() {
            0 => base,
            n => format!("({n}) {base}"),
        };
        self.dom.doc.set_title(&title);
    }
}
