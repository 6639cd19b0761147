//! The address policy: which IP addresses outgoing connections may reach.
//!
//! A service that fetches URLs it is handed is the classic server-side
//! request forgery target: a "source" of `http://169.254.169.254/...` reads
//! the cloud's instance credentials, one on `10.0.0.5` reaches the private
//! network behind the service. [`AddressPolicy::service`] refuses every
//! address that is not plainly public; [`AddressPolicy::cli`] refuses
//! nothing, because a user running `ferry copy` may copy from anywhere they
//! can reach themselves.
//!
//! The policy judges addresses, not names: the client checks it on the
//! address each connection is actually made to, after DNS (see
//! [`crate::net::client`]), so a name that resolves to a public address when
//! checked and to a private one when connected cannot slip through.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use ipnet::IpNet;

/// What kind of address an [`IpAddr`] is, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressClass {
    /// Globally routable; never refused.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) and the deprecated IPv6
    /// site-local fec0::/10.
    Private,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// fc00::/7.
    UniqueLocal,
    /// 100.64.0.0/10, carrier-grade NAT (RFC 6598).
    SharedAddressSpace,
    /// 0.0.0.0/8 ("this network"; 0.0.0.0 itself reaches the local host on
    /// most systems), ::.
    Unspecified,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18.0.0/15, 2001:2::/48.
    Benchmarking,
    /// Special-purpose ranges that are not routable on the internet:
    /// 192.0.0.0/24 (IETF protocol assignments), 240.0.0.0/4, 100::/64
    /// (discard-only).
    Reserved,
    /// An instance metadata service: 169.254.169.254 (AWS, GCP, Azure,
    /// OpenStack and others), 100.100.100.200 (Alibaba Cloud),
    /// fd00:ec2::254 (AWS over IPv6).
    CloudMetadata,
}

impl AddressClass {
    /// The class with its article, as it reads in a sentence.
    fn phrase(self) -> &'static str {
        match self {
            AddressClass::Public => "a public address",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private-network address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::UniqueLocal => "a unique-local address",
            AddressClass::SharedAddressSpace => "a carrier-grade NAT (shared) address",
            AddressClass::Unspecified => "an unspecified (\"this host\") address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "the broadcast address",
            AddressClass::Documentation => "a documentation address",
            AddressClass::Benchmarking => "a benchmarking address",
            AddressClass::Reserved => "a reserved address",
            AddressClass::CloudMetadata => "a cloud metadata address",
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.phrase())
    }
}

/// The metadata services, checked before the ranges that contain them.
const METADATA_V4: [Ipv4Addr; 2] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(100, 100, 100, 200),
];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)];

/// Classifies an IPv4 address.
pub fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    if METADATA_V4.contains(&ip) {
        return CloudMetadata;
    }
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        (0, _, _) => Unspecified,
        (10, _, _) => Private,
        (100, 64..=127, _) => SharedAddressSpace,
        (127, _, _) => Loopback,
        (169, 254, _) => LinkLocal,
        (172, 16..=31, _) => Private,
        (192, 0, 0) => Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Documentation,
        (192, 168, _) => Private,
        (198, 18..=19, _) => Benchmarking,
        (224..=239, _, _) => Multicast,
        (255, 255, 255) if ip.is_broadcast() => Broadcast,
        (240..=255, _, _) => Reserved,
        _ => Public,
    }
}

/// The IPv4 address an IPv6 address stands for, if it embeds one that a
/// connection would in effect reach: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`, deprecated but still routed by some
/// stacks) and the NAT64 well-known prefix (`64:ff9b::a.b.c.d`).
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        _ => None,
    }
}

/// Classifies an IPv6 address; one that embeds an IPv4 address (see
/// [`embedded_v4`]) is classified as that address.
pub fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    if METADATA_V6.contains(&ip) {
        return CloudMetadata;
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let s = ip.segments();
    match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => Unspecified,
        [0, 0, 0, 0, 0, 0, 0, 1] => Loopback,
        [0x0100, 0, 0, 0, ..] => Reserved,
        [0x2001, 0x0db8, ..] => Documentation,
        [0x2001, 0x0002, 0, ..] => Benchmarking,
        [x, ..] if x & 0xfff0 == 0x3ff0 => Documentation,
        [x, ..] if x & 0xfe00 == 0xfc00 => UniqueLocal,
        [x, ..] if x & 0xffc0 == 0xfe80 => LinkLocal,
        [x, ..] if x & 0xffc0 == 0xfec0 => Private,
        [x, ..] if x & 0xff00 == 0xff00 => Multicast,
        _ => Public,
    }
}

