//! Engine tests across modules: the model test and corruption handling.

use crate::{Config, Error, Filter, Log};
use orc_log_schemas::{Event, EventBody, Kind, Record, Target, parse_line};
use proptest::prelude::*;

fn fixture() -> Vec<Event> {
    include_str!("../../tests/fixtures/tmux-session-a.ndjson")
        .lines()
        .map(|l| parse_line(l, 0).unwrap())
        .collect()
}

fn all(log: &Log, filter: Filter) -> Vec<Record> {
    log.scan(filter).unwrap().collect::<Result<_, _>>().unwrap()
}

fn small_config() -> Config {
    // Small chunks and keyframe interval exercise chunk splits and delta chains.
    Config { keyframe_interval: 4, chunk_target_bytes: 512, ..Config::default() }
}

/// Chunks of a few KiB with blocks from 3 frames on, and small segments:
/// both capture encodings, deltas that refer back into blocks, many segment
/// files.
fn shared_config() -> Config {
    Config {
        keyframe_interval: 4,
        chunk_target_bytes: 4096,
        shared_min_frames: 3,
        segment_bytes: 8192,
        ..Config::default()
    }
}

#[test]
fn fixture_round_trips_and_verifies() {
    for config in [small_config(), shared_config(), Config::default()] {
        fixture_round_trips_with(config);
    }
}

fn fixture_round_trips_with(config: Config) {
    let dir = tempfile::tempdir().unwrap();
    let events = fixture();
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    log.append(&events[..50]).unwrap();
    log.append(&events[50..]).unwrap();
    let back = all(&log, Filter::default());
    assert_eq!(back.len(), events.len());
    for (i, (r, e)) in back.iter().zip(&events).enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        assert_eq!(&r.event, e);
    }
    let report = log.verify().unwrap();
    assert_eq!(report.events, events.len() as u64);
    for seq in [1, 17, 100, events.len() as u64] {
        assert_eq!(log.get(seq).unwrap().unwrap().event, events[seq as usize - 1]);
    }
    // filters
    let pane: Vec<_> = all(&log, Filter { scope: Some("proj:1.0".into()), ..Filter::default() });
    let want: Vec<_> = events
        .iter()
        .filter(|e| e.body.target().map(Target::to_string).as_deref() == Some("proj:1.0"))
        .collect();
    assert_eq!(pane.iter().map(|r| &r.event).collect::<Vec<_>>(), want);
    let crashes = all(&log, Filter { kinds: vec![Kind::Crash], ..Filter::default() });
    assert_eq!(crashes.len(), 1);
    let mid = events[80].ts_ns;
    let since = all(&log, Filter { since_ns: Some(mid), ..Filter::default() });
    assert_eq!(since.len(), events.iter().filter(|e| e.ts_ns >= mid).count());
    let at = log.seq_at_time(mid).unwrap();
    let want_at = events.iter().position(|e| e.ts_ns > mid).unwrap() as u64;
    assert_eq!(at, want_at);
    assert_eq!(log.seq_at_time(i64::MIN).unwrap(), 0);
    assert_eq!(log.seq_at_time(i64::MAX).unwrap(), events.len() as u64);
    drop(log);
    // A reopened log continues the chain and delta state.
    let mut log = Log::open(dir.path(), config).unwrap();
    log.append(&events[140..]).unwrap();
    log.verify().unwrap();
    assert_eq!(all(&log, Filter::default()).len(), events.len() + 26);
}

#[test]
fn duplicate_ids_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), Config::default()).unwrap();
    let ev = |id: &str| Event {
        ts_ns: 1,
        id: Some(id.into()),
        body: EventBody::Marker { label: "m".into(), target: None },
    };
    let r = log.append(&[ev("a"), ev("b"), ev("a")]).unwrap();
    assert_eq!((r.appended, r.duplicates, r.first_seq, r.last_seq), (2, 1, 1, 2));
    let r = log.append(&[ev("b"), ev("c")]).unwrap();
    assert_eq!((r.appended, r.duplicates, r.first_seq, r.last_seq), (1, 1, 3, 3));
    assert_eq!(log.seq_of_id("c").unwrap(), Some(3));
    let r = log.append(&[ev("c")]).unwrap();
    assert_eq!((r.appended, r.last_seq), (0, 3));
}

#[test]
fn second_open_is_refused_with_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let _log = Log::open(dir.path(), Config::default()).unwrap();
    let err = Log::open(dir.path(), Config::default()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
}

#[test]
fn segments_rolled_back_behind_the_index_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let events = fixture();
    let copy = dir.path().join("old-segments");
    {
        let mut log = Log::open(&db, Config::default()).unwrap();
        log.append(&events[..40]).unwrap();
    }
    copy_dir(&db.join("segments"), &copy);
    {
        let mut log = Log::open(&db, Config::default()).unwrap();
        log.append(&events[40..]).unwrap();
        log.sync().unwrap();
    }
    std::fs::remove_dir_all(db.join("segments")).unwrap();
    copy_dir(&copy, &db.join("segments"));
    let mut log = Log::open(&db, Config::default()).unwrap();
    let err = log.verify().unwrap_err();
    assert!(matches!(err, Error::RolledBack { store_head: 40, .. }), "{err}");
    assert!(log.append(&events[..1]).is_err(), "appends on rolled-back segments are refused");
}

/// The events of `dir` as read back, after a fresh open.
fn reopen_events(dir: &std::path::Path) -> Vec<Event> {
    let log = Log::open(dir, Config::default()).unwrap();
    log.verify().unwrap_or_else(|e| panic!("verify after reopen: {e}"));
    all(&log, Filter::default()).into_iter().map(|r| r.event).collect()
}

fn segment_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_deleted_or_damaged_index_is_rebuilt_from_the_segments() {
    let events = fixture();
    let with_ids: Vec<Event> =
        events.iter().enumerate().map(|(i, e)| Event { id: Some(format!("e{i}")), ..e.clone() }).collect();
    for damage in ["delete", "garbage", "empty-dir"] {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut log = Log::open(dir.path(), shared_config()).unwrap();
            log.append(&with_ids[..100]).unwrap();
            log.append(&with_ids[100..]).unwrap();
            log.put_checkpoint("p", b"state").unwrap();
        }
        let store = dir.path().join("store");
        match damage {
            "delete" => std::fs::remove_dir_all(&store).unwrap(),
            "empty-dir" => {
                std::fs::remove_dir_all(&store).unwrap();
                std::fs::create_dir(&store).unwrap();
            }
            _ => std::fs::write(store.join("db"), vec![0xAB; 100_000]).unwrap(),
        }
        assert_eq!(reopen_events(dir.path()), with_ids, "{damage}");
        // The id index is back: appending the same ids again adds nothing.
        let mut log = Log::open(dir.path(), Config::default()).unwrap();
        let r = log.append(&with_ids[..10]).unwrap();
        assert_eq!((r.appended, r.duplicates), (0, 10), "{damage}");
        assert_eq!(log.seq_of_id("e5").unwrap(), Some(6));
    }
}

#[test]
fn a_torn_tail_is_cut_and_every_acknowledged_commit_kept() {
    let events = fixture();
    // Cut the last segment at every length inside the last commit, and add
    // garbage after it: the reopened log holds exactly the earlier commits.
    // The index as a crash during the third commit leaves it: without it.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = Log::open(dir.path(), Config::default()).unwrap();
        log.append(&events[..60]).unwrap();
        log.append(&events[60..61]).unwrap();
    }
    let saved_dir = tempfile::tempdir().unwrap();
    let saved = saved_dir.path().join("saved");
    copy_dir(dir.path(), &saved);
    let seg = segment_files(dir.path()).pop().unwrap();
    let before_last = std::fs::metadata(&seg).unwrap().len() as usize;
    Log::open(dir.path(), Config::default()).unwrap().append(&events[61..]).unwrap();
    let full = std::fs::read(&seg).unwrap();
    let step = ((full.len() - before_last) / 40).max(1);
    for cut in (before_last..full.len()).step_by(step) {
        let _ = std::fs::remove_dir_all(dir.path());
        copy_dir(&saved, dir.path());
        std::fs::write(&seg, &full[..cut]).unwrap();
        let got = reopen_events(dir.path());
        assert_eq!(got, events[..61].to_vec(), "cut at {cut}");
        // And appends continue after the cut.
        let mut log = Log::open(dir.path(), Config::default()).unwrap();
        log.append(&events[61..]).unwrap();
        drop(log);
        assert_eq!(reopen_events(dir.path()), events, "append after a cut at {cut}");
    }
    // Garbage after the last commit is cut too (and kept aside).
    let _ = std::fs::remove_dir_all(dir.path());
    copy_dir(&saved, dir.path());
    let mut bytes = full.clone();
    bytes.extend_from_slice(&[0x5A; 300]);
    std::fs::write(&seg, &bytes).unwrap();
    assert_eq!(reopen_events(dir.path()), events);
    assert_eq!(std::fs::read(&seg).unwrap(), full);
}

