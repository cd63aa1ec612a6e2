//! Debian's Apache httpd 2.4 as the bundle: `mod_proxy` with `mod_proxy_http` and
//! `mod_proxy_connect` as a forward proxy on the pipelock port, with the allowlist a careful
//! admin writes (`strict`) or one allowing every host (`open`, broken on purpose), and the
//! side services of every test bundle (`images::SIDE_SERVICES`).
//!
//! The configuration is a file of its own (no Debian `a2enmod` tree, no `envvars`): the few
//! modules a forward proxy needs and nothing else. Apache's default request parser
//! (`HttpProtocolOptions Strict`, the core default:
//! <https://httpd.apache.org/docs/2.4/mod/core.html#httpprotocoloptions>) is left as it is, so
//! Apache answers `400` itself, before any proxy rule, for request targets it cannot parse:
//! measured here with Debian's 2.4, its debug log naming the check
//! (`server/vhost.c`: AH02415 "[strict] Invalid host name" for `127.1` and `%2E` in a name,
//! AH02416 "purely numeric host names not allowed" for `2130706433`; `server/protocol.c`:
//! AH02422 "URI must not contain a username/password", AH02421 "URI must not contain a
//! fragment"). Its refusals carry no mark of their own (a stock `403 Forbidden` HTML page), so
//! the harness can judge them only by what the destinations recorded.

use std::path::Path;

use super::images::{etc, SIDE_SERVICES};
use super::rootfs::Rootfs;

/// Where Debian installs Apache (the `apache2` package; `apache2ctl` is a wrapper around it).
pub const APACHE: &str = "/usr/sbin/apache2";
/// Debian's module directory.
const MODULES: &str = "/usr/lib/apache2/modules";
/// The modules the bundle loads, with their `LoadModule` names: an MPM (Debian builds none
/// into the binary: `apache2 -l` lists core, mod_so, mod_watchdog, http_core, mod_log_config,
/// mod_logio, mod_version, mod_unixd), `Require` (`mod_authz_core`), and the forward proxy.
const LOADED: [(&str, &str); 5] = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("proxy_connect_module", "mod_proxy_connect.so"),
];
/// Debian's `www-data`, which Apache's children drop to (`User`, `mod_unixd`); the parent
/// stays root, as in every stock Apache.
const WWW_DATA: u32 = 33;

/// How the Apache bundle decides.
#[derive(Clone, Copy)]
pub enum ApachePolicy {
    /// Only the suite's allowed host: plain HTTP on port 80 and `CONNECT` to 443.
    Strict,
    /// Every host (`<Proxy "*"> Require all granted`): broken on purpose.
    Open,
}

/// The paths of the binary and modules the image is made of.
fn parts() -> Vec<String> {
    std::iter::once(APACHE.to_string())
        .chain(LOADED.iter().map(|(_, so)| format!("{MODULES}/{so}")))
        .collect()
}

/// What of Apache is not installed on this machine (empty when the image can be built).
pub fn missing() -> Vec<String> {
    parts()
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect()
}

