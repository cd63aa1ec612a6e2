//! Whether the engine can run a bottle whose architecture is not its own, decided before anything
//! is created.
//!
//! Why: a Linux kernel runs a foreign static executable only through an interpreter registered
//! with binfmt_misc (qemu-user), and inside a container only when the entry has flag `F`: the
//! kernel then opens the interpreter at registration, where without it the interpreter's path is
//! looked up in the container's root, which holds nothing but the in-bottle binary. Without that,
//! a run got as far as the first fixture container and failed with "exec format error", after
//! its networks and containers were created, and without saying what was missing.
//!
//! The kernel that decides is the engine's: this machine's only for a local Linux engine. Docker
//! Desktop's engine runs in a VM whose binfmt_misc the harness cannot read, so there (and for an
//! engine reported local on a machine that is not Linux, which is also a VM) the engine decides.
//!
//! The check replays the kernel's own match: the entries whose magic, under their mask at their
//! offset, matches the first bytes of the in-bottle binaries. The binfmt_misc directory is a
//! parameter so that the tests hand it entries of their own.

use std::io::Read;
use std::path::Path;

use bottle_backends::{Arch, EngineHost};

use crate::errors::HarnessError;

/// Where the kernel shows binfmt_misc (when it is mounted).
pub(crate) const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";

/// How many leading bytes of an executable the kernel matches entries against
/// (`BINPRM_BUF_SIZE`: 256 since Linux 5.1, 128 before); an entry's magic lies within them.
const HEADER_LEN: usize = 256;

/// One binfmt_misc entry as the kernel prints it in `<binfmt_misc>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub enabled: bool,
    pub interpreter: String,
    /// The flag letters (`P`, `O`, `C`, `F`).
    pub flags: String,
    /// `None` for an entry that matches a file name extension instead of magic bytes.
    pub magic: Option<Magic>,
}

/// The bytes an entry matches: `bytes` at `offset`, compared under `mask`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Magic {
    pub offset: usize,
    pub bytes: Vec<u8>,
    /// As long as `bytes`; all ones when the entry has no mask.
    pub mask: Vec<u8>,
}

impl Entry {
    /// Parses the kernel's text for entry `name`:
    /// `enabled`, `interpreter PATH`, `flags: LETTERS`, `offset N`, `magic HEX`, `mask HEX`
    /// (or `extension .EXT` instead of offset, magic and mask).
    pub(crate) fn parse(name: &str, text: &str) -> Result<Self, String> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let enabled = match lines.next() {
            Some("enabled") => true,
            Some("disabled") => false,
            other => {
                return Err(format!(
                    "{name}: first line {other:?}, not enabled/disabled"
                ))
            }
        };
        let (mut interpreter, mut flags, mut offset, mut bytes, mut mask) =
            (None, String::new(), 0usize, None, None);
        for line in lines {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let value = value.trim();
            match key {
                "interpreter" => interpreter = Some(value.to_string()),
                "flags:" => flags = value.to_string(),
                "offset" => {
                    offset = value
                        .parse()
                        .map_err(|_| format!("{name}: offset {value:?} is not a number"))?
                }
                "magic" => bytes = Some(hex(name, value)?),
                "mask" => mask = Some(hex(name, value)?),
                // `extension`, and whatever a later kernel adds: nothing to match bytes with.
                _ => {}
            }
        }
        let interpreter = interpreter.ok_or_else(|| format!("{name}: no interpreter line"))?;
        let magic = match (bytes, mask) {
            (None, _) => None,
            (Some(bytes), None) => Some(Magic {
                offset,
                mask: vec![0xff; bytes.len()],
                bytes,
            }),
            (Some(bytes), Some(mask)) if mask.len() == bytes.len() => Some(Magic {
                offset,
                bytes,
                mask,
            }),
            (Some(bytes), Some(mask)) => {
                return Err(format!(
                    "{name}: mask of {} bytes for a magic of {}",
                    mask.len(),
                    bytes.len()
                ))
            }
        };
        Ok(Self {
            name: name.to_string(),
            enabled,
            interpreter,
            flags,
            magic,
        })
    }

    /// Whether the kernel opened the interpreter at registration (flag `F`), so that it is found
    /// from inside a container.
    pub(crate) fn fix_binary(&self) -> bool {
        self.flags.contains('F')
    }

    /// Whether a file starting with `header` matches this entry's magic (enabled or not).
    pub(crate) fn matches(&self, header: &[u8]) -> bool {
        let Some(magic) = &self.magic else {
            return false;
        };
        // An offset the kernel printed is small, but a garbage one must not overflow.
        let Some(end) = magic.offset.checked_add(magic.bytes.len()) else {
            return false;
        };
        let Some(window) = header.get(magic.offset..end) else {
            return false;
        };
        window
            .iter()
            .zip(&magic.bytes)
            .zip(&magic.mask)
            .all(|((byte, want), mask)| byte & mask == want & mask)
    }
}

