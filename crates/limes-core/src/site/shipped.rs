//! The sites shipped with Limes, embedded in the binary with the geometry they name, so
//! `limes demo` and `limes serve --site frontier` run anywhere. A path to a file selects any
//! other site.

use std::path::{Component, Path, PathBuf};

use super::{load, parse_with, Site, SiteError};

/// Shipped site files: name and TOML text.
pub const SITES: &[(&str, &str)] = &[
    ("frontier", include_str!("../../../../sites/frontier.toml")),
    ("ain-issa", include_str!("../../../../sites/ain-issa.toml")),
];

/// Files the shipped sites name, by their path from the repository root.
const FILES: &[(&str, &str)] = &[(
    "data/geo/iraq_syria_border.geojson",
    include_str!("../../../../data/geo/iraq_syria_border.geojson"),
)];

/// Collapses `a/../b` and `./` in a relative path.
fn normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The shipped site called `name`, if there is one.
pub fn shipped(name: &str) -> Option<Result<Site, SiteError>> {
    let (_, text) = SITES.iter().find(|(n, _)| *n == name)?;
    let path = PathBuf::from(format!("sites/{name}.toml"));
    let read = |p: &Path| {
        let want = normal(p);
        FILES
            .iter()
            .find(|(f, _)| Path::new(f) == want)
            .map(|(_, t)| t.to_string())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not shipped"))
    };
    Some(parse_with(text, &path, &read))
}

/// Writes the shipped sites into `dir/sites/` and the files they name beside them (`dir/data/…`),
/// so a command that needs site files on disk (a changed copy, another process) has them
/// without a checkout; returns the folder of the site files.
pub fn write_shipped(dir: &Path) -> std::io::Result<PathBuf> {
    let sites = dir.join("sites");
    std::fs::create_dir_all(&sites)?;
    for (name, text) in SITES {
        std::fs::write(sites.join(format!("{name}.toml")), text)?;
    }
    for (file, text) in FILES {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(sites)
}

/// Opens a site: the file at `name_or_path` when it exists, else the shipped site of that name.
pub fn open(name_or_path: &str) -> Result<Site, SiteError> {
    let p = Path::new(name_or_path);
    if p.exists() {
        return load(p);
    }
    if let Some(s) = shipped(name_or_path) {
        return s;
    }
    let names: Vec<&str> = SITES.iter().map(|(n, _)| *n).collect();
    Err(SiteError::Io {
        file: p.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no such file, and no shipped site of that name (shipped: {})",
                names.join(", ")
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_sites_written_to_a_folder_load_from_there() {
        let dir = std::env::temp_dir().join(format!("limes-shipped-{}", std::process::id()));
        let sites = super::write_shipped(&dir).expect("writes");
        for (name, _) in super::SITES {
            let s = super::load(&sites.join(format!("{name}.toml"))).expect("loads from disk");
            assert_eq!(&s.name, name);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_shipped_site_loads_from_the_binary() {
        for (name, _) in super::SITES {
            let s = super::shipped(name).expect("listed").expect("loads");
            assert_eq!(&s.name, name);
        }
        assert!(super::open("no-such-site").is_err());
    }
}
