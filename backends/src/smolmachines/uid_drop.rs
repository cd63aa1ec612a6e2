//! smolvm run as root on Linux starts each VM process as an unprivileged uid of its own (from
//! 2 000 000 up, group the same, keeping only the `kvm` supplementary group) unless
//! `SMOLVM_VM_UID_DROP` is `off` (smolvm's launcher; measured here with the 1.32.2 wheel: uid
//! 2000003). That uid must open `/dev/kvm` and read `libkrun.so` and `libkrunfw.so.5`, which
//! smolvm looks up in `SMOLVM_LIB_DIR`, else next to its binary: the wheel's folder. A CI
//! runner that runs as root with a `0600` `/dev/kvm` or the wheel under a `0700` home fails
//! every start (`KvmOpen(Error(13))`, "libkrun/libkrunfw not found").
//!
//! The backend checks that before it starts anything. Where the dropped uid could not start a
//! VM and the user has not chosen (`SMOLVM_VM_UID_DROP` unset), it runs smolvm with
//! `SMOLVM_VM_UID_DROP=off` and says why: the VM process then runs as root like the harness
//! itself. The drop is smolvm's defence in depth for the host; what this suite tests, the
//! guest's network containment, is smolvm's egress policy either way.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// smolvm's switch for the per-VM uid.
pub(crate) const UID_DROP_ENV: &str = "SMOLVM_VM_UID_DROP";
/// smolvm's folder for libkrun and libkrunfw.
pub(crate) const LIB_DIR_ENV: &str = "SMOLVM_LIB_DIR";
/// The libraries every VM process loads.
const LIBRARIES: [&str; 2] = ["libkrun.so", "libkrunfw.so.5"];

/// What the backend does about the uid drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UidDrop {
    /// Nothing to do: not root, not Linux, the user chose, or the dropped uid can start VMs.
    Leave,
    /// Run smolvm with `SMOLVM_VM_UID_DROP=off`, for this reason.
    TurnOff(String),
}

impl UidDrop {
    /// The environment smolvm runs with.
    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            UidDrop::Leave => vec![],
            UidDrop::TurnOff(_) => vec![(UID_DROP_ENV.into(), "off".into())],
        }
    }
}

/// The decision on this machine for the smolvm binary at `program`.
pub(crate) fn decide(program: &Path) -> UidDrop {
    if !cfg!(target_os = "linux") || std::env::var_os(UID_DROP_ENV).is_some() {
        return UidDrop::Leave;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return UidDrop::Leave;
    }
    let lib_dir = std::env::var_os(LIB_DIR_ENV)
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::fs::canonicalize(program)
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
        });
    let kvm_gid = kvm_group(&std::fs::read_to_string("/etc/group").unwrap_or_default());
    let problems: Vec<String> = kvm_problem(Path::new("/dev/kvm"), kvm_gid)
        .into_iter()
        .chain(lib_dir.and_then(|dir| library_problem(&dir)))
        .collect();
    if problems.is_empty() {
        UidDrop::Leave
    } else {
        UidDrop::TurnOff(format!(
            "run as root, smolvm would start each VM as an unprivileged uid that cannot start it ({}); set {UID_DROP_ENV}=off for smolvm (set {UID_DROP_ENV} yourself to decide otherwise)",
            problems.join("; ")
        ))
    }
}

/// The gid of the `kvm` group in an `/etc/group` text, if there is one.
pub(crate) fn kvm_group(group_file: &str) -> Option<u32> {
    group_file.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some("kvm"))
            .then(|| fields.nth(1).and_then(|gid| gid.parse().ok()))
            .flatten()
    })
}

/// Why an unprivileged uid in the `kvm` group cannot open the KVM device, if it cannot.
pub(crate) fn kvm_problem(device: &Path, kvm_gid: Option<u32>) -> Option<String> {
    let meta = std::fs::metadata(device).ok()?;
    let mode = meta.mode() & 0o777;
    let by_others = mode & 0o006 == 0o006;
    let by_group = kvm_gid == Some(meta.gid()) && mode & 0o060 == 0o060;
    (!by_others && !by_group).then(|| {
        format!(
            "{} is mode {mode:o}, group {}",
            device.display(),
            meta.gid()
        )
    })
}

/// Why an unprivileged uid cannot load the libraries in `dir`, if it cannot: every folder on
/// the way must be searchable by others and each library readable.
pub(crate) fn library_problem(dir: &Path) -> Option<String> {
    for folder in dir.ancestors() {
        let Ok(meta) = std::fs::metadata(folder) else {
            continue;
        };
        if meta.mode() & 0o001 == 0 {
            return Some(format!(
                "{} is mode {:o}, closed to other users",
                folder.display(),
                meta.mode() & 0o777
            ));
        }
    }
    LIBRARIES.iter().find_map(|name| {
        let path = dir.join(name);
        let meta = std::fs::metadata(&path).ok()?;
        (meta.mode() & 0o004 == 0).then(|| {
            format!(
                "{} is mode {:o}, unreadable to other users",
                path.display(),
                meta.mode() & 0o777
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_kvm_group_is_found_by_name() {
        let groups = "root:x:0:\nkvmx:x:5:\nkvm:x:993:alice\n";
        assert_eq!(kvm_group(groups), Some(993));
        assert_eq!(kvm_group("root:x:0:\n"), None);
        assert_eq!(kvm_group("kvm:x:notanumber:\n"), None);
    }

    #[test]
    fn a_device_closed_to_others_and_not_the_kvm_groups_is_a_problem() {
        let dir = std::env::temp_dir().join(format!("cb-uid-drop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let device = dir.join("kvm");
        std::fs::write(&device, b"").unwrap();
        let gid = std::fs::metadata(&device).unwrap().gid();
        let set = |mode| std::fs::set_permissions(&device, std::fs::Permissions::from_mode(mode));
        set(0o600).unwrap();
        let problem = kvm_problem(&device, None).unwrap();
        assert!(problem.contains("mode 600"), "{problem}");
        assert!(
            kvm_problem(&device, Some(gid)).is_some(),
            "0600 is closed to the group too"
        );
        set(0o660).unwrap();
        assert_eq!(kvm_problem(&device, Some(gid)), None);
        assert!(kvm_problem(&device, Some(gid + 1)).is_some());
        set(0o666).unwrap();
        assert_eq!(kvm_problem(&device, None), None);
        assert_eq!(kvm_problem(&dir.join("absent"), None), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_closed_folder_or_an_unreadable_library_is_a_problem() {
        let root = std::env::temp_dir().join(format!("cb-uid-libs-{}", std::process::id()));
        let dir = root.join("home").join("site-packages");
        std::fs::create_dir_all(&dir).unwrap();
        for name in LIBRARIES {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let set = |path: &Path, mode| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(&root, 0o755);
        set(&root.join("home"), 0o755);
        set(&dir.join("libkrun.so"), 0o755);
        set(&dir.join("libkrunfw.so.5"), 0o644);
        // The temp dir itself may be closed to others on some machines: only below it counts.
        let below =
            |problem: Option<String>| problem.filter(|p| p.contains(&*root.to_string_lossy()));
        assert_eq!(below(library_problem(&dir)), None);
        set(&root.join("home"), 0o700);
        let problem = below(library_problem(&dir)).unwrap();
        assert!(problem.contains("home is mode 700"), "{problem}");
        set(&root.join("home"), 0o755);
        set(&dir.join("libkrunfw.so.5"), 0o600);
        let problem = below(library_problem(&dir)).unwrap();
        assert!(problem.contains("libkrunfw.so.5 is mode 600"), "{problem}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
