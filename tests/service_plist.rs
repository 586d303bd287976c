//! `strom service plist` output checked by independent tools: Python's `plistlib` (what the
//! key/type checks read) and `xmllint --valid` against Apple's plist 1.0 DTD (shipped as
//! tests/fixtures/PropertyList-1.0.dtd and found through tests/fixtures/plist-catalog.xml, so
//! nothing is fetched from the network).

use std::path::Path;
use std::process::Command;

fn plist(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_strom"))
        .args(["service", "plist"])
        .args(args)
        .output()
        .expect("strom runs");
    assert!(
        out.status.success(),
        "strom service plist failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 plist")
}

fn write(dir: &Path, xml: &str) -> std::path::PathBuf {
    let path = dir.join("agent.plist");
    std::fs::write(&path, xml).expect("written");
    path
}

#[test]
fn plist_is_valid_against_apples_dtd() {
    let t = tempfile::tempdir().expect("temp dir");
    let config = t.path().join("server.properties");
    let xml = plist(&[
        "--config",
        &config.display().to_string(),
        "--log-dir",
        "/tmp/strom-logs",
        "--env",
        "RUST_LOG=info",
    ]);
    let path = write(t.path(), &xml);
    // The catalog maps the plist's DOCTYPE to the shipped copy of Apple's DTD.
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plist-catalog.xml");
    let out = Command::new("xmllint")
        .args(["--noout", "--valid", "--nonet"])
        .arg(&path)
        .env("XML_CATALOG_FILES", &catalog)
        .output()
        .expect("xmllint is installed (Debian: libxml2-utils)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "xmllint: {stderr}"
    );
    // The document's own DOCTYPE names the same public DTD.
    assert!(xml.contains(r#"<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">"#));
}

#[test]
fn plistlib_reads_exactly_the_expected_keys_and_types() {
    let t = tempfile::tempdir().expect("temp dir");
    let config = t.path().join("etc").join("server.properties");
    let xml = plist(&[
        "--config",
        &config.display().to_string(),
        "--label",
        "com.example.kafka",
        "--log-dir",
        "/var/log/x",
        "--program",
        "/opt/homebrew/bin/strom",
        "--process-type",
        "background",
    ]);
    let path = write(t.path(), &xml);
    let script = r#"
import plistlib, sys
with open(sys.argv[1], 'rb') as f:
    p = plistlib.load(f)
for k, v in p.items():
    print(k, type(v).__name__, repr(v))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "plistlib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = format!(
        "Label str 'com.example.kafka'\n\
         ProgramArguments list ['/opt/homebrew/bin/strom', 'server', '--config', '{config}', '--log-dir', '/var/log/x']\n\
         RunAtLoad bool True\n\
         KeepAlive dict {{'SuccessfulExit': False}}\n\
         WorkingDirectory str '{dir}'\n\
         StandardOutPath str '/var/log/x/stderr.log'\n\
         StandardErrorPath str '/var/log/x/stderr.log'\n\
         ProcessType str 'Background'\n\
         ExitTimeOut int 60\n\
         ThrottleInterval int 30\n\
         LimitLoadToSessionType list ['Aqua', 'Background', 'LoginWindow', 'StandardIO', 'System']\n",
        config = config.display(),
        dir = t.path().join("etc").display()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

/// Off macOS only: on a Mac a real install would touch the user's launchd session.
#[cfg(not(target_os = "macos"))]
#[test]
fn install_off_macos_fails_with_a_clear_message() {
    let t = tempfile::tempdir().expect("temp dir");
    let config = t.path().join("server.properties");
    let out = Command::new(env!("CARGO_BIN_EXE_strom"))
        .args(["service", "install", "--config"])
        .arg(&config)
        .output()
        .expect("strom runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("launchd is macOS-only"));
}
