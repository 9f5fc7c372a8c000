//! A ZIP archive of files stored as they are (no compression), written around
//! contents the caller already has: the headers and the central directory come
//! from here, and each file's bytes go between them untouched. The page builds
//! "Download all (.zip)" that way as a Blob of Blobs, so not one byte of the
//! received files is copied. ZIP64 records are added where a size, an offset or
//! the number of files needs them (APPNOTE 6.3.10, sections 4.3 and 4.5.3).
//!
//! Each file's CRC-32 must be known before its header: the caller computes it
//! (e.g. with `crc32fast`) and passes it in.

use super::transfer::numbered_file_name;

/// Writes the parts of an archive in order: `add` for each file (its header, to
/// be followed by exactly `size` bytes of it), then `finish`.
#[derive(Debug, Default)]
pub struct ZipWriter {
    /// Bytes of the archive so far (headers and file contents).
    offset: u64,
    central: Vec<u8>,
    entries: u64,
    /// Paths used so far, for [`ZipWriter::unique_path`].
    paths: Vec<String>,
}

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
/// General purpose flag bit 11: names are UTF-8.
const UTF8_NAMES: u16 = 1 << 11;
/// "Version needed to extract": 2.0 for plain stored files, 4.5 with ZIP64.
const VERSION_PLAIN: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// "Version made by": Unix (3) in the high byte, spec 4.5.
const MADE_BY: u16 = (3 << 8) | 45;
const MAX_U32: u64 = 0xFFFF_FFFF;
const MAX_U16: u64 = 0xFFFF;

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// `v` as a 32-bit field, or the 0xFFFFFFFF that says "see the ZIP64 record".
fn field32(v: u64) -> u32 {
    u32::try_from(v)
        .ok()
        .filter(|&v| v != u32::MAX)
        .unwrap_or(u32::MAX)
}

