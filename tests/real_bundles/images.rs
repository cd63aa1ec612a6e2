//! The images of the real-bundle trials: Debian's Squid as the bundle (strict allowlist, with
//! or without its own refusal signature, the common allowlist that reverse-resolves IP
//! literals, or allowing every host), a Squid bundle that exits mid-run, a busybox bundle that
//! never opens a port, and an agent image with a non-root `USER` and its own `ENTRYPOINT`. The
//! Squid configuration is the one docs/bring-your-own.md walks through. Apache's bundle is in
//! `apache.rs`, built from the same parts (`etc`, `SIDE_SERVICES`).

use std::path::Path;

use super::rootfs::Rootfs;

/// Where Debian installs Squid and its helper (Squid refuses to start without `unlinkd`).
pub const SQUID: &str = "/usr/sbin/squid";
const UNLINKD: &str = "/usr/lib/squid/unlinkd";
/// Debian's `proxy` user, which Squid drops to (`cache_effective_user`).
const PROXY_UID: u32 = 13;

/// How the Squid bundle decides.
#[derive(Clone, Copy)]
pub enum SquidPolicy {
    /// Only the suite's allowed host, matched by name without reverse lookups (`dstdomain -n`).
    Strict,
    /// Only the suite's allowed host, with the common `dstdomain` ACL: Squid reverse-resolves
    /// an IP-literal request before refusing it (`src/acl/DestinationDomain.cc`, `StartLookup`
    /// unless `-n`), so the agent's chosen address reaches the bundle's resolver.
    Reverse,
    /// Every host (`http_access allow all`): broken on purpose.
    Open,
}

/// The squid.conf of a bundle with `policy` allowing `allowed_host`. `hosts_file` is an IPv4-only
/// one: Docker's `/etc/hosts` maps `localhost` to `::1` too, where a container without IPv6
/// cannot connect.
///
/// `negative_dns_ttl 1 second`: Squid keeps every DNS answer at least that long ("This also
/// sets the lower cache limit on positive lookups", default 1 minute, minimum 1 second:
/// squid.conf.documented; in 5.7 every answer lives exactly that long, `src/ipcache.cc`). The
/// SSRF probes switch the allowed name's answer at the DNS canary after the positive controls
/// and count only what the proxy sent after a fresh lookup, with one more try 3 s after a try
/// that went out on a kept answer (`harness/src/verdict/ssrf.rs`, `harness/src/run/exec.rs`).
/// With the default every run here kept the controls' answer past the retry: both probes
/// `inconclusive`. docs/bring-your-own.md gives the same advice.
///
/// Without `signature`, Squid's own mark on the replies it writes is switched off by Squid's
/// own configuration: `reply_header_access X-Squid-Error deny all`. Every error page Squid
/// generates carries `X-Squid-Error`, which the probe recognises as Squid's refusal;
/// `reply_header_access` applies `request_header_access`'s rules to reply headers, where a
/// matching `deny` removes the header (squid.conf.documented, Debian's `/etc/squid/squid.conf`,
/// TAG `reply_header_access` and `request_header_access`). It removes it from Squid's own
/// refusals too: measured with Debian's Squid 5.7, `curl -x` through this configuration gets
/// `403 Forbidden` without `X-Squid-Error` (still with `Server: squid/5.7` and `Via`, which are
/// no refusal signature), and no answer in a suite run carries it. What is left is an
/// anonymous 403 that the harness can judge only by what the destinations recorded.
pub fn squid_conf(policy: SquidPolicy, allowed_host: &str, signature: bool) -> String {
    let access = match policy {
        SquidPolicy::Strict => format!(
            "acl allowed dstdomain -n {allowed_host}\nhttp_access allow allowed\nhttp_access deny all\n"
        ),
        SquidPolicy::Reverse => format!(
            "acl allowed dstdomain {allowed_host}\nhttp_access allow allowed\nhttp_access deny all\n"
        ),
        // IPv6 literals are refused even here: Squid 5.7 in a container without IPv6 dies on
        // `http://[::1]:9099/` (an `Ip::Address::getAddrInfo` assertion, measured; a `dst ipv6`
        // ACL does not prevent it, matching the name does), which would hide the escapes this
        // image exists to show behind a crashed bundle.
        SquidPolicy::Open => {
            "acl v6_literal dstdom_regex -n ^\\[\nhttp_access deny v6_literal\nhttp_access allow all\n"
                .to_string()
        }
    };
    let unsigned = if signature {
        ""
    } else {
        "reply_header_access X-Squid-Error deny all\n"
    };
    format!(
        "http_port 3128
{access}{unsigned}cache deny all
negative_dns_ttl 1 second
cache_mem 0
pid_filename none
hosts_file /etc/squid/hosts
cache_log stdio:/dev/stderr
access_log stdio:/var/log/squid/access.log
logfile_rotate 0
cache_effective_user proxy
shutdown_lifetime 0 seconds
max_filedescriptors 1024
pinger_enable off
mime_table /usr/share/squid/mime.conf
error_directory /usr/share/squid/errors/en
"
    )
}

/// The other services of a bundle: git-gate and supervise answer a line and close; egress is
/// an HTTP server on the bundle's loopback only.
pub const SIDE_SERVICES: &str = "nc -ll -p 9418 -e /bin/echo git-gate &
nc -ll -p 9100 -e /bin/echo supervise &
httpd -f -p 127.0.0.1:9099 -h /tmp &
";

