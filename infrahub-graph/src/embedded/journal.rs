//! The write-ahead journal: every batch of committed writes is written and synced here before
//! it is applied to the database with a fast, non-durable commit. A periodic durable checkpoint
//! of the database empties the journal. After a crash, the journal records newer than the last
//! checkpoint are applied again; a torn record at the end is ignored (it was never
//! acknowledged).
//!
//! The file is preallocated (zero-filled) so that syncing a record flushes data only, not the
//! file size. Records carry consecutive sequence numbers; after a reset the file is rewritten
//! from the start, and reading stops at the first record that is torn, zeroed, or older than
//! its predecessor.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::tables::{Pending, Table};

/// One write of a journal record: table, key, and new value (`None` removes).
pub(crate) type JournalWrite = (Table, Vec<u8>, Option<Vec<u8>>);

/// A journal record: its sequence number and writes.
pub(crate) type JournalRecord = (u64, Vec<JournalWrite>);

/// The journal file.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    /// Bytes of valid records from the start of the file.
    size: u64,
    /// Preallocated length of the file.
    capacity: u64,
}

/// Size the journal is preallocated to (it grows past it if a checkpoint is late).
const PREALLOCATED: u64 = 16 << 20;

fn io(context: &str, path: &Path, err: std::io::Error) -> Error {
    Error::storage(format!("{context} `{}`", path.display()), err)
}

impl Journal {
    /// Opens (or creates) the journal and returns the records it holds, oldest first.
    pub(crate) fn open(path: &Path) -> Result<(Journal, Vec<JournalRecord>)> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .map_err(|e| io("opening journal", path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io("restricting journal", path, e))?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| io("reading journal", path, e))?;
        let (records, size) = decode_records(&bytes);
        let mut journal = Journal {
            file,
            path: path.to_path_buf(),
            size,
            capacity: bytes.len() as u64,
        };
        if journal.capacity < PREALLOCATED {
            journal.preallocate()?;
        }
        Ok((journal, records))
    }

    /// Zero-fills the file up to [`PREALLOCATED`] bytes.
    fn preallocate(&mut self) -> Result<()> {
        let zeros = vec![0u8; 1 << 20];
        let mut offset = self.capacity;
        while offset < PREALLOCATED {
            let length = zeros.len().min((PREALLOCATED - offset) as usize);
            self.file
                .write_all_at(&zeros[..length], offset)
                .map_err(|e| io("preallocating journal", &self.path, e))?;
            offset += length as u64;
        }
        self.file
            .sync_all()
            .map_err(|e| io("syncing journal", &self.path, e))?;
        self.capacity = offset;
        Ok(())
    }

    /// Writes a record after the previous ones and waits until it is on disk.
    ///
    /// On failure the journal is as before: the next record is written at the same place, and
    /// the failed one (which may be partly or wholly on disk) is marked as past the end, so
    /// that it is never replayed, as far as the device still takes writes.
    pub(crate) fn append(&mut self, seq: u64, writes: &Pending) -> Result<()> {
        let result = self.write_record(seq, writes);
        if result.is_err() {
            let end = [0u8; 8];
            if let Err(err) = self
                .file
                .write_all_at(&end, self.size)
                .and_then(|()| self.file.sync_data())
            {
                tracing::warn!(
                    error = %err,
                    journal = %self.path.display(),
                    "could not mark the end of the journal after a failed write"
                );
            }
        }
        result
    }

    fn write_record(&mut self, seq: u64, writes: &Pending) -> Result<()> {
        let mut buffer = encode_record(seq, writes);
        let record_length = buffer.len() as u64;
        // A zeroed header after the record marks the end for readers, even over old records.
        buffer.extend_from_slice(&[0u8; 8]);
        self.file
            .write_all_at(&buffer, self.size)
            .map_err(|e| io("writing journal", &self.path, e))?;
        let end = self.size + buffer.len() as u64;
        if end > self.capacity {
            // The file grew: its size must be synced too.
            self.file
                .sync_all()
                .map_err(|e| io("syncing journal", &self.path, e))?;
            self.capacity = end;
        } else {
            self.file
                .sync_data()
                .map_err(|e| io("syncing journal", &self.path, e))?;
        }
        self.size += record_length;
        Ok(())
    }

    /// The records written since the last reset, oldest first, read back from the file.
    pub(crate) fn records(&self) -> Result<Vec<JournalRecord>> {
        let length = usize::try_from(self.size)
            .map_err(|_| Error::new(crate::ErrorKind::Storage, "journal too large to read"))?;
        let mut bytes = vec![0u8; length];
        self.file
            .read_exact_at(&mut bytes, 0)
            .map_err(|e| io("reading journal", &self.path, e))?;
        let (records, size) = decode_records(&bytes);
        if size != self.size {
            return Err(Error::new(
                crate::ErrorKind::Storage,
                format!(
                    "journal `{}` reads back {size} bytes of records where {} were written",
                    self.path.display(),
                    self.size
                ),
            ));
        }
        Ok(records)
    }

    /// Empties the journal once its records are durable in the database.
    pub(crate) fn reset(&mut self) -> Result<()> {
        self.file
            .write_all_at(&[0u8; 8], 0)
            .map_err(|e| io("resetting journal", &self.path, e))?;
        self.file
            .sync_data()
            .map_err(|e| io("syncing journal", &self.path, e))?;
        self.size = 0;
        Ok(())
    }

    /// Bytes of records in the journal.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

