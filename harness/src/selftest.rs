//! `bottle-escape selftest`: proof that a green run means something. A clean bottle must pass,
//! and each deliberately broken bottle (one documented change to a correct one) must turn the
//! probes that guard against that breakage into `escape`. The result is a kill matrix.

use std::fmt::Write as _;

use serde::Serialize;

use crate::errors::HarnessError;
use crate::report::Report;
use crate::run::{self, RunOptions};
use crate::sabotage::{self, Named};
use crate::verdict::Verdict;

/// One broken bottle and the probes that must catch it.
pub struct Case {
    /// The breakage: an entry of the sabotage table.
    pub sabotage: &'static Named,
    pub must_escape: &'static [&'static str],
}

/// The catalogue of broken bottles: every named sabotage but `slow-fixtures`, which breaks no
/// containment (it slows the fixtures down; `tests/escape.rs::slow_paths` checks what a
/// too-short timeout then reads).
pub const CASES: &[Case] = &[
    Case {
        sabotage: sabotage::AGENT_ON_UPSTREAM,
        must_escape: &[
            "public.direct_http",
            "public.direct_https",
            "dns.direct_udp",
            "dns.direct_tcp",
            "dns.resolver_exfil",
            "dns.resolver_exfil_tcp",
            "inbound.agent_listener",
        ],
    },
    Case {
        sabotage: sabotage::NO_HOST_BLOCK,
        must_escape: &[
            "localhost.host_addresses",
            "lan.network_gateways",
            "inbound.agent_listener",
        ],
    },
    Case {
        sabotage: sabotage::EGRESS_ALL_INTERFACES,
        must_escape: &["egress_bypass.direct_egress", "egress_bypass.port_sweep"],
    },
    Case {
        sabotage: sabotage::EXTRA_LISTENER,
        must_escape: &["egress_bypass.port_sweep"],
    },
    Case {
        sabotage: sabotage::PIPELOCK_ALLOW_ALL,
        must_escape: &[
            "proxy.denied_host",
            "proxy.denied_connect",
            "proxy.connect_ip_literal",
            "proxy.loopback_spellings",
            // It resolves what it forwards: the DNS canary sees the nonce names (measured).
            "proxy.dns_side_channel",
            "metadata.via_proxy",
        ],
    },
    Case {
        sabotage: sabotage::PIPELOCK_ALLOW_IP_LITERALS,
        must_escape: &[
            "proxy.connect_ip_literal",
            "proxy.loopback_spellings",
            // Its unused literal is forwarded: egress records the request's nonce (measured).
            "proxy.dns_side_channel",
            "metadata.via_proxy",
        ],
    },
    Case {
        sabotage: sabotage::PIPELOCK_MATCH_SUFFIX,
        must_escape: &["proxy_matching.lookalike_names"],
    },
    Case {
        sabotage: sabotage::PIPELOCK_MATCH_SUBSTRING,
        must_escape: &["proxy_matching.lookalike_names"],
    },
    Case {
        sabotage: sabotage::PIPELOCK_USERINFO_AS_HOST,
        must_escape: &["proxy_matching.userinfo"],
    },
    Case {
        sabotage: sabotage::PIPELOCK_ROUTE_BY_HOST_HEADER,
        must_escape: &["proxy_matching.host_header"],
    },
    Case {
        sabotage: sabotage::PIPELOCK_NO_SNI_CHECK,
        must_escape: &["proxy_matching.sni_fronting"],
    },
    Case {
        sabotage: sabotage::PIPELOCK_NO_SSRF_CHECK,
        must_escape: &["proxy_matching.internal_name"],
    },
    Case {
        sabotage: sabotage::PIPELOCK_NO_PINNING,
        must_escape: &["proxy_matching.dns_rebinding"],
    },
    Case {
        sabotage: sabotage::RESOLVER_FORWARDS,
        // The forwarder relays UDP only, so the TCP variant stays contained.
        must_escape: &["dns.resolver_exfil"],
    },
    Case {
        sabotage: sabotage::IP_FORWARD,
        must_escape: &[
            "public.direct_http",
            "public.direct_https",
            "dns.direct_udp",
            "dns.direct_tcp",
            "icmp.echo",
            "udp.echo",
            "metadata.direct",
        ],
    },
    Case {
        sabotage: sabotage::IPV6_HOST,
        must_escape: &[
            "ipv6.host_addresses",
            "ipv6.link_local",
            "ipv6.public_host",
            "inbound.agent_listener",
        ],
    },
    Case {
        sabotage: sabotage::NEIGHBOUR_REACHABLE,
        must_escape: &[
            "cross_bottle.neighbour_bundle",
            "icmp.echo",
            "udp.echo",
            "inbound.agent_listener",
        ],
    },
    Case {
        sabotage: sabotage::ENGINE_SOCKET,
        must_escape: &["localhost.host_sockets"],
    },
    // The microVM cases: each must_escape list as measured in the KVM lab (every escape
    // there was a target's record of the attempt's nonce).
    Case {
        sabotage: sabotage::VMM_ALLOW_SUBNET,
        must_escape: &[
            "localhost.host_addresses",
            "lan.network_gateways",
            "icmp.echo",
        ],
    },
    Case {
        sabotage: sabotage::VMM_ALLOW_ALL,
        must_escape: &[
            // 0.0.0.0/0 is a static allow that covers 127/8: smolvm then dials this
            // machine's loopback behind its gateway.
            "localhost.agent_loopback",
            "localhost.host_addresses",
            "lan.fixture_host",
            "lan.network_gateways",
            "public.direct_http",
            "public.direct_https",
            "icmp.echo",
            "udp.echo",
        ],
    },
    Case {
        sabotage: sabotage::VMM_NO_POLICY,
        must_escape: &[
            "localhost.agent_loopback",
            "localhost.host_addresses",
            "lan.fixture_host",
            "lan.network_gateways",
            "public.direct_http",
            "public.direct_https",
            "dns.direct_udp",
            "dns.direct_tcp",
            "dns.resolver_exfil",
            "dns.resolver_exfil_tcp",
            "icmp.echo",
            "udp.echo",
        ],
    },
    Case {
        sabotage: sabotage::VMM_ALLOW_HOST_GATEWAY,
        must_escape: &["localhost.agent_loopback", "localhost.host_addresses"],
    },
    Case {
        sabotage: sabotage::VMM_NO_DNS_FILTER,
        must_escape: &[
            "dns.direct_udp",
            "dns.direct_tcp",
            "dns.resolver_exfil",
            "dns.resolver_exfil_tcp",
        ],
    },
];

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub sabotage: String,
    pub breaks: String,
    pub caught: bool,
    /// Probes that escaped.
    pub escaped: Vec<String>,
    /// Probes that had to escape and did not (with their verdict).
    pub missed: Vec<String>,
    /// Probes that were neither pass nor escape.
    pub inconclusive: Vec<String>,
    /// Probes that reached a destination the bottle declares as a known gap (as on the clean
    /// bottle; never required to escape, see [`not_shown_on_clean`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub known_gaps: Vec<String>,
    /// Why the case did not run: it acts through the built-in bundle and the bundle is the
    /// user's (see `sabotage::check_bundle`). Shown, never counted as caught.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// How long the broken bottle's run took, up to teardown (0 for a skipped case): a whole
    /// matrix on a microVM under emulation takes about 24 minutes, and these say where it went.
    pub took_ms: u64,
}

