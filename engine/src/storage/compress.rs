//! zstd compression of bodies, optionally against a prefix. The only module
//! that names `zstd`.
//!
//! Frames are written in zstd's *magicless* format with no content size, no
//! checksum and no dictionary id (RFC 8878 section 3.1.1; the zstd
//! "experimental" `ZSTD_f_zstd1_magicless` format): the frame header already
//! records the raw length and the hash chain guards the bytes, so those fields
//! would only cost space. A prefix is loaded as raw-content history (RFC 8878
//! section 5, "Dictionary Format", raw content), the same effect as
//! `ZSTD_CCtx_refPrefix` / `zstd --patch-from`.

use zstd::zstd_safe::{CCtx, CParameter, DCtx, DParameter, FrameFormat};

fn err(code: usize) -> String {
    zstd::zstd_safe::get_error_name(code).to_owned()
}

/// A reusable zstd compressor.
pub(crate) struct Compressor {
    cctx: CCtx<'static>,
    has_prefix: bool,
    scratch: Vec<u8>,
}

impl Compressor {
    /// A compressor at zstd `level` (1..=22).
    pub(crate) fn new(level: i32) -> Result<Self, String> {
        let mut cctx = CCtx::try_create().ok_or("zstd: cannot allocate a compression context")?;
        for p in [
            CParameter::CompressionLevel(level),
            CParameter::Format(FrameFormat::Magicless),
            CParameter::ContentSizeFlag(false),
            CParameter::ChecksumFlag(false),
            CParameter::DictIdFlag(false),
        ] {
            cctx.set_parameter(p).map_err(err)?;
        }
        Ok(Self { cctx, has_prefix: false, scratch: Vec::new() })
    }

    /// Compresses `src`, using `prefix` as history when given, appending to `out`.
    pub(crate) fn compress(
        &mut self,
        src: &[u8],
        prefix: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        match prefix {
            Some(p) => {
                self.cctx.load_dictionary(p).map_err(err)?;
                self.has_prefix = true;
            }
            None if self.has_prefix => {
                self.cctx.load_dictionary(&[]).map_err(err)?;
                self.has_prefix = false;
            }
            None => {}
        }
        // `compress2` writes from the start of a Vec, so go through scratch.
        self.scratch.clear();
        self.scratch.reserve(zstd::zstd_safe::compress_bound(src.len()));
        self.cctx.compress2(&mut self.scratch, src).map_err(err)?;
        out.extend_from_slice(&self.scratch);
        Ok(())
    }
}

/// A reusable zstd decompressor.
pub(crate) struct Decompressor {
    dctx: DCtx<'static>,
    has_prefix: bool,
}

impl Decompressor {
    pub(crate) fn new() -> Result<Self, String> {
        let mut dctx = DCtx::try_create().ok_or("zstd: cannot allocate a decompression context")?;
        dctx.set_parameter(DParameter::Format(FrameFormat::Magicless)).map_err(err)?;
        Ok(Self { dctx, has_prefix: false })
    }

    /// Decompresses `src` (which must decode to exactly `raw_len` bytes),
    /// using `prefix` as history when given.
    pub(crate) fn decompress(
        &mut self,
        src: &[u8],
        prefix: Option<&[u8]>,
        raw_len: usize,
    ) -> Result<Vec<u8>, String> {
        match prefix {
            Some(p) => {
                self.dctx.load_dictionary(p).map_err(err)?;
                self.has_prefix = true;
            }
            None if self.has_prefix => {
                self.dctx.load_dictionary(&[]).map_err(err)?;
                self.has_prefix = false;
            }
            None => {}
        }
        let mut out = Vec::with_capacity(raw_len);
        let n = self.dctx.decompress(&mut out, src).map_err(err)?;
        if n != raw_len {
            return Err(format!("decompressed to {n} bytes, header says {raw_len}"));
        }
        Ok(out)
    }
}

/// Decompresses a frame that uses no prefix with this thread's reusable
/// decompressor (for small frames such as a chunk's column header, where
/// allocating a context per call would cost more than the work).
///
/// # Errors
/// A zstd error, or an output length other than `raw_len`.
pub(crate) fn decompress_alone(src: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
    thread_local! {
        static ALONE: std::cell::RefCell<Option<Decompressor>> = const { std::cell::RefCell::new(None) };
    }
    ALONE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = match slot.as_mut() {
            Some(d) => d,
            None => slot.insert(Decompressor::new()?),
        };
        d.decompress(src, None, raw_len)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_and_without_prefix() {
        let mut c = Compressor::new(3).unwrap();
        let mut d = Decompressor::new().unwrap();
        let a = b"hello hello hello world, the pane says hello".repeat(20);
        let mut b = a.clone();
        b[100] = b'X';
        let mut plain = Vec::new();
        c.compress(&b, None, &mut plain).unwrap();
        let mut delta = vec![9u8];
        c.compress(&b, Some(&a), &mut delta).unwrap();
        assert_eq!(delta[0], 9, "appends after existing bytes");
        assert!(delta.len() - 1 < plain.len(), "prefix helps: {} vs {}", delta.len() - 1, plain.len());
        assert_eq!(d.decompress(&plain, None, b.len()).unwrap(), b);
        assert_eq!(d.decompress(&delta[1..], Some(&a), b.len()).unwrap(), b);
        // plain again after a prefix was used
        assert_eq!(d.decompress(&plain, None, b.len()).unwrap(), b);
        assert!(d.decompress(&delta[1..], Some(&a), b.len() + 1).is_err());
        assert!(d.decompress(&[1, 2, 3, 4], None, 10).is_err());
    }
}
