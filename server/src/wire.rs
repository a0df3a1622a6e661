//! The client/server protocol on the Unix socket (docs/PROTOCOL.md).
//!
//! Each frame is a 4-byte big-endian length followed by that many bytes of
//! JSON (the framing of tokio-util's `LengthDelimitedCodec` defaults). Every
//! request carries the protocol version `v`; the server answers a different
//! version with an error. A request gets one or more responses; the last is
//! `appended`, `exit` or `error`. Events travel as NDJSON format v1 objects,
//! the shape `ingest` reads, and the server checks them with the same parser.

use orc_log_engine::AppendReceipt;
use orc_log_schemas::{Event, event_to_json_value};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// Protocol version spoken by this build.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame accepted, in bytes (16 MiB).
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// A client's request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Append events (group-committed with other clients' appends).
    Append {
        /// The events, in order, each a format v1 object as `ingest` reads
        /// it (see [`events_to_wire`]); checked by the server with the
        /// same rules (a key given twice in an event makes the request
        /// malformed).
        #[serde(deserialize_with = "orc_log_schemas::deserialize_strict_values")]
        events: Vec<Value>,
    },
    /// Run a read command (`tail`, `stats`, `verify`, `state`, ...) with these
    /// arguments (without the program name and `--db`), as if run in `cwd`.
    Exec {
        /// Command-line arguments.
        args: Vec<String>,
        /// The client's working directory.
        cwd: PathBuf,
    },
    /// The seq of the event with this producer id, if any.
    SeqOfId {
        /// The producer id.
        id: String,
    },
    /// Who is serving?
    Ping,
}

/// A server's response.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// The append is durable.
    Appended {
        /// What it did.
        receipt: AppendReceipt,
    },
    /// A piece of the command's standard output.
    Out {
        /// Text.
        data: String,
    },
    /// A piece of the command's standard error.
    Err {
        /// Text.
        data: String,
    },
    /// The command finished with this exit status.
    Exit {
        /// Exit status.
        code: u8,
    },
    /// The request failed.
    Error {
        /// Why.
        message: String,
    },
    /// Answer to `seq_of_id`.
    Seq {
        /// The seq, or null when no event has the id.
        seq: Option<u64>,
    },
    /// Answer to `ping`.
    Pong {
        /// Server process id.
        pid: u32,
        /// The database served.
        db: PathBuf,
    },
}

/// Events as the `append` request carries them: format v1 objects.
pub fn events_to_wire(events: &[Event]) -> Vec<Value> {
    events.iter().map(event_to_json_value).collect()
}

/// A request or response with its protocol version.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Protocol version.
    pub v: u32,
    /// The message.
    #[serde(flatten)]
    pub body: T,
}

/// The body of one frame: `body` in its envelope (`{"v": 1, ...}`), as JSON
/// (docs/PROTOCOL.md). The server frames it with its length codec.
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] for a body over [`MAX_FRAME_BYTES`];
/// the serializer's error.
pub fn encode_body<T: Serialize>(body: T) -> io::Result<Vec<u8>> {
    let bytes = serde_json::to_vec(&Envelope { v: PROTOCOL_VERSION, body }).map_err(io::Error::other)?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a message of {} bytes is over the frame limit", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// One whole frame: the 4-byte big-endian length, then [`encode_body`].
///
/// # Errors
/// As [`encode_body`].
pub fn encode_frame<T: Serialize>(body: T) -> io::Result<Vec<u8>> {
    let bytes = encode_body(body)?;
    let mut frame = Vec::with_capacity(4 + bytes.len());
    frame.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    frame.extend_from_slice(&bytes);
    Ok(frame)
}

/// Writes one frame.
///
/// # Errors
/// As [`encode_body`]; I/O errors.
pub fn write_frame<T: Serialize>(w: &mut impl Write, body: T) -> io::Result<()> {
    w.write_all(&encode_frame(body)?)?;
    w.flush()
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the limit"),
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    let env: Envelope<T> =
        serde_json::from_slice(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if env.v != PROTOCOL_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("server speaks protocol {} but this orc-log speaks {PROTOCOL_VERSION}", env.v),
        ));
    }
    Ok(Some(env.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_append_with_a_duplicate_key_in_an_event_is_malformed_naming_it() {
        let ok = r#"{"v":1,"op":"append","events":[{"kind":"marker","label":"a"}]}"#;
        let req: Envelope<Request> = serde_json::from_str(ok).unwrap();
        assert!(matches!(&req.body, Request::Append { events } if events.len() == 1));
        let bad = r#"{"v":1,"op":"append","events":[{"kind":"marker","label":"a"},{"kind":"marker","label":"a","label":"b"}]}"#;
        let err = serde_json::from_str::<Envelope<Request>>(bad).unwrap_err().to_string();
        assert!(err.contains(r#"duplicate key "label": given twice, first "a" then "b""#), "{err}");
    }
}
