//! The store's files: the record format shared by the write-ahead log and the snapshot,
//! recovery (snapshot, then log, cutting a torn tail), appends, and compaction.
//!
//! # Record format
//!
//! ```text
//! +------------+------------+------------------------------------------+
//! | len: u32LE | crc: u32LE | payload: `len` bytes                     |
//! +------------+------------+------------------------------------------+
//! payload = kind: u8, then
//!   kind 1 (SET): key_len: u32LE, key (UTF-8), value (UTF-8, the rest)
//!   kind 2 (END): count: u64LE            (snapshot only: records before it)
//! ```
//!
//! `crc` is CRC-32 (IEEE, the `crc32fast` crate) of `len` (its 4 bytes) followed by the
//! payload, so a torn length is caught as well as a torn payload. A payload over
//! [`MAX_PAYLOAD`] bytes is treated as corrupt.
//!
//! # Files in the data directory
//!
//! - `wal`: SET records appended one batch at a time (group commit), `sync_data` before any
//!   of the batch is acknowledged. Replayed on start up to the first record that is
//!   incomplete, fails its checksum or has an unknown kind; everything from there on is a
//!   torn tail (a crash mid-append) and is cut off with `set_len` + `sync_all` before the
//!   server accepts a connection.
//! - `snapshot`: every key of the map as SET records, then one END record with the count.
//!   Written whole as `snapshot.tmp`, `sync_all`ed, renamed over `snapshot`, and the
//!   directory `sync_all`ed, so `snapshot` is always complete: a snapshot that does not
//!   parse to its END record is an error at start (real corruption, not a crash).
//!   `snapshot.tmp` left by a crash is removed at start.
//!
//! Compaction runs when `wal` reaches the configured size: snapshot as above, then `wal`
//! is truncated to 0 bytes and synced. A crash between the rename and the truncation
//! leaves a snapshot and a log that both hold the latest writes; replaying the log over
//! the snapshot gives the same map (each key's last SET wins, and the snapshot already
//! equals the state after the whole log), so recovery needs no sequence numbers.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use ringcore::fs::{File, OpenOptions};

/// The largest payload a record may carry, in bytes (a key and value of a line of
/// [`super::protocol::MAX_LINE`] bytes fit well inside).
pub(crate) const MAX_PAYLOAD: usize = 1 << 20;

const HEADER: usize = 8;
const KIND_SET: u8 = 1;
const KIND_END: u8 = 2;

/// The log's file name in the data directory.
pub(crate) const LOG_FILE: &str = "wal";
/// The snapshot's file name in the data directory.
pub(crate) const SNAPSHOT_FILE: &str = "snapshot";
/// The snapshot being written, renamed to [`SNAPSHOT_FILE`] once synced.
pub(crate) const SNAPSHOT_TMP: &str = "snapshot.tmp";

/// The key-value map, ordered so a snapshot's bytes depend only on its contents.
pub(crate) type Map = BTreeMap<String, String>;

/// A decoded record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// `key` now maps to `value`.
    Set { key: String, value: String },
    /// The end of a snapshot holding `count` SET records.
    End { count: u64 },
}

/// Appends one framed record with `payload` to `out`.
fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = (payload.len() as u32).to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(payload);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

/// Appends the SET record for `key` = `value` to `out`.
pub(crate) fn encode_set(out: &mut Vec<u8>, key: &str, value: &str) {
    let mut payload = Vec::with_capacity(5 + key.len() + value.len());
    payload.push(KIND_SET);
    payload.extend_from_slice(&(key.len() as u32).to_le_bytes());
    payload.extend_from_slice(key.as_bytes());
    payload.extend_from_slice(value.as_bytes());
    frame(out, &payload);
}

fn encode_end(out: &mut Vec<u8>, count: u64) {
    let mut payload = Vec::with_capacity(9);
    payload.push(KIND_END);
    payload.extend_from_slice(&count.to_le_bytes());
    frame(out, &payload);
}

