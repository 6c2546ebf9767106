//! Builds the console's web bundle from `web/` (TypeScript, Vite) when it is missing or stale, so
//! `cargo build` on a fresh clone needs nothing but Node.js and npm. The bundle is cached under
//! `web/node_modules/.limes-bundle/<hash of the inputs>`, shared by every profile (build, clippy,
//! doc, test), and embedded by `src/lib.rs` from there.
//!
//! `LIMES_WEB_DIST=<dir>` uses a bundle built elsewhere instead (a directory with `index.html`).

use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

/// What the bundle is built from (relative to `web/`).
const INPUTS: &[&str] = &[
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
    "basemap.ts",
    "../data/geo/places.geojson",
];

fn fail(msg: &str) -> ! {
    eprintln!("\nerror: building the operator's console (web/): {msg}\n");
    exit(1)
}

fn files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let Ok(rd) = fs::read_dir(p) else { return };
        for e in rd.flatten() {
            files(&e.path(), out);
        }
    } else if p.is_file() {
        out.push(p.to_path_buf());
    }
}

/// SHA-256 over every input file's path and contents.
fn inputs_hash(web: &Path) -> String {
    let mut all = Vec::new();
    for i in INPUTS {
        files(&web.join(i), &mut all);
    }
    all.sort();
    let mut h = Sha256::new();
    for f in &all {
        let rel = f.strip_prefix(web).unwrap_or(f);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        match fs::read(f) {
            Ok(b) => h.update(&b),
            Err(e) => fail(&format!("reading {}: {e}", f.display())),
        }
        h.update([0]);
    }
    h.finalize()
        .iter()
        .take(10)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn run(web: &Path, args: &[&str]) {
    let status = Command::new("npm")
        .args(args)
        .current_dir(web)
        .env("VITE_CONFIG_NATIVE_IGNORE_WARNING", "true")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("`npm {}` failed ({s}) in {}", args.join(" "), web.display())),
        Err(e) => fail(&format!(
            "could not run `npm` ({e}). The console is built with Node.js 20+ and npm: install them \
             (e.g. `apt-get install nodejs npm`), or set LIMES_WEB_DIST to a bundle built elsewhere"
        )),
    }
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIMES_WEB_DIST");
    if let Ok(dist) = std::env::var("LIMES_WEB_DIST") {
        if !Path::new(&dist).join("index.html").is_file() {
            fail(&format!("LIMES_WEB_DIST={dist} has no index.html"));
        }
        println!("cargo:rustc-env=LIMES_WEB_BUNDLE={dist}");
        return;
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let web = manifest.join("../../web");
    let web = web.canonicalize().unwrap_or(web);
    for i in INPUTS {
        println!("cargo:rerun-if-changed={}", web.join(i).display());
    }
    let hash = inputs_hash(&web);
    let cache_root = web.join("node_modules/.limes-bundle");
    let bundle = cache_root.join(&hash);
    if !bundle.join("index.html").is_file() {
        // One build at a time (cargo clippy and cargo test may run side by side).
        let lock_path = std::env::temp_dir().join(format!(
            "limes-web-{}.lock",
            &format!("{:x}", Sha256::digest(web.to_string_lossy().as_bytes()))[..12]
        ));
        let lock = fs::File::create(&lock_path)
            .unwrap_or_else(|e| fail(&format!("{}: {e}", lock_path.display())));
        if let Err(e) = lock.lock() {
            fail(&format!("locking {}: {e}", lock_path.display()));
        }
        if !bundle.join("index.html").is_file() {
            let installed = web.join("node_modules/.package-lock.json");
            let stale = match (
                modified(&installed),
                modified(&web.join("package-lock.json")),
            ) {
                (Some(i), Some(l)) => i < l,
                _ => true,
            };
            if stale {
                run(&web, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
            }
            let tmp = cache_root.join(format!("{hash}.tmp"));
            let tmp_s = tmp.to_string_lossy().into_owned();
            run(
                &web,
                &[
                    "run",
                    "build",
                    "--silent",
                    "--",
                    "--outDir",
                    &tmp_s,
                    "--emptyOutDir",
                    "--logLevel",
                    "warn",
                ],
            );
            if let Err(e) = fs::rename(&tmp, &bundle) {
                fail(&format!("moving the bundle into {}: {e}", bundle.display()));
            }
            // Older bundles are of no further use.
            if let Ok(rd) = fs::read_dir(&cache_root) {
                for e in rd.flatten() {
                    if e.path() != bundle {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
            }
        }
    }
    println!("cargo:rustc-env=LIMES_WEB_BUNDLE={}", bundle.display());
}