#[test]
fn a_commit_without_its_last_record_is_cut() {
    let events = fixture();
    let dir = tempfile::tempdir().unwrap();
    let config = Config { chunk_target_bytes: 512, ..Config::default() };
    {
        let mut log = Log::open(dir.path(), config.clone()).unwrap();
        log.append(&events[..20]).unwrap();
        let r = log.append(&events[20..]).unwrap();
        assert!(r.last_seq > 20);
    }
    // Drop the last record of the second commit (several records, one commit).
    let seg = segment_files(dir.path()).pop().unwrap();
    let log = Log::open(dir.path(), config).unwrap();
    let last_first = crate::storage::keys::chunk_seq(
        &log.store.last_with_prefix(&[crate::storage::keys::CHUNK]).unwrap().unwrap().0,
    )
    .unwrap();
    assert!(last_first > 21, "the second commit has several chunks");
    let ptr = crate::storage::segment::Pointer::decode(
        log.store.get(&crate::storage::keys::chunk(last_first)).unwrap().unwrap().as_ref(),
    )
    .unwrap();
    drop(log);
    let full = std::fs::read(&seg).unwrap();
    std::fs::write(&seg, &full[..ptr.offset as usize]).unwrap();
    std::fs::remove_dir_all(dir.path().join("store")).unwrap();
    assert_eq!(reopen_events(dir.path()), events[..20].to_vec());
}

#[test]
fn the_v1_fixture_database_is_upgraded_and_keeps_every_event() {
    let fixture_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/v1-db");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    copy_dir(&fixture_dir, &db);
    let mut want = fixture();
    want.extend(
        include_str!("../../tests/fixtures/agent-events.ndjson").lines().map(|l| parse_line(l, 0).unwrap()),
    );
    let got = reopen_events(&db);
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    assert!(db.join("v1-store/db").exists(), "the format 1 files are kept");
    assert!(db.join("v1-store/HEAD").exists());
    assert!(!db.join("HEAD").exists() && !db.join("upgrade-v2.tmp").exists());
    // Opening again does not upgrade again, and appends work.
    let mut log = Log::open(&db, Config::default()).unwrap();
    log.append(&want[..3]).unwrap();
    log.verify().unwrap();
    // An upgrade interrupted after the old store was renamed aside is redone.
    let db2 = dir.path().join("db2");
    copy_dir(&fixture_dir, &db2);
    std::fs::rename(db2.join("store"), db2.join("v1-store")).unwrap();
    assert_eq!(reopen_events(&db2), want);
}

/// The events of `tests/fixtures/v2-db`: made by the format 2 build (main
/// at 8bdcea9) with `orc-log ingest tests/fixtures/tmux-session-a.ndjson`,
/// `orc-log seal`, then `orc-log ingest tests/fixtures/agent-events.ndjson`:
/// a sealed segment of seqs 1-166 and an unsealed one of 167-176.
fn v2_fixture_events() -> Vec<Event> {
    let mut want = fixture();
    want.extend(
        include_str!("../../tests/fixtures/agent-events.ndjson").lines().map(|l| parse_line(l, 0).unwrap()),
    );
    want
}

#[test]
fn the_v2_fixture_database_is_upgraded_verified_and_keeps_every_event() {
    let fixture_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/v2-db");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    copy_dir(&fixture_dir, &db);
    let want = v2_fixture_events();
    {
        let log = Log::open(&db, Config::default()).unwrap();
        let report = log.verify().unwrap();
        assert_eq!(report.events, 176);
        // The format 2 build's verify printed chain 007e75…; format 3 chains digests.
        assert_ne!(report.chain_hex, "007e7568835d12f5dade910f10fdeed5c232ef773016c777b28a3173b0693fef");
    }
    assert_eq!(reopen_events(&db), want);
    assert!(db.join("v2-store/segments/00000000000000000001.seg").exists(), "the format 2 files are kept");
    assert!(db.join("v2-store/store").exists());
    assert!(!db.join("upgrade-v3.tmp").exists());
    // Every chunk is now version 3.
    for seg in segment_files(&db) {
        let bytes = std::fs::read(&seg).unwrap();
        if bytes.len() > 25 {
            assert_eq!(bytes[25], crate::storage::frame::CHUNK_VERSION, "{}", seg.display());
        }
    }
    // Opening again does not upgrade again, and appends work.
    let mut log = Log::open(&db, Config::default()).unwrap();
    log.append(&want[..3]).unwrap();
    log.verify().unwrap();
    drop(log);

    // Each state an interrupted upgrade can leave is finished or redone.
    // Interrupted during step 2 (a partial new database):
    let db2 = dir.path().join("db2");
    copy_dir(&fixture_dir, &db2);
    std::fs::create_dir_all(db2.join("upgrade-v3.tmp/segments")).unwrap();
    std::fs::write(db2.join("upgrade-v3.tmp/segments/00000000000000000001.seg"), b"ORCSEG02junk").unwrap();
    assert_eq!(reopen_events(&db2), want);
    // After the old index was moved aside:
    let db3 = dir.path().join("db3");
    copy_dir(&fixture_dir, &db3);
    std::fs::create_dir_all(db3.join("v2-store")).unwrap();
    std::fs::rename(db3.join("store"), db3.join("v2-store/store")).unwrap();
    assert_eq!(reopen_events(&db3), want);
    // After the old segments were moved aside too, before the new ones came in:
    let db4 = dir.path().join("db4");
    copy_dir(&fixture_dir, &db4);
    std::fs::create_dir_all(db4.join("v2-store")).unwrap();
    std::fs::rename(db4.join("store"), db4.join("v2-store/store")).unwrap();
    std::fs::rename(db4.join("segments"), db4.join("v2-store/segments")).unwrap();
    assert_eq!(reopen_events(&db4), want);
    let log = Log::open(&db4, Config::default()).unwrap();
    log.verify().unwrap();
    // A damaged format 2 database is not upgraded, and is left as it was.
    let db5 = dir.path().join("db5");
    copy_dir(&fixture_dir, &db5);
    let seg = db5.join("segments/00000000000000000001.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    assert!(Log::open(&db5, Config::default()).is_err());
    assert_eq!(std::fs::read(&seg).unwrap(), bytes, "the old segment is untouched");
    assert!(!db5.join("v2-store").exists());
}

#[test]
fn the_chain_takes_body_digests() {
    // Seq 1 of FORMAT.md's worked example: marker "hi", ts 0, no target.
    let raw = [0x00u8, 0x02, 0x68, 0x69];
    let digest = crate::storage::frame::body_digest(&raw);
    let mut input = vec![0u8; 32];
    input.extend_from_slice(&1u64.to_be_bytes());
    input.extend_from_slice(&0i64.to_be_bytes());
    input.push(6);
    input.extend_from_slice(&0u32.to_be_bytes());
    input.extend_from_slice(&digest);
    assert_eq!(input.len(), 85);
    let want = *blake3::hash(&input).as_bytes();
    let got = crate::storage::frame::chain_step_v3(
        &crate::storage::frame::GENESIS,
        1,
        0,
        orc_log_schemas::Kind::Marker,
        None,
        &digest,
    );
    assert_eq!(got, want);
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), Config::default()).unwrap();
    log.append(&[Event { ts_ns: 0, id: None, body: EventBody::Marker { label: "hi".into(), target: None } }])
        .unwrap();
    assert_eq!(log.head().chain_hash, want);
    println!("chain(1) = {}", crate::storage::head::hex(&want));
    for raw in [&[0u8, 2, 0x68, 0x69][..], &[0, 1, 0x61], &[0, 1, 0x62]] {
        println!("digest = {}", crate::storage::head::hex(&crate::storage::frame::body_digest(raw)));
    }
}

