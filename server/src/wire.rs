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
    /// The request failed. `code` says how, so the client rebuilds the
    /// same typed error a direct append would give ([`RemoteError`]).
    Error {
        /// What kind of failure (`internal` when a peer sent none).
        #[serde(default)]
        code: ErrorCode,
        /// Why: the engine error's own text (for `refused`, `invalid`,
        /// `corrupt`, `poisoned`: the reason it carries), else the whole
        /// message.
        message: String,
        /// `invalid_event`: the event's position in its batch, from 0.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<usize>,
        /// `invalid_event`: the rule the event breaks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line_error: Option<orc_log_schemas::LineError>,
        /// `corrupt`: the first bad seq, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
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

/// How a request failed, as [`Response::Error`] carries it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// [`orc_log_engine::Error::InvalidEvent`].
    InvalidEvent,
    /// [`orc_log_engine::Error::Refused`].
    Refused,
    /// [`orc_log_engine::Error::Invalid`].
    Invalid,
    /// [`orc_log_engine::Error::Corrupt`].
    Corrupt,
    /// [`orc_log_engine::Error::Poisoned`].
    Poisoned,
    /// [`orc_log_engine::Error::Closed`].
    Closed,
    /// Any other engine error (I/O, the store): its message.
    Engine,
    /// The request could not be read (a bad frame, malformed JSON, a key
    /// given twice, another protocol version).
    BadRequest,
    /// The server is stopping; try again once one runs.
    Stopping,
    /// Anything else (and a code this build does not know).
    #[default]
    #[serde(other)]
    Internal,
}

/// An error as it crosses the wire, both ways: [`RemoteError::response`]
/// on the server, [`RemoteError::into_error`] in the client.
#[derive(Debug)]
pub struct RemoteError;

impl RemoteError {
    /// The [`Response::Error`] for an engine error.
    pub fn response(e: &orc_log_engine::Error) -> Response {
        use orc_log_engine::Error as E;
        let plain = |code, message: &str| Response::Error {
            code,
            message: message.to_owned(),
            index: None,
            line_error: None,
            seq: None,
        };
        match e {
            E::InvalidEvent { index, source } => Response::Error {
                code: ErrorCode::InvalidEvent,
                message: e.to_string(),
                index: Some(*index),
                line_error: Some(source.clone()),
                seq: None,
            },
            E::Refused(reason) => plain(ErrorCode::Refused, reason),
            E::Invalid(reason) => plain(ErrorCode::Invalid, reason),
            E::Corrupt { seq, reason } => Response::Error {
                code: ErrorCode::Corrupt,
                message: reason.clone(),
                index: None,
                line_error: None,
                seq: *seq,
            },
            E::Poisoned { reason } => plain(ErrorCode::Poisoned, reason),
            E::Closed => plain(ErrorCode::Closed, &e.to_string()),
            _ => plain(ErrorCode::Engine, &e.to_string()),
        }
    }

    /// A [`Response::Error`] that is not the engine's.
    pub fn other(code: ErrorCode, message: impl Into<String>) -> Response {
        Response::Error { code, message: message.into(), index: None, line_error: None, seq: None }
    }

    /// The client's error for a [`Response::Error`]'s fields: the engine's
    /// own typed error where the code names one (so a remote append fails
    /// as a direct one does), [`crate::Error::Protocol`] for a bad request,
    /// [`crate::Error::Disconnected`] for a stopping server (a writer that
    /// outlives restarts spools and retries), else [`crate::Error::Server`].
    pub fn into_error(
        code: ErrorCode,
        message: String,
        index: Option<usize>,
        line_error: Option<orc_log_schemas::LineError>,
        seq: Option<u64>,
    ) -> crate::Error {
        use orc_log_engine::Error as E;
        let engine = |e| crate::Error::Engine(e);
        match code {
            ErrorCode::InvalidEvent => match (index, line_error) {
                (Some(index), Some(source)) => engine(E::InvalidEvent { index, source }),
                _ => crate::Error::Server(message),
            },
            ErrorCode::Refused => engine(E::Refused(message)),
            ErrorCode::Invalid => engine(E::Invalid(message)),
            ErrorCode::Corrupt => engine(E::Corrupt { seq, reason: message }),
            ErrorCode::Poisoned => engine(E::Poisoned { reason: message }),
            ErrorCode::Closed => engine(E::Closed),
            ErrorCode::BadRequest => crate::Error::Protocol(message),
            ErrorCode::Stopping => crate::Error::Disconnected(message),
            ErrorCode::Engine | ErrorCode::Internal => crate::Error::Server(message),
        }
    }
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

    /// `e` sent as a server sends it and read back as a client reads it.
    fn over_the_wire(e: &orc_log_engine::Error) -> crate::Error {
        let body = encode_body(RemoteError::response(e)).unwrap();
        let Envelope { body, .. } = serde_json::from_slice::<Envelope<Response>>(&body).unwrap();
        match body {
            Response::Error { code, message, index, line_error, seq } => {
                RemoteError::into_error(code, message, index, line_error, seq)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_remote_engine_error_is_the_same_typed_error_as_a_direct_one() {
        use orc_log_engine::Error as E;
        let line_error =
            orc_log_schemas::parse_line(r#"{"kind":"marker","label":"a","colour":1}"#, 1).unwrap_err();
        let direct = [
            E::InvalidEvent { index: 2, source: line_error },
            E::Refused("a restore target exists".into()),
            E::Invalid("larger than 16 MiB".into()),
            E::Corrupt { seq: Some(7), reason: "bad checksum".into() },
            E::Corrupt { seq: None, reason: "no head".into() },
            E::Poisoned { reason: "disk full".into() },
            E::Closed,
        ];
        for e in &direct {
            match over_the_wire(e) {
                crate::Error::Engine(remote) => {
                    assert_eq!(remote.to_string(), e.to_string());
                    assert_eq!(std::mem::discriminant(&remote), std::mem::discriminant(e), "{e}");
                    if let (
                        E::InvalidEvent { index: a, source: x },
                        E::InvalidEvent { index: b, source: y },
                    ) = (&remote, e)
                    {
                        assert_eq!((a, x), (b, y));
                    }
                }
                other => panic!("{e}: {other:?}"),
            }
        }
        // Other engine errors keep their message; a bad request and a
        // stopping server are the client's own kinds.
        let store = E::Store("sled: gone".into());
        assert!(matches!(over_the_wire(&store), crate::Error::Server(m) if m == store.to_string()));
        let stopping = RemoteError::other(ErrorCode::Stopping, "the server is stopping");
        let Response::Error { code, message, .. } = stopping else { unreachable!() };
        assert!(matches!(
            RemoteError::into_error(code, message, None, None, None),
            crate::Error::Disconnected(_)
        ));
        // An older peer's error without a code, and an unknown code, are internal.
        for old in [
            r#"{"v":1,"type":"error","message":"x"}"#,
            r#"{"v":1,"type":"error","code":"new_kind","message":"x"}"#,
        ] {
            let Envelope { body, .. } = serde_json::from_str::<Envelope<Response>>(old).unwrap();
            assert!(matches!(body, Response::Error { code: ErrorCode::Internal, .. }), "{old}");
        }
    }
}
