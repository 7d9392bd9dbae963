//! The line protocol: parsing a request line, the answers, and a line reader over a
//! `TcpStream` that bounds a line's length.
//!
//! One request per line, ended by `\n` (a `\r` before it is dropped), answered by one line
//! in the order the requests came:
//!
//! ```text
//! SET key value   ->  OK          (value: the rest of the line, spaces included)
//! GET key         ->  VALUE v | NOTFOUND
//! anything else   ->  ERR reason
//! ```
//!
//! The command word is case-insensitive. A key is 1 to [`MAX_KEY`] bytes with no space; a
//! value is at least one byte. A line must be UTF-8 and at most [`MAX_LINE`] bytes; a longer
//! one is answered `ERR line too long` once and skipped up to its `\n`, and the connection
//! goes on.

use std::io;

use ringcore::net::TcpStream;

/// The longest request or answer line, in bytes, without its `\n`.
pub(crate) const MAX_LINE: usize = 8 * 1024;
/// The longest key, in bytes.
pub(crate) const MAX_KEY: usize = 256;

/// A parsed request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// `SET key value`.
    Set { key: String, value: String },
    /// `GET key`.
    Get { key: String },
}

/// Parses one request line (without its `\n`); `Err` holds the reason for `ERR reason`.
pub(crate) fn parse(line: &[u8]) -> Result<Request, &'static str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = std::str::from_utf8(line).map_err(|_| "line is not UTF-8")?;
    let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
    if command.eq_ignore_ascii_case("SET") {
        let (key, value) = rest.split_once(' ').ok_or("usage: SET key value")?;
        check_key(key)?;
        if value.is_empty() {
            return Err("usage: SET key value");
        }
        Ok(Request::Set {
            key: key.to_string(),
            value: value.to_string(),
        })
    } else if command.eq_ignore_ascii_case("GET") {
        check_key(rest)?;
        Ok(Request::Get {
            key: rest.to_string(),
        })
    } else if command.is_empty() {
        Err("empty command")
    } else {
        Err("unknown command")
    }
}

/// Checks a key's shape; `Err` is the reason.
pub(crate) fn check_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        Err("missing key")
    } else if key.len() > MAX_KEY {
        Err("key too long")
    } else if key.contains([' ', '\n', '\r']) {
        Err("key has a space")
    } else {
        Ok(())
    }
}

/// A line from [`LineReader::next_line`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A whole line, without its `\n`.
    Line(Vec<u8>),
    /// A line longer than [`MAX_LINE`]; its bytes are being skipped.
    TooLong,
}

/// Reads `\n`-ended lines from a stream, at most [`MAX_LINE`] bytes each.
#[derive(Debug, Default)]
pub(crate) struct LineReader {
    /// Bytes received and not yet returned as lines.
    pending: Vec<u8>,
    /// Skipping the rest of an over-long line up to its `\n`.
    skipping: bool,
}

impl LineReader {
    /// The next line, or `None` at end of stream (a last line with no `\n` is dropped).
    ///
    /// # Errors
    ///
    /// The socket's read errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: received bytes stay in `self`, and a dropped read loses no byte (the
    /// ring keeps late bytes on the socket).
    pub(crate) async fn next_line(&mut self, stream: &TcpStream) -> io::Result<Option<Line>> {
        loop {
            if let Some(line) = self.take_line() {
                return Ok(Some(line));
            }
            let (res, buf) = stream.read(Vec::with_capacity(4096)).await;
            if res? == 0 {
                return Ok(None);
            }
            self.pending.extend_from_slice(&buf);
        }
    }

    /// The next line from the bytes already received, if there is one.
    fn take_line(&mut self) -> Option<Line> {
        loop {
            match self.pending.iter().position(|&b| b == b'\n') {
                Some(i) if self.skipping => {
                    self.pending.drain(..=i);
                    self.skipping = false;
                }
                Some(i) if i > MAX_LINE => {
                    self.pending.drain(..=i);
                    return Some(Line::TooLong);
                }
                Some(i) => {
                    let mut line: Vec<u8> = self.pending.drain(..=i).collect();
                    line.pop();
                    return Some(Line::Line(line));
                }
                None if self.skipping => {
                    self.pending.clear();
                    return None;
                }
                None if self.pending.len() > MAX_LINE => {
                    self.pending.clear();
                    self.skipping = true;
                    return Some(Line::TooLong);
                }
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        assert_eq!(
            parse(b"SET a hello world\r"),
            Ok(Request::Set {
                key: "a".into(),
                value: "hello world".into()
            })
        );
        assert_eq!(parse(b"get a"), Ok(Request::Get { key: "a".into() }));
        assert_eq!(parse(b"SET a"), Err("usage: SET key value"));
        assert_eq!(parse(b"GET a b"), Err("key has a space"));
        assert_eq!(parse(b"\xff\xfe"), Err("line is not UTF-8"));
        assert_eq!(parse(b"DEL a"), Err("unknown command"));
    }
}