#[test]
fn many_segments_roll_verify_and_reopen() {
    let events = fixture();
    let dir = tempfile::tempdir().unwrap();
    let config = Config { segment_bytes: 2048, chunk_target_bytes: 1024, ..Config::default() };
    {
        let mut log = Log::open(dir.path(), config.clone()).unwrap();
        for part in events.chunks(7) {
            log.append(part).unwrap();
        }
    }
    let n = segment_files(dir.path()).len();
    assert!(n > 5, "{n} segments");
    assert_eq!(reopen_events(dir.path()), events);
    // A segment missing in the middle is reported, not papered over.
    let files = segment_files(dir.path());
    std::fs::remove_file(&files[n / 2]).unwrap();
    std::fs::remove_dir_all(dir.path().join("store")).unwrap();
    let mut log = Log::open(dir.path(), config).unwrap();
    let err = log.verify().unwrap_err();
    assert!(err.to_string().contains("missing") || err.to_string().contains("segment"), "{err}");
    assert!(log.append(&events[..1]).is_err(), "appends are refused on a damaged log");
}

pub(crate) fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn arb_event() -> impl Strategy<Value = Event> {
    let target = (0u32..3, 0u32..2).prop_map(|(w, p)| Target::new("s", w, p).unwrap());
    let body = prop_oneof![
        (target.clone(), "[a-c \n]{0,200}").prop_map(|(target, content)| EventBody::Capture {
            target,
            content,
            width: Some(80),
            height: None,
            cursor_x: None,
            cursor_y: Some(1)
        }),
        (target.clone(), ".{0,40}").prop_map(|(to, text)| EventBody::Message { from: "pm".into(), to, text }),
        ".{1,10}".prop_map(|label| EventBody::Marker { label, target: None }),
        Just(EventBody::SessionOpened { session: "s".into() }),
    ];
    (0i64..1_000_000, proptest::option::of("[a-z]{1,3}"), body).prop_map(|(ts_ns, id, body)| Event {
        ts_ns,
        id,
        body,
    })
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Event>),
    Reopen,
    Read(u64, u64),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec(arb_event(), 0..20).prop_map(Op::Append),
        1 => Just(Op::Reopen),
        2 => (0u64..200, 0u64..50).prop_map(|(a, n)| Op::Read(a, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// The log behaves like a `Vec<Event>` with id de-duplication, across reopens.
    #[test]
    fn model(ops in proptest::collection::vec(arb_op(), 1..25), shared in any::<bool>()) {
        let config = if shared { shared_config() } else { small_config() };
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), config.clone()).unwrap();
        let mut model: Vec<Event> = Vec::new();
        for op in ops {
            match op {
                Op::Append(evs) => {
                    let mut added = 0;
                    for e in &evs {
                        let dup = e.id.as_ref().is_some_and(|id| model.iter().any(|m| m.id.as_ref() == Some(id)));
                        if !dup {
                            model.push(e.clone());
                            added += 1;
                        }
                    }
                    let r = log.append(&evs).unwrap();
                    prop_assert_eq!(r.appended, added);
                    prop_assert_eq!(r.last_seq, model.len() as u64);
                }
                Op::Reopen => {
                    drop(log);
                    log = Log::open(dir.path(), config.clone()).unwrap();
                }
                Op::Read(from, n) => {
                    let got = all(&log, Filter { from_seq: from, until_seq: Some(from + n), ..Filter::default() });
                    let lo = from.max(1);
                    let want: Vec<_> = model.iter().enumerate()
                        .map(|(i, e)| (i as u64 + 1, e))
                        .filter(|(s, _)| *s >= lo && *s <= from + n)
                        .collect();
                    prop_assert_eq!(got.len(), want.len());
                    for (r, (s, e)) in got.iter().zip(want) {
                        prop_assert_eq!(r.seq, s);
                        prop_assert_eq!(&r.event, e);
                    }
                }
            }
        }
        let everything = all(&log, Filter::default());
        prop_assert_eq!(everything.into_iter().map(|r| r.event).collect::<Vec<_>>(), model);
        log.verify().unwrap();
    }
}

#[test]
fn append_groups_gives_one_receipt_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), Config::default()).unwrap();
    let ev = |id: Option<&str>| Event {
        ts_ns: 1,
        id: id.map(str::to_owned),
        body: EventBody::Marker { label: "m".into(), target: None },
    };
    log.append(&[ev(Some("x"))]).unwrap();
    let a = [ev(None), ev(Some("x"))];
    let b = [ev(Some("y")), ev(None)];
    let c = [ev(Some("y"))];
    let r = log.append_groups(&[&a, &b, &c]).unwrap();
    assert_eq!((r[0].appended, r[0].duplicates, r[0].first_seq, r[0].last_seq), (1, 1, 2, 2));
    assert_eq!((r[1].appended, r[1].duplicates, r[1].first_seq, r[1].last_seq), (2, 0, 3, 4));
    assert_eq!((r[2].appended, r[2].duplicates, r[2].first_seq, r[2].last_seq), (0, 1, 0, 4));
    assert_eq!(log.head().seq, 4);
}

#[test]
fn many_captures_in_one_commit_share_a_block_and_stay_small() {
    let dir = tempfile::tempdir().unwrap();
    let events = fixture();
    let mut log = Log::open(dir.path(), Config::default()).unwrap();
    log.append(&events).unwrap();
    let stored: u64 = log
        .scan_meta(Filter { kinds: vec![Kind::Capture], ..Filter::default() })
        .unwrap()
        .map(|m| m.unwrap().stored_bytes)
        .sum();
    let raw: usize = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Capture { content, .. } => Some(content.len()),
            _ => None,
        })
        .sum();
    assert!(stored * 10 < raw as u64, "captures stored in {stored} bytes for {raw} raw bytes");
    // The shared block survives a reopen and verifies.
    drop(log);
    log = Log::open(dir.path(), Config::default()).unwrap();
    log.verify().unwrap();
}

mod backups {
    use super::*;
    use crate::backup::{self, RestorePoint, SegmentWriter};

    /// Backs up everything new in `log` into `dest` (what `orc-log backup create` does).
    pub(crate) fn backup(log: &crate::Snapshot, dest: &std::path::Path) {
        let mut manifest = backup::open_backup(dest).unwrap();
        let chain = log.chain_at_chunk_end(manifest.head_seq).unwrap().unwrap();
        assert_eq!(crate::storage::head::hex(&chain), manifest.head_chain);
        let mut w = SegmentWriter::create(dest, manifest.head_seq).unwrap();
        let mut after = manifest.head_seq;
        loop {
            let chunks = log.raw_chunks(after, log.head().seq, 3).unwrap();
            let Some(last) = chunks.last() else { break };
            after = last.last_seq;
            for c in &chunks {
                w.push(c).unwrap();
            }
        }
        let seg = w.finish().unwrap();
        backup::commit_segment(dest, &mut manifest, seg).unwrap();
    }

    fn events_of(dir: &std::path::Path) -> Vec<Event> {
        let log = Log::open(dir, Config::default()).unwrap();
        all(&log, Filter::default()).into_iter().map(|r| r.event).collect()
    }