impl Row {
    /// The row of a case that ran on `report`: caught when every required probe escaped and
    /// the run's exit code says escape. Apart from `run`, which only decides what runs.
    fn ran(case: &Case, report: &Report, engine_here: bool, skipped_clean: &[&str]) -> Self {
        let verdict_of = |id: &str| {
            report
                .results
                .iter()
                .find(|r| r.id == id)
                .map(|r| r.verdict)
        };
        let ids_with = |verdict: Verdict| -> Vec<String> {
            report
                .results
                .iter()
                .filter(|r| r.verdict == verdict)
                .map(|r| r.id.clone())
                .collect()
        };
        let missed: Vec<String> = case
            .must_escape
            .iter()
            .filter(|id| required(case, id, engine_here, skipped_clean))
            .filter(|id| verdict_of(id) != Some(Verdict::Escape))
            .map(|id| {
                format!(
                    "{id} ({})",
                    verdict_of(id).map(Verdict::as_str).unwrap_or("absent")
                )
            })
            .collect();
        Row {
            sabotage: case.sabotage.name.to_string(),
            breaks: case.sabotage.description.to_string(),
            caught: missed.is_empty() && report.exit_code() == crate::errors::exit::ESCAPE,
            escaped: ids_with(Verdict::Escape),
            missed,
            inconclusive: report
                .results
                .iter()
                .filter(|r| {
                    !matches!(
                        r.verdict,
                        Verdict::Pass | Verdict::Escape | Verdict::Skipped | Verdict::KnownGap
                    )
                })
                .map(|r| format!("{} ({})", r.id, r.verdict.as_str()))
                .collect(),
            known_gaps: ids_with(Verdict::KnownGap),
            skipped: None,
            took_ms: report.timings.total_ms,
        }
    }

