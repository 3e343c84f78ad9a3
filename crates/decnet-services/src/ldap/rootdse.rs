//! The root DSE (base `""`, scope base) each vendor answers: slapd 2.5 as
//! Debian ships it (with libsasl2-modules' mechanisms, no TLS configured),
//! or a Windows Server 2019 domain controller.

use super::directory::{Attr, Directory, Entry, Vendor};

fn attr(name: &str, values: &[&str]) -> Attr {
    (
        name.to_owned(),
        values.iter().map(|v| v.as_bytes().to_vec()).collect(),
    )
}

/// slapd 2.5.13's supportedControl, in its order.
const SLAPD_CONTROLS: [&str; 9] = [
    "2.16.840.1.113730.3.4.18",
    "2.16.840.1.113730.3.4.2",
    "1.3.6.1.4.1.4203.1.10.1",
    "1.3.6.1.1.22",
    "1.2.840.113556.1.4.319",
    "1.2.826.0.1.3344810.2.3",
    "1.3.6.1.1.13.2",
    "1.3.6.1.1.13.1",
    "1.3.6.1.1.12",
];
const SLAPD_EXTENSIONS: [&str; 5] = [
    "1.3.6.1.4.1.4203.1.11.1",
    "1.3.6.1.4.1.4203.1.11.3",
    "1.3.6.1.1.8",
    "1.3.6.1.1.21.3",
    "1.3.6.1.1.21.1",
];
const SLAPD_FEATURES: [&str; 6] = [
    "1.3.6.1.1.14",
    "1.3.6.1.4.1.4203.1.5.1",
    "1.3.6.1.4.1.4203.1.5.2",
    "1.3.6.1.4.1.4203.1.5.3",
    "1.3.6.1.4.1.4203.1.5.4",
    "1.3.6.1.4.1.4203.1.5.5",
];
/// What Cyrus SASL offers slapd on Debian with libsasl2-modules installed.
pub const SLAPD_SASL: [&str; 8] = [
    "SCRAM-SHA-512",
    "SCRAM-SHA-384",
    "SCRAM-SHA-256",
    "SCRAM-SHA-224",
    "SCRAM-SHA-1",
    "DIGEST-MD5",
    "CRAM-MD5",
    "NTLM",
];

const AD_CONTROLS: [&str; 41] = [
    "1.2.840.113556.1.4.319",
    "1.2.840.113556.1.4.801",
    "1.2.840.113556.1.4.473",
    "1.2.840.113556.1.4.528",
    "1.2.840.113556.1.4.417",
    "1.2.840.113556.1.4.619",
    "1.2.840.113556.1.4.841",
    "1.2.840.113556.1.4.529",
    "1.2.840.113556.1.4.805",
    "1.2.840.113556.1.4.521",
    "1.2.840.113556.1.4.970",
    "1.2.840.113556.1.4.1338",
    "1.2.840.113556.1.4.474",
    "1.2.840.113556.1.4.1339",
    "1.2.840.113556.1.4.1340",
    "1.2.840.113556.1.4.1413",
    "2.16.840.1.113730.3.4.9",
    "2.16.840.1.113730.3.4.10",
    "1.2.840.113556.1.4.1504",
    "1.2.840.113556.1.4.1852",
    "1.2.840.113556.1.4.802",
    "1.2.840.113556.1.4.1907",
    "1.2.840.113556.1.4.1948",
    "1.2.840.113556.1.4.1974",
    "1.2.840.113556.1.4.1341",
    "1.2.840.113556.1.4.2026",
    "1.2.840.113556.1.4.2064",
    "1.2.840.113556.1.4.2065",
    "1.2.840.113556.1.4.2066",
    "1.2.840.113556.1.4.2090",
    "1.2.840.113556.1.4.2205",
    "1.2.840.113556.1.4.2204",
    "1.2.840.113556.1.4.2206",
    "1.2.840.113556.1.4.2211",
    "1.2.840.113556.1.4.2239",
    "1.2.840.113556.1.4.2255",
    "1.2.840.113556.1.4.2256",
    "1.2.840.113556.1.4.2309",
    "1.2.840.113556.1.4.2330",
    "1.2.840.113556.1.4.2354",
    "1.2.840.113556.1.4.2353",
];
const AD_POLICIES: [&str; 20] = [
    "MaxPoolThreads",
    "MaxPercentDirSyncRequests",
    "MaxDatagramRecv",
    "MaxReceiveBuffer",
    "InitRecvTimeout",
    "MaxConnections",
    "MaxConnIdleTime",
    "MaxPageSize",
    "MaxBatchReturnMessages",
    "MaxQueryDuration",
    "MaxDirSyncDuration",
    "MaxTempTableSize",
    "MaxResultSetSize",
    "MinResultSets",
    "MaxResultSetsPerConn",
    "MaxNotificationPerConn",
    "MaxValRange",
    "MaxValRangeTransitive",
    "ThreadMemoryLimit",
    "SystemMemoryLimitPercent",
];
const AD_CAPABILITIES: [&str; 6] = [
    "1.2.840.113556.1.4.800",
    "1.2.840.113556.1.4.1670",
    "1.2.840.113556.1.4.1791",
    "1.2.840.113556.1.4.1935",
    "1.2.840.113556.1.4.2080",
    "1.2.840.113556.1.4.2237",
];

