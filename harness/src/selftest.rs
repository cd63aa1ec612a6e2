//! `bottle-escape selftest`: proof that a green run means something. A clean bottle must pass,
//! and each deliberately broken bottle (one documented change to a correct one) must turn the
//! probes that guard against that breakage into `escape`. The result is a kill matrix.

use std::fmt::Write as _;

use bottle_backends::Sabotage;
use serde::Serialize;

use crate::errors::HarnessError;
use crate::run::{self, RunOptions};
use crate::verdict::Verdict;

/// One broken bottle and the probes that must catch it.
pub struct Case {
    pub name: &'static str,
    pub breaks: &'static str,
    pub sabotage: fn() -> Sabotage,
    pub must_escape: &'static [&'static str],
}

/// The catalogue of broken bottles.
pub const CASES: &[Case] = &[
    Case {
        name: "agent-on-upstream",
        breaks: "the agent is also attached to the upstream network",
        sabotage: || Sabotage {
            agent_on_upstream: true,
            ..Sabotage::default()
        },
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
        name: "no-host-block",
        breaks: "the agent network's bridge keeps its host address",
        sabotage: || Sabotage {
            no_host_block: true,
            ..Sabotage::default()
        },
        must_escape: &[
            "localhost.host_addresses",
            "lan.network_gateways",
            "inbound.agent_listener",
        ],
    },
    Case {
        name: "egress-all-interfaces",
        breaks: "egress listens on 0.0.0.0 instead of the bundle's loopback",
        sabotage: || Sabotage {
            egress_all_interfaces: true,
            ..Sabotage::default()
        },
        must_escape: &["egress_bypass.direct_egress", "egress_bypass.port_sweep"],
    },
    Case {
        name: "extra-listener",
        breaks: "the bundle opens an undeclared listener",
        sabotage: || Sabotage {
            extra_bundle_listener: Some(2375),
            ..Sabotage::default()
        },
        must_escape: &["egress_bypass.port_sweep"],
    },
    Case {
        name: "pipelock-allow-all",
        breaks: "pipelock lets every host through",
        sabotage: || Sabotage {
            pipelock_allow_all: true,
            ..Sabotage::default()
        },
        must_escape: &[
            "proxy.denied_host",
            "proxy.denied_connect",
            "proxy.connect_ip_literal",
            "proxy.loopback_spellings",
            "metadata.via_proxy",
        ],
    },
    Case {
        name: "pipelock-allow-ip-literals",
        breaks: "pipelock lets CONNECT to IP literals through",
        sabotage: || Sabotage {
            pipelock_allow_ip_literals: true,
            ..Sabotage::default()
        },
        must_escape: &[
            "proxy.connect_ip_literal",
            "proxy.loopback_spellings",
            "metadata.via_proxy",
        ],
    },
    Case {
        name: "resolver-forwards",
        breaks: "the bundle runs a DNS forwarder to the outside and the agent resolves through it",
        sabotage: || Sabotage {
            resolver_forwards: true,
            ..Sabotage::default()
        },
        // The forwarder relays UDP only, so the TCP variant stays contained.
        must_escape: &["dns.resolver_exfil"],
    },
    Case {
        name: "ip-forward",
        breaks: "IP forwarding on in the dual-homed bundle, the agent routed through it",
        sabotage: || Sabotage {
            ip_forward: true,
            ..Sabotage::default()
        },
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
        name: "ipv6-host",
        breaks: "the agent network gets IPv6, so the host is reachable over it",
        sabotage: || Sabotage {
            ipv6_host: true,
            ..Sabotage::default()
        },
        must_escape: &[
            "ipv6.host_addresses",
            "ipv6.link_local",
            "ipv6.public_host",
            "inbound.agent_listener",
        ],
    },
    Case {
        name: "neighbour-reachable",
        breaks: "the agent is also attached to a second bottle's agent network",
        sabotage: || Sabotage {
            neighbour_reachable: true,
            ..Sabotage::default()
        },
        must_escape: &[
            "cross_bottle.neighbour_bundle",
            "icmp.echo",
            "udp.echo",
            "inbound.agent_listener",
        ],
    },
    Case {
        name: "engine-socket",
        breaks: "the engine's unix socket is bind-mounted into the agent",
        sabotage: || Sabotage {
            engine_socket: true,
            ..Sabotage::default()
        },
        must_escape: &["localhost.host_sockets"],
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
}

#[derive(Clone, Debug, Serialize)]
pub struct SelfTest {
    pub backend: String,
    pub clean_passed: bool,
    pub clean_detail: Vec<String>,
    pub rows: Vec<Row>,
}

impl SelfTest {
    pub fn ok(&self) -> bool {
        self.clean_passed && self.rows.iter().all(|r| r.caught)
    }

    pub fn table(&self) -> String {
        let mut out = format!("selftest on {}: kill matrix\n", self.backend);
        let _ = writeln!(
            out,
            "clean bottle: {}{}",
            if self.clean_passed {
                "contained"
            } else {
                "NOT CONTAINED"
            },
            if self.clean_detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.clean_detail.join("; "))
            }
        );
        let width = self
            .rows
            .iter()
            .map(|r| r.sabotage.len())
            .max()
            .unwrap_or(8);
        for row in &self.rows {
            let _ = writeln!(
                out,
                "{:<width$}  {}  escaped: {}{}{}",
                row.sabotage,
                if row.caught { "CAUGHT" } else { "MISSED" },
                if row.escaped.is_empty() {
                    "-".to_string()
                } else {
                    row.escaped.join(", ")
                },
                if row.missed.is_empty() {
                    String::new()
                } else {
                    format!("; missed: {}", row.missed.join(", "))
                },
                if row.inconclusive.is_empty() {
                    String::new()
                } else {
                    format!("; inconclusive: {}", row.inconclusive.join(", "))
                },
            );
        }
        let caught = self.rows.iter().filter(|r| r.caught).count();
        let _ = writeln!(out, "{caught}/{} sabotages caught", self.rows.len());
        out
    }
}

/// Runs the clean bottle and every case.
pub async fn run(base: &RunOptions) -> Result<SelfTest, HarnessError> {
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
    let mut rows = Vec::new();
    for case in CASES {
        if base.progress {
            eprintln!("selftest: {}", case.name);
        }
        let mut broken = options.clone();
        broken.sabotage = (case.sabotage)();
        let report = run::run(&broken).await?;
        let verdict_of = |id: &str| {
            report
                .results
                .iter()
                .find(|r| r.id == id)
                .map(|r| r.verdict)
        };
        let missed: Vec<String> = case
            .must_escape
            .iter()
            .filter(|id| verdict_of(id) != Some(Verdict::Escape))
            .map(|id| {
                format!(
                    "{id} ({})",
                    verdict_of(id).map(Verdict::as_str).unwrap_or("absent")
                )
            })
            .collect();
        rows.push(Row {
            sabotage: case.name.to_string(),
            breaks: case.breaks.to_string(),
            caught: missed.is_empty() && report.exit_code() == crate::errors::exit::ESCAPE,
            escaped: report
                .results
                .iter()
                .filter(|r| r.verdict == Verdict::Escape)
                .map(|r| r.id.clone())
                .collect(),
            missed,
            inconclusive: report
                .results
                .iter()
                .filter(|r| !matches!(r.verdict, Verdict::Pass | Verdict::Escape))
                .map(|r| format!("{} ({})", r.id, r.verdict.as_str()))
                .collect(),
        });
    }
    Ok(SelfTest {
        backend: base.backend.as_str().to_string(),
        clean_passed: clean.exit_code() == crate::errors::exit::OK,
        clean_detail,
        rows,
    })
}
