//! `limes user add`: people's accounts for the console, bound to an organisation and a role.

use anyhow::{bail, Context, Result};
use std::io::BufRead;
use std::path::Path;

use limes_server::auth::Role;
use limes_server::console::users;
use limes_server::store::Store;

fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let a = rpassword::prompt_password("password: ").context("reading the password")?;
    let b = rpassword::prompt_password("again:    ").context("reading the password")?;
    if a != b {
        bail!("the two passwords differ");
    }
    Ok(a)
}

/// Adds an account to a data directory the server is not running on.
pub fn add(
    site: &str,
    data: &Path,
    org: &str,
    role: &str,
    name: &str,
    password_stdin: bool,
    replace: bool,
) -> Result<()> {
    let site = limes_core::site::open(site)?;
    if !site.orgs.iter().any(|o| o.id == org) {
        let known: Vec<&str> = site.orgs.iter().map(|o| o.id.as_str()).collect();
        bail!("no organisation {org:?} in {}; known: {known:?}", site.name);
    }
    let Some(role) = Role::parse(role) else {
        bail!("role {role:?} is not one of viewer, operator, admin, owner");
    };
    if !users::valid_name(name) {
        bail!("user name {name:?}: use 1 to 64 letters, digits, '.', '-' and '_'");
    }
    let password = read_password(password_stdin)?;
    let (feed, _rx) = crossbeam_channel::unbounded();
    let (store, _writer) = Store::open(data, 1, feed)?;
    let id = users::add_blocking(
        &store,
        name,
        org,
        role,
        &password,
        replace,
        "local/limes-user",
    )?;
    eprintln!(
        "user {name} ({}, {org}) stored as #{id} in {}; the password is kept only as an argon2id hash",
        role.name(),
        data.display()
    );
    Ok(())
}
