//! Drop-in: Debian's python3-sanlock module (libsanlock underneath), pointed at our daemon with
//! `SANLOCK_RUN_DIR`, joins, inquires and leaves lockspaces (synchronously and with
//! `wait=False` + `inq_lockspace(wait=True)`), reads host status (`get_hosts`,
//! `get_lockspaces`), and registers, acquires (exclusive and shared), inquires and releases
//! resources, with sanlock's error numbers (17 for a double acquire, 1 for releasing a lease
//! not held). The same script runs against a real sanlock daemon at the same time and every
//! answer must match (timestamps aside, device paths normalised).

mod common;

use std::path::Path;

use common::{lease, s, LEASE};
use lease_tests::{require_loop_device, DaemonProcess, Python, Sanlock, Scratch, MIB};
use serde_json::{json, Value};

/// Every step's result, keyed by step name (see `call` in `lease_tests::PYTHON_PRELUDE`).
const SCRIPT: &str = r#"
LS = b"LS"
MiB = 1 << 20
out = {}

def step(name, fn, *args, **kw):
    out[name] = call(fn, *args, **kw)
    return out[name]

def until(name, limit, fn, *args, **kw):
    # Polls (bounded) until the call succeeds with a value other than None.
    deadline = time.monotonic() + limit
    while True:
        r = call(fn, *args, **kw)
        if ("ok" in r and r["ok"] is not None) or time.monotonic() > deadline:
            out[name] = r
            return r
        time.sleep(0.05)

step("inq_absent", sanlock.inq_lockspace, LS, 1, D, 0)
step("rem_absent", sanlock.rem_lockspace, LS, 1, D, 0)
step("add_sync", sanlock.add_lockspace, LS, 1, D, 0, iotimeout=1)
step("add_exists", sanlock.add_lockspace, LS, 1, D, 0, iotimeout=1)
step("inq_joined", sanlock.inq_lockspace, LS, 1, D, 0)
step("get_lockspaces", sanlock.get_lockspaces)
# Right after a join the host table may not be ready (-EAGAIN): poll.
until("get_hosts_self", 20, sanlock.get_hosts, LS, 1)
step("get_hosts_all", sanlock.get_hosts, LS)
step("get_hosts_unknown_ls", sanlock.get_hosts, b"NOPE")

fd = sanlock.register()
step("acquire_ex", sanlock.acquire, LS, b"R1", [(D, MiB)], slkfd=fd)
step("acquire_sh", sanlock.acquire, LS, b"R2", [(D, 2 * MiB)], slkfd=fd, shared=True)
step("inquire_both", sanlock.inquire, slkfd=fd)
step("acquire_again", sanlock.acquire, LS, b"R1", [(D, MiB)], slkfd=fd)
step("release_ex", sanlock.release, LS, b"R1", [(D, MiB)], slkfd=fd)
step("inquire_sh_only", sanlock.inquire, slkfd=fd)
step("release_sh", sanlock.release, LS, b"R2", [(D, 2 * MiB)], slkfd=fd)
step("release_not_held", sanlock.release, LS, b"R1", [(D, MiB)], slkfd=fd)
step("inquire_none", sanlock.inquire, slkfd=fd)
step("reacquire_ex", sanlock.acquire, LS, b"R1", [(D, MiB)], slkfd=fd)
step("inquire_reacquired", sanlock.inquire, slkfd=fd)
os.close(fd)

step("rem_sync", sanlock.rem_lockspace, LS, 1, D, 0)
step("inq_removed", sanlock.inq_lockspace, LS, 1, D, 0)
step("get_lockspaces_empty", sanlock.get_lockspaces)

step("add_async", sanlock.add_lockspace, LS, 1, D, 0, iotimeout=1, wait=False)
# The join takes at least 2·io_timeout: it is still in progress here (None, ADD flag).
step("inq_adding", sanlock.inq_lockspace, LS, 1, D, 0)
step("get_lockspaces_adding", sanlock.get_lockspaces)
step("inq_wait", sanlock.inq_lockspace, LS, 1, D, 0, wait=True)
step("get_lockspaces_joined", sanlock.get_lockspaces)
until("get_hosts_rejoined", 20, sanlock.get_hosts, LS, 1)
step("rem_async", sanlock.rem_lockspace, LS, 1, D, 0, wait=False)
deadline = time.monotonic() + 20
while call(sanlock.inq_lockspace, LS, 1, D, 0, wait=True) != {"ok": False}:
    if time.monotonic() > deadline:
        break
    time.sleep(0.05)
