//! `limes cert`: the deployment's CA, the server's certificate, device certificates for TAK
//! clients and sensors (issue, revoke, list) and one-time codes for TAK enrolment. The
//! commands work whether or not a server runs on the data directory: they write the
//! certificate registry directly, and the server (or the command itself, when no server holds
//! the directory) writes their audit entries.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

use limes_server::auth::Role;
use limes_server::pki::ca::{write_private, Ca};
use limes_server::pki::package::{data_package, Package};
use limes_server::pki::{self, enroll, issue, registry, revoke, Paths, Subject};
use limes_server::store::{self, Store, StoreError};

/// Who the audit log names for these commands.
const ACTOR: &str = "local/limes-cert";

/// Where the CA lives.
#[derive(Args, Clone, Debug)]
pub struct PkiArgs {
    /// Data directory (the store; the CA under pki/ unless given).
    #[arg(long, default_value = "limes-data")]
    pub data: PathBuf,
    /// The CA certificate, PEM [default: DATA/pki/ca.pem].
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// The CA private key, PEM, mode 0600 [default: DATA/pki/ca.key].
    #[arg(long)]
    pub ca_key: Option<PathBuf>,
}

impl PkiArgs {
    fn paths(&self) -> Paths {
        Paths::with(
            &self.data,
            self.ca_cert.as_deref(),
            self.ca_key.as_deref(),
            None,
            None,
        )
    }
}

/// Who a certificate or code is for.
#[derive(Args, Clone, Debug)]
pub struct ForArgs {
    /// Site file, or the name of a shipped site (names the organisations and sensors).
    #[arg(long, default_value = "frontier")]
    pub site: String,
    /// Organisation id (the certificate's O).
    #[arg(long)]
    pub org: String,
    /// sensor, viewer, operator or admin (the certificate's OU).
    #[arg(long)]
    pub role: String,
    /// The CoT TLS address TAK clients connect to, HOST:PORT [default: the server
    /// certificate's first name, port 8089].
    #[arg(long)]
    pub server: Option<String>,
}

/// `limes cert …`.
#[derive(Subcommand)]
pub enum CertCmd {
    /// Make the server's certificate (CoT over TLS, enrolment) for the names and addresses
    /// clients use; makes the deployment's CA first when there is none.
    Server {
        #[command(flatten)]
        pki: PkiArgs,
        /// A host name or IP address TAK clients reach the server by (repeatable).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
    },
    /// Issue a device certificate: writes NAME.p12 (key, certificate and CA, its password
    /// printed once), NAME-tak.zip (a TAK data package: the server's TLS address and the CA)
    /// and limes-ca.pem.
    Issue {
        #[command(flatten)]
        pki: PkiArgs,
        #[command(flatten)]
        whom: ForArgs,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = pki::DEVICE_DAYS)]
        days: u32,
        /// Folder to write the files to.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// The device's name (the certificate's CN); a sensor's certificate: the sensor's id.
        name: String,
    },
    /// Revoke certificates: by serial, or every unrevoked one of a name. A running server
    /// refuses them from then on and cuts their open connections within a second.
    Revoke {
        /// Data directory.
        #[arg(long, default_value = "limes-data")]
        data: PathBuf,
        /// A certificate's serial, or a device name.
        which: String,
    },
    /// List the certificates issued.
    List {
        /// Data directory.
        #[arg(long, default_value = "limes-data")]
        data: PathBuf,
    },
    /// Make a one-time code with which a TAK device enrols for its certificate (user name =
    /// NAME, password = the code); prints it once, and a tak:// enrolment link.
    EnrollCode {
        /// Data directory.
        #[arg(long, default_value = "limes-data")]
        data: PathBuf,
        #[command(flatten)]
        whom: ForArgs,
        /// Hours the code is valid.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Also write an enrolment data package (the server's address and the CA) here.
        #[arg(long)]
        package: Option<PathBuf>,
        /// The user name the device enrols with (the certificate's CN).
        name: String,
    },
}

