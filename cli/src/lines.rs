//! Reading NDJSON input line by line in bounded memory.

use std::io::{self, BufRead};

/// One line read by [`read_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line is in the buffer (without its `\n` or `\r\n`).
    Ok,
    /// The line was longer than the limit; it was skipped. Holds its length in bytes.
    TooLong(usize),
    /// End of input.
    Eof,
}

/// Reads the next line into `buf` (cleared first), never holding more than
/// `max_bytes` of it in memory: a longer line is consumed and reported as
/// [`Line::TooLong`].
///
/// # Errors
/// I/O errors from the reader.
pub fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>, max_bytes: usize) -> io::Result<Line> {
    buf.clear();
    let mut len = 0usize;
    let mut any = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        len += part.len();
        if len <= max_bytes {
            buf.extend_from_slice(part);
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            break;
        }
    }
    if !any {
        return Ok(Line::Eof);
    }
    if len > max_bytes {
        buf.clear();
        return Ok(Line::TooLong(len));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Line::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_limits_and_ends() {
        let mut r = io::BufReader::with_capacity(4, &b"ab\r\n0123456789\nlast"[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), Line::Ok);
        assert_eq!(buf, b"ab");
        assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), Line::TooLong(10));
        assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), Line::Ok);
        assert_eq!(buf, b"last");
        assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), Line::Eof);
    }
}
