//! The directory a decky serves, built from the bait world: its people as
//! users, groups of them, and the fleet's deckies as computers, shaped as
//! each vendor's default schema shapes them (OpenLDAP: `inetOrgPerson` +
//! `posixAccount` under `ou=people`, `posixGroup`, `ipHost`; Active
//! Directory: `user` objects with `sAMAccountName`, `userPrincipalName`,
//! `memberOf` and binary `objectSid`, `group`, `computer`). Search scope and
//! filter evaluation (RFC 4511 §4.5.1.7, three-valued) live here.

use decnet_core::bait::World;
use decnet_core::seed::InstanceSeed;

use super::message::{Filter, Scope};

/// Which directory server the decky is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// Debian's slapd 2.5.
    OpenLdap,
    /// A Windows Server domain controller.
    ActiveDirectory,
}

/// An attribute and its values.
pub type Attr = (String, Vec<Vec<u8>>);

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its DN as the server writes it.
    pub dn: String,
    /// Its normalised DN.
    pub norm: String,
    /// User attributes, in the order the server returns them.
    pub attrs: Vec<Attr>,
    /// Operational attributes (returned for `+` or by name).
    pub operational: Vec<Attr>,
    /// The bait world login it is, for users.
    pub login: Option<String>,
}

impl Entry {
    fn new(dn: String) -> Entry {
        let norm = normalize(&dn).unwrap_or_else(|| dn.to_ascii_lowercase());
        Entry {
            dn,
            norm,
            attrs: Vec::new(),
            operational: Vec::new(),
            login: None,
        }
    }

    fn add(&mut self, name: &str, values: &[&str]) -> &mut Entry {
        self.attrs.push((
            name.to_owned(),
            values.iter().map(|v| v.as_bytes().to_vec()).collect(),
        ));
        self
    }

    fn add_bin(&mut self, name: &str, value: Vec<u8>) -> &mut Entry {
        self.attrs.push((name.to_owned(), vec![value]));
        self
    }

    fn add_list(&mut self, name: &str, values: Vec<String>) -> &mut Entry {
        if !values.is_empty() {
            self.attrs.push((
                name.to_owned(),
                values.into_iter().map(String::into_bytes).collect(),
            ));
        }
        self
    }

    fn op(&mut self, name: &str, value: &str) -> &mut Entry {
        self.operational
            .push((name.to_owned(), vec![value.as_bytes().to_vec()]));
        self
    }

