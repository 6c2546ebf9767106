//! `cargo xtask test [ARGS…]`: installs what the tests use as real third-party clients and
//! validators — Python packages from PyPI into `target/pydeps` (pinned in
//! `tests/requirements*.txt`) once per build tree, and Debian's `chromium` (for the console's
//! end-to-end test) with apt-get when it is missing — then runs `cargo test --release
//! --workspace ARGS…` with `LIMES_PYDEPS` pointing at the Python packages. The console's
//! `tsc --noEmit`, Vitest and headless-Chromium tests are part of that suite
//! (`crates/limes-web/tests/web_checks.rs`, `crates/limes/tests/console_e2e.rs`).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository: the parent of the xtask package's folder as `cargo run` gives it at run
/// time (with one target folder shared by several checkouts, the folder compiled in is the
/// checkout that built it first, whose tests would run instead), else as compiled in.
fn root() -> PathBuf {
    let xtask = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    xtask
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Installs the Python packages unless the same requirements are already installed.
fn python(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/pydeps");
    let reqs = root.join("tests/requirements.txt");
    let nodeps = root.join("tests/requirements-nodeps.txt");
    let stamp = format!(
        "{}\n{}",
        std::fs::read_to_string(&reqs).with_context(|| reqs.display().to_string())?,
        std::fs::read_to_string(&nodeps).with_context(|| nodeps.display().to_string())?
    );
    let marker = dir.join(".installed");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == stamp) {
        return Ok(dir);
    }
    eprintln!(
        "xtask: installing the Python test packages into {}",
        dir.display()
    );
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    for (file, extra) in [(&reqs, None), (&nodeps, Some("--no-deps"))] {
        let mut c = Command::new("python3");
        c.env("PIP_ROOT_USER_ACTION", "ignore")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--target")
            .arg(&dir)
            .arg("-r")
            .arg(file);
        if let Some(x) = extra {
            c.arg(x);
        }
        let st = c.status().context("running python3 -m pip")?;
        if !st.success() {
            bail!("pip install -r {} failed", file.display());
        }
    }
    std::fs::write(&marker, stamp)?;
    Ok(dir)
}

/// Where the console's end-to-end test expects the browser (Debian's package puts it there).
const CHROMIUM: &str = "/usr/bin/chromium";

/// Installs Debian's `chromium` with apt-get unless it is there (first without, then after an
/// `apt-get update`: a fresh machine's package lists may be missing or old).
fn chromium() -> Result<()> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian's chromium with apt-get (the console's end-to-end test)");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let updated = Command::new("apt-get")
            .arg("update")
            .status()
            .is_ok_and(|s| s.success());
        if !(updated && install()) {
            bail!(
                "could not install chromium with apt-get (needs root and Debian's package lists)"
            );
        }
    }
    if !Path::new(CHROMIUM).exists() {
        bail!("apt-get installed chromium, but there is no {CHROMIUM}");
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("test") => {
            let root = root();
            let py = python(&root)?;
            chromium()?;
            let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(&root)
                .args(["test", "--release", "--workspace", "--no-fail-fast"])
                .args(args)
                .env("LIMES_PYDEPS", &py)
                .status()
                .context("running cargo test")?;
            std::process::exit(st.code().unwrap_or(1));
        }
        Some("deps") => {
            let py = python(&root())?;
            chromium()?;
            println!("{}", py.display());
            Ok(())
        }
        _ => bail!("usage: cargo xtask test [cargo test args…] | cargo xtask deps"),
    }
}
