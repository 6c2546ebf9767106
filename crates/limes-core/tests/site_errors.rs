//! Bad site files fail with a message that names the file, the item and the field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use limes_core::site::{parse, SiteError};
use std::path::Path;

const GOOD: &str = r#"
name = "test"
[[facilities]]
id = "camp"
name = "Camp"
perimeter = [[38.0, 36.0], [38.01, 36.0], [38.01, 36.01], [38.0, 36.0]]
[[sensors]]
id = "cam-1"
kind = "thermal_camera"
lon = 38.0
lat = 36.0
"#;

fn error(text: &str) -> String {
    match parse(text, Path::new("sites/test.toml")) {
        Ok(_) => panic!("accepted a bad site:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_good_file_loads() {
    let s = parse(GOOD, Path::new("sites/test.toml")).expect("valid");
    assert_eq!(s.sensors.len(), 1);
}

#[test]
fn an_out_of_range_latitude_names_the_sensor_and_the_field() {
    let e = error(&GOOD.replace("lat = 36.0", "lat = 96.0"));
    assert!(
        e.contains("sites/test.toml") && e.contains("sensors[0] \"cam-1\"") && e.contains("`lat`"),
        "{e}"
    );
}

#[test]
fn nan_is_refused() {
    let e = error(&GOOD.replace("lon = 38.0", "lon = nan"));
    assert!(e.contains("`lon`"), "{e}");
}

#[test]
fn an_open_ring_is_refused() {
    let e = error(&GOOD.replace("[38.0, 36.0]]\n[[sensors]]", "[38.0, 36.005]]\n[[sensors]]"));
    assert!(
        e.contains("facilities[0] \"camp\"")
            && e.contains("`perimeter`")
            && e.contains("not closed"),
        "{e}"
    );
}

#[test]
fn a_missing_field_is_named() {
    let e = error(&GOOD.replace("lat = 36.0\n", ""));
    assert!(e.contains("sites/test.toml") && e.contains("lat"), "{e}");
    assert!(matches!(
        parse(&GOOD.replace("lat = 36.0\n", ""), Path::new("x")),
        Err(SiteError::Syntax { .. })
    ));
}

#[test]
fn an_unknown_field_is_named() {
    let e = error(&GOOD.replace(
        "kind = \"thermal_camera\"",
        "kind = \"thermal_camera\"\nrange = 5",
    ));
    assert!(e.contains("range"), "{e}");
}

#[test]
fn an_unknown_sensor_kind_is_named() {
    let e = error(&GOOD.replace("thermal_camera", "radar"));
    assert!(e.contains("`kind`") && e.contains("radar"), "{e}");
}

#[test]
fn a_bad_probability_in_a_model_is_named() {
    let e = error(&format!("{GOOD}camera = {{ pd_max = 1.5 }}\n"));
    assert!(e.contains("camera.pd_max"), "{e}");
}

#[test]
fn a_camera_pointing_nowhere_is_refused() {
    // A NaN azimuth would let the server take a detection at any bearing.
    let e = error(&GOOD.replace(
        "lat = 36.0\n",
        "lat = 36.0\ncamera = { azimuth_deg = nan }\n",
    ));
    assert!(e.contains("`camera.azimuth_deg`"), "{e}");
    let e = error(&GOOD.replace(
        "lat = 36.0\n",
        "lat = 36.0\ncamera = { sigma_per_km = -1.0 }\n",
    ));
    assert!(e.contains("`camera.sigma_per_km`"), "{e}");
}
