//! FRR routing daemons (zebra with ospfd or bgpd, Debian's frr package) in
//! a network namespace, for the routing tests (routing_ospf.rs,
//! routing_bgp.rs), and a sampler of the kernel FIB that finds route
//! flaps.
//!
//! Each `Frr` is its own instance: configuration, pid files, logs, the
//! zebra API socket (`-z`) and the vty sockets (`--vty_socket`) all live in
//! one temp dir, so the tests never touch /etc/frr, /var/run/frr or an FRR
//! service of the host, and several instances run side by side. The
//! daemons run in the foreground as children of the test (`ip netns exec`
//! execs them, so the child is the daemon itself) and drop privileges to
//! the `frr` user as packaged (running them as root would need root in the
//! `frrvty` group): the temp dir belongs to `frr`. On drop every daemon is
//! stopped (SIGTERM, SIGKILL after 3 s) and the dir removed, also when a
//! test fails.
// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::netns::run;

/// Where Debian's frr package puts the daemons.
pub const FRR_BIN: &str = "/usr/lib/frr";

/// One FRR instance in a namespace: zebra plus protocol daemons.
#[derive(Debug)]
pub struct Frr {
    pub ns: String,
    pub dir: PathBuf,
    daemons: Vec<(String, Child)>,
}

impl Frr {
    /// Starts zebra with `zebra_conf`, then each protocol daemon of
    /// `daemons` (`("ospfd", config)`), in namespace `ns`; `name` names the
    /// temp dir. Returns once every daemon answers on its vty socket.
    pub fn start(ns: &str, name: &str, zebra_conf: &str, daemons: &[(&str, &str)]) -> Frr {
        assert!(
            PathBuf::from(FRR_BIN).join("zebra").exists(),
            "FRR is not installed ({FRR_BIN}/zebra): run scripts/setup.sh"
        );
        let dir = std::env::temp_dir().join(format!("frr-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("zebra.conf"), zebra_conf).unwrap();
        for (daemon, config) in daemons {
            std::fs::write(dir.join(format!("{daemon}.conf")), config).unwrap();
        }
        run("chown", &["-R", "frr:frr", dir.to_str().unwrap()]);
        let mut frr = Frr {
            ns: ns.to_owned(),
            dir,
            daemons: vec![],
        };
        frr.spawn("zebra");
        for (daemon, _) in daemons {
            frr.spawn(daemon);
        }
        frr
    }

    fn spawn(&mut self, daemon: &str) {
        let d = |file: &str| self.dir.join(file).to_str().unwrap().to_owned();
        let out = File::create(self.dir.join(format!("{daemon}.out"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(PathBuf::from(FRR_BIN).join(daemon))
            .args(["-f", &d(&format!("{daemon}.conf"))])
            .args(["-i", &d(&format!("{daemon}.pid"))])
            .args(["-z", &d("zserv.api")])
            .args(["--vty_socket", &d("")])
            // No TCP vty: several instances share the port numbers.
            .args(["-P", "0"])
            .args(["--log", &format!("file:{}", d(&format!("{daemon}.log")))])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        self.daemons.push((daemon.to_owned(), child));
        let vty = self.dir.join(format!("{daemon}.vty"));
        let start = Instant::now();
        while !vty.exists() {
            let (_, child) = self.daemons.last_mut().unwrap();
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{daemon} in {} exited: {status}\n{}", self.ns, self.logs());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{daemon} in {} has no vty socket after 20 s\n{}",
                self.ns,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs one vtysh command against this instance; its output.
    pub fn vtysh(&self, command: &str) -> String {
        let out = Command::new("vtysh")
            .arg("--vty_socket")
            .arg(&self.dir)
            .args(["-c", command])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "vtysh -c '{command}' in {}: {stdout}{}",
            self.ns,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// A `... json` show command, parsed (`Null` if it printed nothing).
    pub fn json(&self, command: &str) -> Value {
        let text = self.vtysh(command);
        if text.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{command}: {e}: {text}"))
    }

    /// Every daemon's log and output, for failure messages.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        let mut names: Vec<&str> = vec!["zebra"];
        names.extend(self.daemons.iter().map(|(n, _)| n.as_str()));
        names.dedup();
        for name in names {
            for ext in ["log", "out"] {
                let path = self.dir.join(format!("{name}.{ext}"));
                if let Ok(text) = std::fs::read_to_string(&path) {
                    all.push_str(&format!("--- {} ({}):\n{text}", path.display(), self.ns));
                }
            }
        }
        all
    }

    /// Stops every daemon, protocol daemons first (SIGTERM; SIGKILL after
    /// 3 s).
    pub fn stop(&mut self) {
        while let Some((_, mut child)) = self.daemons.pop() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let start = Instant::now();
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if start.elapsed() > Duration::from_secs(3) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `cond` every 200 ms (a vtysh command takes a while) for at most
/// `limit`; whether it held.
pub fn poll(limit: Duration, cond: impl FnMut() -> bool) -> bool {
    dmvpn_test_support::poll_every(Duration::from_millis(200), limit, cond)
}

/// A kernel route as `ip -j route show` prints it, reduced to what tells
/// two routes apart: (destination, protocol, metric, gateway).
pub type RouteKey = (String, String, u64, String);

/// The IPv4 main table of namespace `ns`.
pub fn fib(ns: &str) -> BTreeSet<RouteKey> {
    let text = run("ip", &["-n", ns, "-j", "route", "show"]);
    let routes: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    routes
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let s = |k: &str| match &r[k] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            (
                s("dst"),
                // The kernel's own protocols by name, others by number
                // (`proto 205`: "205"; with /etc/iproute2/rt_protos.d of
                // FRR: "ospf", "bgp").
                s("protocol"),
                r["metric"].as_u64().unwrap_or(0),
                s("gateway"),
            )
        })
        .collect()
}

/// Samples the FIB of a namespace every 100 ms in a thread until
/// `finish`; `flaps` then tells the routes that came and went.
#[derive(Debug)]
pub struct FibSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<BTreeSet<RouteKey>>>>,
}

impl FibSampler {
    pub fn start(ns: &str) -> FibSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let ns = ns.to_owned();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = vec![];
            while !flag.load(Ordering::Relaxed) {
                samples.push(fib(&ns));
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        });
        FibSampler {
            stop,
            thread: Some(thread),
        }
    }

    /// Ends the sampling; the samples, in order.
    pub fn finish(mut self) -> Vec<BTreeSet<RouteKey>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for FibSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The routes whose presence over `samples` is not one contiguous run:
/// each went away and came back (a flap), with the number of times it
/// (re)appeared. A route that only appears (a shortcut forming) or only
/// goes (a shortcut expiring) is no flap.
pub fn flaps(samples: &[BTreeSet<RouteKey>]) -> BTreeMap<RouteKey, usize> {
    let all: BTreeSet<&RouteKey> = samples.iter().flatten().collect();
    let mut flaps = BTreeMap::new();
    for key in all {
        let mut appearances = 0;
        let mut present = false;
        for sample in samples {
            let now = sample.contains(key);
            if now && !present {
                appearances += 1;
            }
            present = now;
        }
        if appearances > 1 {
            flaps.insert(key.clone(), appearances);
        }
    }
    flaps
}

/// The routes of protocol `protocol` (as `ip -j` names it) that were not
/// in every sample: for a routing daemon's routes in a stable topology,
/// any change is churn.
pub fn unstable(samples: &[BTreeSet<RouteKey>], protocol: &str) -> BTreeSet<RouteKey> {
    let all: BTreeSet<&RouteKey> = samples
        .iter()
        .flatten()
        .filter(|k| k.1 == protocol)
        .collect();
    all.into_iter()
        .filter(|k| !samples.iter().all(|s| s.contains(*k)))
        .cloned()
        .collect()
}

/// Panics unless the FIB of `samples` was stable: no route flapped, and
/// no route of the routing daemon's `protocol` (as `ip -j` names it) came
/// or went.
pub fn assert_stable(samples: &[BTreeSet<RouteKey>], protocol: &str) {
    let flapped = flaps(samples);
    assert!(
        flapped.is_empty(),
        "routes flapped in the FIB over {} samples: {flapped:?}",
        samples.len()
    );
    let churn = unstable(samples, protocol);
    assert!(
        churn.is_empty(),
        "{protocol} routes changed in the FIB: {churn:?}"
    );
}
