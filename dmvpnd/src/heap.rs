//! Giving freed heap memory back to the system (issue 15).
//!
//! glibc's malloc keeps the memory the daemon frees for reuse and returns
//! only the free top of each arena. A hub restart's burst (100 000
//! Registration Requests queued for the NHRP instance) and a large state
//! query (the peer table of 100 000 spokes, its JSON and its YANG tree)
//! free tens of megabytes at once, scattered through the arenas: without
//! help the hub would keep its peak for good. A thread looks at the heap
//! once a second and, when the memory it holds free grew by `STEP` since
//! the last trim, has glibc return the free pages (`malloc_trim`).
//!
//! ```text
//!   every PERIOD: free = mallinfo2().fordblks
//!                 free >= least free since the last trim + STEP
//!                   --> malloc_trim(0)
//! ```

use std::time::Duration;

use holo_utils::sys::heap as sys;

const PERIOD: Duration = Duration::from_secs(1);
/// Below this, what a trim returns is not worth its walk of the arenas.
const STEP: usize = 8 << 20;

/// Starts the trimming thread; a failure to start is logged, the daemon
/// runs on without it.
pub fn spawn() {
    let started = std::thread::Builder::new()
        .name("heap-trim".to_owned())
        .spawn(|| {
            let mut least = sys::free_bytes();
            loop {
                std::thread::sleep(PERIOD);
                let free = sys::free_bytes();
                least = least.min(free);
                if free >= least.saturating_add(STEP) {
                    sys::trim();
                    least = free;
                    tracing::debug!(
                        free_mb = free >> 20,
                        in_use_mb = sys::used_bytes() >> 20,
                        "freed heap memory returned to the system"
                    );
                }
            }
        });
    if let Err(error) = started {
        tracing::warn!(%error, "heap trimming thread not started: freed memory stays with the daemon");
    }
}