    fn skipped(case: &Case, why: String) -> Self {
        Self {
            sabotage: case.sabotage.name.to_string(),
            breaks: case.sabotage.description.to_string(),
            caught: false,
            escaped: vec![],
            missed: vec![],
            inconclusive: vec![],
            known_gaps: vec![],
            skipped: Some(why),
            took_ms: 0,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SelfTest {
    pub backend: String,
    pub clean_passed: bool,
    pub clean_detail: Vec<String>,
    /// How long the clean bottle's run took, up to teardown.
    pub clean_took_ms: u64,
    pub rows: Vec<Row>,
}

impl SelfTest {
    /// The clean bottle held and every case that ran was caught (with a user bundle, the cases
    /// of the built-in bundle are skipped and listed as such).
    pub fn ok(&self) -> bool {
        self.clean_passed && self.rows.iter().all(|r| r.caught || r.skipped.is_some())
    }

    pub fn table(&self) -> String {
        let mut out = format!("selftest on {}: kill matrix\n", self.backend);
        let _ = writeln!(
            out,
            "{}",
            clean_line(self.clean_passed, &self.clean_detail, self.clean_took_ms)
        );
        let width = row_width(&self.rows);
        for row in &self.rows {
            let _ = writeln!(out, "{}", row.line(width));
        }
        let caught = self.rows.iter().filter(|r| r.caught).count();
        let ran = self.rows.iter().filter(|r| r.skipped.is_none()).count();
        let _ = writeln!(out, "{caught}/{ran} sabotages caught");
        let skipped = self.rows.len() - ran;
        if skipped > 0 {
            let _ = writeln!(
                out,
                "{skipped} skipped, each with its reason above (never counted as caught)"
            );
        }
        out
    }
}

/// The width of the sabotage column: the longest name of the catalogue, so that lines shown
/// as the cases finish line up with the table at the end.
fn row_width(rows: &[Row]) -> usize {
    CASES
        .iter()
        .map(|c| c.sabotage.name.len())
        .chain(rows.iter().map(|r| r.sabotage.len()))
        .max()
        .unwrap_or(8)
}

/// The clean bottle's line of the matrix.
fn clean_line(passed: bool, detail: &[String], took_ms: u64) -> String {
    format!(
        "clean bottle: {}{} ({})",
        if passed { "contained" } else { "NOT CONTAINED" },
        if detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", detail.join("; "))
        },
        seconds(took_ms)
    )
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

impl Row {
    /// The row's line of the matrix.
    pub fn line(&self, width: usize) -> String {
        if let Some(why) = &self.skipped {
            return format!("{:<width$}  SKIPPED  {why}", self.sabotage);
        }
        format!(
            "{:<width$}  {}  escaped: {}{}{}{} ({})",
            self.sabotage,
            if self.caught { "CAUGHT" } else { "MISSED" },
            if self.escaped.is_empty() {
                "-".to_string()
            } else {
                self.escaped.join(", ")
            },
            if self.missed.is_empty() {
                String::new()
            } else {
                format!("; missed: {}", self.missed.join(", "))
            },
            if self.inconclusive.is_empty() {
                String::new()
            } else {
                format!("; inconclusive: {}", self.inconclusive.join(", "))
            },
            if self.known_gaps.is_empty() {
                String::new()
            } else {
                format!("; declared gaps: {}", self.known_gaps.join(", "))
            },
            seconds(self.took_ms),
        )
    }
}

/// The cases named in `names` (all of them when `names` is empty), in the catalogue's order; an
/// unknown name, or a sabotage that is not a case (`slow-fixtures`), is refused naming it.
pub fn chosen_cases(names: &[String]) -> Result<Vec<&'static Case>, HarnessError> {
    if let Some(unknown) = names
        .iter()
        .find(|name| !CASES.iter().any(|c| c.sabotage.name == name.as_str()))
    {
        return Err(HarnessError::ConfigInvalid {
            path: std::path::PathBuf::from("--case"),
            reason: format!(
                "{unknown:?} is not a selftest case; the cases: {}",
                CASES
                    .iter()
                    .map(|c| c.sabotage.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(CASES
        .iter()
        .filter(|c| names.is_empty() || names.iter().any(|n| n == c.sabotage.name))
        .collect())
}

/// Why `case` cannot run on this bottle: it acts through the built-in bundle and the bundle is
/// the user's (`run --sabotage` refuses it there, see `sabotage::check_bundle`).
fn bundle_only(case: &Case, options: &RunOptions) -> Option<String> {
    options.config.bundle.image.as_ref()?;
    let (_, reason) = sabotage::needing_builtin_bundle(&case.sabotage.sabotage())?;
    Some(format!("acts through the built-in bundle: {reason}"))
}

/// Why `case` cannot break this backend's bottle, when it breaks only another kind of agent
/// (`run --sabotage` refuses it there, see `sabotage::check_agent`).
fn other_agent(case: &Case, backend: &str) -> Option<String> {
    let (kind, reason) = case
        .sabotage
        .only_for
        .filter(|(kind, _)| *kind != sabotage::AgentKind::of_backend(backend))?;
    Some(format!(
        "breaks only {}: {reason}",
        match kind {
            sabotage::AgentKind::Container => "a container agent",
            sabotage::AgentKind::MicroVm => "a microVM agent",
        }
    ))
}

/// Must-escape probes that see a sabotage only through this machine itself (its dialer into
/// the agent network, by sabotage name): where the engine runs elsewhere (Docker Desktop) this
/// machine cannot reach the bridges at all, so a correct bottle and the broken one look the
/// same from here, and the probe is not required to escape there.
const THIS_MACHINE_ONLY: &[(&str, &str)] = &[("no-host-block", "inbound.agent_listener")];

/// Whether `id` is required to escape on `case` (see [`THIS_MACHINE_ONLY`]; a probe the clean
/// bottle skips is never required).
fn required(case: &Case, id: &str, engine_here: bool, skipped_clean: &[&str]) -> bool {
    let this_machine_only = THIS_MACHINE_ONLY
        .iter()
        .any(|(name, probe)| *name == case.sabotage.name && *probe == id);
    !skipped_clean.contains(&id) && (engine_here || !this_machine_only)
}

/// Why `case` breaks nothing this bottle's agent can reach, when its agent reaches the bundle
/// only through the ports published on the host's loopback (`published_via`, smolvm's desktop
/// mode) and the sabotage opens a port only on the bundle's own address.
fn unseen_through_published(
    case: &Case,
    published_via: Option<std::net::Ipv4Addr>,
) -> Option<String> {
    let via = published_via?;
    let reason = case.sabotage.needs_bundle_address?;
    Some(format!(
        "the agent reaches the bundle only through the ports published on the host's loopback (at {via}): {reason}"
    ))
}

/// Why `case` cannot run where the engine is not on this machine, if it cannot.
fn needs_local_engine(case: &Case, engine_here: bool) -> Option<String> {
    let reason = case.sabotage.needs_local_engine.filter(|_| !engine_here)?;
    Some(format!("needs the engine on this machine: {reason}"))
}

/// The probes of the clean bottle that cannot show a sabotage: skipped there, or a declared gap.
fn not_shown_on_clean(results: &[crate::verdict::ProbeResult]) -> Vec<&str> {
    results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Skipped | Verdict::KnownGap))
        .map(|r| r.id.as_str())
        .collect()
}

/// Why `case` shows nothing on this bottle, when every probe that would show it is skipped
/// (or a declared gap) on the clean bottle.
fn nothing_to_show(case: &Case, skipped_clean: &[&str]) -> Option<String> {
    case.must_escape
        .iter()
        .all(|id| skipped_clean.contains(id))
        .then(|| {
            format!(
                "every probe that shows it is skipped or a declared gap on this bottle: {}",
                case.must_escape.join(", ")
            )
        })
}

/// The probes a broken bottle runs: those that must show its sabotage (their controls come
/// with them, `plan::build`). Whether a case is caught depends on these alone, and the other
/// probes were already judged on the clean bottle; on a microVM, where one whole run takes
/// minutes (the port sweep alone about four under emulation), this is what makes the matrix
/// affordable.
fn case_probes(case: &Case) -> Vec<String> {
    case.must_escape.iter().map(|id| id.to_string()).collect()
}

/// Runs the clean bottle and then `cases` (see [`chosen_cases`]), handing each line of the
/// matrix to `show` as soon as it is known: a whole matrix on a microVM under emulation runs for
/// about 24 minutes, and a caller that stops it early still has what finished.
pub async fn run(
    base: &RunOptions,
    cases: &[&'static Case],
    mut show: impl FnMut(&str),
) -> Result<SelfTest, HarnessError> {
    let mut options = base.clone();
    options.detach_teardown = false;
    options.keep = false;
    options.only = None;
    let clean = run::run(&options).await?;
    let clean_detail: Vec<String> = clean
        .results
        .iter()
        .filter(|r| !r.verdict.held())
        .map(|r| format!("{} {}", r.id, r.verdict.as_str()))
        .collect();
    let clean_passed = clean.exit_code() == crate::errors::exit::OK;
    let clean_took_ms = clean.timings.total_ms;
    show(&clean_line(clean_passed, &clean_detail, clean_took_ms));
    let mut rows = Vec::new();
    let engine_here = clean
        .topology
        .as_ref()
        .is_none_or(|t| t.layout().engine_host.routes_to_bridges());
    // A probe the clean bottle skips (by design there, with its reason), or whose escape is a
    // declared gap there (smolvm's desktop mode opens the host's loopback), cannot be required
    // to escape on the broken one: it shows nothing a correct bottle does not.
    let skipped_clean = not_shown_on_clean(&clean.results);
    let published_via = clean
        .topology
        .as_ref()
        .and_then(|t| t.agent().bundle_published.as_ref())
        .map(|published| published.via);
    let width = row_width(&[]);
    for case in cases {
        let row = match bundle_only(case, &options)
            .or_else(|| other_agent(case, base.backend.as_str()))
            .or_else(|| needs_local_engine(case, engine_here))
            .or_else(|| unseen_through_published(case, published_via))
            .or_else(|| nothing_to_show(case, &skipped_clean))
        {
            Some(why) => Row::skipped(case, why),
            None => {
                let mut broken = options.clone();
                broken.sabotage = case.sabotage.sabotage();
                broken.only = Some(case_probes(case));
                let report = run::run(&broken).await?;
                Row::ran(case, &report, engine_here, &skipped_clean)
            }
        };
        show(&row.line(width));
        rows.push(row);
    }
    Ok(SelfTest {
        backend: base.backend.as_str().to_string(),
        clean_passed,
        clean_detail,
        clean_took_ms,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sabotage_but_the_slow_fixtures_is_a_case_once() {
        let mut names: Vec<&str> = CASES.iter().map(|c| c.sabotage.name).collect();
        names.push(sabotage::SLOW_FIXTURES.name);
        let table: Vec<&str> = sabotage::TABLE.iter().map(|n| n.name).collect();
        assert_eq!(names, table);
        assert!(CASES.iter().all(|c| !c.must_escape.is_empty()));
    }

    /// A broken bottle runs exactly its must-escape probes, each a probe of the catalogue (a
    /// misspelt id would narrow the run to nothing and the case could never be caught).
    #[test]
    fn a_case_runs_the_probes_that_must_show_it() {
        use bottle_probes::catalogue::CATALOGUE;
        for case in CASES {
            let probes = case_probes(case);
            assert_eq!(probes, case.must_escape, "{}", case.sabotage.name);
            for id in &probes {
                assert!(
                    CATALOGUE.iter().any(|p| p.id == id),
                    "{}: {id} is no probe",
                    case.sabotage.name
                );
            }
        }
    }

    /// Where the engine runs elsewhere, the probes that only this machine's own dialer makes
    /// escape are not required, and neither is a probe the clean bottle skipped; everywhere
    /// else every must-escape probe is.
    #[test]
    fn what_a_case_must_show_depends_on_where_the_engine_runs() {
        let no_host_block = CASES
            .iter()
            .find(|c| c.sabotage.name == "no-host-block")
            .unwrap();
        assert!(required(no_host_block, "inbound.agent_listener", true, &[]));
        assert!(!required(
            no_host_block,
            "inbound.agent_listener",
            false,
            &[]
        ));
        assert!(required(
            no_host_block,
            "localhost.host_addresses",
            false,
            &[]
        ));
        assert!(!required(
            no_host_block,
            "lan.network_gateways",
            true,
            &["lan.network_gateways"]
        ));
        let upstream = CASES
            .iter()
            .find(|c| c.sabotage.name == "agent-on-upstream")
            .unwrap();
        assert!(required(upstream, "inbound.agent_listener", false, &[]));
        for (name, probe) in THIS_MACHINE_ONLY {
            let case = CASES.iter().find(|c| c.sabotage.name == *name).unwrap();
            assert!(case.must_escape.contains(probe), "{name}: {probe}");
        }
        // Only the sabotages set up from this machine are skipped on an engine elsewhere.
        let local_only: Vec<&str> = CASES
            .iter()
            .filter(|c| needs_local_engine(c, false).is_some())
            .map(|c| c.sabotage.name)
            .collect();
        assert_eq!(local_only, ["ip-forward", "ipv6-host"]);
        assert!(CASES.iter().all(|c| needs_local_engine(c, true).is_none()));
        let everything: Vec<&str> = no_host_block.must_escape.to_vec();
        assert!(nothing_to_show(no_host_block, &everything).is_some());
        assert!(nothing_to_show(no_host_block, &["lan.network_gateways"]).is_none());
    }

    #[test]
    fn skipped_cases_are_shown_and_not_counted_as_caught() {
        let caught = Row {
            caught: true,
            ..Row::skipped(&CASES[0], String::new())
        };
        let caught = Row {
            skipped: None,
            ..caught
        };
        let pipelock = CASES
            .iter()
            .find(|c| c.sabotage.name == "pipelock-allow-all")
            .unwrap();
        let mut options = RunOptions::new(crate::select::BackendKind::Docker, Default::default());
        assert_eq!(bundle_only(pipelock, &options), None);
        options.config.bundle.image = Some("me/squid:1".into());
        assert_eq!(bundle_only(&CASES[0], &options), None);
        let why = bundle_only(pipelock, &options).unwrap();
        let result = SelfTest {
            backend: "docker".into(),
            clean_passed: true,
            clean_detail: vec![],
            clean_took_ms: 301_200,
            rows: vec![caught, Row::skipped(pipelock, why)],
        };
        assert!(result.ok());
        let table = result.table();
        assert!(table.contains("pipelock-allow-all"), "{table}");
        assert!(
            table.contains("SKIPPED  acts through the built-in bundle: it changes"),
            "{table}"
        );
        assert!(table.contains("1/1 sabotages caught\n1 skipped"), "{table}");
        assert!(
            table.contains("clean bottle: contained (301.2 s)"),
            "{table}"
        );
        let missed = SelfTest {
            rows: vec![Row::skipped(&CASES[0], String::new())]
                .into_iter()
                .map(|r| Row { skipped: None, ..r })
                .collect(),
            ..result
        };
        assert!(!missed.ok());
    }

    /// smolvm's desktop mode: the agent reaches the bundle only through its published ports, so
    /// a sabotage that opens a port only on the bundle's own address breaks nothing it can reach
    /// (measured in the lab: both cases "missed" with every probe held) and is skipped there,
    /// with the reason; wherever the agent dials the bundle's own address it runs.
    #[test]
    fn a_bundle_address_sabotage_is_skipped_behind_published_ports() {
        let via = Some(std::net::Ipv4Addr::new(100, 96, 0, 1));
        let unseen: Vec<&str> = CASES
            .iter()
            .filter(|c| unseen_through_published(c, via).is_some())
            .map(|c| c.sabotage.name)
            .collect();
        assert_eq!(unseen, ["egress-all-interfaces", "extra-listener"]);
        let why = unseen_through_published(&CASES[2], via).unwrap();
        assert!(
            why.contains("published on the host's loopback (at 100.96.0.1)"),
            "{why}"
        );
        assert!(CASES
            .iter()
            .all(|c| unseen_through_published(c, None).is_none()));
    }

    /// `--case` narrows the matrix to named cases, in the catalogue's order; a name that is not
    /// a case (a typo, or `slow-fixtures`, which breaks no containment) is refused naming it.
    #[test]
    fn cases_are_chosen_by_name() {
        assert_eq!(chosen_cases(&[]).unwrap().len(), CASES.len());
        let names = |cases: Vec<&Case>| cases.iter().map(|c| c.sabotage.name).collect::<Vec<_>>();
        let chosen = chosen_cases(&["vmm-allow-all".into(), "no-host-block".into()]).unwrap();
        assert_eq!(names(chosen), ["no-host-block", "vmm-allow-all"]);
        for bad in ["vmm-allow-al", "slow-fixtures"] {
            let error = chosen_cases(&[bad.to_string()]).err().unwrap().to_string();
            assert!(
                error.contains(&format!("{bad:?} is not a selftest case")),
                "{error}"
            );
            assert!(error.contains("vmm-no-dns-filter"), "{error}");
        }
    }

    /// smolvm's desktop mode: the localhost probes are declared gaps on the clean bottle, so the
    /// case that opens only the host's loopback shows nothing there and is skipped, never
    /// counted as missed; a case with other probes still needs those.
    #[test]
    fn a_declared_gap_on_the_clean_bottle_shows_no_sabotage() {
        let result = |id: &str, verdict| crate::verdict::ProbeResult {
            id: id.into(),
            family: String::new(),
            expect: "deny".into(),
            observed: String::new(),
            verdict,
            elapsed_ms: 0,
            detail: String::new(),
            attempts: vec![],
        };
        let clean = [
            result("localhost.agent_loopback", Verdict::KnownGap),
            result("localhost.host_addresses", Verdict::KnownGap),
            result("metadata.direct", Verdict::Skipped),
            result("lan.fixture_host", Verdict::Pass),
        ];
        let not_shown = not_shown_on_clean(&clean);
        assert_eq!(
            not_shown,
            [
                "localhost.agent_loopback",
                "localhost.host_addresses",
                "metadata.direct"
            ]
        );
        let gateway = CASES
            .iter()
            .find(|c| c.sabotage.name == "vmm-allow-host-gateway")
            .unwrap();
        assert!(nothing_to_show(gateway, &not_shown).is_some());
        let all = CASES
            .iter()
            .find(|c| c.sabotage.name == "vmm-allow-all")
            .unwrap();
        assert_eq!(nothing_to_show(all, &not_shown), None);
        assert!(!required(all, "localhost.host_addresses", true, &not_shown));
        assert!(required(all, "lan.fixture_host", true, &not_shown));
        // On the broken bottle a declared gap is listed as such, neither inconclusive nor
        // required: only the probes the clean bottle held decide the row.
        let broken = Report::new(
            "smolmachines",
            "test",
            "r1",
            vec![
                result("localhost.agent_loopback", Verdict::KnownGap),
                result("localhost.host_addresses", Verdict::Escape),
                result("lan.fixture_host", Verdict::Escape),
                result("proxy.allowed_http", Verdict::Inconclusive),
            ],
        );
        let row = Row::ran(all, &broken, true, &not_shown);
        assert_eq!(row.known_gaps, ["localhost.agent_loopback"]);
        assert_eq!(row.inconclusive, ["proxy.allowed_http (inconclusive)"]);
        assert!(
            row.missed.iter().all(|m| !m.starts_with("localhost.")),
            "{:?}",
            row.missed
        );
        let line = row.line(24);
        assert!(
            line.contains("; declared gaps: localhost.agent_loopback"),
            "{line}"
        );
    }
}