    /// Values of an attribute (user or operational), by case-insensitive name.
    pub fn values(&self, name: &str) -> Option<&[Vec<u8>]> {
        self.attrs
            .iter()
            .chain(&self.operational)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// A DN normalised for comparison: RDNs trimmed, types and values lower-cased.
/// `None` when it is not DN syntax (an RDN without `type=`).
pub fn normalize(dn: &str) -> Option<String> {
    let dn = dn.trim();
    if dn.is_empty() {
        return Some(String::new());
    }
    let mut out = Vec::new();
    for rdn in dn.split(',') {
        let (t, v) = rdn.split_once('=')?;
        let t = t.trim();
        if t.is_empty()
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return None;
        }
        out.push(format!(
            "{}={}",
            t.to_ascii_lowercase(),
            v.trim().to_lowercase()
        ));
    }
    Some(out.join(","))
}

fn parent(norm: &str) -> &str {
    norm.split_once(',').map_or("", |(_, p)| p)
}

/// The directory of one decky.
#[derive(Debug, Clone)]
pub struct Directory {
    /// The vendor.
    pub vendor: Vendor,
    /// The naming context (`dc=corp,dc=example`).
    pub base: String,
    /// The DNS domain.
    pub domain: String,
    /// NetBIOS domain (AD).
    pub netbios: String,
    /// The decky's own hostname, as the DC's name (AD) or the server's.
    pub host: String,
    /// The DC's Windows version: major, minor, build (AD's NTLM VERSION and `operatingSystemVersion`).
    pub windows_version: (u8, u8, u16),
    entries: Vec<Entry>,
}

/// `dc=a,dc=b` of `a.b`.
pub fn base_of(domain: &str, vendor: Vendor) -> String {
    let dc = if vendor == Vendor::ActiveDirectory {
        "DC="
    } else {
        "dc="
    };
    domain
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| format!("{dc}{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The binary `objectSid` of the domain, `S-1-5-21-a-b-c`.
pub fn domain_sid(sub: [u32; 3]) -> Vec<u8> {
    let mut b = vec![1u8, 4, 0, 0, 0, 0, 0, 5];
    let [a, b2, c] = sub;
    for v in [21, a, b2, c] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

/// The binary `objectSid` of `S-1-5-21-a-b-c-rid`.
pub fn sid_bytes(sub: [u32; 3], rid: u32) -> Vec<u8> {
    let mut b = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
    let [a, b2, c] = sub;
    for v in [21, a, b2, c, rid] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

fn generalized(unix: i64, ad: bool) -> String {
    let t = chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default();
    if ad {
        t.format("%Y%m%d%H%M%S.0Z").to_string()
    } else {
        t.format("%Y%m%d%H%M%SZ").to_string()
    }
}

fn uuid_of(seed: &InstanceSeed, label: &str) -> [u8; 16] {
    let d = seed.derive(label.as_bytes());
    let mut u = [0u8; 16];
    u.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
    u
}

fn uuid_text(u: &[u8; 16]) -> String {
    let h = hex::encode(u);
    format!(
        "{}-{}-{}-{}-{}",
        h.get(..8).unwrap_or(""),
        h.get(8..12).unwrap_or(""),
        h.get(12..16).unwrap_or(""),
        h.get(16..20).unwrap_or(""),
        h.get(20..).unwrap_or("")
    )
}

impl Directory {
    /// The directory of `decky` (its hostname) in `world`.
    pub fn build(
        vendor: Vendor,
        world: &World,
        seed: &InstanceSeed,
        base: &str,
        domain: &str,
        host: &str,
    ) -> Directory {
        let netbios = domain
            .split('.')
            .next()
            .unwrap_or("WORKGROUP")
            .to_uppercase()
            .chars()
            .take(15)
            .collect();
        let mut d = Directory {
            vendor,
            base: base.to_owned(),
            domain: domain.to_owned(),
            netbios,
            host: host.to_owned(),
            windows_version: (10, 0, 17763),
            entries: Vec::new(),
        };
        match vendor {
            Vendor::OpenLdap => d.openldap(world, seed),
            Vendor::ActiveDirectory => d.active_directory(world, seed),
        }
        d
    }

    fn openldap(&mut self, world: &World, seed: &InstanceSeed) {
        let base = self.base.clone();
        let created = world.anchor().max(1_600_000_000)
            - 400 * 86_400
            - i64::try_from(seed.pick(b"ldap-created", 90 * 86_400)).unwrap_or(0);
        let admin = format!("cn=admin,{base}");
        let mut n = 0i64;
        let mut stamp = |e: &mut Entry, structural: &str| {
            n += 1;
            let t = created + n * 37;
            let ts = generalized(t, false);
            let csn = format!(
                "{}.{:06}Z#000000#000#000000",
                ts.trim_end_matches('Z'),
                (n * 7919) % 1_000_000
            );
            let uuid = uuid_text(&uuid_of(seed, &format!("ldap-uuid/{}", e.norm)));
            let dn = e.dn.clone();
            let leaf = !matches!(structural, "organization" | "organizationalUnit");
            e.op("structuralObjectClass", structural)
                .op("entryUUID", &uuid)
                .op("creatorsName", &admin)
                .op("createTimestamp", &ts)
                .op("entryCSN", &csn)
                .op("modifiersName", &admin)
                .op("modifyTimestamp", &ts)
                .op("entryDN", &dn)
                .op("subschemaSubentry", "cn=Subschema")
                .op("hasSubordinates", if leaf { "FALSE" } else { "TRUE" });
        };
        let first = self
            .domain
            .split('.')
            .next()
            .unwrap_or("example")
            .to_owned();
        let company = if world.company.is_empty() {
            first.clone()
        } else {
            world.company.clone()
        };
        let mut root = Entry::new(base.clone());
        root.add("objectClass", &["top", "dcObject", "organization"])
            .add("o", &[&company])
            .add("dc", &[&first]);
        stamp(&mut root, "organization");
        self.entries.push(root);
        let mut adm = Entry::new(admin.clone());
        adm.add(
            "objectClass",
            &["simpleSecurityObject", "organizationalRole"],
        )
        .add("cn", &["admin"])
        .add("description", &["LDAP administrator"]);
        stamp(&mut adm, "organizationalRole");
        self.entries.push(adm);
        for ou in ["people", "groups", "hosts"] {
            let mut e = Entry::new(format!("ou={ou},{base}"));
            e.add("objectClass", &["organizationalUnit"])
                .add("ou", &[ou]);
            stamp(&mut e, "organizationalUnit");
            self.entries.push(e);
        }
        for (i, p) in world.people.iter().enumerate() {
            let uid_number = (10_001 + i).to_string();
            let mut e = Entry::new(format!("uid={},ou=people,{base}", p.username));
            let (given, sn) = p
                .full_name
                .split_once(' ')
                .unwrap_or((&p.full_name, &p.full_name));
            e.add(
                "objectClass",
                &["inetOrgPerson", "posixAccount", "shadowAccount"],
            )
            .add("uid", &[&p.username])
            .add("cn", &[&p.full_name])
            .add("sn", &[sn])
            .add("givenName", &[given])
            .add("displayName", &[&p.full_name])
            .add("mail", &[&p.email])
            .add("title", &[&p.title])
            .add("uidNumber", &[&uid_number])
            .add("gidNumber", &["10000"])
            .add("homeDirectory", &[&format!("/home/{}", p.username)])
            .add("loginShell", &["/bin/bash"]);
            e.login = Some(p.username.clone());
            stamp(&mut e, "inetOrgPerson");
            self.entries.push(e);
        }
        let all: Vec<String> = world.people.iter().map(|p| p.username.clone()).collect();
        let it: Vec<String> = world
            .people
            .iter()
            .filter(|p| p.it)
            .map(|p| p.username.clone())
            .collect();
        for (cn, gid, members) in [("staff", "10000", all), ("it", "10001", it)] {
            let mut e = Entry::new(format!("cn={cn},ou=groups,{base}"));
            e.add("objectClass", &["posixGroup"])
                .add("cn", &[cn])
                .add("gidNumber", &[gid])
                .add_list("memberUid", members);
            stamp(&mut e, "posixGroup");
            self.entries.push(e);
        }
        for h in &world.hosts {
            let mut e = Entry::new(format!("cn={},ou=hosts,{base}", h.hostname));
            e.add("objectClass", &["device", "ipHost"])
                .add("cn", &[&h.hostname])
                .add("ipHostNumber", &[&h.ip.to_string()]);
            stamp(&mut e, "device");
            self.entries.push(e);
        }
    }

    fn active_directory(&mut self, world: &World, seed: &InstanceSeed) {
        let base = self.base.clone();
        let domain = self.domain.clone();
        let s = seed.derive(b"ldap-domain-sid");
        let sub = [0usize, 4, 8].map(|i| {
            let mut b = [0u8; 4];
            b.copy_from_slice(s.get(i..i + 4).unwrap_or(&[0; 4]));
            u32::from_le_bytes(b) | 0x4000_0000
        });
        let created = world.anchor().max(1_600_000_000) - 700 * 86_400;
        let when = generalized(created, true);
        let category = |c: &str| format!("CN={c},CN=Schema,CN=Configuration,{base}");
        let users = format!("CN=Users,{base}");
        let admins = format!("CN=Domain Admins,{users}");
        let common = |e: &mut Entry, name: &str, label: &str| {
            let dn = e.dn.clone();
            e.add("distinguishedName", &[&dn])
                .add("name", &[name])
                .add("whenCreated", &[&when])
                .add("whenChanged", &[&when])
                .add_bin(
                    "objectGUID",
                    uuid_of(seed, &format!("ldap-guid/{label}")).to_vec(),
                );
        };
        let mut root = Entry::new(base.clone());
        let dc0 = domain.split('.').next().unwrap_or("corp").to_owned();
        root.add("objectClass", &["top", "domain", "domainDNS"]);
        common(&mut root, &dc0, "root");
        root.add("dc", &[&dc0])
            .add_bin("objectSid", domain_sid(sub))
            .add("objectCategory", &[&category("Domain-DNS")]);
        self.entries.push(root);
        for (cn, oc) in [("Users", "container"), ("Computers", "container")] {
            let mut e = Entry::new(format!("CN={cn},{base}"));
            e.add("objectClass", &["top", oc]).add("cn", &[cn]);
            common(&mut e, cn, cn);
            e.add("objectCategory", &[&category("Container")]);
            self.entries.push(e);
        }
        let mut ou = Entry::new(format!("OU=Domain Controllers,{base}"));
        ou.add("objectClass", &["top", "organizationalUnit"])
            .add("ou", &["Domain Controllers"]);
        common(&mut ou, "Domain Controllers", "dcs");
        ou.add("objectCategory", &[&category("Organizational-Unit")]);
        self.entries.push(ou);
        let user = |dir: &mut Directory,
                    cn: &str,
                    sam: &str,
                    rid: u32,
                    it: bool,
                    extra: &dyn Fn(&mut Entry)| {
            let mut e = Entry::new(format!("CN={cn},{users}"));
            e.add(
                "objectClass",
                &["top", "person", "organizationalPerson", "user"],
            )
            .add("cn", &[cn]);
            extra(&mut e);
            common(&mut e, cn, &format!("user/{sam}"));
            if it {
                e.add("memberOf", &[&admins]);
            }
            e.add("userAccountControl", &["66048"])
                .add_bin("objectSid", sid_bytes(sub, rid))
                .add("primaryGroupID", &["513"])
                .add("sAMAccountName", &[sam])
                .add("sAMAccountType", &["805306368"])
                .add("userPrincipalName", &[&format!("{sam}@{domain}")])
                .add("objectCategory", &[&category("Person")]);
            e.login = Some(sam.to_owned());
            dir.entries.push(e);
        };
        user(self, "Administrator", "Administrator", 500, true, &|e| {
            e.add(
                "description",
                &["Built-in account for administering the computer/domain"],
            );
        });
        for (i, p) in world.people.iter().enumerate() {
            let (given, sn) = p
                .full_name
                .split_once(' ')
                .unwrap_or((&p.full_name, &p.full_name));
            let rid = 1104 + u32::try_from(i).unwrap_or(0);
            user(self, &p.full_name, &p.username, rid, p.it, &|e| {
                e.add("sn", &[sn])
                    .add("title", &[&p.title])
                    .add("givenName", &[given])
                    .add("displayName", &[&p.full_name])
                    .add("mail", &[&p.email]);
            });
        }
        let person_dn = |cn: &str| format!("CN={cn},{users}");
        let mut admin_members = vec![person_dn("Administrator")];
        admin_members.extend(
            world
                .people
                .iter()
                .filter(|p| p.it)
                .map(|p| person_dn(&p.full_name)),
        );
        let me = self.host.to_uppercase();
        let computers: Vec<String> = world
            .hosts
            .iter()
            .map(|h| h.hostname.to_uppercase())
            .filter(|h| *h != me)
            .collect();
        for (cn, rid, members, desc) in [
            (
                "Domain Admins",
                512u32,
                admin_members,
                "Designated administrators of the domain",
            ),
            ("Domain Users", 513, Vec::new(), "All domain users"),
            (
                "Domain Computers",
                515,
                Vec::new(),
                "All workstations and servers joined to the domain",
            ),
            (
                "Domain Controllers",
                516,
                Vec::new(),
                "All domain controllers in the domain",
            ),
        ] {
            let mut e = Entry::new(format!("CN={cn},{users}"));
            e.add("objectClass", &["top", "group"])
                .add("cn", &[cn])
                .add("description", &[desc])
                .add_list("member", members);
            common(&mut e, cn, &format!("group/{cn}"));
            e.add_bin("objectSid", sid_bytes(sub, rid))
                .add("sAMAccountName", &[cn])
                .add("sAMAccountType", &["268435456"])
                .add("groupType", &["-2147483646"])
                .add("objectCategory", &[&category("Group")]);
            self.entries.push(e);
        }
        let computer = |dir: &mut Directory, name: &str, dc: bool, rid: u32| {
            let short: String = name.chars().take(15).collect();
            let parent = if dc {
                format!("OU=Domain Controllers,{base}")
            } else {
                format!("CN=Computers,{base}")
            };
            let mut e = Entry::new(format!("CN={short},{parent}"));
            e.add(
                "objectClass",
                &["top", "person", "organizationalPerson", "user", "computer"],
            )
            .add("cn", &[&short]);
            common(&mut e, &short, &format!("computer/{short}"));
            e.add("userAccountControl", &[if dc { "532480" } else { "4096" }])
                .add_bin("objectSid", sid_bytes(sub, rid))
                .add("primaryGroupID", &[if dc { "516" } else { "515" }])
                .add("sAMAccountName", &[&format!("{short}$")])
                .add("sAMAccountType", &["805306369"])
                .add(
                    "dNSHostName",
                    &[&format!("{}.{domain}", short.to_lowercase())],
                );
            if dc {
                e.add("operatingSystem", &["Windows Server 2019 Standard"])
                    .add("operatingSystemVersion", &["10.0 (17763)"]);
            }
            e.add("objectCategory", &[&category("Computer")]);
            dir.entries.push(e);
        };
        computer(self, &me, true, 1000);
        for (j, c) in computers.iter().enumerate() {
            computer(self, c, false, 1200 + u32::try_from(j).unwrap_or(0));
        }
    }

    /// Makes the DC the given Windows build (product name, `10.0.17763`, 17763).
    pub fn set_windows(&mut self, product: &str, build: &str, number: u16) {
        let mut parts = build.split('.').map(|p| p.parse::<u8>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(10), parts.next().unwrap_or(0));
        self.windows_version = (major, minor, number);
        let version = format!("{major}.{minor} ({number})");
        for e in &mut self.entries {
            for (n, v) in &mut e.attrs {
                if n == "operatingSystem" {
                    *v = vec![product.as_bytes().to_vec()];
                } else if n == "operatingSystemVersion" {
                    *v = vec![version.as_bytes().to_vec()];
                }
            }
        }
    }

    /// The entry of a normalised DN.
    pub fn get(&self, norm: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.norm == norm)
    }

    /// Every entry, in tree order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries a scope under `base` (normalised) covers, or the nearest
    /// existing ancestor's DN (the matchedDN of noSuchObject) when `base` is absent.
    pub fn scope(&self, base: &str, scope: Scope) -> Result<Vec<&Entry>, String> {
        if self.get(base).is_none() {
            let mut p = base;
            while !p.is_empty() {
                p = parent(p);
                if let Some(e) = self.get(p) {
                    return Err(e.dn.clone());
                }
            }
            return Err(String::new());
        }
        Ok(self
            .entries
            .iter()
            .filter(|e| match scope {
                Scope::Base => e.norm == base,
                Scope::One => parent(&e.norm) == base,
                Scope::Sub => e.norm == base || e.norm.ends_with(&format!(",{base}")),
            })
            .collect())
    }

    /// The bait login a bind name names: a user entry's DN, or for AD
    /// `user@domain`, `DOMAIN\user` or a bare `sAMAccountName`.
    pub fn login_of(&self, name: &str) -> Option<String> {
        if let Some(e) = normalize(name).and_then(|n| self.get(&n)) {
            return e.login.clone();
        }
        if self.vendor != Vendor::ActiveDirectory || name.contains('=') {
            return None;
        }
        let user = match (name.split_once('\\'), name.split_once('@')) {
            (Some((_, u)), _) => u,
            (None, Some((u, _))) => u,
            (None, None) => name,
        };
        self.entries
            .iter()
            .filter_map(|e| e.login.as_deref())
            .find(|l| l.eq_ignore_ascii_case(user))
            .map(str::to_owned)
    }

    /// Three-valued evaluation of a filter on an entry (`None`: Undefined).
    pub fn eval(&self, f: &Filter, e: &Entry) -> Option<bool> {
        match f {
            Filter::And(v) => {
                let mut out = Some(true);
                for x in v {
                    match self.eval(x, e) {
                        Some(false) => return Some(false),
                        None => out = None,
                        Some(true) => {}
                    }
                }
                out
            }
            Filter::Or(v) => {
                let mut out = Some(false);
                for x in v {
                    match self.eval(x, e) {
                        Some(true) => return Some(true),
                        None => out = None,
                        Some(false) => {}
                    }
                }
                out
            }
            Filter::Not(x) => self.eval(x, e).map(|b| !b),
            _ => self.eval_leaf(f, e),
        }
    }

    #[inline(never)]
    fn eval_leaf(&self, f: &Filter, e: &Entry) -> Option<bool> {
        match f {
            Filter::And(_) | Filter::Or(_) | Filter::Not(_) => self.eval(f, e),
            Filter::Present(a) => {
                Some(a.eq_ignore_ascii_case("objectClass") || e.values(a).is_some())
            }
            Filter::Equal(a, v) => {
                let mut want = v.clone();
                if self.vendor == Vendor::ActiveDirectory
                    && a.eq_ignore_ascii_case("objectCategory")
                    && !v.contains(&b'=')
                {
                    // AD expands an objectCategory shorthand to its schema DN.
                    let name = String::from_utf8_lossy(v).to_lowercase();
                    let cls = match name.as_str() {
                        "person" | "user" => "Person",
                        "group" => "Group",
                        "computer" => "Computer",
                        "container" => "Container",
                        "organizationalunit" => "Organizational-Unit",
                        _ => "",
                    };
                    want =
                        format!("CN={cls},CN=Schema,CN=Configuration,{}", self.base).into_bytes();
                }
                Some(e.values(a)?.iter().any(|x| x.eq_ignore_ascii_case(&want)))
            }
            Filter::Approx(a, v) => Some(e.values(a)?.iter().any(|x| x.eq_ignore_ascii_case(v))),
            Filter::Greater(a, v) | Filter::Less(a, v) => {
                let ge = matches!(f, Filter::Greater(..));
                Some(e.values(a)?.iter().any(|x| {
                    let (xs, vs) = (String::from_utf8_lossy(x), String::from_utf8_lossy(v));
                    let ord = match (xs.parse::<i64>(), vs.parse::<i64>()) {
                        (Ok(a), Ok(b)) => a.cmp(&b),
                        _ => xs.to_lowercase().cmp(&vs.to_lowercase()),
                    };
                    if ge {
                        ord.is_ge()
                    } else {
                        ord.is_le()
                    }
                }))
            }
            Filter::Substrings {
                attr,
                initial,
                any,
                last,
            } => Some(
                e.values(attr)?
                    .iter()
                    .any(|x| substrings(x, initial, any, last)),
            ),
            Filter::Extensible(_) | Filter::Undefined(_) => None,
        }
    }
}

fn substrings(
    x: &[u8],
    initial: &Option<Vec<u8>>,
    any: &[Vec<u8>],
    last: &Option<Vec<u8>>,
) -> bool {
    let x = x.to_ascii_lowercase();
    let mut rest: &[u8] = &x;
    if let Some(i) = initial {
        let i = i.to_ascii_lowercase();
        match rest.strip_prefix(i.as_slice()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    for a in any {
        let a = a.to_ascii_lowercase();
        if a.is_empty() {
            continue;
        }
        match rest.windows(a.len()).position(|w| w == a.as_slice()) {
            Some(p) => rest = rest.get(p + a.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    match last {
        Some(l) => rest.ends_with(&l.to_ascii_lowercase()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn world() -> World {
        let d = decnet_core::config::model::DeckyConfig {
            name: "dc".into(),
            ip: "127.0.0.5".parse().unwrap(),
            hostname: "dc01".into(),
            os_family: decnet_core::persona::OsFamily::Linux,
            distro: decnet_core::persona::distro("debian").unwrap(),
            windows: None,
            archetype: None,
            services: Vec::new(),
        };
        World::derive(b"k", &[d], 1_760_000_000)
    }

    #[test]
    fn dns_normalise_and_scope() {
        assert_eq!(
            normalize(" UID=Bob , dc=Example,dc=com").unwrap(),
            "uid=bob,dc=example,dc=com"
        );
        assert_eq!(normalize("garbage"), None);
        let w = world();
        let seed = InstanceSeed::derive_for(b"k", "dc");
        let base = base_of(&w.domain, Vendor::OpenLdap);
        let d = Directory::build(Vendor::OpenLdap, &w, &seed, &base, &w.domain, "dc01");
        let people = format!("ou=people,{base}");
        let one = d.scope(&normalize(&people).unwrap(), Scope::One).unwrap();
        assert_eq!(one.len(), w.people.len());
        assert_eq!(
            d.scope(&format!("ou=x,{}", normalize(&base).unwrap()), Scope::Base),
            Err(base.clone())
        );
        assert_eq!(d.scope("dc=nope", Scope::Base), Err(String::new()));
        let p = &w.people[0];
        let f = Filter::And(vec![
            Filter::Equal("objectClass".into(), b"posixAccount".to_vec()),
            Filter::Substrings {
                attr: "uid".into(),
                initial: Some(p.username.as_bytes()[..2].to_vec()),
                any: vec![],
                last: None,
            },
        ]);
        let hits: Vec<_> = d
            .entries()
            .iter()
            .filter(|e| d.eval(&f, e) == Some(true))
            .collect();
        assert!(hits.iter().any(|e| e.login.as_deref() == Some(&p.username)));
        assert_eq!(
            d.login_of(&format!("uid={},{people}", p.username)),
            Some(p.username.clone())
        );
    }

    #[test]
    fn a_filter_at_slapds_depth_limit_evaluates_on_a_worker_sized_stack() {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                let w = world();
                let seed = InstanceSeed::derive_for(b"k", "dc");
                let d = Directory::build(Vendor::OpenLdap, &w, &seed, "dc=x", "x", "dc01");
                let mut f = Filter::Present("objectClass".into());
                for _ in 0..crate::ldap::message::MAX_FILTER_DEPTH {
                    f = Filter::Not(Box::new(f));
                }
                assert_eq!(d.eval(&f, &d.entries()[0]), Some(true));
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn ad_names_resolve_and_object_category_expands() {
        let w = world();
        let seed = InstanceSeed::derive_for(b"k", "dc");
        let base = base_of(&w.domain, Vendor::ActiveDirectory);
        let d = Directory::build(Vendor::ActiveDirectory, &w, &seed, &base, &w.domain, "dc01");
        let p = &w.people[0];
        assert_eq!(
            d.login_of(&format!("{}@{}", p.username, w.domain)),
            Some(p.username.clone())
        );
        assert_eq!(
            d.login_of(&format!("{}\\{}", d.netbios, p.username)),
            Some(p.username.clone())
        );
        let f = Filter::Equal("objectCategory".into(), b"person".to_vec());
        let n = d
            .entries()
            .iter()
            .filter(|e| d.eval(&f, e) == Some(true))
            .count();
        assert_eq!(n, w.people.len() + 1);
        assert_eq!(sid_bytes([1, 2, 3], 500).len(), 28);
    }
}
