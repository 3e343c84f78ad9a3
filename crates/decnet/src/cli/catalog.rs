//! `decnet services`, `archetypes`, `distros`, `config-reference`.

use std::process::ExitCode;

use decnet_core::catalog::ServiceCatalog;
use decnet_core::persona::{ARCHETYPES, DISTROS, WINDOWS_BUILDS};
use decnet_services::Registry;

use super::output::table;

/// Output format of a listing.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn services(a: ListArgs) -> anyhow::Result<ExitCode> {
    let reg = Registry::builtin();
    let mut list = reg.services();
    list.sort_by_key(|s| s.name);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                s.name.to_owned(),
                s.listeners
                    .iter()
                    .map(|l| {
                        let on = if l.default_enabled { "" } else { "*" };
                        format!("{}={}{on}", l.name, l.describe())
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                s.persona_keys
                    .iter()
                    .map(|k| k.name)
                    .collect::<Vec<_>>()
                    .join(","),
                s.summary.to_owned(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["SERVICE", "LISTENERS", "PERSONA KEYS", "DESCRIPTION"],
            &rows
        )
    );
    println!(
        "\n* enabled when named in `services` (e.g. `https`) or in the service's `listeners` key"
    );
    Ok(ExitCode::SUCCESS)
}

pub fn archetypes(a: ListArgs) -> anyhow::Result<ExitCode> {
    let reg = Registry::builtin();
    let missing = |svcs: &[&str]| -> Vec<String> {
        svcs.iter()
            .filter(|s| reg.slug(s).is_none())
            .map(|s| (*s).to_owned())
            .collect()
    };
    if a.json {
        let v: Vec<serde_json::Value> = ARCHETYPES
            .iter()
            .map(|ar| {
                serde_json::json!({
                    "slug": ar.slug,
                    "description": ar.description,
                    "services": ar.services,
                    "os_family": ar.os_family,
                    "distros": ar.preferred_distros,
                    "deployable": missing(ar.services).len() < ar.services.len(),
                    "complete": missing(ar.services).is_empty(),
                    "missing_services": missing(ar.services),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = ARCHETYPES
        .iter()
        .map(|ar| {
            let m = missing(ar.services);
            vec![
                ar.slug.to_owned(),
                ar.os_family.to_string(),
                ar.services.join(","),
                if m.is_empty() {
                    "yes".to_owned()
                } else if m.len() < ar.services.len() {
                    format!("yes, without {} (not implemented yet)", m.join(", "))
                } else {
                    format!("no: needs {} (not implemented yet)", m.join(", "))
                },
                ar.description.to_owned(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["ARCHETYPE", "OS", "SERVICES", "DEPLOYABLE", "DESCRIPTION"],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}

pub fn distros(a: ListArgs) -> anyhow::Result<ExitCode> {
    if a.json {
        let mut v: Vec<serde_json::Value> = DISTROS
            .iter()
            .map(|d| {
                let packages: serde_json::Map<String, serde_json::Value> = d
                    .packages
                    .iter()
                    .map(|(p, version)| (p.as_str().to_owned(), version.full().into()))
                    .collect();
                serde_json::json!({
                    "slug": d.slug, "os": "linux", "name": d.display_name,
                    "ssh_version": d.ssh_identification(), "kernel": d.kernel_release,
                    "http_server": d.http_server_header(), "packages": packages,
                })
            })
            .collect();
        v.extend(WINDOWS_BUILDS.iter().map(|w| {
            serde_json::json!({
                "slug": w.slug, "os": "windows", "name": w.product_name,
                "version": w.display_version, "build": w.build,
                "netbios_domain": w.netbios_domain,
                "smb_dialects": w.smb_dialects.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
                "rdp_version": w.rdp_version.to_string(),
                "mssql": w.mssql.map(|m| m.version),
                "http_server": w.iis_server_header(),
            })
        }));
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<Vec<String>> = DISTROS
        .iter()
        .map(|d| {
            vec![
                d.slug.to_owned(),
                "linux".to_owned(),
                d.display_name.to_owned(),
                d.kernel_release.to_owned(),
                d.ssh_identification().unwrap_or_default(),
            ]
        })
        .collect();
    rows.extend(WINDOWS_BUILDS.iter().map(|w| {
        vec![
            w.slug.to_owned(),
            "windows".to_owned(),
            format!("{} {}", w.product_name, w.display_version),
            w.build.to_owned(),
            String::new(),
        ]
    }));
    print!(
        "{}",
        table(&["DISTRO", "OS", "NAME", "KERNEL/BUILD", "SSH"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

pub fn config_reference() -> anyhow::Result<ExitCode> {
    let reg = Registry::builtin();
    print!("{}", decnet_core::config::reference::reference_markdown());
    print!("\n## Services\n\n");
    print!(
        "{}",
        decnet_core::config::reference::service_reference_markdown(&reg)
    );
    Ok(ExitCode::SUCCESS)
}