/// The apache2.conf of a bundle with `policy` allowing `allowed_host`.
///
/// Access control is the one mod_proxy documents for a forward proxy ("Controlling access to
/// your proxy", <https://httpd.apache.org/docs/2.4/mod/mod_proxy.html#access>): deny `<Proxy
/// "*">`, then grant what is allowed. `<Proxy>` sections are matched against the request's
/// `proxy:` file name with the prefix stripped: the absolute URL as sent
/// (`http://host:80/path`) for plain requests, `host:port` for `CONNECT` ("CONNECT method
/// requests are controlled by the Proxy block as any other HTTP request", with `<Proxy
/// www.example.com:443>` as the example, in the trunk edition of
/// <https://httpd.apache.org/docs/trunk/mod/mod_proxy_connect.html>; measured with 2.4: the
/// error log says `client denied by server configuration: proxy:evil.fixture.test:443`). A
/// `<Proxy>` without a wildcard is a plain prefix compare and every match is case-sensitive
/// (httpd 2.4 `modules/proxy/mod_proxy.c`, `proxy_walk`: `strncmp`, `apr_fnmatch` or
/// `ap_regexec`, under "XXX: What about case insensitive matching ???"): with `<Proxy
/// "http://public.fixture.test">` Apache granted `http://public.fixture.test.attacker.
/// fixture.test/` and went on to resolve it (measured, in a container without a network). So
/// the careful admin anchors a `<ProxyMatch>` at both ends of the name, once for plain HTTP
/// (with or without the explicit `:80` the probes send) and once for the tunnel to 443.
///
/// `AllowCONNECT` (default `443 563`, mod_proxy_connect) lists the tunnel ports Apache will
/// connect to at all; 80 is added because the suite's SSRF probes `CONNECT` to the LAN host's
/// port 80 (`harness/src/plan/proxy_matching.rs`, `LAN_PORT`), so that the host allowlist
/// above, not the port list, is what decides them. `ProxyVia Off` (the default, written out)
/// adds no `Via` header. `ProxyPreserveHost` stays off (its default): mod_proxy_http sends the
/// Host of the URL, never the client's (measured: `GET http://public.fixture.test/` with
/// `Host: blocked.fixture.test` reached the destination with `Host: public.fixture.test`).
pub fn apache_conf(policy: ApachePolicy, allowed_host: &str) -> String {
    let load: String = LOADED
        .iter()
        .map(|(name, so)| format!("LoadModule {name} {MODULES}/{so}\n"))
        .collect();
    let access = match policy {
        ApachePolicy::Strict => {
            let name = regex_escape(allowed_host);
            format!(
                "<Proxy \"*\">
    Require all denied
</Proxy>
<ProxyMatch \"^http://{name}(:80)?/\">
    Require all granted
</ProxyMatch>
<ProxyMatch \"^{name}:443$\">
    Require all granted
</ProxyMatch>
"
            )
        }
        ApachePolicy::Open => "<Proxy \"*\">
    Require all granted
</Proxy>
"
        .to_string(),
    };
    format!(
        "ServerRoot /etc/apache2
ServerName bundle
Listen 3128
PidFile /run/apache2/apache2.pid
DefaultRuntimeDir /run/apache2
{load}User www-data
Group www-data
ErrorLog /dev/stderr
LogLevel warn core:debug
LogFormat \"%h \\\"%r\\\" %>s %b\" proxy
CustomLog /dev/stdout proxy
ProxyRequests On
ProxyVia Off
AllowCONNECT 443 80
{access}"
    )
}

/// `text` with the characters a PCRE pattern reads specially escaped (a host name has only
/// dots among them).
fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() && c != '-' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An Apache bundle image: Apache on 3128 with `policy`, in the foreground (its parent is the
/// container's main process, so the harness sees it exit), and the side services.
///
/// glibc loads `libgcc_s.so.1` by name when a thread exits (`pthread_exit` unwinds the
/// thread's stack with it), so `ldd` does not list it; without it every child of the event
/// MPM aborted here with `libgcc_s.so.1 must be installed for pthread_exit to work`.
pub fn apache_bundle(
    scratch: &Path,
    policy: ApachePolicy,
    allowed: &str,
) -> Result<String, String> {
    let name = match policy {
        ApachePolicy::Strict => "apache-strict",
        ApachePolicy::Open => "apache-open",
    };
    let mut root = Rootfs::new(scratch, name)?;
    let parts = parts();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    root.binaries_loading(&parts, &["libgcc_s.so.1"])?;
    root.busybox(&["sh", "nc", "httpd", "echo"])?;
    etc(&mut root, &[("www-data", WWW_DATA)])?;
    root.file(
        "/etc/apache2/apache2.conf",
        &apache_conf(policy, allowed),
        0o644,
    )?;
    root.owned_dir("/run/apache2", 0, 0)?;
    root.file(
        "/start.sh",
        &format!(
            "#!/bin/sh\n{SIDE_SERVICES}exec {APACHE} -DFOREGROUND -f /etc/apache2/apache2.conf\n"
        ),
        0o755,
    )?;
    root.change(r#"ENTRYPOINT ["/start.sh"]"#);
    root.import(name)
}