    /// A backup whose head falls inside a chunk a seal repacked since: the
    /// next incremental backup starts exactly after it and restores whole.
    #[test]
    fn incremental_backups_go_on_across_a_seal() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("backup");
        let events = fixture();
        let config = Config { segment_bytes: 4096, ..Config::default() };
        let mut log = Log::open(dir.path().join("db"), config).unwrap();
        for e in &events[..100] {
            log.append(std::slice::from_ref(e)).unwrap();
            if log.head().seq == 95 {
                backup(&log, &dest);
            }
        }
        log.seal(true).unwrap();
        assert!(log.chunk_holding(95).unwrap().unwrap().last_seq() > 95, "seq 95 is inside a sealed chunk");
        log.append(&events[100..]).unwrap();
        backup(&log, &dest);
        let to = dir.path().join("restored");
        backup::restore(&dest, &to, RestorePoint::All, false, false).unwrap();
        assert_eq!(events_of(&to), events);
        assert_eq!(Log::open(&to, Config::default()).unwrap().head().chain_hash, log.head().chain_hash);
    }

    #[test]
    fn incremental_backups_restore_exact_prefixes() {
        for config in [small_config(), shared_config(), Config::default()] {
            let dir = tempfile::tempdir().unwrap();
            let events = fixture();
            let dest = dir.path().join("backup");
            let mut log = Log::open(dir.path().join("db"), config).unwrap();
            log.append(&events[..83]).unwrap();
            backup(&log, &dest);
            log.append(&events[83..]).unwrap();
            backup(&log, &dest);
            let m = backup::Manifest::load(&dest).unwrap().unwrap();
            assert_eq!(m.segments.iter().map(|s| s.last_seq).collect::<Vec<_>>(), [83, 166]);
            assert_eq!(backup::verify_backup(&dest).unwrap().events, 166);
            // by seq, inside a chunk and at a segment end
            for n in [1u64, 40, 83, 100, 166] {
                let to = dir.path().join(format!("r{n}"));
                let r = backup::restore(&dest, &to, RestorePoint::UntilSeq(n), false, false).unwrap();
                assert_eq!(r.last_seq, n);
                assert_eq!(events_of(&to), events[..n as usize]);
            }
            // by time: the prefix up to the first later event, like seq_at_time
            let t = events[120].ts_ns;
            let want = log.seq_at_time(t).unwrap();
            let to = dir.path().join("at");
            let r = backup::restore(&dest, &to, RestorePoint::At(t), false, false).unwrap();
            assert_eq!(r.last_seq, want);
            assert_eq!(events_of(&to), events[..want as usize]);
            // a restored database continues its chain
            let mut restored = Log::open(&to, Config::default()).unwrap();
            restored.append(&events[..3]).unwrap();
            restored.verify().unwrap();
            drop(restored);
            // existing target protected; --force replaces it
            let err = backup::restore(&dest, &to, RestorePoint::All, false, false).unwrap_err();
            assert!(err.to_string().contains("--force"), "{err}");
            backup::restore(&dest, &to, RestorePoint::All, true, false).unwrap();
            assert_eq!(events_of(&to), events);
            // before the first event: a clear answer, nothing written
            let early = dir.path().join("early");
            let err = backup::restore(&dest, &early, RestorePoint::At(events[0].ts_ns - 1), false, false)
                .unwrap_err();
            assert!(err.to_string().contains("before the first event"), "{err}");
            assert!(!early.exists());
        }
    }

    #[test]
    fn a_forced_restore_is_refused_while_held_and_replaces_only_the_storage() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("backup");
        let db = dir.path().join("db");
        let events = fixture();
        let log = {
            let mut log = Log::open(&db, Config::default()).unwrap();
            log.append(&events).unwrap();
            backup(&log, &dest);
            log
        };
        std::fs::write(db.join("alerts.toml"), "rules\n").unwrap();
        // Held (by this process's open Log): refused, naming the holder.
        let err =
            backup::restore(&dest, &db, RestorePoint::UntilSeq(5), true, false).unwrap_err().to_string();
        assert!(err.contains(&format!("process {}", std::process::id())), "{err}");
        assert!(err.contains("nothing was changed"), "{err}");
        drop(log);
        assert_eq!(events_of(&db), events, "the refused restore changed nothing");
        // Free: only the storage is replaced.
        backup::restore(&dest, &db, RestorePoint::UntilSeq(5), true, false).unwrap();
        assert_eq!(events_of(&db), events[..5]);
        assert_eq!(std::fs::read_to_string(db.join("alerts.toml")).unwrap(), "rules\n");
        let beside: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".db."))
            .collect();
        assert!(beside.is_empty(), "left beside the database: {beside:?}");
        // A restore interrupted while it swapped the storage: opening refuses
        // until a restore is run again.
        std::fs::write(db.join(crate::RESTORE_MARKER), "/somewhere/.db.replaced-1\n").unwrap();
        let err = Log::open(&db, Config::default()).unwrap_err().to_string();
        assert!(err.contains("interrupted") && err.contains("/somewhere/.db.replaced-1"), "{err}");
        backup::restore(&dest, &db, RestorePoint::All, true, false).unwrap();
        assert_eq!(events_of(&db), events);
        assert!(!db.join(crate::RESTORE_MARKER).exists());
    }

    #[test]
    fn any_flipped_byte_in_a_backup_is_caught_and_refused() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("backup");
        let mut log = Log::open(dir.path().join("db"), Config::default()).unwrap();
        log.append(&fixture()).unwrap();
        backup(&log, &dest);
        let files: Vec<_> = std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().path()).collect();
        for file in files {
            let original = std::fs::read(&file).unwrap();
            for at in (0..original.len()).step_by(original.len() / 7 + 1) {
                let mut bad = original.clone();
                bad[at] ^= 0x20;
                std::fs::write(&file, &bad).unwrap();
                let err = backup::verify_backup(&dest);
                assert!(err.is_err(), "flip at {at} of {} not caught", file.display());
                let to = dir.path().join("restored");
                assert!(backup::restore(&dest, &to, RestorePoint::All, false, false).is_err());
                assert!(!to.exists(), "a refused restore writes nothing");
            }
            std::fs::write(&file, &original).unwrap();
        }
        backup::verify_backup(&dest).unwrap();
    }
}

/// Chunks with many panes are indexed as wide (one `W` entry): a scan of one
/// pane still finds its events in them, in seq order with the narrow chunks,
/// and a later small commit deltas against a capture inside a wide chunk.
#[test]
fn wide_chunks_are_found_by_pane_scans() {
    let dir = tempfile::tempdir().unwrap();
    let cap = |ts: i64, w: u32, text: &str| Event {
        ts_ns: ts,
        id: None,
        body: EventBody::Capture {
            target: Target::new("s", w, 0).unwrap(),
            width: None,
            height: None,
            cursor_x: None,
            cursor_y: None,
            content: format!("pane {w}: {text}\n").repeat(20),
        },
    };
    let wide: Vec<Event> = (0..60).map(|i| cap(i, (i % 20) as u32, "wide")).collect();
    let mut events = wide.clone();
    let mut log = Log::open(dir.path(), Config::default()).unwrap();
    log.append(&wide).unwrap();
    for i in 0..5 {
        let small = vec![cap(100 + i, 3, &format!("small {i}"))];
        log.append(&small).unwrap();
        events.extend(small);
    }
    log.append(&wide).unwrap();
    events.extend(wide);
    assert!(
        log.store.get(&crate::storage::keys::wide(1)).unwrap().is_some(),
        "the first commit is one wide chunk"
    );
    for w in [3u32, 7] {
        let target = format!("s:{w}.0");
        let got: Vec<Event> = all(&log, Filter { scope: Some(target.clone()), ..Filter::default() })
            .into_iter()
            .map(|r| r.event)
            .collect();
        let want: Vec<Event> = events
            .iter()
            .filter(|e| e.body.target().map(Target::to_string).as_deref() == Some(target.as_str()))
            .cloned()
            .collect();
        assert_eq!(got, want, "{target}");
    }
    drop(log);
    assert_eq!(reopen_events(dir.path()), events);
}

/// Small commits in small segments, sealed: the same events, seqs and chain,
/// fewer and larger chunks, smaller files; pane scans, reopen and later
/// appends work; sealing again finds nothing to do.
#[test]
fn sealing_repacks_closed_segments_and_keeps_the_chain() {
    let events = fixture();
    let dir = tempfile::tempdir().unwrap();
    let config = Config { segment_bytes: 4096, ..Config::default() };
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    for e in &events[..150] {
        log.append(std::slice::from_ref(e)).unwrap();
    }
    let chain = log.head().chain_hash;
    let before = log.segs.bytes().unwrap();
    let r = log.seal(true).unwrap();
    assert!(r.segments >= 2, "{r:?}");
    assert_eq!(r.events, 150);
    assert!(r.chunks_after < r.chunks_before, "{r:?}");
    assert!(log.segs.bytes().unwrap() < before, "{r:?}: {before} bytes before");
    assert_eq!(log.head().chain_hash, chain);
    log.verify().unwrap();
    assert_eq!(all(&log, Filter::default()).into_iter().map(|r| r.event).collect::<Vec<_>>(), events[..150]);
    let pane: Vec<_> = all(&log, Filter { scope: Some("proj:1.0".into()), ..Filter::default() });
    let want = events[..150]
        .iter()
        .filter(|e| e.body.target().map(Target::to_string).as_deref() == Some("proj:1.0"))
        .count();
    assert_eq!(pane.len(), want);
    assert_eq!(log.seal(true).unwrap().segments, 0, "nothing new to seal");
    log.append(&events[150..]).unwrap();
    drop(log);
    assert_eq!(reopen_events(dir.path()), events);
}

