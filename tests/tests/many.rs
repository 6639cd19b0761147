//! Many files in one `ferry copy`: several SOURCE arguments into a folder
//! target (each object named after its source), `--from-file LIST` (lines
//! of `URL` or `URL,TARGET`, `#` comments; `-` for stdin), one `--json`
//! line a file, the worst file's exit code, and several sources with a
//! target that is not a folder refused before anything is written. Each
//! copy runs the built `ferry` binary against the loopback test bed.
//!
//! Needs `make build` first (the binary and the component).

mod bed;

use bed::{component, ferry_bin, key, output_hiding, text, Bed};
use ferry_testbed::source::SourceConfig;
use ferry_testbed::store::StoreHistory;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};

const BUCKET: &str = "ferry-many";
const KEY_ID: &str = "many-key";
const SECRET: &str = "many-secret-value";
/// Three objects of the source: (seed, size, file name). Two parts of
/// 1 MiB and a tail, one part and a byte, and less than a part.
const FILES: [(u64, u64, &str); 3] = [
    (61, 2 * 1024 * 1024 + 333, "a.bin"),
    (62, 1024 * 1024 + 1, "b.bin"),
    (63, 4321, "c.bin"),
];

fn bed(tag: &str) -> Bed {
    bed_of(tag, SourceConfig::default())
}

/// A bed whose source gives 1 MiB/s a connection, so copies last.
fn slow_bed(tag: &str) -> Bed {
    let slow = SourceConfig {
        rate_limit: Some(1 << 20),
        ..SourceConfig::default()
    };
    bed_of(tag, slow)
}

fn bed_of(tag: &str, source: SourceConfig) -> Bed {
    Bed::start(tag, BUCKET, source, vec![key(KEY_ID, SECRET)], true)
}

/// The URL of `FILES[i]`, ending in its file name.
fn url(bed: &Bed, i: usize) -> String {
    let (seed, size, name) = FILES[i];
    format!("{}/{name}", bed.source.url(seed, size))
}

/// `ferry copy SOURCES... TARGET EXTRA...` into `bed`'s store in parts of
/// 1 MiB, in a clean environment holding only the OSS key and the
/// component (as [`bed::ferry_copy_to`] runs one source).
fn command(bed: &Bed, sources: &[String], target: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(ferry_bin());
    command
        .arg("copy")
        .args(sources)
        .arg(target)
        .args(["--endpoint", &bed.store.endpoint(), "--region", bed::REGION])
        .args(["--part-size", "1MiB"])
        .args(extra)
        .env_clear()
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .env("FERRY_COMPONENT", component());
    command
}

/// Runs `command` (with `stdin` written to it when given); the secret must
/// not show.
fn run(mut command: Command, stdin: Option<&str>) -> Output {
    let Some(input) = stdin else {
        return output_hiding(&mut command, &[SECRET]);
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret shows: {stdout}\n{stderr}"
    );
    out
}

/// Every line of stdout, each one JSON object.
fn json_lines(out: &Output) -> Vec<Value> {
    let (stdout, stderr) = text(out);
    stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\n{stdout}\n{stderr}"))
        })
        .collect()
}

/// The line of `lines` whose `source` is `source`.
fn line_of<'a>(lines: &'a [Value], source: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["source"] == source)
        .unwrap_or_else(|| panic!("no line for {source}: {lines:?}"))
}

#[test]
fn three_sources_land_in_the_folder_by_name() {
    let bed = bed("many-three");
    let sources: Vec<String> = (0..3).map(|i| url(&bed, i)).collect();
    let out = run(
        command(&bed, &sources, &format!("oss://{BUCKET}/dir/"), &["--json"]),
        None,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "one JSON line a file: {stdout}");
    for (i, (seed, size, name)) in FILES.into_iter().enumerate() {
        let line = line_of(&lines, &sources[i]);
        assert_eq!(line["ok"], Value::from(true), "{line}");
        let key = format!("dir/{name}");
        assert_eq!(line["key"], Value::from(key.as_str()), "{line}");
        assert_eq!(line["size"], Value::from(size), "{line}");
        bed.check_copied(seed, size, &key).unwrap();
    }
    assert_eq!(bed.store.history().objects_written, 3);
}

