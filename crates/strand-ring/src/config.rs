//! The ring's config section, embedded by each role that uses a ring (Tempo's
//! `ingester.lifecycler.ring`, `compactor.ring`…).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use strand_common::Duration;

/// Marks a member entry whose name is resolved rather than used as the member's ID.
const DNS_PREFIX: &str = "dns+";

/// How a ring finds its members and decides they are alive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RingConfig {
    /// Copies of each trace (Tempo's `ingester.lifecycler.ring.replication_factor`).
    pub replication_factor: usize,
    /// The members. `host:port` is one member whose ID is that text; a StatefulSet pod's DNS
    /// name is stable across restarts and so keeps its tokens. `dns+host:port` is resolved
    /// (e.g. a Kubernetes headless service) and each address found is one member, its ID the
    /// `ip:port` text. Strand has no gossip: this list is the membership.
    pub members: Vec<String>,
    /// Tokens each member owns; more tokens spread keys more evenly.
    pub tokens_per_member: u32,
    /// How often every member's health is probed.
    pub health_check_period: Duration,
    /// A probe that takes longer than this counts as a failure.
    pub health_check_timeout: Duration,
    /// Probes in a row that must fail before a member leaves the ring. A call to the member
    /// that fails (connection refused, deadline) takes it out at once, so a dead member is
    /// skipped within one request; this only keeps a busy member's slow answer from doing so.
    pub health_check_failures: u32,
    /// How often `dns+` entries are resolved again. Entries that found nothing last time are
    /// retried on every health check, so a ring that starts before its pods fills up quickly.
    pub discovery_period: Duration,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            replication_factor: 1,
            members: Vec::new(),
            tokens_per_member: 128,
            health_check_period: Duration::secs(1),
            health_check_timeout: Duration::secs(1),
            health_check_failures: 3,
            discovery_period: Duration::secs(10),
        }
    }
}

impl RingConfig {
    /// Rejects settings that cannot work. `section` is where the config sits in the file
    /// (e.g. `ingester.lifecycler.ring`), so messages point at the key to fix.
    pub fn validate(&self, section: &str) -> Result<(), String> {
        if self.replication_factor == 0 {
            return Err(format!("{section}.replication_factor must be at least 1"));
        }
        if self.tokens_per_member == 0 {
            return Err(format!("{section}.tokens_per_member must be at least 1"));
        }
        if self.health_check_period.get().is_zero() {
            return Err(format!("{section}.health_check_period must be above 0"));
        }
        if self.health_check_failures == 0 {
            return Err(format!("{section}.health_check_failures must be at least 1"));
        }
        if self.health_check_timeout.get().is_zero() {
            return Err(format!("{section}.health_check_timeout must be above 0"));
        }
        let mut seen = HashSet::new();
        for (i, entry) in self.members.iter().enumerate() {
            MemberEntry::parse(entry).map_err(|e| format!("{section}.members[{i}]: {e}"))?;
            if !seen.insert(entry.as_str()) {
                return Err(format!("{section}.members[{i}]: {entry:?} is listed twice"));
            }
        }
        Ok(())
    }
}