/// MS-DOS date and time (local time, 2-second steps, 1980–2107), as the high and
/// low 16 bits: what ZIP headers carry.
pub fn dos_date_time(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> u32 {
    let year = year.clamp(1980, 2107) - 1980;
    let date = (year << 9) | (month.clamp(1, 12) << 5) | day.clamp(1, 31);
    let time = (hour.min(23) << 11) | (minute.min(59) << 5) | (second.min(59) / 2);
    (date << 16) | time
}

impl ZipWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// `path` if no file of the archive has it yet, else the first free
    /// "name (n).ext" in its folder (two peers may send files of the same name).
    pub fn unique_path(&mut self, path: &str) -> String {
        let (folder, name) = match path.rsplit_once('/') {
            Some((folder, name)) => (format!("{folder}/"), name),
            None => (String::new(), path),
        };
        let taken = |p: &str| self.paths.iter().any(|q| q.eq_ignore_ascii_case(p));
        let candidate = (0..)
            .map(|n| format!("{folder}{}", numbered_file_name(name, n)))
            .find(|p| !taken(p))
            .unwrap_or_default();
        self.paths.push(candidate.clone());
        candidate
    }

    /// The local header of the next file, `path` (use `/` between folders), whose
    /// `size` bytes must follow it in the archive. `dos_time` from [`dos_date_time`].
    pub fn add(&mut self, path: &str, size: u64, crc32: u32, dos_time: u32) -> Vec<u8> {
        let name = path.as_bytes();
        let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        let name = &name[..usize::from(name_len)];
        let offset = self.offset;

        // Local header: a ZIP64 record holds both sizes if the file needs one.
        let local_zip64 = size >= MAX_U32;
        let mut local = Vec::with_capacity(30 + name.len() + 20);
        put32(&mut local, LOCAL_HEADER);
        put16(
            &mut local,
            if local_zip64 {
                VERSION_ZIP64
            } else {
                VERSION_PLAIN
            },
        );
        put16(&mut local, UTF8_NAMES);
        put16(&mut local, 0); // stored
        put32(&mut local, dos_time);
        put32(&mut local, crc32);
        put32(&mut local, field32(size)); // compressed size
        put32(&mut local, field32(size)); // uncompressed size
        put16(&mut local, name_len);
        put16(&mut local, if local_zip64 { 20 } else { 0 });
        local.extend_from_slice(name);
        if local_zip64 {
            put16(&mut local, ZIP64_EXTRA);
            put16(&mut local, 16);
            put64(&mut local, size);
            put64(&mut local, size);
        }

        // Central header: the ZIP64 record holds only the fields that overflow,
        // in the order uncompressed size, compressed size, offset.
        let mut extra = Vec::new();
        if size >= MAX_U32 {
            put64(&mut extra, size);
            put64(&mut extra, size);
        }
        if offset >= MAX_U32 {
            put64(&mut extra, offset);
        }
        let c = &mut self.central;
        put32(c, CENTRAL_HEADER);
        put16(c, MADE_BY);
        put16(
            c,
            if extra.is_empty() {
                VERSION_PLAIN
            } else {
                VERSION_ZIP64
            },
        );
        put16(c, UTF8_NAMES);
        put16(c, 0);
        put32(c, dos_time);
        put32(c, crc32);
        put32(c, field32(size));
        put32(c, field32(size));
        put16(c, name_len);
        put16(
            c,
            if extra.is_empty() {
                0
            } else {
                4 + extra.len() as u16
            },
        );
        put16(c, 0); // comment
        put16(c, 0); // disk number
        put16(c, 0); // internal attributes
        put32(c, 0o100644 << 16); // external: a regular file, rw-r--r--
        put32(c, field32(offset));
        c.extend_from_slice(name);
        if !extra.is_empty() {
            put16(c, ZIP64_EXTRA);
            put16(c, extra.len() as u16);
            c.extend_from_slice(&extra);
        }

        self.entries += 1;
        self.offset = offset + local.len() as u64 + size;
        local
    }

    /// The central directory and the end records: the last part of the archive.
    pub fn finish(self) -> Vec<u8> {
        let central_offset = self.offset;
        let central_size = self.central.len() as u64;
        let mut out = self.central;
        let zip64 = self.entries >= MAX_U16 || central_size >= MAX_U32 || central_offset >= MAX_U32;
        if zip64 {
            let record = central_offset + central_size;
            put32(&mut out, ZIP64_END_OF_CENTRAL_DIRECTORY);
            put64(&mut out, 44); // size of the rest of this record
            put16(&mut out, MADE_BY);
            put16(&mut out, VERSION_ZIP64);
            put32(&mut out, 0); // this disk
            put32(&mut out, 0); // disk with the central directory
            put64(&mut out, self.entries);
            put64(&mut out, self.entries);
            put64(&mut out, central_size);
            put64(&mut out, central_offset);
            put32(&mut out, ZIP64_LOCATOR);
            put32(&mut out, 0);
            put64(&mut out, record);
            put32(&mut out, 1); // disks
        }
        let entries = u16::try_from(self.entries)
            .ok()
            .filter(|&n| u64::from(n) < MAX_U16)
            .unwrap_or(u16::MAX);
        put32(&mut out, END_OF_CENTRAL_DIRECTORY);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, entries);
        put16(&mut out, entries);
        put32(&mut out, field32(central_size));
        put32(&mut out, field32(central_offset));
        put16(&mut out, 0); // comment
        out
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    fn crc(bytes: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(bytes);
        h.finalize()
    }

    /// An archive of `files`, assembled as the page does (header, bytes, …, end).
    fn archive(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut zip = ZipWriter::new();
        let mut out = Vec::new();
        let time = dos_date_time(2026, 11, 29, 21, 5, 30);
        for (path, bytes) in files {
            let path = zip.unique_path(path);
            out.extend(zip.add(&path, bytes.len() as u64, crc(bytes), time));
            out.extend_from_slice(bytes);
        }
        out.extend(zip.finish());
        out
    }

    #[test]
    fn a_zip_reader_reads_back_every_file_with_its_path() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let files = [
            ("photos/2024/a.jpg", big.clone()),
            ("empty.txt", Vec::new()),
            ("notes/été ☀.md", b"# hello\n".to_vec()),
            ("photos/2024/A.jpg", b"same name, other peer".to_vec()),
            ("README", b"no extension".to_vec()),
            ("README", b"again".to_vec()),
        ];
        let bytes = archive(&files);
        let mut reader = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let names: Vec<String> = reader.file_names().map(str::to_owned).collect();
        let mut names_sorted = names.clone();
        names_sorted.sort();
        assert_eq!(
            names_sorted,
            [
                "README",
                "README (1)",
                "empty.txt",
                "notes/été ☀.md",
                "photos/2024/A (1).jpg",
                "photos/2024/a.jpg"
            ]
        );
        let expected: Vec<(&str, &[u8])> = vec![
            ("photos/2024/a.jpg", &big),
            ("empty.txt", b""),
            ("notes/été ☀.md", b"# hello\n"),
            ("photos/2024/A (1).jpg", b"same name, other peer"),
            ("README", b"no extension"),
            ("README (1)", b"again"),
        ];
        for (name, content) in expected {
            let mut file = reader.by_name(name).unwrap();
            assert_eq!(file.compression(), zip::CompressionMethod::Stored);
            let mut read = Vec::new();
            // Reading to the end checks the CRC-32.
            file.read_to_end(&mut read).unwrap();
            assert_eq!(read, content, "{name}");
            let modified = file.last_modified().unwrap();
            assert_eq!(
                (
                    modified.year(),
                    modified.month(),
                    modified.day(),
                    modified.hour(),
                    modified.minute(),
                    modified.second()
                ),
                (2026, 11, 29, 21, 5, 30)
            );
        }
    }

    #[test]
    fn a_wrong_crc_is_caught_by_the_reader() {
        // The reader's check works, so the test above would notice a wrong CRC.
        let mut zip = ZipWriter::new();
        let mut out = zip.add("x.bin", 3, crc(b"abc") ^ 1, 0);
        out.extend_from_slice(b"abc");
        out.extend(zip.finish());
        let mut reader = zip::ZipArchive::new(Cursor::new(out)).unwrap();
        let mut read = Vec::new();
        assert!(reader.by_index(0).unwrap().read_to_end(&mut read).is_err());
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn files_and_offsets_past_4_gib_get_zip64_records() {
        // Without 5 GiB of test data: the headers alone, checked field by field.
        const GIB: u64 = 1 << 30;
        let mut zip = ZipWriter::new();
        let first = zip.add("big.iso", 5 * GIB, 0x1234_5678, 0);
        assert_eq!(u32_at(&first, 0), LOCAL_HEADER);
        assert_eq!(u16_at(&first, 4), VERSION_ZIP64);
        assert_eq!(
            (u32_at(&first, 18), u32_at(&first, 22)),
            (u32::MAX, u32::MAX)
        );
        assert_eq!(u16_at(&first, 28), 20, "extra length");
        let extra = 30 + "big.iso".len();
        assert_eq!(u16_at(&first, extra), ZIP64_EXTRA);
        assert_eq!(u16_at(&first, extra + 2), 16);
        assert_eq!(
            (u64_at(&first, extra + 4), u64_at(&first, extra + 12)),
            (5 * GIB, 5 * GIB)
        );
        // The second file starts past 4 GiB: only its offset overflows.
        let second = zip.add("small.txt", 10, 7, 0);
        assert_eq!(u16_at(&second, 4), VERSION_PLAIN);
        assert_eq!(u16_at(&second, 28), 0);
        let second_offset = first.len() as u64 + 5 * GIB;
        let end = zip.finish();

        // Central directory: two headers.
        assert_eq!(u32_at(&end, 0), CENTRAL_HEADER);
        assert_eq!((u32_at(&end, 20), u32_at(&end, 24)), (u32::MAX, u32::MAX));
        assert_eq!(u32_at(&end, 42), 0, "first offset fits");
        let name1 = 46;
        let extra1 = name1 + "big.iso".len();
        assert_eq!(u16_at(&end, 30), 20);
        assert_eq!(
            (u16_at(&end, extra1), u16_at(&end, extra1 + 2)),
            (ZIP64_EXTRA, 16)
        );
        assert_eq!(
            (u64_at(&end, extra1 + 4), u64_at(&end, extra1 + 12)),
            (5 * GIB, 5 * GIB)
        );
        let h2 = extra1 + 20;
        assert_eq!(u32_at(&end, h2), CENTRAL_HEADER);
        assert_eq!((u32_at(&end, h2 + 20), u32_at(&end, h2 + 24)), (10, 10));
        assert_eq!(
            u32_at(&end, h2 + 42),
            u32::MAX,
            "offset in the ZIP64 record"
        );
        assert_eq!(u16_at(&end, h2 + 30), 12);
        let extra2 = h2 + 46 + "small.txt".len();
        assert_eq!(
            (u16_at(&end, extra2), u16_at(&end, extra2 + 2)),
            (ZIP64_EXTRA, 8)
        );
        assert_eq!(u64_at(&end, extra2 + 4), second_offset);

        // ZIP64 end record and locator, then the classic end record.
        let central_size = (extra2 + 12) as u64;
        let central_offset = second_offset + second.len() as u64 + 10;
        let r = extra2 + 12;
        assert_eq!(u32_at(&end, r), ZIP64_END_OF_CENTRAL_DIRECTORY);
        assert_eq!(u64_at(&end, r + 4), 44);
        assert_eq!((u64_at(&end, r + 24), u64_at(&end, r + 32)), (2, 2));
        assert_eq!(
            (u64_at(&end, r + 40), u64_at(&end, r + 48)),
            (central_size, central_offset)
        );
        let l = r + 56;
        assert_eq!(u32_at(&end, l), ZIP64_LOCATOR);
        assert_eq!(u64_at(&end, l + 8), central_offset + central_size);
        let e = l + 20;
        assert_eq!(u32_at(&end, e), END_OF_CENTRAL_DIRECTORY);
        assert_eq!(u16_at(&end, e + 10), 2);
        assert_eq!(
            u32_at(&end, e + 16),
            u32::MAX,
            "central offset in the ZIP64 record"
        );
        assert_eq!(end.len(), e + 22);
    }

    #[test]
    fn dos_times_are_packed_and_clamped() {
        assert_eq!(dos_date_time(1980, 1, 1, 0, 0, 0), (1 << 5 | 1) << 16);
        let t = dos_date_time(2026, 11, 29, 21, 5, 31);
        assert_eq!(t >> 16, (46 << 9) | (11 << 5) | 29);
        assert_eq!(t & 0xFFFF, (21 << 11) | (5 << 5) | 15);
        assert_eq!(dos_date_time(1970, 0, 0, 30, 70, 70) >> 16, (1 << 5) | 1);
    }
}