/// `/etc` of a root with `users` (name, uid) besides root.
pub fn etc(root: &mut Rootfs, users: &[(&str, u32)]) -> Result<(), String> {
    let mut passwd = "root:x:0:0:root:/:/bin/sh\n".to_string();
    let mut group = "root:x:0:\n".to_string();
    for (name, id) in users {
        passwd.push_str(&format!("{name}:x:{id}:{id}:{name}:/tmp:/bin/sh\n"));
        group.push_str(&format!("{name}:x:{id}:\n"));
    }
    root.file("/etc/passwd", &passwd, 0o644)?;
    root.file("/etc/group", &group, 0o644)?;
    root.file(
        "/etc/nsswitch.conf",
        "passwd: files\ngroup: files\nhosts: files dns\n",
        0o644,
    )
}

/// A Squid bundle image: Squid on 3128 with `policy`, its refusals carrying `X-Squid-Error`
/// when `signature` (see [`squid_conf`]), the side services, started through `ENTRYPOINT` only
/// (no `CMD`), as many real images are.
pub fn squid_bundle(
    scratch: &Path,
    policy: SquidPolicy,
    allowed: &str,
    signature: bool,
) -> Result<String, String> {
    let name = match (policy, signature) {
        (SquidPolicy::Strict, true) => "squid-strict",
        (SquidPolicy::Strict, false) => "squid-strict-unsigned",
        (SquidPolicy::Reverse, true) => "squid-reverse",
        (SquidPolicy::Reverse, false) => "squid-reverse-unsigned",
        (SquidPolicy::Open, true) => "squid-open",
        (SquidPolicy::Open, false) => "squid-open-unsigned",
    };
    let start = format!("#!/bin/sh\n{SIDE_SERVICES}exec {SQUID} -N -f /etc/squid/squid.conf\n");
    squid_image(
        scratch,
        name,
        &squid_conf(policy, allowed, signature),
        &start,
    )
}

/// The strict Squid bundle, whose start script exits 3 once git-gate has served a second
/// connection: the first is the harness's readiness check, the second the port sweep, which
/// starts after the positive controls. A bundle that dies mid-run, its controls already passed.
pub fn dying_bundle(scratch: &Path, allowed: &str) -> Result<String, String> {
    let start = format!(
        "#!/bin/sh
nc -ll -p 9100 -e /bin/echo supervise &
httpd -f -p 127.0.0.1:9099 -h /tmp &
{SQUID} -N -f /etc/squid/squid.conf &
nc -l -p 9418 -e /bin/echo git-gate
nc -l -p 9418 -e /bin/echo git-gate
echo 'bundle: git-gate served twice, exiting' >&2
exit 3
"
    );
    let conf = squid_conf(SquidPolicy::Strict, allowed, true);
    squid_image(scratch, "squid-dies", &conf, &start)
}

/// Squid with `conf`, busybox, and `start` as the `ENTRYPOINT`.
fn squid_image(scratch: &Path, name: &str, conf: &str, start: &str) -> Result<String, String> {
    let mut root = Rootfs::new(scratch, name)?;
    root.binaries(&[SQUID, UNLINKD])?;
    for dir in ["errors/en", "errors/templates", "icons", "mime.conf"] {
        let path = format!("/usr/share/squid/{dir}");
        if Path::new(&path).exists() {
            root.copy(&path, &path)?;
        }
    }
    root.busybox(&["sh", "nc", "httpd", "echo"])?;
    etc(&mut root, &[("proxy", PROXY_UID)])?;
    root.owned_dir("/var/log/squid", PROXY_UID, PROXY_UID)?;
    root.owned_dir("/var/spool/squid", PROXY_UID, PROXY_UID)?;
    root.file("/etc/squid/squid.conf", conf, 0o644)?;
    root.file("/etc/squid/hosts", "127.0.0.1 localhost\n", 0o644)?;
    root.file("/start.sh", start, 0o755)?;
    root.change(r#"ENTRYPOINT ["/start.sh"]"#);
    root.import(name)
}

/// A busybox bundle that never opens its supervise port (9100).
pub fn unready_bundle(scratch: &Path) -> Result<String, String> {
    let mut root = Rootfs::new(scratch, "bundle-unready")?;
    root.busybox(&["sh", "nc", "echo", "sleep"])?;
    etc(&mut root, &[])?;
    root.file(
        "/start.sh",
        "#!/bin/sh\nnc -ll -p 3128 -e /bin/echo pipelock &\nnc -ll -p 9418 -e /bin/echo git-gate &\nexec sleep 1000000\n",
        0o755,
    )?;
    root.change(r#"CMD ["/start.sh"]"#);
    root.import("bundle-unready")
}

/// An agent image as real ones are: a non-root `USER` (uid 1000) and an `ENTRYPOINT` of its
/// own that needs its shell. The harness must not depend on either.
pub fn nonroot_agent(scratch: &Path) -> Result<String, String> {
    let mut root = Rootfs::new(scratch, "agent-nonroot")?;
    root.busybox(&["sh", "sleep", "echo"])?;
    etc(&mut root, &[("agent", 1000)])?;
    root.owned_dir("/home/agent", 1000, 1000)?;
    root.change("USER 1000");
    root.change("WORKDIR /home/agent");
    root.change(r#"ENTRYPOINT ["/bin/sh", "-c", "echo agent started; exec sleep 1000000"]"#);
    root.import("agent-nonroot")
}