fn hex(name: &str, text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return Err(format!("{name}: {text:?} is not hex bytes"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&text[i..i + 2], 16)
                .map_err(|_| format!("{name}: {text:?} is not hex bytes"))
        })
        .collect()
}

/// What binfmt_misc holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Binfmt {
    /// No `status` file: binfmt_misc is not mounted there.
    NotMounted,
    /// `status` says `disabled`: no entry applies.
    Disabled,
    /// The entries that could be read and parsed (the others are named in the trace).
    Entries(Vec<Entry>),
}

/// Reads binfmt_misc at `dir` (normally [`BINFMT_MISC`]).
pub(crate) fn read_binfmt(dir: &Path) -> Binfmt {
    let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
        return Binfmt::NotMounted;
    };
    if status.trim() == "disabled" {
        return Binfmt::Disabled;
    }
    let mut entries = Vec::new();
    for file in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = file.file_name().to_string_lossy().into_owned();
        if name == "status" || name == "register" {
            continue;
        }
        match std::fs::read_to_string(file.path()).map_err(|e| format!("{name}: {e}")) {
            Ok(text) => match Entry::parse(&name, &text) {
                Ok(entry) => entries.push(entry),
                Err(e) => bottle_backends::trace::step(&format!("binfmt_misc: skipped {e}")),
            },
            Err(e) => bottle_backends::trace::step(&format!("binfmt_misc: skipped {e}")),
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Binfmt::Entries(entries)
}

/// Why the kernel would not run a foreign executable in a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    NotMounted,
    Disabled,
    /// No entry matches the executable.
    NoEntry,
    /// Entries match, but none is enabled.
    EntryDisabled {
        name: String,
    },
    /// An enabled entry matches without flag `F` (and the kernel might pick it).
    NoFixBinary {
        name: String,
        interpreter: String,
    },
}

/// The entry the kernel would run an executable starting with `header` with, from inside a
/// container; or what is missing for that. Every enabled entry that matches must have flag `F`:
/// which of several the kernel picks depends on the order they were registered in, which the
/// directory does not show.
pub(crate) fn interpreter_for<'a>(binfmt: &'a Binfmt, header: &[u8]) -> Result<&'a Entry, Missing> {
    let entries = match binfmt {
        Binfmt::NotMounted => return Err(Missing::NotMounted),
        Binfmt::Disabled => return Err(Missing::Disabled),
        Binfmt::Entries(entries) => entries,
    };
    let matching: Vec<&Entry> = entries.iter().filter(|e| e.matches(header)).collect();
    let enabled: Vec<&Entry> = matching.iter().copied().filter(|e| e.enabled).collect();
    if let Some(unfixed) = enabled.iter().find(|e| !e.fix_binary()) {
        return Err(Missing::NoFixBinary {
            name: unfixed.name.clone(),
            interpreter: unfixed.interpreter.clone(),
        });
    }
    match (enabled.first(), matching.first()) {
        (Some(entry), _) => Ok(entry),
        (None, Some(disabled)) => Err(Missing::EntryDisabled {
            name: disabled.name.clone(),
        }),
        (None, None) => Err(Missing::NoEntry),
    }
}

