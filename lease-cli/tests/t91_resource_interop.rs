//! Resource leases between our daemon (host 1) and the real sanlock daemon (host 2) in one
//! lockspace on one loop device (io_timeout 1): each side's exclusive lease keeps the other out
//! (-243), released it passes to the other side, and the lease version continues across both
//! (read by `lease direct read_leader` and `sanlock direct read_leader`, byte for byte the same
//! text); shared leases are granted to both and keep exclusive requests out; conversions are
//! refused while the other side shares. And the drop-in view: python3-sanlock and `sanlock
//! client convert` get the same answers from our daemon as from sanlock's for acquire, inquire,
//! convert and release, exclusive and shared.
//!
//! Our daemon runs with the default watchdog_fire_timeout (60, sanlock's fixed value): every
//! host of a lockspace must agree on it. Nothing here waits for a host to die.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{init_ls, s, same_output, LEASE};
use lease_tests::{
    done_rv, join_in_parallel, parse_dump, read_leader_json, require_loop_device, DaemonProcess,
    DumpRow, LoopDevice, PyHolder, Python, Run, Sanlock, Scratch, LS_DEFS, MIB,
};
use serde_json::{json, Value};

const IO_TIMEOUT: u32 = 1;
/// Bound on one python3-sanlock call.
const CALL: Duration = Duration::from_secs(30);
const R1: (&str, u64) = ("R1", MIB);
const R2: (&str, u64) = ("R2", 2 * MIB);
const IDLIVE: i64 = -243;
/// EAGAIN as python3-sanlock reports it (system errno values are positive there).
const PY_EAGAIN: i64 = 11;
const PY_EEXIST: i64 = 17;
const SANLK_RES_LVER: u64 = 0x1;
const SANLK_RES_SHARED: u64 = 0x4;

/// Ours (host 1) and sanlock (host 2) joined to LS. Fields drop in order.
struct Mixed {
    ours: DaemonProcess,
    theirs: DaemonProcess,
    loop_dev: LoopDevice,
    sanlock: Sanlock,
    python: Python,
    _scratch: Scratch,
}

impl Mixed {
    fn start(test: &str) -> Option<Mixed> {
        let sanlock = Sanlock::require(test)?;
        let python = Python::require(test)?;
        let scratch = Scratch::new(test);
        let image = scratch.image("disk.img", 16 * MIB);
        let loop_dev = require_loop_device(test, &image, 512)?;
        init_ls(loop_dev.path(), &[R1, R2]);
        // Our defaults (watchdog_fire_timeout 60, as sanlock's), whatever /etc/sanlock says.
        let config = scratch.path().join("empty.conf");
        std::fs::write(&config, "").expect("config");
        let ours = DaemonProcess::start_lease(
            Path::new(LEASE),
            "ours",
            &scratch.path().join("ours"),
            Some(&config),
            &["-e", "ours"],
        );
        let theirs = DaemonProcess::start_sanlock(&sanlock, "sanlock", &scratch.path().join("s"));
        join_in_parallel([&ours, &theirs], "LS", loop_dev.path(), IO_TIMEOUT);
        Some(Mixed {
            ours,
            theirs,
            loop_dev,
            sanlock,
            python,
            _scratch: scratch,
        })
    }

    fn dev(&self) -> PathBuf {
        self.loop_dev.path().to_path_buf()
    }

    fn holder(&self, daemon: &DaemonProcess, label: &str) -> PyHolder {
        let defs = format!("D = {:?}\n{LS_DEFS}", s(&self.dev()));
        PyHolder::start(&self.python, daemon.run_dir(), label, &defs)
    }

    fn res(&self, (name, offset): (&str, u64), suffix: &str) -> String {
        format!("LS:{name}:{}:{offset}{suffix}", s(&self.dev()))
    }

    /// `sanlock client ARGS` against `daemon` (ours or sanlock's).
    fn sanlock_client(&self, daemon: &DaemonProcess, args: &[&str]) -> Run {
        let mut all = vec!["client"];
        all.extend_from_slice(args);
        Run::new_with_env(
            self.sanlock.path(),
            &all,
            &[("SANLOCK_RUN_DIR", daemon.run_dir().as_os_str())],
        )
    }