/// Decodes the record at the start of `buf`: `Some((record, bytes it took))`, or `None`
/// if `buf` does not start with a whole, valid record (too short, too long, bad checksum,
/// unknown kind, a key length past the payload, or text that is not UTF-8).
pub(crate) fn decode(buf: &[u8]) -> Option<(Record, usize)> {
    let len_bytes: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len == 0 || len > MAX_PAYLOAD {
        return None;
    }
    let crc = u32::from_le_bytes(buf.get(4..HEADER)?.try_into().ok()?);
    let payload = buf.get(HEADER..HEADER + len)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len_bytes);
    hasher.update(payload);
    if hasher.finalize() != crc {
        return None;
    }
    let record = match payload[0] {
        KIND_SET => {
            let key_len = u32::from_le_bytes(payload.get(1..5)?.try_into().ok()?) as usize;
            let key = payload.get(5..5usize.checked_add(key_len)?)?;
            let value = &payload[5 + key_len..];
            Record::Set {
                key: String::from_utf8(key.to_vec()).ok()?,
                value: String::from_utf8(value.to_vec()).ok()?,
            }
        }
        KIND_END if payload.len() == 9 => Record::End {
            count: u64::from_le_bytes(payload[1..9].try_into().ok()?),
        },
        _ => return None,
    };
    Some((record, HEADER + len))
}

/// Applies the log's bytes to `map` record by record; returns the length of the valid
/// prefix (where the torn tail, if any, starts) and the number of records applied.
pub(crate) fn replay_log(bytes: &[u8], map: &mut Map) -> (usize, u64) {
    let (mut at, mut records) = (0, 0);
    while let Some((record, used)) = decode(&bytes[at..]) {
        match record {
            Record::Set { key, value } => {
                map.insert(key, value);
            }
            // An END record is never appended to the log: treat it as corruption.
            Record::End { .. } => break,
        }
        at += used;
        records += 1;
    }
    (at, records)
}

/// Parses a whole snapshot into a map.
///
/// # Errors
///
/// `InvalidData` if the bytes are not SET records followed by one END record with their
/// count, and nothing after it.
pub(crate) fn parse_snapshot(bytes: &[u8]) -> io::Result<Map> {
    let corrupt =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("snapshot {what}"));
    let (mut map, mut at, mut count) = (Map::new(), 0, 0u64);
    loop {
        let Some((record, used)) = decode(&bytes[at..]) else {
            return Err(corrupt(&format!("corrupt at byte {at}")));
        };
        at += used;
        match record {
            Record::Set { key, value } => {
                map.insert(key, value);
                count += 1;
            }
            Record::End { count: end } if end == count && at == bytes.len() => return Ok(map),
            Record::End { .. } => return Err(corrupt("has a wrong count or trailing bytes")),
        }
    }
}

/// The bytes of a snapshot of `map`.
pub(crate) fn encode_snapshot(map: &Map) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in map {
        encode_set(&mut out, key, value);
    }
    encode_end(&mut out, map.len() as u64);
    out
}

/// What recovery found, for the start-up line.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Recovered {
    /// Keys loaded from the snapshot.
    pub(crate) snapshot_keys: usize,
    /// Records replayed from the log.
    pub(crate) log_records: u64,
    /// Bytes of torn tail cut from the log.
    pub(crate) torn_bytes: u64,
}

/// The open write-ahead log: the file, where the next record goes, and the directory.
#[derive(Debug)]
pub(crate) struct Log {
    dir: PathBuf,
    file: File,
    /// The log's length in bytes: the offset of the next append.
    end: u64,
}

