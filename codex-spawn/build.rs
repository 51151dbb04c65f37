//! One cfg for "the Linux mechanisms": signalfd, memfd, the child subreaper and the
//! parent-death signal. The `portable` feature turns them off on Linux too, so the
//! portable path (what macOS runs) is built and tested here (`scripts/test` runs the
//! suite in both modes).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(linux_native)");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let portable = std::env::var_os("CARGO_FEATURE_PORTABLE").is_some();
    if linux && !portable {
        println!("cargo::rustc-cfg=linux_native");
    }
}