/// One entry of [`RingConfig::members`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MemberEntry<'a> {
    /// `host:port`, used as is.
    Static(&'a str),
    /// `dns+host:port`: the `host:port` to resolve.
    Dns(&'a str),
}

impl<'a> MemberEntry<'a> {
    pub(crate) fn parse(entry: &'a str) -> Result<MemberEntry<'a>, String> {
        match entry.strip_prefix(DNS_PREFIX) {
            Some(address) => check_address(address).map(|()| MemberEntry::Dns(address)),
            None => check_address(entry).map(|()| MemberEntry::Static(entry)),
        }
    }
}

fn check_address(address: &str) -> Result<(), String> {
    if address.is_empty() {
        return Err("empty address: expected host:port or dns+host:port".into());
    }
    if address.chars().any(char::is_whitespace) {
        return Err(format!("{address:?} contains whitespace: expected host:port"));
    }
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(format!("{address:?} has no port: expected host:port, e.g. {address}:9095"));
    };
    if host.is_empty() {
        return Err(format!("{address:?} has no host: expected host:port"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!("{address:?}: write IPv6 addresses in brackets, e.g. [::1]:9095"));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{address:?} has an invalid port {port:?}: expected 1 to 65535")),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTION: &str = "ingester.lifecycler.ring";

    fn with_members(members: &[&str]) -> RingConfig {
        RingConfig { members: members.iter().map(|m| m.to_string()).collect(), ..RingConfig::default() }
    }

    #[test]
    fn defaults_are_a_single_copy_and_valid() {
        let config = RingConfig::default();
        assert_eq!(config.replication_factor, 1);
        assert!(config.members.is_empty());
        assert_eq!(config.tokens_per_member, 128);
        assert_eq!(config.health_check_period, Duration::secs(1));
        assert_eq!(config.health_check_timeout, Duration::secs(1));
        assert_eq!(config.discovery_period, Duration::secs(10));
        assert_eq!(config.validate(SECTION), Ok(()));
    }

    #[test]
    fn well_formed_members_are_accepted() {
        let config = with_members(&[
            "strand-ingester-0.strand-ingester-headless:9095",
            "10.0.0.7:9095",
            "[::1]:9095",
            "dns+strand-ingester-headless.default.svc.cluster.local:9095",
        ]);
        assert_eq!(config.validate(SECTION), Ok(()));
        assert_eq!(MemberEntry::parse("dns+a:1"), Ok(MemberEntry::Dns("a:1")));
        assert_eq!(MemberEntry::parse("a:1"), Ok(MemberEntry::Static("a:1")));
    }

    #[test]
    fn bad_members_are_named_by_section_and_index() {
        let cases = [
            (vec!["a:1", "b:2", "host"], "ingester.lifecycler.ring.members[2]: \"host\" has no port"),
            (vec!["dns+"], "ingester.lifecycler.ring.members[0]: empty address"),
            (vec!["dns+host"], "ingester.lifecycler.ring.members[0]: \"host\" has no port"),
            (vec![":9095"], "has no host"),
            (vec!["host:http"], "invalid port \"http\""),
            (vec!["host:0"], "invalid port \"0\""),
            (vec!["host:70000"], "invalid port \"70000\""),
            (vec!["::1:9095"], "brackets"),
            (vec!["a b:1"], "whitespace"),
            (vec!["a:1", "a:1"], "ingester.lifecycler.ring.members[1]: \"a:1\" is listed twice"),
        ];
        for (members, expected) in cases {
            let err = with_members(&members).validate(SECTION).unwrap_err();
            assert!(err.contains(expected), "{members:?}: {err}");
        }
    }

    #[test]
    fn settings_that_cannot_work_are_rejected() {
        let rf0 = RingConfig { replication_factor: 0, ..RingConfig::default() };
        assert_eq!(
            rf0.validate(SECTION).unwrap_err(),
            "ingester.lifecycler.ring.replication_factor must be at least 1"
        );
        let no_tokens = RingConfig { tokens_per_member: 0, ..RingConfig::default() };
        assert!(no_tokens.validate("compactor.ring").unwrap_err().starts_with("compactor.ring.tokens_per_member"));
        let no_period = RingConfig { health_check_period: Duration::secs(0), ..RingConfig::default() };
        assert!(no_period.validate(SECTION).unwrap_err().contains("health_check_period"));
        let no_timeout = RingConfig { health_check_timeout: Duration::secs(0), ..RingConfig::default() };
        assert!(no_timeout.validate(SECTION).unwrap_err().contains("health_check_timeout"));
    }

    #[test]
    fn yaml_round_trips_and_unknown_keys_are_named() {
        let yaml = "replication_factor: 3\nmembers: [\"dns+strand-ingester-headless:9095\", \"10.0.0.1:9095\"]\n\
                    tokens_per_member: 64\nhealth_check_period: 500ms\nhealth_check_timeout: 2s\nhealth_check_failures: 2\ndiscovery_period: 1m\n";
        let config: RingConfig = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(
            config,
            RingConfig {
                replication_factor: 3,
                members: vec!["dns+strand-ingester-headless:9095".into(), "10.0.0.1:9095".into()],
                tokens_per_member: 64,
                health_check_period: Duration::millis(500),
                health_check_timeout: Duration::secs(2),
                health_check_failures: 2,
                discovery_period: Duration::secs(60),
            }
        );
        let again: RingConfig = serde_yaml::from_str(&serde_yaml::to_string(&config).unwrap()).unwrap();
        assert_eq!(again, config);
        // Omitted keys take their defaults.
        let partial: RingConfig = serde_yaml::from_str("replication_factor: 2").unwrap();
        assert_eq!(partial, RingConfig { replication_factor: 2, ..RingConfig::default() });

        let err = serde_yaml::from_str::<RingConfig>("replication_factr: 3").unwrap_err();
        assert!(err.to_string().contains("replication_factr"), "{err}");
    }
}