/// The binfmt_misc of the kernel that runs the engine's containers, when this machine can read
/// it: its own ([`BINFMT_MISC`]) for a local engine on a Linux machine (`linux`). `None` for
/// Docker Desktop, and for an engine reported local on a machine that is not Linux: that kernel
/// runs in a VM.
pub(crate) fn engine_binfmt(host: EngineHost, linux: bool) -> Option<&'static Path> {
    (host == EngineHost::Local && linux).then(|| Path::new(BINFMT_MISC))
}

/// Refuses, before anything is created, a bottle of `arch` that the engine cannot run: its
/// architecture is not the engine's, the engine kernel's binfmt_misc is readable here
/// (`binfmt_dir`, see [`engine_binfmt`]), and it would not run `binaries` (the in-bottle
/// executables) in a container. The error names what is missing and the commands that would
/// make it run.
pub(crate) fn require_runnable(
    arch: Arch,
    engine: Arch,
    binaries: &[&Path],
    binfmt_dir: Option<&Path>,
) -> Result<(), HarnessError> {
    if arch == engine {
        return Ok(());
    }
    let Some(binfmt_dir) = binfmt_dir else {
        bottle_backends::trace::step(&format!(
            "run: {arch} bottle on a {engine} engine whose kernel is not this machine's: the engine decides"
        ));
        return Ok(());
    };
    let binfmt = read_binfmt(binfmt_dir);
    for binary in binaries {
        let header = read_header(binary).map_err(|e| HarnessError::MissingBinary {
            what: "in-bottle",
            reason: format!("cannot read {}: {e}", binary.display()),
        })?;
        match interpreter_for(&binfmt, &header) {
            Ok(entry) => bottle_backends::trace::step(&format!(
                "run: {} runs under {} ({}, flags {})",
                binary.display(),
                entry.interpreter,
                entry.name,
                entry.flags
            )),
            Err(missing) => {
                return Err(HarnessError::ForeignArch {
                    bottle: arch,
                    engine,
                    missing: describe(&missing, arch, binfmt_dir),
                    remedy: remedy(&missing, arch, binfmt_dir),
                })
            }
        }
    }
    Ok(())
}

fn read_header(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    std::fs::File::open(path)?
        .take(HEADER_LEN as u64)
        .read_to_end(&mut header)?;
    Ok(header)
}

/// What is missing, in words.
fn describe(missing: &Missing, arch: Arch, dir: &Path) -> String {
    let dir = dir.display();
    match missing {
        Missing::NotMounted => format!("binfmt_misc is not mounted at {dir}"),
        Missing::Disabled => format!("binfmt_misc is disabled ({dir}/status)"),
        Missing::NoEntry => format!("no binfmt_misc entry in {dir} runs {arch} executables"),
        Missing::EntryDisabled { name } => {
            format!("{dir}/{name} matches {arch} executables but is disabled")
        }
        Missing::NoFixBinary { name, interpreter } => format!(
            "{dir}/{name} runs {arch} executables with {interpreter} but without flag F, so the \
             kernel looks for {interpreter} inside the container, which does not have it"
        ),
    }
}