/// A seal interrupted at each step leaves every event readable: a stray
/// `.sealing` file, the note with the file (before the rename), the note
/// after the rename (the index is rebuilt).
#[test]
fn an_interrupted_seal_is_finished_or_undone_on_open() {
    let events = fixture();
    let config = Config { segment_bytes: 4096, ..Config::default() };
    let base = tempfile::tempdir().unwrap();
    let a = base.path().join("a");
    {
        let mut log = Log::open(&a, config.clone()).unwrap();
        for e in &events {
            log.append(std::slice::from_ref(e)).unwrap();
        }
    }
    let sealed = base.path().join("sealed");
    copy_dir(&a, &sealed);
    Log::open(&sealed, config.clone()).unwrap().seal(false).unwrap();
    let first = segment_files(&a)[0].clone();
    let name = first.file_name().unwrap().to_string_lossy().into_owned();
    let note = |dir: &std::path::Path| {
        let mut store = Log::open(dir, config.clone()).unwrap();
        let first_seq: u64 = name.trim_end_matches(".seg").parse().unwrap();
        store
            .store_mut()
            .store_mut()
            .commit(vec![(
                crate::storage::keys::meta(crate::storage::keys::META_SEALING),
                first_seq.to_be_bytes().to_vec(),
            )])
            .unwrap();
    };
    // 1. a stray .sealing file.
    let d1 = base.path().join("d1");
    copy_dir(&a, &d1);
    std::fs::copy(sealed.join("segments").join(&name), d1.join("segments").join(format!("{name}.sealing")))
        .unwrap();
    assert_eq!(reopen_events(&d1), events);
    assert!(!d1.join("segments").join(format!("{name}.sealing")).exists());
    // 2. the note and the file: the rename never happened.
    let d2 = base.path().join("d2");
    copy_dir(&a, &d2);
    note(&d2);
    std::fs::copy(sealed.join("segments").join(&name), d2.join("segments").join(format!("{name}.sealing")))
        .unwrap();
    assert_eq!(reopen_events(&d2), events);
    // 3. the note, the sealed segment in place, the old index.
    let d3 = base.path().join("d3");
    copy_dir(&a, &d3);
    note(&d3);
    std::fs::copy(sealed.join("segments").join(&name), d3.join("segments").join(&name)).unwrap();
    assert_eq!(reopen_events(&d3), events);
}

/// A database of one-event commits over three panes (each commit a chunk of
/// its own, as a recorder writes them) in segments of 4 KiB, none sealed.
fn live_database(dir: &std::path::Path) -> (crate::SharedLog, Vec<Event>) {
    let config = Config { segment_bytes: 4096, ..Config::default() };
    let log = crate::SharedLog::open(dir, config).unwrap();
    let mut events = Vec::new();
    for i in 0..300i64 {
        let pane = (i % 3) as u32;
        let body = if i % 4 == 3 {
            EventBody::Marker { label: format!("m{i}"), target: None }
        } else {
            EventBody::Capture {
                target: Target::new("s", 0, pane).unwrap(),
                content: format!("$ make test\nrun {i} of pane {pane}\n").repeat(3),
                width: None,
                height: None,
                cursor_x: None,
                cursor_y: None,
            }
        };
        let ev = Event { ts_ns: 1_000 + i, id: None, body };
        log.append(vec![ev.clone()]).unwrap();
        events.push(ev);
    }
    (log, events)
}

/// A scan that a seal switches segments under (the seal runs between two
/// steps of the scan, at every point of it) returns every event of its
/// filter exactly once, in order, and the same events as before the seal.
#[test]
fn a_scan_across_a_background_seal_sees_every_event_once() {
    for scope in [Some("s:0.1"), None] {
        for stop_after in [0usize, 1, 7, 40, 74] {
            let dir = tempfile::tempdir().unwrap();
            let (log, _) = live_database(dir.path());
            let filter = Filter { scope: scope.map(str::to_owned), ..Filter::default() };
            let want: Vec<Record> =
                log.snapshot().scan(filter.clone()).unwrap().collect::<Result<_, _>>().unwrap();
            assert!(want.len() > stop_after, "{scope:?}: {} events", want.len());
            let snap = log.snapshot();
            let mut scan = snap.scan(filter.clone()).unwrap();
            let mut got: Vec<Record> = scan.by_ref().take(stop_after).collect::<Result<_, _>>().unwrap();
            let report = log.seal(true).unwrap();
            assert!(report.segments > 3 && report.chunks_after < report.chunks_before, "{report:?}");
            got.extend(scan.collect::<Result<Vec<_>, _>>().unwrap());
            let seqs = |r: &[Record]| r.iter().map(|r| r.seq).collect::<Vec<_>>();
            assert_eq!(seqs(&got), seqs(&want), "{scope:?}, seal after {stop_after} events");
            assert_eq!(got, want, "{scope:?}, seal after {stop_after} events");
            log.snapshot().verify().unwrap();
        }
    }
}

/// Scans running in a loop on other threads while the server's sealer
/// closes and seals segments as appends go on: every scan sees each event
/// of its snapshot once.
#[test]
fn scans_on_other_threads_race_background_seals_without_missing_events() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = live_database(dir.path());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (log, stop) = (&log, &stop);
                s.spawn(move || {
                    let mut scans = 0;
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) || scans == 0 {
                        let snap = log.snapshot();
                        let filter =
                            Filter { scope: (r == 0).then(|| "s:0.2".to_owned()), ..Filter::default() };
                        let seqs: Vec<u64> = snap.scan(filter).unwrap().map(|r| r.unwrap().seq).collect();
                        let mut sorted = seqs.clone();
                        sorted.dedup();
                        assert_eq!(sorted, seqs, "no repeats, in order");
                        if r == 1 {
                            assert_eq!(seqs, (1..=snap.head().seq).collect::<Vec<_>>(), "every event once");
                        } else {
                            let n = (1..=snap.head().seq.min(300))
                                .filter(|s| s % 4 != 0 && (s - 1) % 3 == 2)
                                .count();
                            assert_eq!(seqs.len(), n, "every capture of s:0.2 once");
                        }
                        scans += 1;
                    }
                    scans
                })
            })
            .collect();
        for i in 0..60i64 {
            let ev = Event {
                ts_ns: 5_000 + i,
                id: None,
                body: EventBody::Marker { label: format!("late {i}"), target: None },
            };
            log.append(vec![ev]).unwrap();
            if i % 10 == 0 {
                log.seal(true).unwrap();
            }
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
    });
    log.snapshot().verify().unwrap();
}

/// The index entries of the unsealed tail are kept in memory: with a
/// sealer running (here: `seal` after every few commits, as `serve` does in
/// the background), sled holds none of the small commits' chunks, only the
/// sealed chunks; a reopen rebuilds the memtable from the segments.
#[test]
fn the_tail_index_is_in_memory_and_sealing_moves_only_sealed_chunks_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config { segment_bytes: 4096, ..Config::default() };
    let log = crate::SharedLog::open(dir.path(), config.clone()).unwrap();
    let stored_chunks = |log: &crate::SharedLog| {
        let snap = log.snapshot();
        snap.store.stored().range(&[crate::storage::keys::CHUNK], &[crate::storage::keys::CHUNK + 1]).count()
            as u64
    };
    let mut events = Vec::new();
    let mut sealed_chunks = 0;
    for i in 0..300i64 {
        let ev = Event {
            ts_ns: i,
            id: Some(format!("id-{i}")),
            body: EventBody::Marker { label: format!("marker {i} ").repeat(8), target: None },
        };
        log.append(vec![ev.clone()]).unwrap();
        events.push(ev);
        if i % 10 == 9 {
            sealed_chunks += log.seal(false).unwrap().chunks_after;
            assert_eq!(stored_chunks(&log), sealed_chunks, "after {i}: only sealed chunks are in sled");
        }
    }
    let live = log.snapshot().storage().unwrap();
    assert!(live.index_memory_entries > 0 && live.sealed_segments > 3, "{live:?}");
    // Ids of the tail are found in memory, older ones in sled.
    assert_eq!(log.snapshot().seq_of_id("id-299").unwrap(), Some(300));
    assert_eq!(log.snapshot().seq_of_id("id-3").unwrap(), Some(4));
    let report = log.seal(true).unwrap();
    let after = log.snapshot().storage().unwrap();
    assert_eq!(after.index_memory_entries, 0, "{after:?}");
    assert_eq!(stored_chunks(&log), sealed_chunks + report.chunks_after);
    assert!(after.last_seal.is_some() && after.unsealed_segments == 1, "{after:?}");
    let again = log.append(vec![events[5].clone()]).unwrap();
    assert_eq!((again.appended, again.duplicates), (0, 1), "a sealed id is still a duplicate");
    drop(log);
    let log = Log::open(dir.path(), config).unwrap();
    assert_eq!(all(&log, Filter::default()).into_iter().map(|r| r.event).collect::<Vec<_>>(), events);
    log.verify().unwrap();
}