impl Log {
    /// Recovers the store in `dir` (created if missing): loads the snapshot, removes a
    /// stale `snapshot.tmp`, replays the log and cuts its torn tail. Returns the open log
    /// and the map.
    ///
    /// # Errors
    ///
    /// The file system's errors, and `InvalidData` for a corrupt snapshot.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the directory recoverable: the only change recovery
    /// makes is cutting a torn tail, which the next recovery would cut again.
    pub(crate) async fn recover(dir: &Path) -> io::Result<(Log, Map, Recovered)> {
        ringcore::fs::create_dir_all(dir).await?;
        match ringcore::fs::remove_file(dir.join(SNAPSHOT_TMP)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut map = match ringcore::fs::read(dir.join(SNAPSHOT_FILE)).await {
            Ok(bytes) => parse_snapshot(&bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(e),
        };
        let snapshot_keys = map.len();
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await?;
        let bytes = ringcore::fs::read(&path).await?;
        let (valid, log_records) = replay_log(&bytes, &mut map);
        let torn_bytes = (bytes.len() - valid) as u64;
        if torn_bytes > 0 {
            file.set_len(valid as u64).await?;
            file.sync_all().await?;
        }
        // The log file's own directory entry must be durable before a record in it is
        // acknowledged.
        sync_dir(dir).await?;
        let log = Log {
            dir: dir.to_path_buf(),
            file,
            end: valid as u64,
        };
        let recovered = Recovered {
            snapshot_keys,
            log_records,
            torn_bytes,
        };
        Ok((log, map, recovered))
    }

    /// The log's length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.end
    }

    /// Writes `records` (whole framed records) at the end of the log, not yet synced.
    ///
    /// # Errors
    ///
    /// The write's error. The log's end is not moved then, and the caller must stop using
    /// the log: the bytes past the end are unknown.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropped midway, some of the records may be written and the end is
    /// not moved; drop the log too (the server does: the writer task owns it).
    pub(crate) async fn write(&mut self, records: Vec<u8>) -> io::Result<()> {
        let n = records.len() as u64;
        let (res, _) = self.file.write_all_at(records, self.end).await;
        res?;
        self.end += n;
        Ok(())
    }

    /// Makes everything written so far durable (`sync_data`).
    ///
    /// # Errors
    ///
    /// fdatasync(2)'s error. After a failed sync the written pages' fate is unknown; the
    /// caller must stop.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the records' durability unknown, as a crash would; none
    /// of them may be acknowledged.
    pub(crate) async fn sync(&self) -> io::Result<()> {
        self.file.sync_data().await
    }

    /// Compacts: writes `map` as the new snapshot (temp file, sync, rename, directory
    /// sync), then truncates the log to 0 bytes and syncs it. `map` must hold every record
    /// of the log.
    ///
    /// # Errors
    ///
    /// The file system's errors; the caller must stop, as for [`write`](Self::write).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe for the log's end (drop the log too), but the files stay
    /// recoverable at every step: the snapshot is replaced only by a synced whole one, and
    /// the log is truncated only after that.
    pub(crate) async fn compact(&mut self, map: &Map) -> io::Result<()> {
        let tmp = self.dir.join(SNAPSHOT_TMP);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .await?;
        let (res, _) = file.write_all_at(encode_snapshot(map), 0).await;
        res?;
        file.sync_all().await?;
        file.close().await?;
        ringcore::fs::rename(&tmp, self.dir.join(SNAPSHOT_FILE)).await?;
        sync_dir(&self.dir).await?;
        self.file.set_len(0).await?;
        self.file.sync_all().await?;
        self.end = 0;
        Ok(())
    }
}

/// Makes `dir`'s entries durable: opens the directory and `sync_all`s it.
async fn sync_dir(dir: &Path) -> io::Result<()> {
    let d = File::open(dir).await?;
    d.sync_all().await?;
    d.close().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_exactly_the_whole_records_of_any_torn_or_damaged_log() {
        let mut log = Vec::new();
        let mut ends = vec![0];
        for i in 0..5 {
            encode_set(&mut log, &format!("key{i}"), &"v".repeat(i * 7 + 1));
            ends.push(log.len());
        }
        // Every cut keeps the records that end at or before it, and no more.
        for cut in 0..=log.len() {
            let mut map = Map::new();
            let (valid, records) = replay_log(&log[..cut], &mut map);
            let whole = ends.iter().filter(|&&e| e <= cut).count() - 1;
            assert_eq!((valid, records as usize), (ends[whole], whole), "cut {cut}");
            assert_eq!(map.len(), whole);
        }
        // Any flipped bit in a record stops the replay before that record.
        for byte in 0..log.len() {
            let mut damaged = log.clone();
            damaged[byte] ^= 0x10;
            let (valid, _) = replay_log(&damaged, &mut Map::new());
            let record = ends.iter().rposition(|&e| e <= byte).unwrap();
            assert_eq!(valid, ends[record], "byte {byte}");
        }
    }

    #[test]
    fn a_snapshot_round_trips_and_a_short_one_is_refused() {
        let map: Map = (0..10)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        let bytes = encode_snapshot(&map);
        assert_eq!(parse_snapshot(&bytes).unwrap(), map);
        for cut in 0..bytes.len() {
            assert!(parse_snapshot(&bytes[..cut]).is_err(), "cut {cut}");
        }
        assert!(parse_snapshot(&[bytes.clone(), bytes].concat()).is_err());
    }
}