/// Classifies an address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Which addresses outgoing connections may reach.
#[derive(Debug, Clone)]
pub struct AddressPolicy {
    /// Whether non-public addresses are refused at all.
    refuse_non_public: bool,
    /// Ranges re-opened despite their class.
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// For a user running ferry themselves: every address is allowed,
    /// loopback and private networks included.
    pub fn cli() -> AddressPolicy {
        AddressPolicy {
            refuse_non_public: false,
            allowed: Vec::new(),
        }
    }

    /// For ferry as a service that copies URLs it is handed: every address
    /// that is not public is refused (see [`AddressClass`]) unless
    /// re-opened with [`AddressPolicy::allow`].
    pub fn service() -> AddressPolicy {
        AddressPolicy {
            refuse_non_public: true,
            allowed: Vec::new(),
        }
    }

    /// Re-opens a range, e.g. `"127.0.0.0/8".parse()?` for a test bed or
    /// `10.1.0.0/16` for a store on the private network. An allowed IPv4
    /// range also allows the IPv6 forms that embed it.
    pub fn allow(mut self, net: IpNet) -> AddressPolicy {
        self.allowed.push(net);
        self
    }

    /// Whether a connection to `ip` may be made.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        if !self.refuse_non_public {
            return Ok(());
        }
        let class = classify(ip);
        if class == AddressClass::Public || self.is_allowed(ip) {
            return Ok(());
        }
        Err(Refused { addr: ip, class })
    }

    fn is_allowed(&self, ip: IpAddr) -> bool {
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowed
            .iter()
            .any(|net| net.contains(&ip) || embedded.is_some_and(|v4| net.contains(&v4)))
    }
}

impl Default for AddressPolicy {
    /// The CLI policy: ferry run by its user.
    fn default() -> Self {
        AddressPolicy::cli()
    }
}

/// An address the policy refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    addr: IpAddr,
    class: AddressClass,
}

impl Refused {
    /// The refused address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Why it was refused.
    pub fn class(&self) -> AddressClass {
        self.class
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if let IpAddr::V6(v6) = self.addr {
            if let Some(v4) = embedded_v4(v6) {
                write!(f, " (which embeds {v4})")?;
            }
        }
        write!(
            f,
            " is {}; sources there are refused in service mode",
            self.class
        )
    }
}

