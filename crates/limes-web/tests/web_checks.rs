//! The console's own checks, run by the README's test command: the TypeScript type check
//! (`tsc --noEmit`) and the unit tests (Vitest). `node_modules` is there: the build script ran
//! `npm ci` before this test was compiled.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

fn web() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

fn npm(args: &[&str]) {
    let out = Command::new("npm")
        .args(args)
        .current_dir(web())
        .env("CI", "1")
        .env("VITE_CONFIG_NATIVE_IGNORE_WARNING", "true")
        .output()
        .expect("npm runs");
    assert!(
        out.status.success(),
        "npm {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn typescript_type_checks() {
    npm(&["run", "--silent", "check"]);
}

#[test]
fn vitest_unit_tests_pass() {
    npm(&["run", "--silent", "test"]);
}