/// The commands (as root) that would make a bottle of `arch` run on this machine's engine.
fn remedy(missing: &Missing, arch: Arch, dir: &Path) -> String {
    let dir_text = dir.display();
    let qemu = format!("qemu-{arch}");
    // .ci/run's ensure_aarch64_emulation: Debian's magic and mask for the architecture, the
    // static qemu-user as the interpreter, flag F.
    let register = format!(
        "echo \"$(sed -e 's#:[^:]*:[^:]*$##' /usr/lib/binfmt.d/{qemu}.conf):/usr/bin/{qemu}-static:F\" > {dir_text}/register"
    );
    let install = format!(
        "install Debian's qemu-user-static (`apt-get install qemu-user-static`), which registers {qemu} with flag F where systemd-binfmt or binfmt-support runs; elsewhere (a container without systemd) register it by hand: `{register}`"
    );
    let fix = match missing {
        Missing::NotMounted => format!(
            "as root, `mount -t binfmt_misc binfmt_misc {dir_text}`, then {install}"
        ),
        Missing::Disabled => format!("as root, `echo 1 > {dir_text}/status`"),
        Missing::NoEntry => format!("as root, {install}"),
        Missing::EntryDisabled { name } => format!("as root, `echo 1 > {dir_text}/{name}`"),
        Missing::NoFixBinary { name, .. } => format!(
            "as root, remove it and register {qemu} with flag F: `echo -1 > {dir_text}/{name}; {register}`"
        ),
    };
    let ci = match arch {
        Arch::Aarch64 => " (.ci/run's ensure_aarch64_emulation does this)",
        Arch::X86_64 => "",
    };
    format!(
        "to run it: {fix}{ci}; or leave --arch and {} unset for a bottle of the engine's own architecture",
        super::options::ARCH_ENV
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian's qemu-aarch64 entry (qemu-user-static 7.2, /usr/lib/binfmt.d/qemu-aarch64.conf) as
    /// the kernel prints it once registered the way .ci/run does.
    const QEMU_AARCH64: &str = "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";

    /// The first bytes of a 64-bit little-endian ELF executable for `machine` (`e_type` 3: the
    /// static-pie the musl targets build; 2 for a fixed-address one).
    fn elf(machine: u16, e_type: u16) -> Vec<u8> {
        let mut header = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
        header.resize(16, 0);
        header.extend_from_slice(&e_type.to_le_bytes());
        header.extend_from_slice(&machine.to_le_bytes());
        header.resize(64, 0);
        header
    }
    const AARCH64: u16 = 0xb7;
    const X86_64: u16 = 0x3e;

    fn entry(text: &str) -> Entry {
        Entry::parse("qemu-aarch64", text).unwrap()
    }

    #[test]
    fn parses_the_kernel_text_of_an_entry() {
        let parsed = entry(QEMU_AARCH64);
        assert!(parsed.enabled);
        assert_eq!(parsed.interpreter, "/usr/bin/qemu-aarch64-static");
        assert_eq!(parsed.flags, "F");
        assert!(parsed.fix_binary());
        let magic = parsed.magic.unwrap();
        assert_eq!(magic.offset, 0);
        assert_eq!(magic.bytes.len(), 20);
        assert_eq!(magic.bytes[18], 0xb7);
        assert_eq!(magic.mask[16], 0xfe);

        let disabled = entry(&QEMU_AARCH64.replace("enabled", "disabled"));
        assert!(!disabled.enabled);
        let debian = entry(&QEMU_AARCH64.replace("flags: F", "flags: OCF"));
        assert!(debian.fix_binary());
        let unfixed = entry(&QEMU_AARCH64.replace("flags: F", "flags: "));
        assert!(!unfixed.fix_binary());
        assert_eq!(unfixed.flags, "");
        let no_mask =
            entry(&QEMU_AARCH64.replace("mask ffffffffffffff00fffffffffffffffffeffffff\n", ""));
        assert_eq!(no_mask.magic.unwrap().mask, vec![0xff; 20]);
        let extension = entry("enabled\ninterpreter /usr/bin/wine\nflags: \nextension .exe\n");
        assert_eq!(extension.magic, None);
    }

    #[test]
    fn malformed_entries_are_errors_naming_the_entry() {
        for text in [
            "",
            "maybe\ninterpreter /x\n",
            "enabled\nflags: F\n",
            "enabled\ninterpreter /x\noffset x\n",
            "enabled\ninterpreter /x\nmagic 7f4\n",
            "enabled\ninterpreter /x\nmagic zz\n",
            "enabled\ninterpreter /x\nmagic 7f45\nmask ff\n",
        ] {
            let error = Entry::parse("odd", text).unwrap_err();
            assert!(error.starts_with("odd: "), "{text:?}: {error}");
        }
    }

    #[test]
    fn matches_like_the_kernel_under_the_mask() {
        let qemu = entry(QEMU_AARCH64);
        assert!(qemu.matches(&elf(AARCH64, 3)));
        assert!(
            qemu.matches(&elf(AARCH64, 2)),
            "the mask lets ET_EXEC through"
        );
        assert!(!qemu.matches(&elf(X86_64, 3)));
        assert!(
            !qemu.matches(&elf(AARCH64, 3)[..10]),
            "a short file matches nothing"
        );
        let mut big_endian = elf(AARCH64, 3);
        big_endian[5] = 2;
        assert!(!qemu.matches(&big_endian));
        let shifted = entry(&QEMU_AARCH64.replace("offset 0", "offset 1"));
        assert!(!shifted.matches(&elf(AARCH64, 3)));
    }

    fn entries(list: &[(&str, &str)]) -> Binfmt {
        Binfmt::Entries(
            list.iter()
                .map(|(name, text)| Entry::parse(name, text).unwrap())
                .collect(),
        )
    }

    #[test]
    fn the_decision_for_an_aarch64_executable() {
        let header = elf(AARCH64, 3);
        let good = entries(&[("qemu-aarch64", QEMU_AARCH64)]);
        assert_eq!(
            interpreter_for(&good, &header).unwrap().interpreter,
            "/usr/bin/qemu-aarch64-static"
        );
        assert_eq!(
            interpreter_for(&Binfmt::NotMounted, &header),
            Err(Missing::NotMounted)
        );
        assert_eq!(
            interpreter_for(&Binfmt::Disabled, &header),
            Err(Missing::Disabled)
        );
        assert_eq!(
            interpreter_for(&entries(&[]), &header),
            Err(Missing::NoEntry)
        );
        let other_arch = QEMU_AARCH64.replace("b700", "2800");
        assert_eq!(
            interpreter_for(&entries(&[("qemu-arm", &other_arch)]), &header),
            Err(Missing::NoEntry)
        );
        let disabled = QEMU_AARCH64.replace("enabled", "disabled");
        assert_eq!(
            interpreter_for(&entries(&[("qemu-aarch64", &disabled)]), &header),
            Err(Missing::EntryDisabled {
                name: "qemu-aarch64".into()
            })
        );
        let unfixed = QEMU_AARCH64.replace("flags: F", "flags: P");
        assert_eq!(
            interpreter_for(&entries(&[("qemu-aarch64", &unfixed)]), &header),
            Err(Missing::NoFixBinary {
                name: "qemu-aarch64".into(),
                interpreter: "/usr/bin/qemu-aarch64-static".into()
            })
        );
        // A disabled entry without F beside a good one does not matter; an enabled one does.
        assert!(interpreter_for(
            &entries(&[
                ("a", &disabled.replace("flags: F", "flags: ")),
                ("qemu-aarch64", QEMU_AARCH64)
            ]),
            &header
        )
        .is_ok());
        assert!(interpreter_for(
            &entries(&[("a", &unfixed), ("qemu-aarch64", QEMU_AARCH64)]),
            &header
        )
        .is_err());
    }

    /// A binfmt_misc directory of the test's own: `status` plus the entries.
    fn fake_binfmt(tag: &str, status: Option<&str>, list: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cb-binfmt-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(status) = status {
            std::fs::write(dir.join("status"), status).unwrap();
            std::fs::write(dir.join("register"), "").unwrap();
        }
        for (name, text) in list {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn reads_the_directory_the_kernel_shows() {
        let dir = fake_binfmt(
            "read",
            Some("enabled\n"),
            &[("qemu-aarch64", QEMU_AARCH64), ("broken", "nonsense\n")],
        );
        assert_eq!(
            read_binfmt(&dir),
            entries(&[("qemu-aarch64", QEMU_AARCH64)]),
            "the unparsable entry is skipped, status and register are not entries"
        );
        std::fs::write(dir.join("status"), "disabled\n").unwrap();
        assert_eq!(read_binfmt(&dir), Binfmt::Disabled);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read_binfmt(&dir), Binfmt::NotMounted);
    }

    #[test]
    fn only_a_local_engine_on_linux_shows_its_binfmt_misc_here() {
        assert_eq!(
            engine_binfmt(EngineHost::Local, true),
            Some(Path::new(BINFMT_MISC))
        );
        assert_eq!(engine_binfmt(EngineHost::Local, false), None);
        assert_eq!(engine_binfmt(EngineHost::DockerDesktop, true), None);
        assert_eq!(engine_binfmt(EngineHost::DockerDesktop, false), None);
    }

    #[test]
    fn refuses_before_bring_up_naming_the_fix() {
        let dir = fake_binfmt("refuse", Some("enabled\n"), &[]);
        let binary = dir.join("bottle-probe.bin");
        std::fs::write(&binary, elf(AARCH64, 3)).unwrap();
        let binaries = [binary.as_path()];
        let here = Some(dir.as_path());

        // The engine's own architecture needs nothing, whatever binfmt_misc holds.
        require_runnable(Arch::Aarch64, Arch::Aarch64, &binaries, here).unwrap();
        // A kernel in a VM (Docker Desktop) is not checked from here.
        require_runnable(Arch::Aarch64, Arch::X86_64, &binaries, None).unwrap();

        let error = require_runnable(Arch::Aarch64, Arch::X86_64, &binaries, here).unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(
                error,
                HarnessError::ForeignArch {
                    bottle: Arch::Aarch64,
                    engine: Arch::X86_64,
                    ..
                }
            ),
            "{text}"
        );
        assert_eq!(
            error.exit_code(),
            crate::errors::exit::INCONCLUSIVE_OR_ERROR
        );
        for needle in [
            "cannot run aarch64 bottles on this x86_64 engine: ",
            "no binfmt_misc entry",
            "apt-get install qemu-user-static",
            "/usr/lib/binfmt.d/qemu-aarch64.conf):/usr/bin/qemu-aarch64-static:F",
            "CLAUDE_BOTTLE_ARCH",
        ] {
            assert!(text.contains(needle), "{needle:?} not in {text}");
        }

        let unfixed = QEMU_AARCH64.replace("flags: F", "flags: ");
        std::fs::write(dir.join("qemu-aarch64"), unfixed).unwrap();
        let text = require_runnable(Arch::Aarch64, Arch::X86_64, &binaries, here)
            .unwrap_err()
            .to_string();
        assert!(text.contains("without flag F"), "{text}");
        let reregister = format!("echo -1 > {}/qemu-aarch64", dir.display());
        assert!(text.contains(&reregister), "{text}");

        std::fs::write(dir.join("qemu-aarch64"), QEMU_AARCH64).unwrap();
        require_runnable(Arch::Aarch64, Arch::X86_64, &binaries, here).unwrap();

        std::fs::remove_file(dir.join("status")).unwrap();
        let text = require_runnable(Arch::Aarch64, Arch::X86_64, &binaries, here)
            .unwrap_err()
            .to_string();
        assert!(text.contains("not mounted"), "{text}");
        assert!(text.contains("mount -t binfmt_misc binfmt_misc"), "{text}");

        // An in-bottle binary that cannot be read is an error naming it, not a pass.
        std::fs::remove_dir_all(&dir).unwrap();
        let text = require_runnable(Arch::Aarch64, Arch::X86_64, &binaries, here)
            .unwrap_err()
            .to_string();
        assert!(text.contains("bottle-probe.bin"), "{text}");
    }
}
