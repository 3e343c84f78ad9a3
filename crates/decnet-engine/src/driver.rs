//! Network drivers: how a decky's listener sockets are made. Persona socket
//! options (IP TTL, receive buffer) are set before `listen` so every accepted
//! connection inherits them and looks like the persona's OS.

use std::io;
use std::net::SocketAddr;

use decnet_core::config::model::Driver;
use decnet_core::persona::OsFamily;
use socket2::{Domain, Protocol, Socket, Type};

/// Accept backlog of every listener.
const BACKLOG: i32 = 1024;

/// Builds a listening TCP socket for a decky service.
pub fn bind_tcp(
    addr: SocketAddr,
    family: OsFamily,
    driver: Driver,
) -> io::Result<std::net::TcpListener> {
    let socket = persona_socket(addr, family, driver, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Builds a bound UDP socket for a decky service; its replies carry the persona's TTL.
pub fn bind_udp(
    addr: SocketAddr,
    family: OsFamily,
    driver: Driver,
) -> io::Result<std::net::UdpSocket> {
    let socket = persona_socket(addr, family, driver, Type::DGRAM, Protocol::UDP)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A non-blocking socket with the persona's TTL and receive buffer, not yet bound.
fn persona_socket(
    addr: SocketAddr,
    family: OsFamily,
    driver: Driver,
    ty: Type,
    protocol: Protocol,
) -> io::Result<Socket> {
    if driver == Driver::Loopback && !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a loopback address (driver loopback)", addr.ip()),
        ));
    }
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv4() {
        socket.set_ttl(family.ttl())?;
    } else {
        socket.set_unicast_hops_v6(family.ttl())?;
    }
    // The kernel doubles and clamps this; what matters is the window's order of magnitude.
    socket.set_recv_buffer_size(family.recv_buffer())?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sockets_inherit_the_persona_ttl() {
        for family in [OsFamily::Windows, OsFamily::Cisco, OsFamily::Linux] {
            let l = bind_tcp("127.0.0.1:0".parse().unwrap(), family, Driver::Loopback).unwrap();
            l.set_nonblocking(false).unwrap();
            let addr = l.local_addr().unwrap();
            let _c = std::net::TcpStream::connect(addr).unwrap();
            let (s, _) = l.accept().unwrap();
            assert_eq!(s.ttl().unwrap(), family.ttl(), "{family}");
        }
    }

    #[test]
    fn accepted_sockets_get_the_family_receive_buffer() {
        let l = bind_tcp(
            "127.0.0.1:0".parse().unwrap(),
            OsFamily::Cisco,
            Driver::Host,
        )
        .unwrap();
        l.set_nonblocking(false).unwrap();
        let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let got = socket2::SockRef::from(&s).recv_buffer_size().unwrap();
        // Linux doubles the request for bookkeeping; the default would be far larger.
        assert!(
            got >= OsFamily::Cisco.recv_buffer() && got <= 4 * OsFamily::Cisco.recv_buffer(),
            "{got}"
        );
    }

    #[test]
    fn host_driver_binds_an_address_the_host_has() {
        let l = bind_tcp(
            "127.0.0.1:0".parse().unwrap(),
            OsFamily::Linux,
            Driver::Host,
        )
        .unwrap();
        assert!(l.local_addr().unwrap().port() > 0);
        let err = bind_tcp(
            "192.0.2.1:0".parse().unwrap(),
            OsFamily::Linux,
            Driver::Host,
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable);
    }

    #[test]
    fn udp_replies_carry_the_persona_ttl() {
        let s = bind_udp(
            "127.0.0.1:0".parse().unwrap(),
            OsFamily::Windows,
            Driver::Loopback,
        )
        .unwrap();
        assert_eq!(s.ttl().unwrap(), OsFamily::Windows.ttl());
        let err = bind_udp(
            "192.0.2.1:0".parse().unwrap(),
            OsFamily::Linux,
            Driver::Loopback,
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn loopback_driver_refuses_other_addresses() {
        let err = bind_tcp(
            "192.0.2.1:0".parse().unwrap(),
            OsFamily::Linux,
            Driver::Loopback,
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