/// Runs a `limes cert` command.
pub fn run(cmd: CertCmd) -> Result<()> {
    match cmd {
        CertCmd::Server { pki, hosts } => server(&pki, &hosts),
        CertCmd::Issue {
            pki,
            whom,
            days,
            out,
            name,
        } => issue(&pki, &whom, days, &out, &name),
        CertCmd::Revoke { data, which } => {
            let mut c = store::open_beside(&data)?;
            let rows = revoke::revoke(&mut c, &which, ACTOR)?;
            for r in &rows {
                println!(
                    "revoked {} ({}/{}), serial {}",
                    r.name,
                    r.org,
                    r.role.name(),
                    r.serial
                );
            }
            audit(&data)
        }
        CertCmd::List { data } => {
            let c = store::open_beside(&data)?;
            println!(
                "{:<34} {:<24} {:<14} {:<9} {:<7} {:<26} revoked",
                "serial", "name", "org", "role", "via", "expires"
            );
            for r in registry::list(&c)? {
                println!(
                    "{:<34} {:<24} {:<14} {:<9} {:<7} {:<26} {}",
                    r.serial,
                    r.name,
                    r.org,
                    r.role.name(),
                    r.via,
                    r.expires,
                    r.revoked.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        CertCmd::EnrollCode {
            data,
            whom,
            hours,
            package,
            name,
        } => enroll_code(&data, &whom, hours, package.as_deref(), &name),
    }
}

/// Writes the audit entries queued, when no server holds the directory (a running server
/// writes them itself within a second).
fn audit(data: &Path) -> Result<()> {
    let (feed, _rx) = crossbeam_channel::unbounded();
    match Store::open(data, 1, feed) {
        Ok((store, _writer)) => {
            registry::audit_pending_blocking(&store)?;
            Ok(())
        }
        Err(StoreError::Locked(_)) => {
            eprintln!(
                "the server running on {} applies this and audits it within a second",
                data.display()
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn load_ca(paths: &Paths) -> Result<Ca> {
    let (ca, made) = Ca::load_or_create(paths, "Limes deployment CA")?;
    if made {
        eprintln!(
            "made the deployment's CA: {} (key {}, mode 0600: keep it safe and backed up)",
            paths.ca_cert.display(),
            paths.ca_key.display()
        );
    }
    Ok(ca)
}

fn subject(whom: &ForArgs, name: &str) -> Result<(limes_core::site::Site, Subject)> {
    let site = limes_core::site::open(&whom.site)?;
    let Some(role) = Role::parse(&whom.role) else {
        bail!(
            "role {:?} is not one of sensor, viewer, operator, admin",
            whom.role
        );
    };
    let s = Subject {
        org: whom.org.clone(),
        role,
        name: name.to_string(),
    };
    pki::check_subject(&site, &s)?;
    Ok((site, s))
}

/// The CoT TLS address for packages: given, or the server certificate's first name.
fn server_address(whom: &ForArgs, paths: &Paths) -> Result<String> {
    if let Some(s) = &whom.server {
        return Ok(if s.contains(':') {
            s.clone()
        } else {
            format!("{s}:8089")
        });
    }
    let Some(host) = pki::server_host(paths) else {
        bail!("no --server HOST:PORT, and no server certificate to take its name from (limes cert server --host NAME)");
    };
    Ok(format!("{host}:8089"))
}

fn server(args: &PkiArgs, hosts: &[String]) -> Result<()> {
    let paths = args.paths();
    let ca = load_ca(&paths)?;
    let (chain, key) = issue::server(&ca, hosts)?;
    for p in [&paths.server_cert, &paths.server_key] {
        if p.exists() {
            let old = p.with_extension(format!(
                "{}.{}",
                p.extension().and_then(|e| e.to_str()).unwrap_or(""),
                chrono::Utc::now().format("%Y%m%dT%H%M%S")
            ));
            std::fs::rename(p, &old).with_context(|| format!("moving {} aside", p.display()))?;
            eprintln!("kept the previous {} as {}", p.display(), old.display());
        }
    }
    write_private(&paths.server_key, key.as_bytes())?;
    pki::ca::write_new(&paths.server_cert, chain.as_bytes(), 0o644)?;
    println!(
        "server certificate for {} written to {} (key {}); restart limes serve to use it",
        hosts.join(", "),
        paths.server_cert.display(),
        paths.server_key.display()
    );
    Ok(())
}

fn issue(args: &PkiArgs, whom: &ForArgs, days: u32, out: &Path, name: &str) -> Result<()> {
    let (_, subject) = subject(whom, name)?;
    let paths = args.paths();
    let server = server_address(whom, &paths)?;
    let p12_path = out.join(format!("{name}.p12"));
    let zip_path = out.join(format!("{name}-tak.zip"));
    for p in [&p12_path, &zip_path] {
        if p.exists() {
            bail!("{} exists; move it away first", p.display());
        }
    }
    let ca = load_ca(&paths)?;
    let issued = issue::device(&ca, &subject, days)?;
    let mut c = store::open_beside(&args.data)?;
    issue::record(&mut c, &issued.row, ACTOR)?;
    let package = data_package(&Package {
        name,
        server: &server,
        ca_der: ca.cert_der().as_ref(),
        enroll: false,
    })?;
    write_private(&p12_path, &issued.p12)?;
    pki::ca::write_new(&zip_path, &package, 0o644)?;
    let ca_path = out.join("limes-ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()).with_context(|| format!("{}", ca_path.display()))?;
    eprintln!(
        "certificate for {name} ({}/{}), serial {}, valid until {}",
        subject.org,
        subject.role.name(),
        issued.row.serial,
        issued.row.expires
    );
    eprintln!(
        "  {}  key, certificate and CA: import it on the device",
        p12_path.display()
    );
    eprintln!(
        "  {}  TAK data package: CoT over TLS at {server}, trusting the CA",
        zip_path.display()
    );
    eprintln!("  {}  the CA certificate, PEM", ca_path.display());
    eprintln!("the .p12 password, shown only now:");
    println!("{}", issued.password);
    audit(&args.data)
}

fn enroll_code(
    data: &Path,
    whom: &ForArgs,
    hours: u32,
    package: Option<&Path>,
    name: &str,
) -> Result<()> {
    let (_, subject) = subject(whom, name)?;
    let paths = Paths::in_data(data);
    let mut c = store::open_beside(data)?;
    let server = server_address(whom, &paths).ok();
    let ca = Ca::load(&paths).ok();
    if package.is_some() && (server.is_none() || ca.is_none()) {
        bail!("an enrolment package needs the CA and --server (limes cert server makes both)");
    }
    let code = enroll::create_code(&mut c, &subject, hours, ACTOR)?;
    if let (Some(p), Some(server), Some(ca)) = (package, &server, &ca) {
        let zip = data_package(&Package {
            name,
            server,
            ca_der: ca.cert_der().as_ref(),
            enroll: true,
        })?;
        pki::ca::write_new(p, &zip, 0o644)?;
        eprintln!("enrolment data package: {}", p.display());
    }
    eprintln!(
        "enrolment for {name} ({}/{}), valid until {}; the code is shown only now and works once:",
        subject.org,
        subject.role.name(),
        code.expires
    );
    println!("user: {}", code.name);
    println!("code: {}", code.code);
    if let Some(s) = server {
        println!(
            "link: tak://com.atakmap.app/enroll?host={s}&username={}&token={}",
            code.name, code.code
        );
    }
    audit(data)
}