    /// The leader as both `lease` and `sanlock` read it (identical text asserted); the JSON
    /// form.
    fn leader(&self, res: (&str, u64)) -> Value {
        let resource = self.res(res, "");
        same_output(&self.sanlock, &["direct", "read_leader", "-r", &resource]);
        read_leader_json(Path::new(LEASE), &resource)
    }

    fn describe(&self) -> String {
        format!("{}\n{}", self.ours.describe(), self.theirs.describe())
    }
}

/// (flags, version) of each resource the holder has, per python3-sanlock's inquire.
fn inquired(holder: &mut PyHolder) -> Vec<(u64, u64)> {
    let list = holder.ok("inq()", CALL);
    list.as_array()
        .unwrap_or_else(|| panic!("inquire: {list}"))
        .iter()
        .map(|r| {
            (
                r["flags"].as_u64().unwrap_or_default(),
                r["version"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

fn owner_lver(leader: &Value) -> (u64, u64, bool) {
    (
        leader["owner_id"].as_u64().unwrap_or_default(),
        leader["lver"].as_u64().unwrap_or_default(),
        leader["timestamp"].as_u64().unwrap_or_default() != 0,
    )
}

#[test]
fn ours_and_sanlock_pass_one_lease_back_and_forth_and_share_it() {
    let Some(m) = Mixed::start("t91_interop") else {
        return;
    };
    let mut o1 = m.holder(&m.ours, "ours-1");
    let mut s1 = m.holder(&m.theirs, "sanlock-1");

    // Ours holds it: sanlock's host is kept out.
    assert_eq!(o1.acq(R1, ""), 0, "{}", m.describe());
    let (owner, n, held) = owner_lver(&m.leader(R1));
    assert_eq!((owner, held), (1, true));
    assert_eq!(inquired(&mut o1), vec![(SANLK_RES_LVER, n)]);
    assert_eq!(s1.acq(R1, ""), IDLIVE, "{}", m.describe());
    assert_eq!(s1.acq(R1, "shared=True"), IDLIVE, "sanlock asking shared");
    let refused = m
        .theirs
        .client(&["acquire", "-p", &s1.pid().to_string(), "-r", &m.res(R1, "")]);
    assert_eq!(done_rv(&refused), Some(IDLIVE), "{}", refused.describe());

    // Released by ours, sanlock gets it at n + 1; now ours is kept out.
    assert_eq!(o1.rel(R1), 0);
    assert_eq!(owner_lver(&m.leader(R1)), (1, n, false));
    assert_eq!(s1.acq(R1, ""), 0, "{}", m.describe());
    assert_eq!(owner_lver(&m.leader(R1)), (2, n + 1, true));
    assert_eq!(inquired(&mut s1), vec![(SANLK_RES_LVER, n + 1)]);
    assert_eq!(o1.acq(R1, ""), IDLIVE, "{}", m.describe());
    let refused = m
        .ours
        .client(&["acquire", "-p", &o1.pid().to_string(), "-r", &m.res(R1, "")]);
    assert_eq!(done_rv(&refused), Some(IDLIVE), "{}", refused.describe());
    assert!(inquired(&mut o1).is_empty());

    // Released by sanlock, ours gets it with the version sanlock left (n + 1), at n + 2.
    assert_eq!(s1.rel(R1), 0);
    assert_eq!(owner_lver(&m.leader(R1)), (2, n + 1, false));
    let with_version = m.ours.client(&[
        "acquire",
        "-p",
        &o1.pid().to_string(),
        "-r",
        &m.res(R1, &format!(":{}", n + 1)),
    ]);
    assert_eq!(
        done_rv(&with_version),
        Some(0),
        "{}\n{}",
        with_version.describe(),
        m.describe()
    );
    assert_eq!(owner_lver(&m.leader(R1)), (1, n + 2, true));
    assert_eq!(inquired(&mut o1), vec![(SANLK_RES_LVER, n + 2)]);
    assert_eq!(o1.rel(R1), 0);
    let dump = m.sanlock.ok(&["direct", "dump", s(&m.dev())]);
    assert!(
        parse_dump(&dump, false).iter().any(|row| matches!(
            row,
            DumpRow::Paxos { resource, lver, timestamp: 0, .. } if resource == R1.0 && *lver == (n + 2).to_string()
        )),
        "sanlock's dump: {dump}"
    );

    // Shared by both hosts; an exclusive request from either side is refused: -EAGAIN from a
    // host with no local holder, -EEXIST from one where another process shares it.
    let mut o2 = m.holder(&m.ours, "ours-2");
    let mut s2 = m.holder(&m.theirs, "sanlock-2");
    assert_eq!(o1.acq(R2, "shared=True"), 0, "{}", m.describe());
    let theirs_ex = s2.acq(R2, "");
    assert_eq!(
        theirs_ex, PY_EAGAIN,
        "sanlock's answer to EX while ours shares"
    );
    assert_eq!(s1.acq(R2, "shared=True"), 0, "{}", m.describe());
    assert_eq!(inquired(&mut o1), vec![(SANLK_RES_SHARED, 0)]);
    assert_eq!(inquired(&mut s1), vec![(SANLK_RES_SHARED, 0)]);
    let theirs_local = s2.acq(R2, "");
    let ours_local = o2.acq(R2, "");
    assert_eq!(
        theirs_local, PY_EEXIST,
        "sanlock's answer to EX while shared locally"
    );
    assert_eq!(ours_local, theirs_local, "EX while shared here and there");
    assert_eq!(o1.rel(R2), 0);
    let ours_ex = o2.acq(R2, "");
    assert_eq!(
        ours_ex, theirs_ex,
        "ours answers EX while sanlock shares like sanlock"
    );
    assert_eq!(o1.acq(R2, "shared=True"), 0, "{}", m.describe());
    let dump = m.sanlock.ok(&["direct", "dump", s(&m.dev())]);
    let shared: Vec<u64> = parse_dump(&dump, false)
        .iter()
        .filter_map(|row| match row {
            DumpRow::Shared { host_id, .. } => Some(*host_id),
            _ => None,
        })
        .collect();
    assert_eq!(shared, vec![1, 2], "sanlock's dump: {dump}");

    // Conversion across: SH→EX refused while the other side shares (`sanlock client convert`
    // against our daemon, `lease client convert` against sanlock's), then allowed.
    let o1_pid = o1.pid().to_string();
    let s1_pid = s1.pid().to_string();
    let to_ex = m.res(R2, "");
    let to_sh = m.res(R2, ":SH");
    let refused = m.sanlock_client(&m.ours, &["convert", "-p", &o1_pid, "-r", &to_ex]);
    assert_eq!(done_rv(&refused), Some(-11), "{}", refused.describe());
    let refused_theirs = Run::new_with_env(
        LEASE,
        &["client", "convert", "-p", &s1_pid, "-r", &to_ex],
        &[("SANLOCK_RUN_DIR", m.theirs.run_dir().as_os_str())],
    );
    assert_eq!(
        refused.stdout.replace(&o1_pid, "PID"),
        refused_theirs.stdout.replace(&s1_pid, "PID"),
        "ours and sanlock refuse the conversion alike"
    );
    assert_eq!(s1.rel(R2), 0);
    let converted = m.sanlock_client(&m.ours, &["convert", "-p", &o1_pid, "-r", &to_ex]);
    assert_eq!(done_rv(&converted), Some(0), "{}", converted.describe());
    let (owner, lver, held) = owner_lver(&m.leader(R2));
    assert_eq!((owner, held), (1, true));
    assert_eq!(inquired(&mut o1), vec![(SANLK_RES_LVER, lver)]);
    assert_eq!(s1.acq(R2, ""), IDLIVE);
    let back = m
        .ours
        .client(&["convert", "-p", &o1_pid, "-r", to_sh.as_str()]);
    assert_eq!(done_rv(&back), Some(0), "{}", back.describe());
    assert_eq!(s1.acq(R2, "shared=True"), 0, "{}", m.describe());
    assert_eq!(o1.rel(R2), 0);
    assert_eq!(s1.rel(R2), 0);
    assert_eq!(s2.acq(R2, ""), 0, "nobody shares any more");
    assert_eq!(s2.rel(R2), 0);
}

/// A shared request for a lease another host holds exclusively: sanlock refuses it at once with
/// -243 (SANLK_ACQUIRE_IDLIVE); it retries (and ends with -246, SANLK_ACQUIRE_SHRETRY) only
/// when the leader carries LFL_SHORT_HOLD, i.e. the owner is itself in the middle of a shared
/// acquire (format spec §5.6). Ours must answer the same, in about the same time.
#[test]
fn a_shared_request_for_a_lease_held_exclusively_elsewhere_is_refused_like_sanlock() {
    let Some(m) = Mixed::start("t91_sh_vs_ex") else {
        return;
    };
    let mut o1 = m.holder(&m.ours, "ours-1");
    let mut s1 = m.holder(&m.theirs, "sanlock-1");
    let timed = |holder: &mut PyHolder| {
        let start = Instant::now();
        let result = holder.acq(R1, "shared=True");
        (result, start.elapsed())
    };

    assert_eq!(o1.acq(R1, ""), 0);
    let (theirs, theirs_took) = timed(&mut s1);
    assert_eq!(o1.rel(R1), 0);
    assert_eq!(s1.acq(R1, ""), 0);
    let (ours, ours_took) = timed(&mut o1);
    assert_eq!(s1.rel(R1), 0);
    println!(
        "shared request while the other host holds exclusively: sanlock {theirs} after \
         {theirs_took:?}, ours {ours} after {ours_took:?}"
    );
    assert_eq!(theirs, IDLIVE, "sanlock's answer");
    assert_eq!(
        ours,
        theirs,
        "ours answers differently from sanlock (took {ours_took:?})\n{}",
        m.ours.describe()
    );
    assert!(
        ours_took < theirs_took + Duration::from_secs(1),
        "ours took {ours_took:?}, sanlock {theirs_took:?}"
    );
}

/// The drop-in script: python3-sanlock acquires, inquires and releases, exclusive and shared,
/// and `sanlock client convert -p PID` converts both ways (D and SANLOCK is the sanlock binary).
const DROPIN_SCRIPT: &str = r#"
import subprocess
MiB = 1 << 20
out = {}
R = "LS:R1:%s:%d" % (D, MiB)
DISKS = [(D, MiB)]

def step(name, fn, *args, **kw):
    out[name] = call(fn, *args, **kw)

def convert(name, suffix):
    run = subprocess.run([SANLOCK, "client", "convert", "-r", R + suffix, "-p", str(os.getpid())],
                         capture_output=True, text=True)
    out[name] = {"status": run.returncode,
                 "stdout": run.stdout.replace(str(os.getpid()), "PID")}

step("add", sanlock.add_lockspace, b"LS", 1, D, 0, iotimeout=1)
fd = sanlock.register()
step("acquire_ex", sanlock.acquire, b"LS", b"R1", DISKS, slkfd=fd)
step("inquire_ex", sanlock.inquire, slkfd=fd)
step("acquire_ex_again", sanlock.acquire, b"LS", b"R1", DISKS, slkfd=fd)
convert("convert_to_sh", ":SH")
step("inquire_converted_sh", sanlock.inquire, slkfd=fd)
convert("convert_to_sh_again", ":SH")
convert("convert_to_ex", "")
step("inquire_converted_ex", sanlock.inquire, slkfd=fd)
convert("convert_to_ex_again", "")
step("release_ex", sanlock.release, b"LS", b"R1", DISKS, slkfd=fd)
step("inquire_released", sanlock.inquire, slkfd=fd)
convert("convert_not_held", ":SH")
step("acquire_sh", sanlock.acquire, b"LS", b"R1", DISKS, slkfd=fd, shared=True)
step("inquire_sh", sanlock.inquire, slkfd=fd)
step("release_sh", sanlock.release, b"LS", b"R1", DISKS, slkfd=fd)
step("release_sh_again", sanlock.release, b"LS", b"R1", DISKS, slkfd=fd)
step("acquire_ex_after_sh", sanlock.acquire, b"LS", b"R1", DISKS, slkfd=fd)
step("inquire_end", sanlock.inquire, slkfd=fd)
step("release_end", sanlock.release, b"LS", b"R1", DISKS, slkfd=fd)
os.close(fd)
step("rem", sanlock.rem_lockspace, b"LS", 1, D, 0)
emit(out)
"#;

/// Replaces `disk` by `DISK` in every string.
fn normalise(value: &Value, disk: &str) -> Value {
    match value {
        Value::String(text) => Value::String(text.replace(disk, "DISK")),
        Value::Array(items) => Value::Array(items.iter().map(|v| normalise(v, disk)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| (key.clone(), normalise(v, disk)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Runs the drop-in script against a daemon started by `start` on a fresh loop device.
fn dropin_against(
    python: &Python,
    sanlock: &Sanlock,
    scratch: &Scratch,
    name: &str,
    start: impl FnOnce(&Path) -> DaemonProcess,
) -> Option<Value> {
    let image = scratch.image(&format!("{name}.img"), 16 * MIB);
    let loop_dev = require_loop_device(name, &image, 512)?;
    init_ls(loop_dev.path(), &[("R1", MIB)]);
    let dev = s(loop_dev.path()).to_owned();
    let daemon = start(&scratch.path().join(name));
    let script = format!(
        "D = {dev:?}\nSANLOCK = {:?}\n{DROPIN_SCRIPT}",
        sanlock.path().to_string_lossy()
    );
    let value = python.run_json(daemon.run_dir(), &script);
    drop(daemon);
    drop(loop_dev);
    let value = normalise(&value, &dev);
    println!("{name}: {value:#}");
    Some(value)
}

#[test]
fn python3_sanlock_and_sanlock_client_convert_get_sanlocks_answers_from_our_daemon() {
    let test = "t91_dropin";
    let Some(sanlock) = Sanlock::require(test) else {
        return;
    };
    let Some(python) = Python::require(test) else {
        return;
    };
    let scratch = Scratch::new(test);
    let config = scratch.path().join("empty.conf");
    std::fs::write(&config, "").expect("config");
    let (ours, theirs) = std::thread::scope(|scope| {
        let ours = scope.spawn(|| {
            dropin_against(&python, &sanlock, &scratch, "ours", |dir| {
                DaemonProcess::start_lease(Path::new(LEASE), "ours", dir, Some(&config), &[])
            })
        });
        let theirs = scope.spawn(|| {
            dropin_against(&python, &sanlock, &scratch, "sanlock", |dir| {
                DaemonProcess::start_sanlock(&sanlock, "sanlock", dir)
            })
        });
        (ours.join().expect("ours"), theirs.join().expect("sanlock"))
    });
    let (Some(ours), Some(theirs)) = (ours, theirs) else {
        return;
    };

    // What our daemon answers, step by step.
    let ok = |v: Value| json!({ "ok": v });
    let res = |flags: u64, version: u64| {
        json!([{"lockspace": "LS", "resource": "R1", "flags": flags, "version": version,
                "disks": [["DISK", MIB]]}])
    };
    let converted = |rv: i64| json!({"status": i64::from(rv != 0), "stdout": format!("convert pid PID\nconvert done {rv}\n")});
    assert_eq!(ours["acquire_ex"], ok(Value::Null));
    assert_eq!(ours["inquire_ex"], ok(res(SANLK_RES_LVER, 1)));
    assert_eq!(ours["convert_to_sh"], converted(0));
    assert_eq!(ours["inquire_converted_sh"], ok(res(SANLK_RES_SHARED, 0)));
    assert_eq!(ours["convert_to_ex"], converted(0));
    assert_eq!(
        ours["inquire_converted_ex"]["ok"][0]["flags"],
        SANLK_RES_LVER
    );
    assert_eq!(ours["release_ex"], ok(Value::Null));
    assert_eq!(ours["inquire_released"], ok(json!([])));
    assert_eq!(ours["acquire_sh"], ok(Value::Null));
    assert_eq!(ours["inquire_sh"], ok(res(SANLK_RES_SHARED, 0)));
    assert_eq!(ours["release_sh"], ok(Value::Null));
    assert_eq!(ours["acquire_ex_after_sh"], ok(Value::Null));

    // And exactly what the same steps get from sanlock.
    let steps = theirs.as_object().expect("object");
    let differences: Vec<String> = steps
        .iter()
        .filter(|(step, want)| &ours[step.as_str()] != *want)
        .map(|(step, want)| format!("{step}: ours {} vs sanlock {want}", ours[step.as_str()]))
        .collect();
    assert_eq!(
        steps.len(),
        ours.as_object().map_or(0, |o| o.len()),
        "step lists differ"
    );
    assert!(
        differences.is_empty(),
        "our daemon answers differently from sanlock:\n{}",
        differences.join("\n")
    );
}
