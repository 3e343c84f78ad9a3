//! Which server a decky runs and how it names itself, from the distro's
//! packages (DESIGN §3): MySQL 8 where the release's `mysql-server` is the
//! default (Ubuntu), otherwise the MariaDB it ships, each with the version
//! string, `@@version_comment` and socket path the package builds in.

use decnet_core::persona::{Distro, Package, Packaging};

use super::handshake::Product;

/// The server a decky runs, as it names itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flavor {
    /// MariaDB or MySQL.
    pub product: Product,
    /// `@@version` (`10.11.6-MariaDB-0+deb12u1`, `8.0.36-0ubuntu0.22.04.1`).
    pub version: String,
    /// `@@version_comment` (`Debian 12`, `(Ubuntu)`).
    pub comment: String,
    /// `@@socket`.
    pub socket: &'static str,
    /// `@@version_compile_os`.
    pub compile_os: &'static str,
}

impl Flavor {
    /// The version string of the greeting: MariaDB 10.x prefixes `5.5.5-` (so
    /// that MySQL 5.5 replicas accepted it); 11.0 and later dropped it (MDEV-28910).
    pub fn announced(&self) -> String {
        if self.product == Product::MariaDb && self.version.starts_with("10.") {
            format!("5.5.5-{}", self.version)
        } else {
            self.version.clone()
        }
    }

    /// The server the distro ships.
    pub fn for_distro(d: &Distro) -> Flavor {
        let ubuntu = d.os_id == "ubuntu";
        let (product, pv) = match (d.package(Package::Mysql), d.package(Package::Mariadb)) {
            (Some(m), _) if ubuntu => (Product::Mysql8, Some(m)),
            (_, Some(m)) => (Product::MariaDb, Some(m)),
            (Some(m), None) => (Product::Mysql8, Some(m)),
            (None, None) => (Product::MariaDb, None),
        };
        let version = match (product, pv) {
            (_, None) => "10.11.6-MariaDB".to_owned(),
            (Product::MariaDb, Some(v)) => match d.packaging {
                Packaging::Deb => format!("{}-MariaDB-{}", v.upstream, v.release),
                Packaging::Rpm | Packaging::Apk | Packaging::Pacman => {
                    format!("{}-MariaDB", v.upstream)
                }
            },
            (Product::Mysql8 | Product::Mysql5, Some(v)) => match d.packaging {
                Packaging::Deb => v.full(),
                Packaging::Rpm | Packaging::Apk | Packaging::Pacman => v.upstream.to_owned(),
            },
        };
        let product = match product {
            Product::Mysql8 | Product::Mysql5 => mysql_product(&version),
            p => p,
        };
        Flavor::new(product, version, d)
    }

    /// The server a `mysql_version` value names: `MariaDB` in it is MariaDB
    /// (a leading `5.5.5-` is MariaDB's and is dropped), otherwise MySQL of
    /// that major. `None` when it is not a version string.
    pub fn from_version(v: &str, d: &Distro) -> Option<Flavor> {
        let v = v.trim();
        let v = v.strip_prefix("5.5.5-").unwrap_or(v);
        let ok = !v.is_empty()
            && v.len() <= 60
            && v.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && v.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return None;
        }
        let product = if v.to_ascii_lowercase().contains("mariadb") {
            Product::MariaDb
        } else {
            mysql_product(v)
        };
        Some(Flavor::new(product, v.to_owned(), d))
    }

    fn new(product: Product, version: String, d: &Distro) -> Flavor {
        let deb = d.packaging == Packaging::Deb;
        let comment = match (product, d.os_id) {
            (Product::MariaDb, "debian" | "ubuntu") => {
                format!("{} {}", capitalised(d.os_id), d.version_id)
            }
            (Product::MariaDb, "kali") => format!("Kali {}", d.version_id),
            (Product::MariaDb, "arch") => "Arch Linux".to_owned(),
            (Product::MariaDb, _) => "MariaDB Server".to_owned(),
            (_, "ubuntu") => "(Ubuntu)".to_owned(),
            (_, _) if deb => format!("({})", capitalised(d.os_id)),
            _ => "Source distribution".to_owned(),
        };
        let socket = match (product, d.packaging) {
            (_, Packaging::Rpm) => "/var/lib/mysql/mysql.sock",
            (Product::MariaDb, _) => "/run/mysqld/mysqld.sock",
            _ => "/var/run/mysqld/mysqld.sock",
        };
        let compile_os = if product == Product::MariaDb && deb {
            "debian-linux-gnu"
        } else {
            "Linux"
        };
        Flavor {
            product,
            version,
            comment,
            socket,
            compile_os,
        }
    }
}

fn mysql_product(v: &str) -> Product {
    match v.split('.').next().and_then(|m| m.parse::<u32>().ok()) {
        Some(m) if m >= 8 => Product::Mysql8,
        _ => Product::Mysql5,
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::persona::distro;

    #[test]
    fn each_distro_runs_what_it_ships() {
        let f = |slug: &str| Flavor::for_distro(distro(slug).unwrap());
        let deb = f("debian");
        assert_eq!(deb.product, Product::MariaDb);
        assert_eq!(deb.announced(), "5.5.5-10.11.6-MariaDB-0+deb12u1");
        assert_eq!(deb.comment, "Debian 12");
        let ubu = f("ubuntu22");
        assert_eq!(ubu.product, Product::Mysql8);
        assert_eq!(ubu.announced(), "8.0.36-0ubuntu0.22.04.1");
        assert_eq!(ubu.comment, "(Ubuntu)");
        let rocky = f("rocky9");
        assert_eq!(
            (rocky.product, rocky.announced().as_str()),
            (Product::MariaDb, "5.5.5-10.5.22-MariaDB")
        );
        assert_eq!(f("centos7").announced(), "5.5.68-MariaDB");
        assert_eq!(
            f("arch").announced(),
            "11.2.3-MariaDB",
            "no 5.5.5- since 11.0"
        );
    }

    #[test]
    fn a_version_key_names_the_product() {
        let d = distro("debian").unwrap();
        let m = Flavor::from_version("8.0.36", d).unwrap();
        assert_eq!(m.product, Product::Mysql8);
        let m = Flavor::from_version("5.7.44-log", d).unwrap();
        assert_eq!(m.product, Product::Mysql5);
        let m = Flavor::from_version("5.5.5-10.6.16-MariaDB-1:10.6.16+maria~ubu2204", d).unwrap();
        assert_eq!(m.product, Product::MariaDb);
        assert_eq!(m.version, "10.6.16-MariaDB-1:10.6.16+maria~ubu2204");
        assert!(Flavor::from_version("mysql 8", d).is_none());
        assert!(Flavor::from_version("", d).is_none());
    }
}
