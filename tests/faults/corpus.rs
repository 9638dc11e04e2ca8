//! The committed fuzz corpus (`fuzz/corpus/TARGET/`) replayed through the same checks the
//! cargo-fuzz targets run (`fuzz/checks.rs`), in every `cargo test`: an input that once crashed a
//! target, once added to the corpus, stays a regression test without libFuzzer.

use std::path::Path;

#[path = "../../fuzz/checks.rs"]
mod checks;

/// A fuzz target's check.
type Check = fn(&[u8]);

#[test]
fn the_committed_fuzz_corpus_replays_through_every_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let targets: [(&str, Check); 5] = [
        ("sync_push", checks::sync_push),
        ("photo_probe", checks::photo_probe),
        ("photo_render", checks::photo_render),
        ("tus_headers", checks::tus_headers),
        ("coordinates", checks::coordinates),
    ];
    for (target, check) in targets {
        let mut replayed = 0;
        for entry in std::fs::read_dir(root.join(target)).expect("the corpus folder") {
            let path = entry.expect("entry").path();
            let data = std::fs::read(&path).expect("input");
            check(&data);
            replayed += 1;
        }
        assert!(replayed >= 100, "{target}: only {replayed} inputs");
    }
}
