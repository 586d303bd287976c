//! The Homebrew formula's own Ruby, run without Homebrew.
//!
//! - tests/formula/brew_harness.rb loads Formula/strom.rb under a model of Homebrew's DSL
//!   (tests/formula/brew_model.rb) and walks two users through `brew install`, `post_install`,
//!   `brew services start`/`kafka-server-stop` and `brew test`: one on a fresh prefix, one after
//!   `brew uninstall kafka` left Kafka's server.properties and data dir behind.
//! - tests/formula/render_service.rb renders the formula's `service do` to the launchd plist, through
//!   the model and, when a Homebrew library is at hand, through Homebrew's own service.rb; the
//!   result must equal `strom service plist` for the same job key by key.
//!
//! The Linux stand-in for `brew install`, `brew test` and `brew services`; the macOS CI job runs
//! real Homebrew.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `ruby` if installed; otherwise the test prints why it is skipped.
fn ruby() -> Option<Command> {
    let found = Command::new("ruby").arg("--version").output().is_ok();
    if !found {
        println!(
            "SKIP: ruby is not installed (Debian: ruby; scripts/ci-portable.sh deps installs it)"
        );
    }
    found.then(|| Command::new("ruby"))
}

#[test]
fn formula_installs_formats_serves_adopts_kafkas_leftovers_and_passes_its_own_test() {
    let Some(mut ruby) = ruby() else { return };
    let out = ruby
        .arg(repo().join("tests/formula/brew_harness.rb"))
        .arg(repo().join("Formula/strom.rb"))
        .arg(env!("CARGO_BIN_EXE_strom"))
        .arg(repo())
        .output()
        .expect("ruby runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "harness failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "brew harness: fresh install, post_install, service and test do passed\n",
        "brew harness: install over Kafka's leftovers adopted its server.properties and data dir\n",
    ] {
        assert!(stdout.contains(step), "{stdout}");
    }
}

/// The formula's service rendered by `render_service.rb` (with `extra` arguments).
fn rendered(extra: &[&str]) -> Option<Value> {
    let mut ruby = ruby()?;
    let out = ruby
        .arg(repo().join("tests/formula/render_service.rb"))
        .arg(repo().join("Formula/strom.rb"))
        .args(extra)
        .output()
        .expect("ruby runs");
    assert!(
        out.status.success(),
        "render_service.rb failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("JSON"))
}

/// `strom service plist` for the job the formula declares, as JSON.
fn strom_plist(rendered: &Value) -> Value {
    let path = |key: &str| PathBuf::from(rendered[key].as_str().expect("a path"));
    let out = Command::new(env!("CARGO_BIN_EXE_strom"))
        .args([
            "service",
            "plist",
            "--label",
            "homebrew.mxcl.strom",
            "--program",
        ])
        .arg(path("opt_bin").join("strom"))
        .arg("--config")
        .arg(path("etc").join("kafka/server.properties"))
        .arg("--log-dir")
        .arg(path("var").join("log/kafka"))
        .output()
        .expect("strom runs");
    assert!(out.status.success());
    let plist = plist::Value::from_reader_xml(&out.stdout[..]).expect("a plist");
    serde_json::to_value(plist).expect("as JSON")
}

fn assert_agree(rendered: &Value) {
    let ours = strom_plist(rendered);
    let theirs = &rendered["plist"];
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().expect("a dict").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&ours), keys(theirs), "{}", rendered["renderer"]);
    for key in keys(theirs) {
        assert_eq!(ours[&key], theirs[&key], "{key} ({})", rendered["renderer"]);
    }
    // On Linux `brew services` writes a systemd unit: it must restart a crashed broker too.
    assert_eq!(rendered["systemd_restart"], "Restart=on-failure");
}

#[test]
fn strom_service_plist_and_the_formulas_service_agree_key_by_key_through_the_model() {
    if let Some(rendered) = rendered(&[]) {
        assert_agree(&rendered);
    }
}

/// Through Homebrew's own Library/Homebrew/service.rb: from `STROM_HOMEBREW_LIBRARY`, else from
/// the installed Homebrew (`brew --repository`, as on the macOS CI job).
#[test]
fn strom_service_plist_and_the_formulas_service_agree_key_by_key_through_homebrews_service_rb() {
    let library = std::env::var_os("STROM_HOMEBREW_LIBRARY")
        .map(PathBuf::from)
        .or_else(|| {
            let out = Command::new("brew").arg("--repository").output().ok()?;
            out.status.success().then(|| {
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("Library/Homebrew")
            })
        })
        .filter(|l| l.join("service.rb").is_file());
    let Some(library) = library else {
        println!(
            "SKIP: no Homebrew library (set STROM_HOMEBREW_LIBRARY to a Homebrew checkout's \
             Library/Homebrew, or install Homebrew); the model's rendering was checked instead"
        );
        return;
    };
    if let Some(rendered) = rendered(&["--homebrew", &library.display().to_string()]) {
        assert!(
            rendered["renderer"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Homebrew")
        );
        assert_agree(&rendered);
    }
}
