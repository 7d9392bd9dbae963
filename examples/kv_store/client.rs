//! The client: one connection, one request at a time, answers parsed into values.

use std::io;

use ringcore::net::TcpStream;

use super::protocol::{self, Line, LineReader};

/// A connection to a kv_store server.
#[derive(Debug)]
pub(crate) struct Client {
    stream: TcpStream,
    lines: LineReader,
}

impl Client {
    /// Connects to `addr` (`host:port`; names resolve through `ringcore::net`).
    ///
    /// # Errors
    ///
    /// connect(2)'s and name resolution's errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the socket if it was opened.
    pub(crate) async fn connect(addr: &str) -> io::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        Ok(Client {
            stream,
            lines: LineReader::default(),
        })
    }

    /// Sets `key` to `value`; returns once the server answered `OK` (the write is durable).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a key or value the protocol cannot carry (a key with a space or
    /// over 256 bytes, an empty value, a line break); `Other` with the reason for an `ERR`
    /// answer; `InvalidData` for an answer that is not `OK`; the socket's errors.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropped after the request was sent, the SET may or may not be
    /// applied, and its answer is left unread on the connection; drop the client then.
    pub(crate) async fn set(&mut self, key: &str, value: &str) -> io::Result<()> {
        protocol::check_key(key).map_err(invalid_input)?;
        if value.is_empty() || value.contains(['\n', '\r']) {
            return Err(invalid_input("the value is empty or has a line break"));
        }
        let answer = self.request(format!("SET {key} {value}\n")).await?;
        match answer.as_str() {
            "OK" => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Gets `key`'s value: `None` if the server answered `NOTFOUND`.
    ///
    /// # Errors
    ///
    /// As [`set`](Self::set), for answers other than `VALUE v` and `NOTFOUND`.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: the answer may be left unread on the connection; drop the client.
    pub(crate) async fn get(&mut self, key: &str) -> io::Result<Option<String>> {
        protocol::check_key(key).map_err(invalid_input)?;
        let answer = self.request(format!("GET {key}\n")).await?;
        if answer == "NOTFOUND" {
            Ok(None)
        } else if let Some(value) = answer.strip_prefix("VALUE ") {
            Ok(Some(value.to_string()))
        } else {
            Err(unexpected(&answer))
        }
    }

    /// Sends one request line and reads the answer line.
    async fn request(&mut self, line: String) -> io::Result<String> {
        let (res, _) = self.stream.write_all(line).await;
        res?;
        match self.lines.next_line(&self.stream).await? {
            Some(Line::Line(answer)) => String::from_utf8(answer)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "answer is not UTF-8")),
            Some(Line::TooLong) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "answer line too long",
            )),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            )),
        }
    }
}

fn invalid_input(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, reason.to_string())
}

/// The error for an answer `ERR reason` (kind `Other`) or anything unexpected.
fn unexpected(answer: &str) -> io::Error {
    match answer.strip_prefix("ERR ") {
        Some(reason) => io::Error::other(format!("server: {reason}")),
        None => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected answer {answer:?}"),
        ),
    }
}
