//! Cleanup on every exit path: the guards ([`crate::setup::LoopDev`],
//! [`crate::daemons::DaemonProc`], [`crate::setup::Workdir`]) undo their work on drop, and
//! register it here too, so that SIGINT/SIGTERM/SIGHUP (which skip destructors) still kill the
//! daemons we started (by pid), detach our loop device and remove our scratch directory.
//!
//! [`install_signal_handler`] must run first in `main`, before any thread exists: it blocks
//! the signals in the calling thread (threads started later inherit the mask; child
//! processes get an empty mask from `std::process`) and waits for them on a dedicated thread.

use std::path::PathBuf;
use std::sync::Mutex;

/// Something to undo.
#[derive(Clone, Debug)]
pub enum Item {
    /// A process we started: SIGKILL it.
    Pid(i32),
    /// A loop device we attached: `losetup -d`.
    Loop(PathBuf),
    /// A scratch directory we created: remove it.
    Dir(PathBuf),
}

static ITEMS: Mutex<Vec<(u64, Item)>> = Mutex::new(Vec::new());
static NEXT: Mutex<u64> = Mutex::new(0);

/// Remember `item`; returns the key for [`unregister`].
pub fn register(item: Item) -> u64 {
    let key = {
        let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        *next
    };
    ITEMS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((key, item));
    key
}

/// Forget an item its guard has undone.
pub fn unregister(key: u64) {
    ITEMS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(k, _)| *k != key);
}

/// Undo everything still registered, newest first (daemons, then the loop device, then the
/// directory).
pub fn run_all() {
    let items: Vec<(u64, Item)> =
        std::mem::take(&mut *ITEMS.lock().unwrap_or_else(|e| e.into_inner()));
    for (_, item) in items.into_iter().rev() {
        undo(&item);
    }
}

/// Undo one item (best effort, errors on stderr).
pub fn undo(item: &Item) {
    match item {
        Item::Pid(pid) => {
            let helpers = crate::procfs::children(*pid);
            // SAFETY: kill(2) on a pid we started; no memory is involved.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
            for helper in helpers {
                // SAFETY: as above, a child of a daemon we started.
                unsafe { libc::kill(helper, libc::SIGKILL) };
            }
            crate::procfs::wait_gone(*pid, std::time::Duration::from_secs(5));
        }
        Item::Loop(path) => {
            if let Err(e) = crate::setup::detach_loop(path) {
                eprintln!("cleanup: {e}");
            }
        }
        Item::Dir(path) => {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// Block SIGINT, SIGTERM and SIGHUP here and handle them on a thread: clean up, then exit
/// with 128 + signal. Call at the start of `main`.
pub fn install_signal_handler() {
    // SAFETY: plain sigset manipulation on a zeroed, owned sigset_t.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait on the set blocked above, writing to a local.
        let rc = unsafe { libc::sigwait(&set, &mut sig) };
        if rc != 0 {
            return;
        }
        eprintln!("signal {sig}: stopping daemons, detaching the loop device");
        run_all();
        std::process::exit(128 + sig);
    });
}