step("inq_after_rem_async", sanlock.inq_lockspace, LS, 1, D, 0, wait=True)
step("get_lockspaces_end", sanlock.get_lockspaces)
emit(out)
"#;

/// Two registered processes on one host, and one process twice, acquire one resource in
/// shared mode: sanlock grants every one of them (each is a token of the shared lease).
const SHARED_TWICE_SCRIPT: &str = r#"
MiB = 1 << 20
out = {}
out["add"] = call(sanlock.add_lockspace, b"LS", 1, D, 0, iotimeout=1)
r, w = os.pipe()
r2, w2 = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.close(w2)
    fd = sanlock.register()
    res = call(sanlock.acquire, b"LS", b"R2", [(D, 2 * MiB)], slkfd=fd, shared=True)
    os.write(w, (json.dumps(res) + "\n").encode())
    os.read(r2, 1)
    os._exit(0)
os.close(w)
os.close(r2)
out["first_process_shared"] = json.loads(os.fdopen(r).readline())
fd = sanlock.register()
out["second_process_shared"] = call(sanlock.acquire, b"LS", b"R2", [(D, 2 * MiB)], slkfd=fd, shared=True)
out["same_process_again"] = call(sanlock.acquire, b"LS", b"R2", [(D, 2 * MiB)], slkfd=fd, shared=True)
out["inquire_second"] = call(sanlock.inquire, slkfd=fd)
os.write(w2, b"x")
os.waitpid(pid, 0)
os.close(fd)
out["rem"] = call(sanlock.rem_lockspace, b"LS", 1, D, 0)
emit(out)
"#;

