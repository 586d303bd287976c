//! What ships around the binary: the Homebrew formula and the launchd property list.

mod formula;
mod service_plist;
