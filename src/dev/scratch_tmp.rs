#[test]
fn scratch_write() {
    let d = std::path::Path::new("/tmp/devstack");
    let k = super::keys::ensure_dev_keys(&d.join("keys")).unwrap();
    super::fixtures::write_demo_fixtures(&d.join("data")).unwrap();
    println!("{k:?}");
}
