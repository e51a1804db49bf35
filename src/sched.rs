//! Who gets the CPU first: the threads that answer queries, then everything else, and last the
//! long jobs (a zone reload, a metrics scrape or status page with every region, a transfer
//! build, re-signing).
//!
//! On a core busy with a long job, a query waits until the kernel switches to its thread; on
//! Linux's EEVDF scheduler that waits for the job's slice unless the query thread is clearly
//! owed the CPU. So query threads ask for a short slice ([`query_thread`]) and long jobs run on
//! threads of their own at the lowest priority, nice 19 ([`background`]): measured with a
//! responder that does nothing beside a thread that never sleeps on its core
//! (`bench/INCIDENTS.md`), the 99th-percentile latency stayed at the quiet figure with the
//! other thread at nice 19 and grew 5–10× at nice 0 or 10. The price: on a core the queries
//! saturate, long jobs get little CPU and finish late (queries come first); probes, transfers
//! already built and the admin API's small answers run on the runtime at the normal priority.
//!
//! A zone transfer build is the exception ([`job`]: its own thread at the normal priority). A
//! secondary waiting for one is an operator's server that answers the internet: at nice 19
//! beside busy cores, eight builds held their slots past the ten seconds the next transfers
//! wait, and those got SERVFAIL (review of #28). At most eight run at once.

use std::io;
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::debug;

/// The slice a query thread asks for.
const QUERY_SLICE: Duration = Duration::from_micros(100);
/// The nice value of a long job's thread: the lowest priority a process may give itself.
const BACKGROUND_NICE: i32 = 19;

/// Asks the kernel for a short scheduler slice for the calling thread, keeping its policy and
/// nice value, so a query that wakes it preempts a long job at once (Linux 6.12+). Best
/// effort: older kernels refuse or ignore it, and nothing else changes.
pub fn query_thread() {
    // SAFETY: getpriority reads the calling thread's nice value; no memory is passed.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let attr = libc::sched_attr {
        size: u32::try_from(std::mem::size_of::<libc::sched_attr>()).unwrap_or(48),
        sched_policy: u32::try_from(libc::SCHED_OTHER).unwrap_or(0),
        sched_flags: 0,
        sched_nice: nice,
        sched_priority: 0,
        sched_runtime: u64::try_from(QUERY_SLICE.as_nanos()).unwrap_or(100_000),
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: pid 0 is the calling thread; `attr` is a valid sched_attr of the size it states,
    // read by the kernel during the call only.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw const attr, 0) };
    if rc != 0 {
        debug!(error = %io::Error::last_os_error(), "query thread keeps the default slice");
    }
}

/// Runs `f` on a new thread named `gslbd-bg-NAME` at nice 19; the receiver yields its result,
/// or an error if the thread could not start or `f` panicked.
pub fn background<T, F>(name: &str, f: F) -> oneshot::Receiver<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    thread(name, true, f)
}

/// Runs `f` on a new thread named `gslbd-bg-NAME` at the normal priority, like
/// [`background`] otherwise: for work a peer waits on (a transfer build).
pub fn job<T, F>(name: &str, f: F) -> oneshot::Receiver<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    thread(name, false, f)
}

fn thread<T, F>(name: &str, lowest: bool, f: F) -> oneshot::Receiver<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let started = std::thread::Builder::new()
        .name(format!("gslbd-bg-{name}"))
        .spawn(move || {
            if lowest {
                lower_priority();
            }
            let _ = tx.send(f());
        });
    if let Err(e) = started {
        // The closure, and with it the sender, is dropped: the receiver reports the loss.
        debug!(error = %e, job = name, "cannot start a background thread");
    }
    rx
}

/// Sets the calling thread's nice value to [`BACKGROUND_NICE`].
fn lower_priority() {
    // SAFETY: PRIO_PROCESS with 0 names the calling thread on Linux; no memory is passed.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, BACKGROUND_NICE) };
    if rc != 0 {
        debug!(error = %io::Error::last_os_error(), "background thread keeps its priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's nice value and its name, as the kernel reports them.
    fn nice_and_name() -> (i32, String) {
        // SAFETY: reads the calling thread's nice value; no memory is passed.
        let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let name = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
        (nice, name.trim().to_string())
    }

    #[tokio::test]
    async fn a_background_job_runs_at_nice_19_on_its_own_named_thread() {
        let (nice, name) = background("test", nice_and_name)
            .await
            .expect("the job ran");
        assert_eq!(nice, BACKGROUND_NICE);
        assert_eq!(name, "gslbd-bg-test");
        // The caller keeps its own priority.
        assert_ne!(nice_and_name().0, BACKGROUND_NICE);
    }

    #[tokio::test]
    async fn a_peer_facing_job_keeps_the_callers_priority_on_its_own_named_thread() {
        let (nice, name) = job("xfr", nice_and_name).await.expect("the job ran");
        assert_eq!(nice, nice_and_name().0);
        assert_eq!(name, "gslbd-bg-xfr");
    }

    #[tokio::test]
    async fn a_job_that_panics_reports_an_error_and_nothing_else_fails() {
        let job = background("panics", || -> u32 { panic!("in a test") });
        assert!(job.await.is_err());
    }

    #[test]
    fn a_query_thread_asks_for_a_short_slice_where_the_kernel_has_slices() {
        let slice = std::thread::spawn(|| {
            query_thread();
            let sched = std::fs::read_to_string("/proc/thread-self/sched").unwrap_or_default();
            sched
                .lines()
                .find(|l| l.starts_with("se.slice"))
                .and_then(|l| l.rsplit(' ').next()?.trim().parse::<u64>().ok())
        })
        .join()
        .expect("thread");
        // Kernels before EEVDF's custom slices show no se.slice: nothing to check there.
        if let Some(ns) = slice {
            assert_eq!(u128::from(ns), QUERY_SLICE.as_nanos());
        }
    }
}