/// The root DSE entry; `usn` is the DC's highestCommittedUSN, `now` its clock (Unix seconds).
pub fn root_dse(dir: &Directory, usn: u64, now: i64) -> Entry {
    let mut e = Entry {
        dn: String::new(),
        norm: String::new(),
        attrs: Vec::new(),
        operational: Vec::new(),
        login: None,
    };
    let base = dir.base.as_str();
    match dir.vendor {
        Vendor::OpenLdap => {
            e.attrs
                .push(attr("objectClass", &["top", "OpenLDAProotDSE"]));
            e.operational = vec![
                attr("structuralObjectClass", &["OpenLDAProotDSE"]),
                attr("configContext", &["cn=config"]),
                attr("namingContexts", &[base]),
                attr("supportedControl", &SLAPD_CONTROLS),
                attr("supportedExtension", &SLAPD_EXTENSIONS),
                attr("supportedFeatures", &SLAPD_FEATURES),
                attr("supportedLDAPVersion", &["3"]),
                attr("supportedSASLMechanisms", &SLAPD_SASL),
                attr("entryDN", &[""]),
                attr("subschemaSubentry", &["cn=Subschema"]),
            ];
        }
        Vendor::ActiveDirectory => {
            let host = dir.host.to_uppercase();
            let config = format!("CN=Configuration,{base}");
            let schema = format!("CN=Schema,{config}");
            let server =
                format!("CN={host},CN=Servers,CN=Default-First-Site-Name,CN=Sites,{config}");
            let t = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
            let fqdn = format!("{}.{}", host.to_lowercase(), dir.domain);
            e.attrs = vec![
                attr("currentTime", &[&t.format("%Y%m%d%H%M%S.0Z").to_string()]),
                attr("subschemaSubentry", &[&format!("CN=Aggregate,{schema}")]),
                attr("dsServiceName", &[&format!("CN=NTDS Settings,{server}")]),
                attr(
                    "namingContexts",
                    &[
                        base,
                        &config,
                        &schema,
                        &format!("DC=DomainDnsZones,{base}"),
                        &format!("DC=ForestDnsZones,{base}"),
                    ],
                ),
                attr("defaultNamingContext", &[base]),
                attr("schemaNamingContext", &[&schema]),
                attr("configurationNamingContext", &[&config]),
                attr("rootDomainNamingContext", &[base]),
                attr("supportedControl", &AD_CONTROLS),
                attr("supportedLDAPVersion", &["3", "2"]),
                attr("supportedLDAPPolicies", &AD_POLICIES),
                attr("highestCommittedUSN", &[&usn.to_string()]),
                attr(
                    "supportedSASLMechanisms",
                    &["GSSAPI", "GSS-SPNEGO", "EXTERNAL", "DIGEST-MD5"],
                ),
                attr("dnsHostName", &[&fqdn]),
                attr(
                    "ldapServiceName",
                    &[&format!(
                        "{}:{}$@{}",
                        dir.domain,
                        host.to_lowercase(),
                        dir.domain.to_uppercase()
                    )],
                ),
                attr("serverName", &[&server]),
                attr("supportedCapabilities", &AD_CAPABILITIES),
                attr("isSynchronized", &["TRUE"]),
                attr("isGlobalCatalogReady", &["TRUE"]),
                attr("domainFunctionality", &["7"]),
                attr("forestFunctionality", &["7"]),
                attr("domainControllerFunctionality", &["7"]),
            ];
        }
    }
    e
}
