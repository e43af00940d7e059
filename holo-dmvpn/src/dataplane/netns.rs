//! The underlay in another network namespace (`underlay-netns`, Cisco's
//! front-door VRF): the GRE socket and the lookups of the tunnel source
//! happen there, while the TUN device, the LAN side and the kernel routes
//! stay in the daemon's namespace.
//!
//! A socket keeps the namespace it was created in, so the daemon never
//! moves itself: a short-lived thread joins the namespace (setns(2) changes
//! the calling thread only), creates what is needed and ends; the rest of
//! the process, tokio's workers included, never leaves its namespace.

use std::fs::File;
use std::io;

use futures_util::TryStreamExt;
use nix::sched::{CloneFlags, setns};
use rtnetlink::packet_route::link::LinkAttribute;

/// Where `ip netns` keeps its named namespaces (bind mounts).
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Runs `f` in a thread of its own that has joined network namespace
/// `name` (`/run/netns/NAME`), and returns its result. Whatever `f` creates
/// there (sockets, netlink connections) stays in that namespace. A missing
/// namespace is an error naming it.
pub fn run_in<T: Send>(name: &str, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    // The YANG pattern already refuses these; a path component of its own
    // is checked here too, since this is what reaches the file system.
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a network namespace name"),
        ));
    }
    let path = format!("{NETNS_RUN_DIR}/{name}");
    let file = File::open(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("network namespace {name:?} ({path}): {e}"),
        )
    })?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| {
                    io::Error::new(
                        io::Error::from(e).kind(),
                        format!("joining network namespace {name:?} ({path}): {e}"),
                    )
                })?;
                f()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(io::Error::other(format!(
                    "the thread in network namespace {name:?} panicked"
                )))
            })
    })
}

/// Runs `f` in network namespace `netns` when one is given (`run_in`),
/// else right here, in the calling thread's.
pub fn run_in_opt<T: Send>(
    netns: Option<&str>,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    match netns {
        Some(name) => run_in(name, f),
        None => f(),
    }
}

/// The MTU of `interface` in the calling thread's network namespace, read
/// over rtnetlink: `/sys/class/net` shows the namespace sysfs was mounted
/// in, not the thread's, so it is of no use after `run_in`'s setns.
/// Blocking: the query runs on a runtime of its own, in a thread of its own
/// (a thread starts in its creator's namespace), so this may be called from
/// anywhere, a tokio worker included (where a nested runtime would panic).
pub fn link_mtu(interface: &str) -> io::Result<u32> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| link_mtu_here(interface))
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the netlink thread panicked")))
    })
}

fn link_mtu_here(interface: &str) -> io::Result<u32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        // The netlink socket is created here, in this thread's namespace.
        let (connection, handle, _) = rtnetlink::new_connection()?;
        let connection = tokio::spawn(connection);
        let link = handle
            .link()
            .get()
            .match_name(interface.to_string())
            .execute()
            .try_next()
            .await;
        connection.abort();
        let link = link
            .map_err(|e| io::Error::other(format!("reading link {interface:?}: {e}")))?
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no link {interface:?}"))
            })?;
        link.attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Mtu(mtu) => Some(*mtu),
                _ => None,
            })
            .ok_or_else(|| io::Error::other(format!("link {interface:?} has no MTU attribute")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_namespace_is_named_in_the_error() {
        let error = run_in("dmvpn-no-such-netns", || Ok(())).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(
            error.to_string().contains("\"dmvpn-no-such-netns\""),
            "{error}"
        );
    }

    #[test]
    fn path_components_are_not_namespace_names() {
        for name in ["", ".", "..", "../x", "a/b"] {
            let error = run_in(name, || Ok(())).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{name:?}");
        }
    }

    #[test]
    fn without_a_namespace_the_caller_runs_it() {
        let here = std::thread::current().id();
        assert_eq!(
            run_in_opt(None, || Ok(std::thread::current().id())).unwrap(),
            here
        );
    }

    /// A namespace of `ip netns add`, deleted on drop (also on failure).
    struct Netns(String);

    impl Netns {
        fn new(role: &str) -> Netns {
            let name = format!("dmvpn-ut-{role}-{}", std::process::id());
            let ip = |args: &[&str]| {
                let status = std::process::Command::new("ip").args(args).status();
                assert!(status.is_ok_and(|s| s.success()), "ip {args:?}");
            };
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &name])
                .output();
            ip(&["netns", "add", &name]);
            let netns = Netns(name);
            // A veth pair: the dummy module is not on every test machine.
            ip(&[
                "-n", &netns.0, "link", "add", "fvrf0", "mtu", "1234", "type", "veth", "peer",
                "name", "fvrf1",
            ]);
            ip(&[
                "-n",
                &netns.0,
                "addr",
                "add",
                "198.51.100.7/24",
                "dev",
                "fvrf0",
            ]);
            ip(&["-n", &netns.0, "link", "set", "fvrf0", "up"]);
            netns
        }
    }

    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .output();
        }
    }

    /// What runs in the namespace sees its links (over netlink, not the
    /// daemon's /sys) and binds its addresses; the caller sees neither
    /// (root: `ip netns add`, a raw socket).
    #[tokio::test]
    async fn the_socket_and_the_mtu_come_from_the_namespace() {
        let netns = Netns::new("bind");
        assert_eq!(run_in(&netns.0, || link_mtu("fvrf0")).unwrap(), 1234);
        assert!(link_mtu("fvrf0").is_err(), "fvrf0 leaked into the caller's");
        let source = std::net::Ipv4Addr::new(198, 51, 100, 7);
        let underlay = super::super::underlay::Underlay::bind(source, 9, Some(&netns.0));
        assert_eq!(underlay.unwrap().ttl().unwrap(), 9);
        let here = super::super::underlay::Underlay::bind(source, 9, None).unwrap_err();
        assert_eq!(here.kind(), io::ErrorKind::AddrNotAvailable, "{here}");
    }

    /// Every namespace has `lo`; its MTU (65536) is read over netlink.
    #[test]
    fn the_loopback_mtu_is_read_over_netlink() {
        assert_eq!(link_mtu("lo").unwrap(), 65_536);
        let error = link_mtu("no-such-if0").unwrap_err();
        assert!(error.to_string().contains("no-such-if0"), "{error}");
    }
}
