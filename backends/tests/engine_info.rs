//! The engine decisions on recorded `GET /info` answers (`tests/engine-info/`, see its README
//! for where each comes from): the bottle's architecture and whether the engine runs on this
//! machine or in Docker Desktop's VM. No Mac is available to this project, so Docker Desktop is
//! decided only here.

use bottle_backends::{Arch, EngineHost, EnginePlatform};

fn platform_of(file: &str) -> EnginePlatform {
    let path = format!("{}/tests/engine-info/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // The engine's own model of the answer, as the backend reads it.
    let info: bollard::models::SystemInfo =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not a SystemInfo: {e}"));
    EnginePlatform::from_info(
        info.architecture.as_deref(),
        info.operating_system.as_deref(),
    )
    .unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn each_recorded_engine_is_decided() {
    let cases = [
        (
            "linux-debian-20.10-x86_64.json",
            Arch::X86_64,
            EngineHost::Local,
        ),
        ("linux-ubuntu-arm64.json", Arch::Aarch64, EngineHost::Local),
        (
            "docker-desktop-apple-silicon.json",
            Arch::Aarch64,
            EngineHost::DockerDesktop,
        ),
        (
            "docker-desktop-intel.json",
            Arch::X86_64,
            EngineHost::DockerDesktop,
        ),
    ];
    for (file, arch, host) in cases {
        let platform = platform_of(file);
        assert_eq!(platform, EnginePlatform { arch, host }, "{file}");
        // Docker Desktop's bridges are not this machine's: its bottles get a checker, and the
        // fixture hosts are checked from there.
        assert_eq!(
            platform.host.routes_to_bridges(),
            host == EngineHost::Local,
            "{file}"
        );
    }
}
