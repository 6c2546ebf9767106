//! TAK data packages: the zip a TAK user imports (ATAK, WinTAK, iTAK) to learn the server's
//! address and trust its certificate: `MANIFEST/manifest.xml`, `certs/config.pref` (the CoT
//! stream over TLS, `host:port:ssl`) and `certs/truststore-limes.p12` (the deployment's CA).
//! A package for enrolment also tells the client to enrol for a certificate with a user name
//! and password; no package ever holds a private key or a password that protects one.

use crate::xml::escape;
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::{cert_err, issue, PkiError, TRUSTSTORE_PASSWORD};

/// The truststore's name inside a package.
const TRUSTSTORE: &str = "truststore-limes.p12";

/// What a data package says.
pub struct Package<'a> {
    /// The device or user it is for (names the package).
    pub name: &'a str,
    /// The CoT TLS address clients connect to, `host:port`.
    pub server: &'a str,
    /// The CA certificate, DER.
    pub ca_der: &'a [u8],
    /// Whether the client enrols for its certificate (TAK enrolment) rather than importing one.
    pub enroll: bool,
}

fn entry(key: &str, class: &str, value: &str) -> String {
    format!(
        "    <entry key=\"{key}\" class=\"class java.lang.{class}\">{}</entry>\n",
        escape(value)
    )
}

/// `config.pref`: one CoT stream over TLS, trusting the truststore.
pub fn preferences(p: &Package<'_>) -> String {
    let ca = format!("cert/{TRUSTSTORE}");
    let mut streams = String::new();
    streams.push_str(&entry("count", "Integer", "1"));
    streams.push_str(&entry(
        "description0",
        "String",
        &format!("Limes ({})", p.name),
    ));
    streams.push_str(&entry("enabled0", "Boolean", "true"));
    streams.push_str(&entry(
        "connectString0",
        "String",
        &format!("{}:ssl", p.server),
    ));
    streams.push_str(&entry("caLocation0", "String", &ca));
    streams.push_str(&entry("caPassword0", "String", TRUSTSTORE_PASSWORD));
    if p.enroll {
        streams.push_str(&entry("enrollForCertificateWithTrust0", "Boolean", "true"));
        streams.push_str(&entry("useAuth0", "Boolean", "true"));
    }
    let mut app = String::new();
    app.push_str(&entry("displayServerConnectionWidget", "Boolean", "true"));
    app.push_str(&entry("caLocation", "String", &ca));
    app.push_str(&entry("caPassword", "String", TRUSTSTORE_PASSWORD));
    format!(
        "<?xml version='1.0' encoding='ASCII' standalone='yes'?>\n<preferences>\n\
         \x20 <preference version=\"1\" name=\"cot_streams\">\n{streams}  </preference>\n\
         \x20 <preference version=\"1\" name=\"com.atakmap.app_preferences\">\n{app}  </preference>\n\
         </preferences>\n"
    )
}

/// `MANIFEST/manifest.xml`.
pub fn manifest(p: &Package<'_>) -> String {
    let uid: [u8; 16] = rand::random();
    format!(
        "<MissionPackageManifest version=\"2\">\n  <Configuration>\n\
         \x20   <Parameter name=\"uid\" value=\"{}\"/>\n\
         \x20   <Parameter name=\"name\" value=\"limes-{}\"/>\n\
         \x20   <Parameter name=\"onReceiveDelete\" value=\"true\"/>\n  </Configuration>\n\
         \x20 <Contents>\n\
         \x20   <Content ignore=\"false\" zipEntry=\"certs/config.pref\"/>\n\
         \x20   <Content ignore=\"false\" zipEntry=\"certs/{TRUSTSTORE}\"/>\n  </Contents>\n\
         </MissionPackageManifest>\n",
        hex::encode(uid),
        escape(p.name)
    )
}

/// The zip.
pub fn data_package(p: &Package<'_>) -> Result<Vec<u8>, PkiError> {
    let trust = issue::truststore("limes-ca", p.ca_der, TRUSTSTORE_PASSWORD)?;
    let mut z = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let (man, pref, trust_name) = (manifest(p), preferences(p), format!("certs/{TRUSTSTORE}"));
    let files: [(&str, &[u8]); 3] = [
        ("MANIFEST/manifest.xml", man.as_bytes()),
        ("certs/config.pref", pref.as_bytes()),
        (&trust_name, &trust),
    ];
    for (name, bytes) in files {
        z.start_file(name, opts).map_err(cert_err)?;
        z.write_all(bytes).map_err(cert_err)?;
    }
    Ok(z.finish().map_err(cert_err)?.into_inner())
}