#[test]
fn a_list_names_sources_and_targets_with_comments() {
    let bed = bed("many-list");
    let list = format!(
        "# mirror of the week\n{}\n\n{},renamed/b2.bin\n  # an indented comment\n{},oss://{BUCKET}/elsewhere/c3.bin\n",
        url(&bed, 0),
        url(&bed, 1),
        url(&bed, 2)
    );
    let dir = std::env::temp_dir().join(format!("ferry-many-list-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("urls.txt");
    std::fs::write(&file, &list).unwrap();
    let out = run(
        command(
            &bed,
            &[],
            &format!("oss://{BUCKET}/dir/"),
            &["--from-file", file.to_str().unwrap()],
        ),
        None,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for (i, key) in ["dir/a.bin", "dir/renamed/b2.bin", "elsewhere/c3.bin"]
        .into_iter()
        .enumerate()
    {
        let (seed, size, _) = FILES[i];
        bed.check_copied(seed, size, key).unwrap();
    }
    assert_eq!(bed.store.history().objects_written, 3);
    // One summary: the files copied and failed, bytes (3,150,383 in all),
    // time and rate.
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("done "))
        .unwrap_or_else(|| panic!("no summary: {stdout}\n{stderr}"));
    assert!(
        summary.contains("3 files copied, 0 failed")
            && summary.contains("3.00 MiB")
            && summary.contains("/s"),
        "{summary}"
    );

    // The same list read from stdin (`--from-file -`), into another folder.
    let list = format!("{}\n{},b.bin\n", url(&bed, 0), url(&bed, 1));
    let out = run(
        command(
            &bed,
            &[],
            &format!("oss://{BUCKET}/stdin/"),
            &["--from-file", "-", "--json"],
        ),
        Some(&list),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(json_lines(&out).len(), 2, "{stdout}");
    bed.check_copied(FILES[0].0, FILES[0].1, "stdin/a.bin")
        .unwrap();
    bed.check_copied(FILES[1].0, FILES[1].1, "stdin/b.bin")
        .unwrap();
}

#[test]
fn a_missing_source_fails_alone_and_sets_the_exit_code() {
    let bed = bed("many-404");
    let missing = format!("http://{}/no/such/gone.bin", bed.source.addr());
    let sources = vec![url(&bed, 0), missing.clone(), url(&bed, 2)];
    let out = run(
        command(&bed, &sources, &format!("oss://{BUCKET}/dir/"), &["--json"]),
        None,
    );
    let (stdout, stderr) = text(&out);
    // A source that failed: exit 3, as a single copy of it exits.
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "one JSON line a file: {stdout}");
    let failed = line_of(&lines, &missing);
    assert_eq!(failed["ok"], Value::from(false), "{failed}");
    assert_eq!(failed["kind"], Value::from("source"), "{failed}");
    assert!(
        failed["message"]
            .as_str()
            .unwrap_or_default()
            .contains("404"),
        "{failed}"
    );
    for i in [0, 2] {
        let (seed, size, name) = FILES[i];
        assert_eq!(line_of(&lines, &sources[i])["ok"], Value::from(true));
        bed.check_copied(seed, size, &format!("dir/{name}"))
            .unwrap();
    }
    bed.check_no_upload().unwrap();
    assert_eq!(bed.store.history().objects_written, 2);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn several_sources_need_a_folder_target() {
    let bed = bed("many-refused");
    let sources: Vec<String> = (0..2).map(|i| url(&bed, i)).collect();
    let out = run(
        command(&bed, &sources, &format!("oss://{BUCKET}/one.bin"), &[]),
        None,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    // One line says why, naming the folder to write instead.
    assert_eq!(stderr.matches("ferry: error:").count(), 1, "{stderr}");
    assert!(
        stderr.contains("2 sources") && stderr.contains("oss://ferry-many/one.bin/"),
        "{stderr}"
    );
    assert_eq!(bed.store.history(), StoreHistory::default());
    assert_eq!(bed.source.requests(), 0, "the sources were read");
}

/// Ctrl-C stops every file: the two running abort their uploads, the one
/// waiting never starts; exit 130, nothing written, nothing left.
#[test]
fn ctrl_c_stops_every_file() {
    let bed = slow_bed("many-ctrl-c");
    let sources: Vec<String> = (0..3)
        .map(|i| format!("{}/f{i}.bin", bed.source.url(70 + i, 40 << 20)))
        .collect();
    let mut command = command(
        &bed,
        &sources,
        &format!("oss://{BUCKET}/dir/"),
        &["--transfers", "2", "--parallel", "4", "--json"],
    );
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while bed.store.history().uploads_created < 2 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines.iter().all(|l| l["ok"] == false), "{stdout}");
    bed.check_no_upload().unwrap();
    let history = bed.store.history();
    assert_eq!(
        history.uploads_created, 2,
        "the waiting file started: {history:?}"
    );
    assert_eq!(history.uploads_aborted, 2, "{history:?}");
    assert_eq!(history.objects_written, 0, "{history:?}");
}

/// Piped progress is one line for all files: the files finished of all,
/// and their bytes added up.
#[test]
fn progress_counts_the_files_and_their_bytes() {
    let bed = slow_bed("many-progress");
    let sources: Vec<String> = (0..2)
        .map(|i| format!("{}/p{i}.bin", bed.source.url(80 + i, 3 << 20)))
        .collect();
    let out = run(
        command(
            &bed,
            &sources,
            &format!("oss://{BUCKET}/dir/"),
            &["--stats", "1", "--parallel", "2"],
        ),
        None,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("copying"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" / 6.00 MiB") && l.contains("files 0/2")),
        "{stderr}"
    );
    assert!(stdout.contains("2 files copied, 0 failed"), "{stdout}");
}