/// The engine's modules form no import circle, and the storage internals
/// (`src/storage/`) never import the public face (`Log`, `Snapshot`,
/// `SharedLog`, ...): read from the sources' `crate::` paths.
#[test]
fn modules_have_no_import_circle_and_storage_does_not_import_the_public_face() {
    use std::collections::{BTreeMap, BTreeSet};
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for dir in [src.clone(), src.join("storage")] {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            if p.extension().is_some_and(|x| x == "rs") && !["lib", "mod", "tests"].contains(&stem.as_str()) {
                let name = if dir == src { stem } else { format!("storage::{stem}") };
                files.push((name, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    let names: BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, text) in &files {
        // Code only: a test module may use anything.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
        let deps = graph.entry(name.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let path: String =
                rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let mut parts = path.split("::");
            let first = parts.next().unwrap_or("");
            let target = if first == "storage" {
                format!("storage::{}", parts.next().unwrap_or(""))
            } else {
                first.to_owned()
            };
            if names.contains(&target) && target != *name {
                deps.insert(target);
            }
        }
    }
    for (name, deps) in &graph {
        if name.starts_with("storage::") {
            let face: Vec<&String> = deps.iter().filter(|d| !d.starts_with("storage::")).collect();
            let allowed = ["config", "error", "position"];
            let bad: Vec<&&String> = face.iter().filter(|d| !allowed.contains(&d.as_str())).collect();
            assert!(bad.is_empty(), "{name} imports the public face: {bad:?}");
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) {
        match state.get(n) {
            Some(2) => return,
            Some(1) => panic!("import circle: {} -> {n}", path.join(" -> ")),
            _ => {}
        }
        state.insert(n.to_owned(), 1);
        path.push(n.to_owned());
        for d in graph.get(n).into_iter().flatten() {
            visit(d, graph, state, path);
        }
        path.pop();
        state.insert(n.to_owned(), 2);
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        visit(n, &graph, &mut state, &mut Vec::new());
    }
    assert!(graph.len() > 20, "{} modules read", graph.len());
}

mod redaction {
    use super::*;
    use crate::backup::{self, RestorePoint};

    const SECRET: &str = "hunter2-SECRET";

    /// The fixture with SECRET planted in some captures and messages,
    /// appended a few events per commit over several small segments (so
    /// captures are delta-compressed and segments are unsealed).
    fn planted() -> (Vec<Event>, Vec<u64>) {
        let mut events = fixture();
        let mut seqs = Vec::new();
        for (i, e) in events.iter_mut().enumerate() {
            let hit = match &mut e.body {
                EventBody::Capture { content, .. } if i % 7 == 3 => {
                    content.push_str(&format!("\npassword: {SECRET} ok"));
                    true
                }
                EventBody::Message { text, .. } if i % 3 == 0 => {
                    text.push_str(&format!(" token={SECRET}"));
                    true
                }
                _ => false,
            };
            if hit {
                seqs.push(i as u64 + 1);
            }
        }
        (events, seqs)
    }

    fn redacted(e: &Event) -> Option<Event> {
        let mut out = e.clone();
        match &mut out.body {
            EventBody::Capture { content, .. } => *content = content.replace(SECRET, "[REDACTED:manual]"),
            EventBody::Message { text, .. } => *text = text.replace(SECRET, "[REDACTED:manual]"),
            _ => {}
        }
        (out != *e).then_some(out)
    }

    fn count_secret(events: &[Event]) -> usize {
        events.iter().filter(|e| format!("{e:?}").contains(SECRET)).count()
    }

    #[test]
    fn redacted_bodies_keep_the_chain_in_the_log_and_in_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let (events, seqs) = planted();
        assert!(seqs.len() > 5);
        let config = Config { segment_bytes: 4096, ..Config::default() };
        let mut log = Log::open(dir.path().join("db"), config.clone()).unwrap();
        for part in events.chunks(3) {
            log.append(part).unwrap();
        }
        let before = log.verify().unwrap();
        assert_eq!(before.redacted, 0);
        let dest = dir.path().join("backup");
        super::backups::backup(&log, &dest);

        let edits: std::collections::BTreeMap<u64, Event> = all(&log, Filter::default())
            .into_iter()
            .filter_map(|r| redacted(&r.event).map(|e| (r.seq, e)))
            .collect();
        assert_eq!(edits.keys().copied().collect::<Vec<_>>(), seqs);
        // An edit may change only the body.
        let mut bad = edits.clone();
        let first = *bad.keys().next().unwrap();
        bad.get_mut(&first).unwrap().ts_ns += 1;
        assert!(log.redact(&bad).is_err());
        let done = log.redact(&edits).unwrap();
        assert_eq!(done.iter().map(|r| r.seq).collect::<Vec<_>>(), seqs);
        for r in &done {
            assert_eq!(r.new_digest, crate::body_digest(&edits[&r.seq]).unwrap());
        }
        let after = log.verify().unwrap();
        assert_eq!(after.chain_hex, before.chain_hex, "the chain is unchanged");
        assert_eq!(after.redacted, seqs.len() as u64);
        let now: Vec<Event> = all(&log, Filter::default()).into_iter().map(|r| r.event).collect();
        assert_eq!(count_secret(&now), 0);
        let want: Vec<Event> = events.iter().map(|e| redacted(e).unwrap_or_else(|| e.clone())).collect();
        assert_eq!(now, want, "every other event is unchanged");
        assert_eq!(
            log.redacted_bodies().unwrap(),
            done.iter().map(|r| crate::RedactedBody { old_digest: r.old_digest, ..*r }).collect::<Vec<_>>()
        );
        // Appends (captures delta-compressed against redacted ones) go on, and
        // sealing and reopening keep everything.
        log.append(&events[..20]).unwrap();
        log.seal(true).unwrap();
        drop(log);
        let log = Log::open(dir.path().join("db"), config).unwrap();
        assert_eq!(log.verify().unwrap().redacted, seqs.len() as u64);
        drop(log);

        // The backup: redacted the same way, verified, restored with its chain.
        let mut edit = |_: u64, e: &Event| redacted(e);
        let dry = crate::redact_backup(&dest, &mut edit, true).unwrap();
        assert_eq!(dry.len(), seqs.len());
        assert_eq!(backup::verify_backup(&dest).unwrap().events, 166);
        let in_backup = crate::redact_backup(&dest, &mut edit, false).unwrap();
        assert_eq!(in_backup.iter().map(|r| r.seq).collect::<Vec<_>>(), seqs);
        let report = backup::verify_backup(&dest).unwrap();
        assert_eq!(report.chain_hex, before.chain_hex);
        assert!(crate::redact_backup(&dest, &mut edit, false).unwrap().is_empty(), "nothing left");
        let to = dir.path().join("restored");
        backup::restore(&dest, &to, RestorePoint::All, false, false).unwrap();
        let log = Log::open(&to, Config::default()).unwrap();
        let v = log.verify().unwrap();
        assert_eq!((v.chain_hex, v.redacted), (before.chain_hex, seqs.len() as u64));
        let restored: Vec<Event> = all(&log, Filter::default()).into_iter().map(|r| r.event).collect();
        assert_eq!(restored, want);
    }

    #[test]
    fn an_interrupted_backup_redaction_is_finished_or_undone() {
        let dir = tempfile::tempdir().unwrap();
        let (events, _) = planted();
        let mut log = Log::open(dir.path().join("db"), Config::default()).unwrap();
        log.append(&events).unwrap();
        let dest = dir.path().join("backup");
        super::backups::backup(&log, &dest);
        let seg = backup::Manifest::load(&dest).unwrap().unwrap().segments[0].file.clone();
        // A rewritten file left without the new manifest is removed.
        std::fs::write(dest.join(format!("{seg}.redact")), b"junk").unwrap();
        let mut edit = |_: u64, e: &Event| redacted(e);
        crate::redact_backup(&dest, &mut edit, false).unwrap();
        assert!(!dest.join(format!("{seg}.redact")).exists());
        assert_eq!(backup::verify_backup(&dest).unwrap().events, 166);
    }
}

mod torn_redaction {
    use super::*;

    const SECRET: &str = "s3cr3t-torn-Xy";

    /// Every body of the whole records in a torn file, decoded (delta bases
    /// through `log`); and the bytes after them.
    fn torn_bodies(log: &Log, bytes: &[u8]) -> (Vec<Event>, usize) {
        let mut at = 0;
        let mut out = Vec::new();
        while bytes.len() - at >= 17 {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let first = u64::from_be_bytes(bytes[at + 4..at + 12].try_into().unwrap());
            if bytes.len() - at - 17 < len {
                break;
            }
            let chunk = crate::storage::frame::decode_chunk(first, &bytes[at + 17..at + 17 + len]).unwrap();
            let sum = u32::from_be_bytes(bytes[at + 13..at + 17].try_into().unwrap());
            assert_eq!(
                crate::storage::segment::crc(first, bytes[at + 12], &bytes[at + 17..at + 17 + len]),
                sum
            );
            let mut checker =
                crate::storage::chain::ChainChecker::new(first - 1, crate::storage::frame::GENESIS).unwrap();
            let raws = checker.decode_frames(&chunk, Some(&log.reader())).unwrap();
            for (f, raw) in chunk.frames.iter().zip(raws) {
                out.push(crate::storage::codec::decode_body(f.kind, f.ts_ns, chunk.scope(f), &raw).unwrap());
            }
            at += 17 + len;
        }
        (out, bytes.len() - at)
    }

    #[test]
    fn torn_files_are_redacted_record_by_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut events: Vec<Event> = fixture()[..30].to_vec();
        for e in &mut events {
            if let EventBody::Message { text, .. } = &mut e.body {
                text.push_str(&format!(" {SECRET}"));
            }
        }
        let db = dir.path().join("db");
        let mut log = Log::open(&db, Config::default()).unwrap();
        log.append(&events[..10]).unwrap();
        log.append(&events[10..]).unwrap();
        drop(log);
        // A torn file holding the segment's records (as recovery leaves the
        // bytes it cut), then a cut-short tail with the secret in clear.
        let seg = db.join("segments/00000000000000000001.seg");
        let mut bytes = std::fs::read(&seg).unwrap()[8..].to_vec();
        bytes.extend_from_slice(format!("\x00\x00partial {SECRET}").as_bytes());
        let torn = db.join("segments/00000000000000000001.seg.torn-8");
        std::fs::write(&torn, &bytes).unwrap();
        let log = Log::open(&db, Config::default()).unwrap();
        let (before, rest) = torn_bodies(&log, &bytes);
        assert_eq!(before.len(), 30);
        assert!(rest > 0);
        let planted = before.iter().filter(|e| format!("{e:?}").contains(SECRET)).count();
        assert!(planted > 0);
        let mut edit = |_: u64, e: &Event| {
            let mut out = e.clone();
            if let EventBody::Message { text, .. } = &mut out.body {
                *text = text.replace(SECRET, "[REDACTED:manual]");
            }
            (out != *e).then_some(out)
        };
        let has = |b: &[u8]| String::from_utf8_lossy(b).contains(SECRET);
        let dry = crate::redact_torn_files(&log, &mut edit, &has, true).unwrap();
        assert_eq!(dry.len(), 1);
        assert_eq!(std::fs::read(&torn).unwrap(), bytes, "a dry run writes nothing");
        let done = crate::redact_torn_files(&log, &mut edit, &has, false).unwrap();
        assert_eq!(done[0].1.len(), planted);
        let after = std::fs::read(&torn).unwrap();
        let (bodies, rest) = torn_bodies(&log, &after);
        assert_eq!(rest, 0, "the cut-short tail holding the secret was cut");
        assert_eq!(bodies.len(), 30);
        assert_eq!(bodies.iter().filter(|e| format!("{e:?}").contains(SECRET)).count(), 0);
        assert_eq!(bodies.iter().filter(|e| format!("{e:?}").contains("[REDACTED:manual]")).count(), planted);
        // Each rewritten record keeps its stored chain hash.
        let chain_of = |b: &[u8]| -> Vec<[u8; 32]> {
            let mut at = 0;
            let mut v = Vec::new();
            while b.len() - at >= 17 {
                let len = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
                if b.len() - at - 17 < len {
                    break;
                }
                v.push(b[at + 17 + len - 32..at + 17 + len].try_into().unwrap());
                at += 17 + len;
            }
            v
        };
        assert_eq!(chain_of(&after), chain_of(&bytes));
        log.verify().unwrap();
    }
}

mod compaction {
    use super::*;
    use crate::SharedLog;
    use crate::backup::{self, RestorePoint};
    use crate::retention::{Cutoff, KindRule, Rules};

    fn rules_keep_captures(n: u64) -> Rules {
        let mut rules = Rules::default();
        rules.kind.insert("capture".into(), KindRule { max_age_secs: None, max_count: Some(n) });
        rules
    }

    fn compact(log: &SharedLog, rules: &Rules) -> crate::retention::CompactReport {
        let plan =
            log.snapshot().retention_plan(rules, orc_log_schemas::now_ns(), &log.pins().unwrap()).unwrap();
        log.compact(&plan, &mut |_, _| {}).unwrap()
    }

    /// Every capture but the newest `keep` expires: the stubs keep seq, ts,
    /// kind and target; every other event and the chain after every kept
    /// one stay; the chain hash at a checkpointed seq inside a run of
    /// expired events stays; a second compaction merges runs; reopening,
    /// sealing, a backup made after it and its restore keep it all; a
    /// restore to before the cutoff is refused.
    #[test]
    fn compaction_expires_bodies_and_keeps_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let events = fixture();
        let db = dir.path().join("db");
        let log = SharedLog::open(&db, shared_config()).unwrap();
        for part in events.chunks(7) {
            log.append(part.to_vec()).unwrap();
        }
        log.seal(true).unwrap();
        let snap = log.snapshot();
        let before = snap.verify().unwrap();
        let segment_bytes = snap.segment_bytes().unwrap();
        let chains: Vec<[u8; 32]> =
            (1..=snap.head().seq).map(|s| snap.chain_at_chunk_end(s).unwrap().unwrap()).collect();
        let captures: Vec<u64> =
            all_shared(&log).iter().filter(|r| r.event.kind() == Kind::Capture).map(|r| r.seq).collect();
        assert!(captures.len() > 40, "{}", captures.len());
        // A checkpoint note was issued at a capture that will expire mid-run.
        let noted = captures[10];
        assert_eq!(captures[11], noted + 1, "the fixture has consecutive captures there");
        crate::retention::record_checkpoint(&db, noted).unwrap();

        drop(snap);
        let report = compact(&log, &rules_keep_captures(5));
        let expired: Vec<u64> = captures[..captures.len() - 5].to_vec();
        assert_eq!(report.expired, expired.len() as u64);
        let snap = log.snapshot();
        assert!(snap.segment_bytes().unwrap() < segment_bytes, "{report:?}");
        let after = snap.verify().unwrap();
        assert_eq!(
            (after.chain_hex.clone(), after.expired),
            (before.chain_hex.clone(), expired.len() as u64)
        );
        for r in all_shared(&log) {
            let original = &events[r.seq as usize - 1];
            if expired.contains(&r.seq) {
                assert_eq!(r.event.ts_ns, original.ts_ns);
                assert_eq!(r.event.body, original.body.expired_stub(), "seq {}", r.seq);
            } else {
                assert_eq!(&r.event, original, "seq {} is unchanged", r.seq);
            }
        }
        let metas: Vec<crate::EventMeta> =
            snap.scan_meta(Filter::default()).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(metas.iter().filter(|m| m.expired).map(|m| m.seq).collect::<Vec<_>>(), expired);
        // The chain after every kept event, seq 1 and the noted seq stays.
        for seq in 1..=snap.head().seq {
            match snap.chain_at_chunk_end(seq) {
                Ok(c) => assert_eq!(c.unwrap(), chains[seq as usize - 1], "seq {seq}"),
                Err(e) => {
                    assert!(expired.contains(&seq) && seq != noted && seq != 1, "seq {seq}: {e}");
                    assert!(e.to_string().contains("no longer stored"), "{e}");
                }
            }
        }
        assert_eq!(snap.chain_at_chunk_end(noted).unwrap().unwrap(), chains[noted as usize - 1]);
        assert_eq!(Cutoff::load(&db).unwrap().unwrap().seq, *expired.last().unwrap());

        // Appends go on; a second compaction merges the runs; a seal keeps it.
        log.append(events[..30].to_vec()).unwrap();
        let head = log.snapshot().head().seq;
        let chain_head = log.snapshot().head().chain_hash;
        compact(&log, &rules_keep_captures(2));
        log.seal(true).unwrap();
        let v = log.snapshot().verify().unwrap();
        assert_eq!(v.head_seq, head);
        assert_eq!(log.snapshot().head().chain_hash, chain_head);
        assert_eq!(log.snapshot().chain_at_chunk_end(noted).unwrap().unwrap(), chains[noted as usize - 1]);
        let expired_now = v.expired;
        drop((snap, log));

        // Reopened, backed up, restored: the same chain and stubs.
        let reopened = Log::open(&db, shared_config()).unwrap();
        assert_eq!(reopened.verify().unwrap().expired, expired_now);
        let dest = dir.path().join("backup");
        super::backups::backup(&reopened, &dest);
        let kept: Vec<Record> = all(&reopened, Filter::default());
        drop(reopened);
        assert_eq!(backup::verify_backup(&dest).unwrap().chain_hex, v.chain_hex);
        let to = dir.path().join("restored");
        backup::restore(&dest, &to, RestorePoint::All, false, false).unwrap();
        let restored = Log::open(&to, Config::default()).unwrap();
        let rv = restored.verify().unwrap();
        assert_eq!((rv.chain_hex, rv.expired), (v.chain_hex.clone(), expired_now));
        assert_eq!(all(&restored, Filter::default()), kept);
        let cutoff = Cutoff::load(&db).unwrap().unwrap();
        assert_eq!(Cutoff::load(&to).unwrap(), Some(cutoff));
        drop(restored);
        let early = dir.path().join("early");
        let err =
            backup::restore(&dest, &early, RestorePoint::UntilSeq(cutoff.seq - 1), false, false).unwrap_err();
        assert!(err.to_string().contains("before the retention cutoff"), "{err}");
        assert!(!early.exists());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Random rounds of appends and compactions (random kinds, counts and
        /// commit sizes, small chunks and segments): the chain, every kept
        /// event and the stub of every expired one hold after each round,
        /// through a reopen and a backup's restore.
        #[test]
        fn random_compactions_keep_the_chain_and_every_kept_event(
            rounds in proptest::collection::vec((1usize..40, 0u64..30, proptest::bool::ANY), 1..5),
            commit in 1usize..25,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("db");
            let events = fixture();
            let log = SharedLog::open(&db, shared_config()).unwrap();
            let mut appended: Vec<Event> = Vec::new();
            for (r, (parts, keep, captures_only)) in rounds.iter().enumerate() {
                for part in events.chunks(commit).take(*parts) {
                    log.append(part.to_vec()).unwrap();
                    appended.extend_from_slice(part);
                }
                let mut rules = Rules::default();
                let kind = if *captures_only { "capture" } else { "all" };
                rules.kind.insert(kind.into(), KindRule { max_age_secs: None, max_count: Some(keep + 1) });
                let chain = log.snapshot().head().chain_hash;
                compact(&log, &rules);
                let snap = log.snapshot();
                let v = snap.verify().unwrap();
                prop_assert_eq!(snap.head().chain_hash, chain, "round {}", r);
                prop_assert_eq!(v.head_seq, appended.len() as u64);
                let metas: Vec<crate::EventMeta> =
                    snap.scan_meta(Filter::default()).unwrap().collect::<Result<_, _>>().unwrap();
                for (m, rec) in metas.iter().zip(all_shared(&log)) {
                    let original = &appended[rec.seq as usize - 1];
                    if m.expired {
                        prop_assert_eq!(&rec.event.body, &original.body.expired_stub());
                    } else {
                        prop_assert_eq!(&rec.event, original);
                    }
                }
                prop_assert_eq!(snap.chain_at_chunk_end(1).unwrap().is_some(), true);
            }
            let v = log.snapshot().verify().unwrap();
            drop(log);
            let reopened = Log::open(&db, shared_config()).unwrap();
            prop_assert_eq!(reopened.verify().unwrap(), v.clone());
            let dest = dir.path().join("backup");
            super::backups::backup(&reopened, &dest);
            let kept = all(&reopened, Filter::default());
            drop(reopened);
            let to = dir.path().join("restored");
            backup::restore(&dest, &to, RestorePoint::All, false, false).unwrap();
            let restored = Log::open(&to, Config::default()).unwrap();
            let rv = restored.verify().unwrap();
            prop_assert_eq!((rv.chain_hex, rv.expired), (v.chain_hex, v.expired));
            prop_assert_eq!(all(&restored, Filter::default()), kept);
        }
    }

    #[test]
    fn the_cutoff_file_is_storage_a_restore_replaces() {
        assert!(crate::STORAGE_ENTRIES.contains(&crate::retention::CUTOFF_FILE));
    }

    fn all_shared(log: &SharedLog) -> Vec<Record> {
        log.snapshot().scan(Filter::default()).unwrap().collect::<Result<_, _>>().unwrap()
    }

    /// Rules are validated with the key and value named, and unknown keys
    /// in the file are refused with the line.
    #[test]
    fn retention_rules_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let mut rules = Rules::default();
        rules.kind.insert("capturez".into(), KindRule { max_age_secs: Some(5), max_count: None });
        assert!(rules.save(dir.path()).unwrap_err().to_string().contains("unknown kind \"capturez\""));
        let mut rules = Rules { max_bytes: Some(10), ..Rules::default() };
        assert!(rules.validate().unwrap_err().to_string().contains("max_bytes = 10"));
        rules.max_bytes = None;
        rules.kind.insert("redaction".into(), KindRule { max_age_secs: Some(5), max_count: None });
        assert!(rules.validate().unwrap_err().to_string().contains("never expire"));
        rules.kind.clear();
        rules.kind.insert("all".into(), KindRule::default());
        assert!(rules.validate().unwrap_err().to_string().contains("neither"));
        std::fs::write(dir.path().join(crate::retention::RULES_FILE), "[kind.capture]\nmax_age = 3\n")
            .unwrap();
        let err = Rules::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("max_age"), "{err}");
        let good = rules_keep_captures(3);
        good.save(dir.path()).unwrap();
        assert_eq!(Rules::load(dir.path()).unwrap(), Some(good));
        Rules::default().save(dir.path()).unwrap();
        assert_eq!(Rules::load(dir.path()).unwrap(), None);
    }

    /// A pin holds back everything at and after its seq; a stale one (its
    /// process is gone) holds nothing; `max_bytes` expires the oldest first.
    #[test]
    fn pins_hold_back_and_max_bytes_expires_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let log = SharedLog::open(dir.path(), shared_config()).unwrap();
        log.append(fixture()).unwrap();
        let snap = log.snapshot();
        let pin = crate::retention::Pin {
            name: "backup-x".into(),
            reason: "backup".into(),
            seq: 50,
            pid: None,
            updated_ns: 0,
        };
        let stale =
            crate::retention::Pin { pid: Some(u32::MAX - 1), seq: 3, name: "gone".into(), ..pin.clone() };
        let plan = snap.retention_plan(&rules_keep_captures(1), 0, &[pin.clone(), stale]).unwrap();
        assert_eq!(plan.pinned.as_ref().map(|p| p.0), Some(50));
        assert!(plan.cutoff.unwrap().seq < 50);
        // max_bytes bounds the segments: the oldest expire first, until they fit.
        for _ in 0..40 {
            log.append(fixture()).unwrap();
        }
        log.seal(true).unwrap();
        let snap = log.snapshot();
        let segments = snap.segment_bytes().unwrap();
        let rules = Rules { max_bytes: Some(segments / 2), ..Rules::default() };
        let plan = snap.retention_plan(&rules, 0, &[]).unwrap();
        let through = plan.bytes_through_seq.unwrap();
        assert_eq!(plan.cutoff.map(|c| c.seq), Some(through));
        assert_eq!(plan.events, through, "every event up to there, none after");
        assert!(through < snap.head().seq * 3 / 4, "{through} of {}", snap.head().seq);
        // A follower pins what it has not read.
        let follower = log.follow(Filter { from_seq: 20, ..Filter::default() });
        let pins = log.pins().unwrap();
        assert_eq!(pins.iter().find(|p| p.name == "followers").map(|p| p.seq), Some(19));
        drop(follower);
        assert!(log.pins().unwrap().is_empty());
    }
}
