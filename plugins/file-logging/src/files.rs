//! The log files on disk: appends under one lock, rotation by size, scans for `fetch`.
//!
//! Everything here blocks; the store calls it from a blocking thread of the plugin's own
//! runtime, never from the host's.

use crate::record::Record;
use std::{
    fs::{self, File, OpenOptions},
    io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError, RwLock},
};
use whisk_spi::PluginError;

/// The file being written; rotated files add `.1` (newest) … `.N` (oldest).
pub const CURRENT: &str = "activations.log";

pub struct LogFiles {
    directory: PathBuf,
    max_file_bytes: u64,
    max_files: u32,
    writer: Mutex<Writer>,
    /// Scans hold it shared and rotation exclusively, so a scan never reads a file twice
    /// or misses one that was renamed under it. Lock order: `writer`, then `rotation`.
    rotation: RwLock<()>,
}

/// The open current file; `None` after an error or a rotation, reopened on the next write.
struct Writer {
    file: Option<BufWriter<File>>,
    /// Bytes in the current file, buffered ones included.
    size: u64,
}

impl LogFiles {
    /// Creates `directory` if missing and opens (or creates) its current file.
    pub fn open(directory: PathBuf, max_file_bytes: u64, max_files: u32) -> io::Result<Self> {
        fs::create_dir_all(&directory)?;
        let files = Self {
            directory,
            max_file_bytes,
            max_files,
            writer: Mutex::new(Writer {
                file: None,
                size: 0,
            }),
            rotation: RwLock::new(()),
        };
        // Opening now makes an unwritable directory a startup error, not a failed activation.
        files.open_current(&mut files.lock_writer())?;
        Ok(files)
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// `activations.log` for 0, `activations.log.<n>` otherwise.
    pub fn path(&self, n: u32) -> PathBuf {
        match n {
            0 => self.directory.join(CURRENT),
            n => self.directory.join(format!("{CURRENT}.{n}")),
        }
    }

    /// Appends `lines` (JSON, without line ends) and flushes them to the OS before
    /// returning. Rotates first whenever the next line would take a non-empty current file
    /// past `max_file_bytes`, so a file exceeds it only when one line alone does.
    pub fn append(&self, lines: &[String]) -> Result<(), PluginError> {
        let mut writer = self.lock_writer();
        let result = self.append_locked(&mut writer, lines);
        if result.is_err() {
            // What reached the file is unknown: reopen and take its size from the disk.
            writer.file = None;
        }
        result
    }

    fn append_locked(&self, writer: &mut Writer, lines: &[String]) -> Result<(), PluginError> {
        for line in lines {
            let len = line.len() as u64 + 1;
            if writer.size > 0 && writer.size.saturating_add(len) > self.max_file_bytes {
                self.rotate(writer)?;
            }
            if writer.file.is_none() {
                self.open_current(writer)
                    .map_err(|e| self.io_error("open", 0, e))?;
            }
            let file = writer.file.as_mut().expect("opened above");
            file.write_all(line.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .map_err(|e| self.io_error("write", 0, e))?;
            writer.size += len;
        }
        if let Some(file) = writer.file.as_mut() {
            file.flush().map_err(|e| self.io_error("flush", 0, e))?;
        }
        Ok(())
    }

    /// Shifts `.k` to `.k+1` (the oldest is replaced) and the current file to `.1`; the
    /// next write opens a new current file.
    fn rotate(&self, writer: &mut Writer) -> Result<(), PluginError> {
        if let Some(mut file) = writer.file.take() {
            file.flush().map_err(|e| self.io_error("flush", 0, e))?;
        }
        let _exclusive = self
            .rotation
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if self.max_files == 0 {
            ignore_missing(fs::remove_file(self.path(0)))
                .map_err(|e| self.io_error("remove", 0, e))?;
        } else {
            for n in (0..self.max_files).rev() {
                ignore_missing(fs::rename(self.path(n), self.path(n + 1)))
                    .map_err(|e| self.io_error("rotate", n, e))?;
            }
        }
        writer.size = 0;
        Ok(())
    }

    fn open_current(&self, writer: &mut Writer) -> io::Result<()> {
        let path = self.path(0);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut size = file.metadata()?.len();
        // A crash in the middle of a line leaves it unterminated; end it so the next line
        // is not glued to it (the scan skips the damaged one).
        if size > 0 {
            let mut last = [0u8];
            file.seek(SeekFrom::End(-1))?;
            file.read_exact(&mut last)?;
            if last != *b"\n" {
                file.write_all(b"\n")?;
                size += 1;
            }
        }
        writer.file = Some(BufWriter::new(file));
        writer.size = size;
        Ok(())
    }

    /// The records of one activation of `namespace`, oldest file first, in file order.
    pub fn scan(&self, namespace: &str, activation_id: &str) -> Result<Vec<Record>, PluginError> {
        // Lines are written by serde_json, so the id appears exactly as it encodes it: a
        // cheap filter before parsing a line.
        let needle = serde_json::to_string(activation_id).expect("a string serializes");
        let _shared = self.rotation.read().unwrap_or_else(PoisonError::into_inner);
        let mut found = Vec::new();
        for n in (0..=self.max_files).rev() {
            let file = match File::open(self.path(n)) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io_error("open", n, e)),
            };
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            loop {
                line.clear();
                let read = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| self.io_error("read", n, e))?;
                // The end of the file, or a line still being written.
                if read == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                if !contains(&line, needle.as_bytes()) {
                    continue;
                }
                match serde_json::from_slice::<Record>(&line) {
                    Ok(record)
                        if record.activation_id == activation_id
                            && record.namespace == namespace =>
                    {
                        found.push(record)
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(
                        file = %self.path(n).display(),
                        "skipping a damaged log line: {e}"
                    ),
                }
            }
        }
        Ok(found)
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn io_error(&self, what: &str, n: u32, e: io::Error) -> PluginError {
        PluginError::internal(format!(
            "cannot {what} log file {}: {e}",
            self.path(n).display()
        ))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(file) = self.file.as_mut() {
            if let Err(e) = file.flush() {
                tracing::error!("activation logs lost at shutdown: {e}");
            }
        }
    }
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
