//! orc-log's one tmux driver, and the recorder behind `orc-log session record`.
//!
//! - [`driver`]: [`Tmux`] runs tmux(1) client commands against one server
//!   (`-L NAME`, `-S PATH` or the default), always with `-u`; [`Server`] is a
//!   private server this process started, killed when dropped.
//! - [`recorder`]: the pure [`Recorder`] (layout diff, change-only captures,
//!   redaction, crash detection) and the polling loop [`record`] that feeds a
//!   caller's [`Sink`].
//! - [`proc`]: the command line of a pane's foreground process, read from
//!   `/proc` as tmux-resurrect does.
//! - [`limits`]: usage-limit banners in pane text and their reset times.
//! - [`detect`]: crash patterns in pane text; [`redact`]: secret shapes
//!   replaced before anything is stored (also used by `orc-log emit`).
//!
//! Everything blocks the calling thread (one tmux process per call); errors
//! are typed ([`Error`], [`detect::PatternError`]) and name the tmux command.

pub mod detect;
pub mod driver;
pub mod limits;
pub mod proc;
pub mod recorder;
pub mod redact;

pub use driver::{Error, LIST_FORMAT, Pane, Server, Socket, Spawn, Tmux, parse_panes, version};
pub use recorder::{End, Options, Recorder, Schedule, Sink, Stats, polls_for, record};