/// Replaces `disk` by `DISK` in every string and drops `timestamp` fields (they differ
/// between two daemons and runs).
fn normalise(value: &Value, disk: &str) -> Value {
    match value {
        Value::String(text) => Value::String(text.replace(disk, "DISK")),
        Value::Array(items) => Value::Array(items.iter().map(|v| normalise(v, disk)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| key.as_str() != "timestamp")
                .map(|(key, v)| (key.clone(), normalise(v, disk)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Prepares a lockspace (io_timeout 1) and resources R1 (1M) and R2 (2M) on a new loop
/// device, starts `start` on it, runs the script; returns the normalised results.
fn run_against(
    python: &Python,
    scratch: &Scratch,
    name: &str,
    script: &str,
    start: impl FnOnce(&Path) -> DaemonProcess,
) -> Option<Value> {
    let image = scratch.image(&format!("{name}.img"), 16 * MIB);
    let loop_dev = require_loop_device(name, &image, 512)?;
    let dev = s(loop_dev.path()).to_owned();
    lease(&["direct", "init", "-s", &format!("LS:0:{dev}:0"), "-o", "1"]).success();
    lease(&["direct", "init", "-r", &format!("LS:R1:{dev}:1M")]).success();
    lease(&["direct", "init", "-r", &format!("LS:R2:{dev}:2M")]).success();
    let daemon = start(&scratch.path().join(name));
    let script = format!("D = {dev:?}\n{script}");
    let value = python.run_json(daemon.run_dir(), &script);
    let log = daemon.describe();
    drop(daemon);
    drop(loop_dev);
    let value = normalise(&value, &dev);
    println!("{name}: {value:#}");
    assert!(value.is_object(), "{value}\n{log}");
    Some(value)
}

/// Runs `script` against our daemon and a sanlock daemon at the same time (each on its own
/// loop device); `None` when something needed is missing and skipping is allowed.
fn both(test: &str, script: &str) -> Option<(Value, Value)> {
    let sanlock = Sanlock::require(test)?;
    let python = Python::require(test)?;
    let scratch = Scratch::new(test);
    let config = scratch.path().join("empty.conf");
    std::fs::write(&config, "").expect("config");
    let (ours, theirs) = std::thread::scope(|scope| {
        let ours = scope.spawn(|| {
            run_against(&python, &scratch, "ours", script, |dir| {
                DaemonProcess::start_lease(Path::new(LEASE), "ours", dir, Some(&config), &[])
            })
        });
        let theirs = scope.spawn(|| {
            run_against(&python, &scratch, "sanlock", script, |dir| {
                DaemonProcess::start_sanlock(&sanlock, "sanlock", dir)
            })
        });
        (ours.join().expect("ours"), theirs.join().expect("sanlock"))
    });
    Some((ours?, theirs?))
}

#[test]
fn a_shared_lease_is_granted_to_every_local_requester_like_sanlock() {
    let Some((ours, theirs)) = both("python_shared_twice", SHARED_TWICE_SCRIPT) else {
        return;
    };
    assert_eq!(theirs["second_process_shared"], json!({"ok": null}));
    assert_eq!(ours, theirs, "ours vs sanlock");
}

#[test]
fn python3_sanlock_works_unchanged_against_our_daemon() {
    let Some((ours, theirs)) = both("python_dropin", SCRIPT) else {
        return;
    };

    // What the python module gets from our daemon, step by step.
    let ok = |v: Value| json!({ "ok": v });
    let errno = |step: &str| ours[step]["errno"].as_i64();
    let disk = |offset: u64| json!([["DISK", offset]]);
    assert_eq!(ours["inq_absent"], ok(json!(false)));
    assert_eq!(errno("rem_absent"), Some(2));
    assert_eq!(ours["add_sync"], ok(Value::Null));
    assert_eq!(errno("add_exists"), Some(17));
    assert_eq!(ours["inq_joined"], ok(json!(true)));
    assert_eq!(
        ours["get_lockspaces"],
        ok(json!([{"lockspace": "LS", "host_id": 1, "path": "DISK", "offset": 0, "flags": 0}]))
    );
    assert_eq!(
        ours["get_hosts_self"],
        ok(json!([{"host_id": 1, "generation": 1, "io_timeout": 1, "flags": 3}]))
    );
    assert_eq!(errno("get_hosts_unknown_ls"), Some(2));
    assert_eq!(ours["acquire_ex"], ok(Value::Null));
    assert_eq!(ours["acquire_sh"], ok(Value::Null));
    assert_eq!(
        ours["inquire_both"]["ok"].as_array().map(Vec::len),
        Some(2),
        "{}",
        ours["inquire_both"]
    );
    let exclusive =
        json!({"lockspace": "LS", "resource": "R1", "flags": 1, "version": 1, "disks": disk(MIB)});
    assert!(
        ours["inquire_both"]["ok"]
            .as_array()
            .is_some_and(|list| list.contains(&exclusive)),
        "{}",
        ours["inquire_both"]
    );
    assert_eq!(errno("acquire_again"), Some(17));
    assert_eq!(ours["release_ex"], ok(Value::Null));
    assert_eq!(ours["release_sh"], ok(Value::Null));
    assert_eq!(errno("release_not_held"), Some(1));
    assert_eq!(ours["inquire_none"], ok(json!([])));
    assert_eq!(
        ours["inquire_reacquired"],
        ok(
            json!([{"lockspace": "LS", "resource": "R1", "flags": 1, "version": 2, "disks": disk(MIB)}])
        )
    );
    assert_eq!(ours["rem_sync"], ok(Value::Null));
    assert_eq!(ours["inq_removed"], ok(json!(false)));
    assert_eq!(ours["get_lockspaces_empty"], ok(json!([])));
    assert_eq!(ours["add_async"], ok(Value::Null));
    assert_eq!(ours["inq_adding"], ok(Value::Null), "in progress");
    assert_eq!(
        ours["get_lockspaces_adding"]["ok"][0]["flags"],
        json!(1),
        "LSFLAG_ADD while joining: {}",
        ours["get_lockspaces_adding"]
    );
    assert_eq!(ours["inq_wait"], ok(json!(true)));
    assert_eq!(ours["get_lockspaces_joined"]["ok"][0]["flags"], json!(0));
    assert_eq!(
        ours["get_hosts_rejoined"],
        ok(json!([{"host_id": 1, "generation": 2, "io_timeout": 1, "flags": 3}]))
    );
    assert_eq!(ours["rem_async"], ok(Value::Null));
    assert_eq!(ours["inq_after_rem_async"], ok(json!(false)));
    assert_eq!(ours["get_lockspaces_end"], ok(json!([])));

    // And exactly what the same calls get from sanlock.
    let steps = theirs.as_object().expect("object");
    let mut differences = Vec::new();
    for (step, want) in steps {
        let got = &ours[step.as_str()];
        // The order of inquire's list is the daemon's own; compare as sets.
        let same = match (got["ok"].as_array(), want["ok"].as_array()) {
            (Some(a), Some(b)) if step.starts_with("inquire") => {
                a.len() == b.len() && a.iter().all(|x| b.contains(x))
            }
            _ => got == want,
        };
        if !same {
            differences.push(format!("{step}: ours {got} vs sanlock {want}"));
        }
    }
    assert_eq!(
        steps.len(),
        ours.as_object().map_or(0, |o| o.len()),
        "step lists differ"
    );
    assert!(
        differences.is_empty(),
        "python3-sanlock sees our daemon differently from sanlock:\n{}",
        differences.join("\n")
    );
}
