//! [`Config`]: the tuning knobs of a database, and the format version.

/// The on-disk format version this build writes (and reads; format 1 and
/// format 2 databases are upgraded when opened).
pub const FORMAT_VERSION: u32 = 3;

/// Tuning knobs of a database. The defaults are what `orc-log` uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// A pane capture is stored whole (a keyframe) at least every this many
    /// captures of that pane; between keyframes each capture is compressed
    /// against the previous one, so reading one capture costs at most this
    /// many decompressions. Default 32.
    pub keyframe_interval: u32,
    /// zstd level for captures compressed against the previous capture. Default 9.
    pub capture_level: i32,
    /// zstd level for bodies compressed alone. Default 6.
    pub event_level: i32,
    /// zstd level for a chunk's block (its bodies compressed together as one
    /// frame whose window spans the block). Default 3: fast, and the shared
    /// window finds what a higher level would.
    pub block_level: i32,
    /// A commit is split into chunks of about this many raw (uncompressed)
    /// body bytes. Default 1 MiB.
    pub chunk_target_bytes: usize,
    /// A chunk of at least this many frames puts every body in its block; a
    /// smaller one (a recorder's or `emit`'s commit) compresses each capture
    /// against its pane's previous capture and only the other bodies
    /// together. Default 32.
    pub shared_min_frames: usize,
    /// A new segment file is started by the first commit after the active
    /// one reached this many bytes. Default 4 MiB: the index entries of the
    /// active segment and of the closed one awaiting its seal are held in
    /// memory (`index.rs`) and rebuilt by reading those segments after a
    /// crash, so the roll size bounds both; and unsealed bytes (about four
    /// times their sealed size under small commits) are at most two
    /// segments, so a live database stays within a few times its sealed size
    /// from its first minute (the live-path benchmark, BENCHMARKS.md).
    pub segment_bytes: u64,
    /// zstd level of the blocks of sealed segments ([`Log::seal`]): sealing
    /// runs once per closed segment, off the append path, so it can spend
    /// more than `block_level`. Default 7.
    pub seal_level: i32,
    /// How long [`Log::open`] waits for another process to release the
    /// database (SQLite's `busy_timeout`). Default 0: fail at once with
    /// [`Error::Locked`].
    pub lock_timeout: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            keyframe_interval: 32,
            capture_level: 9,
            event_level: 6,
            block_level: 3,
            chunk_target_bytes: 1024 * 1024,
            shared_min_frames: 32,
            segment_bytes: 4 * 1024 * 1024,
            seal_level: 7,
            lock_timeout: std::time::Duration::ZERO,
        }
    }
}