/// The records at the start of `bytes` that follow each other (consecutive sequence
/// numbers, intact checksums), and how many bytes they take.
fn decode_records(bytes: &[u8]) -> (Vec<JournalRecord>, u64) {
    let mut records: Vec<JournalRecord> = Vec::new();
    let mut at = 0usize;
    while let Some((seq, writes, next)) = decode_record(bytes, at) {
        if records
            .last()
            .is_some_and(|(previous, _)| seq != previous + 1)
        {
            break;
        }
        records.push((seq, writes));
        at = next;
    }
    (records, at as u64)
}

fn encode_record(seq: u64, writes: &Pending) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&seq.to_le_bytes());
    payload.extend_from_slice(&(writes.len() as u32).to_le_bytes());
    for (table, key, value) in writes.iter() {
        payload.push(table.index() as u8);
        payload.push(u8::from(value.is_some()));
        payload.extend_from_slice(&(key.len() as u32).to_le_bytes());
        payload.extend_from_slice(key);
        if let Some(value) = value {
            payload.extend_from_slice(&(value.len() as u32).to_le_bytes());
            payload.extend_from_slice(value);
        }
    }
    let mut record = Vec::with_capacity(payload.len() + 8);
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

fn read_u32(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let value = u32::from_le_bytes(bytes.get(*at..*at + 4)?.try_into().ok()?);
    *at += 4;
    Some(value)
}

fn decode_record(bytes: &[u8], start: usize) -> Option<(u64, Vec<JournalWrite>, usize)> {
    let mut at = start;
    let length = read_u32(bytes, &mut at)? as usize;
    let checksum = read_u32(bytes, &mut at)?;
    let payload = bytes.get(at..at.checked_add(length)?)?;
    if crc32fast::hash(payload) != checksum {
        return None;
    }
    let next = at + length;
    let mut p = 0usize;
    let seq = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
    p += 8;
    let count = read_u32(payload, &mut p)?;
    let mut writes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let table = Table::from_index(*payload.get(p)?)?;
        let present = *payload.get(p + 1)? == 1;
        p += 2;
        let key_length = read_u32(payload, &mut p)? as usize;
        let key = payload.get(p..p + key_length)?.to_vec();
        p += key_length;
        let value = if present {
            let value_length = read_u32(payload, &mut p)? as usize;
            let value = payload.get(p..p + value_length)?.to_vec();
            p += value_length;
            Some(value)
        } else {
            None
        };
        writes.push((table, key, value));
    }
    Some((seq, writes, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_torn_tails_are_dropped() {
        let path = std::env::temp_dir().join(format!("journal-test-{}", uuid::Uuid::new_v4()));
        let expected: Vec<JournalWrite> = vec![
            (Table::Versions, vec![1, 2], Some(vec![3])),
            (Table::Labels, vec![4], None),
        ];
        let mut writes = Pending::default();
        for (table, key, value) in expected.clone() {
            writes.set(table, key, value);
        }
        {
            let (mut journal, existing) = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(existing.is_empty());
            journal.append(1, &writes).unwrap_or_else(|e| panic!("{e}"));
            journal.append(2, &writes).unwrap_or_else(|e| panic!("{e}"));
        }
        // Simulate a torn write: half a record after the last one.
        let mut bytes = std::fs::read(&path).unwrap_or_default();
        let end = encode_record(1, &writes).len() * 2;
        let half = encode_record(3, &writes);
        bytes[end..end + half.len() / 2].copy_from_slice(&half[..half.len() / 2]);
        std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let (mut journal, records) = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            records.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(records[0].1, expected);
        journal.append(3, &writes).unwrap_or_else(|e| panic!("{e}"));
        drop(journal);
        let (mut journal, records) = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(records.len(), 3);
        // After a reset, new records overwrite old ones and the old ones are not read back.
        journal.reset().unwrap_or_else(|e| panic!("{e}"));
        journal.append(4, &writes).unwrap_or_else(|e| panic!("{e}"));
        drop(journal);
        let (_, records) = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(records.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![4]);
        let _ = std::fs::remove_file(&path);
    }
}
