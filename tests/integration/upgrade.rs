//! Opening a format 2 database (tests/fixtures/v2-db, made by the format 2
//! build) through the binary upgrades it to format 3: every event kept, the
//! old files kept in DIR/v2-store, and the result verifies and takes appends.

use crate::common::*;
use std::path::Path;

#[test]
fn the_format_2_fixture_is_upgraded_by_the_binary_and_verifies() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/v2-db");
    let (_tmp, db) = temp_db();
    copy_dir(&fixture, &db);
    let out = assert_success(run(&db, &["verify"]), "verify the format 2 fixture");
    assert!(stdout(&out).starts_with("ok: 176 events in "), "{}", describe(&out));
    assert!(stderr(&out).contains("upgraded"), "the upgrade says so:\n{}", describe(&out));
    assert!(db.join("v2-store/segments/00000000000000000001.seg").is_file());
    // The same events ingested by this build read back the same.
    let fresh = db.with_extension("fresh");
    ingest_fixture(&fresh);
    assert_success(
        run_stdin(&fresh, &["ingest"], include_str!("../fixtures/agent-events.ndjson")),
        "ingest the agent fixture",
    );
    let got = tail_json(&db);
    assert_eq!(got.len(), 176);
    assert_eq!(got, tail_json(&fresh));
    // Appends go on; no second upgrade.
    assert_success(run_stdin(&db, &["ingest"], r#"{"kind":"marker","label":"after"}"#), "append");
    let out = assert_success(run(&db, &["verify"]), "verify again");
    assert!(stdout(&out).starts_with("ok: 177 events"), "{}", describe(&out));
    assert!(!stderr(&out).contains("upgrad"), "{}", describe(&out));
}
