//! The Homebrew formula's own Ruby, run without Homebrew: tests/formula/brew_harness.rb loads
//! Formula/strom.rb with a model of the DSL it uses and runs its `install` (inreplace of the
//! shipped server.properties, Kafka-named symlinks), `post_install` (format once), the `service`
//! command with `kafka-server-stop`, and its `test do` (topic, produce, consume with Strom's
//! tools) against the binary under test. The Linux stand-in for `brew install` and `brew test`;
//! the macOS CI job runs real Homebrew.

use crate::common::require;
use std::path::Path;
use std::process::Command;

#[test]
fn formula_installs_formats_serves_and_passes_its_own_test() {
    let Some(ruby) = require::tool("ruby") else {
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(ruby)
        .arg(repo.join("tests/formula/brew_harness.rb"))
        .arg(repo.join("Formula/strom.rb"))
        .arg(env!("CARGO_BIN_EXE_strom"))
        .arg(repo)
        .output()
        .expect("ruby runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "harness failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.ends_with("brew harness: install, post_install, service and test do passed\n"),
        "{stdout}"
    );
}