impl std::error::Error for Refused {}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass::*;

    fn class(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    /// The IPv4-mapped and IPv4-compatible forms of an IPv4 address.
    fn v6_forms(v4: &str) -> [String; 3] {
        [
            format!("::ffff:{v4}"),
            format!("::{v4}"),
            format!("64:ff9b::{v4}"),
        ]
    }

    const V4_CASES: &[(&str, AddressClass)] = &[
        ("127.0.0.1", Loopback),
        ("127.255.255.254", Loopback),
        ("10.0.0.1", Private),
        ("10.255.255.255", Private),
        ("172.16.0.1", Private),
        ("172.31.255.255", Private),
        ("192.168.1.1", Private),
        ("169.254.0.1", LinkLocal),
        ("169.254.170.2", LinkLocal),
        ("100.64.0.1", SharedAddressSpace),
        ("100.127.255.255", SharedAddressSpace),
        ("0.0.0.0", Unspecified),
        ("0.1.2.3", Unspecified),
        ("224.0.0.1", Multicast),
        ("239.255.255.250", Multicast),
        ("255.255.255.255", Broadcast),
        ("192.0.2.1", Documentation),
        ("198.51.100.7", Documentation),
        ("203.0.113.9", Documentation),
        ("198.18.0.1", Benchmarking),
        ("198.19.255.255", Benchmarking),
        ("192.0.0.8", Reserved),
        ("240.0.0.1", Reserved),
        ("255.255.255.254", Reserved),
        ("169.254.169.254", CloudMetadata),
        ("100.100.100.200", CloudMetadata),
        // Neighbours of the special ranges are public.
        ("8.8.8.8", Public),
        ("1.1.1.1", Public),
        ("47.96.0.1", Public),
        ("172.15.255.255", Public),
        ("172.32.0.0", Public),
        ("100.63.255.255", Public),
        ("100.128.0.0", Public),
        ("192.169.0.1", Public),
        ("198.17.255.255", Public),
        ("198.20.0.0", Public),
        ("223.255.255.255", Public),
    ];

    #[test]
    fn classifies_ipv4() {
        for &(ip, expected) in V4_CASES {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn classifies_ipv4_embedded_in_ipv6_as_the_ipv4_address() {
        for &(ip, expected) in V4_CASES {
            for form in v6_forms(ip) {
                // `::0.0.0.0` and `::0.0.0.1` are IPv6's own `::` and `::1`.
                if form == "::0.0.0.0" || form == "::0.0.0.1" {
                    continue;
                }
                assert_eq!(class(&form), expected, "{form}");
            }
        }
    }

    #[test]
    fn classifies_ipv6() {
        let cases = [
            ("::1", Loopback),
            ("::", Unspecified),
            ("fe80::1", LinkLocal),
            ("febf:ffff::1", LinkLocal),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("fec0::1", Private),
            ("ff02::1", Multicast),
            ("ff0e::101", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2001:2::1", Benchmarking),
            ("100::1", Reserved),
            ("fd00:ec2::254", CloudMetadata),
            ("2400:3200::1", Public),
            ("2606:4700:4700::1111", Public),
            ("2001:4860:4860::8888", Public),
            ("fe00::1", Public),
            ("fd00:ec2::253", UniqueLocal),
        ];
        for (ip, expected) in cases {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn cli_allows_everything() {
        let cli = AddressPolicy::cli();
        for &(ip, _) in V4_CASES {
            assert!(cli.check(ip.parse().unwrap()).is_ok(), "{ip}");
        }
        for ip in ["::1", "fd00:ec2::254", "::ffff:127.0.0.1", "fe80::1"] {
            assert!(cli.check(ip.parse().unwrap()).is_ok(), "{ip}");
        }
    }

    #[test]
    fn service_refuses_all_but_public() {
        let service = AddressPolicy::service();
        for &(ip, expected) in V4_CASES {
            let verdict = service.check(ip.parse().unwrap());
            assert_eq!(verdict.is_ok(), expected == Public, "{ip}");
            for form in v6_forms(ip) {
                if form == "::0.0.0.0" || form == "::0.0.0.1" {
                    continue;
                }
                let verdict = service.check(form.parse().unwrap());
                assert_eq!(verdict.is_ok(), expected == Public, "{form}");
            }
        }
        for ip in [
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "ff02::1",
            "fd00:ec2::254",
        ] {
            assert!(service.check(ip.parse().unwrap()).is_err(), "{ip}");
        }
        assert!(service.check("2606:4700::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn allow_list_reopens_ranges_and_their_mapped_forms() {
        let policy = AddressPolicy::service()
            .allow("127.0.0.0/8".parse().unwrap())
            .allow("fd12::/16".parse().unwrap());
        let ok = |s: &str| policy.check(s.parse().unwrap()).is_ok();
        assert!(ok("127.0.0.1"));
        assert!(ok("127.1.2.3"));
        assert!(ok("::ffff:127.0.0.1"));
        assert!(ok("fd12::5"));
        assert!(!ok("::1"));
        assert!(!ok("10.0.0.1"));
        assert!(!ok("169.254.169.254"));
        assert!(!ok("fd13::5"));
    }

    #[test]
    fn refusals_name_the_class() {
        let service = AddressPolicy::service();
        let message = |s: &str| service.check(s.parse().unwrap()).unwrap_err().to_string();
        assert_eq!(
            message("169.254.169.254"),
            "169.254.169.254 is a cloud metadata address; sources there are refused in service mode"
        );
        assert_eq!(
            message("::ffff:10.1.2.3"),
            "::ffff:10.1.2.3 (which embeds 10.1.2.3) is a private-network address; \
             sources there are refused in service mode"
        );
        assert!(message("127.0.0.1").contains("loopback"));
        assert!(message("fd00:ec2::254").contains("cloud metadata"));
        assert!(message("100.100.100.200").contains("cloud metadata"));
        assert!(message("100.64.1.1").contains("carrier-grade NAT"));
        assert!(message("fe80::1").contains("link-local"));
        assert!(message("fc00::1").contains("unique-local"));
        let refused = service.check("::1".parse().unwrap()).unwrap_err();
        assert_eq!(refused.class(), Loopback);
        assert_eq!(refused.addr(), "::1".parse::<IpAddr>().unwrap());
    }
}
