//! `lease client <action>`: talk to a running daemon (ours or sanlock's) over `sanlock.sock`
//! with sanlock's client protocol, and print what `sanlock client` prints (or JSON).
//!
//! The socket is `$SANLOCK_RUN_DIR/sanlock.sock` (default `/run/sanlock/sanlock.sock`), or
//! under `--run-dir`.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use lease_core::names::{
    parse_lockspace, parse_resource, LockspaceArg, ResourceArg, ResourceSuffix,
};
use lease_wire::consts as wc;
use lease_wire::ResourceWithDisks;
use lease_wire::{
    decode_reply, reply_framing, Disk, Header, Lockspace, ReplyBody, ReplyFraming, Request,
    RequestBody, StateRecord,
};
use serde_json::json;

use crate::cli::{ClientAction, ClientArgs};
use crate::direct::Console;

/// Longest a reply may take before the client gives up (add_lockspace waits for the delta
/// lease: up to host_dead + 6·io_timeout at io 255, about 34 minutes).
const REPLY_TIMEOUT: Duration = Duration::from_secs(3600);

/// The socket path for `run_dir` (flag), else `SANLOCK_RUN_DIR`, else `/run/sanlock`.
pub fn socket_path(run_dir: Option<&Path>) -> PathBuf {
    lease_daemon::rundir::resolve_run_dir(run_dir).join(lease_daemon::rundir::SOCKET_FILE)
}

/// One request, one reply, over a fresh connection.
struct Call {
    header: Header,
    body: ReplyBody,
}

/// Connects to the daemon at `socket`, sends `request` and reads the reply header, each read
/// bounded by `timeout`; the stream is left at the reply's body.
pub(crate) fn send(
    socket: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<(UnixStream, Header)> {
    let mut stream = UnixStream::connect(socket).with_context(|| {
        format!(
            "cannot connect to the daemon at {} (is it running?)",
            socket.display()
        )
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream
        .write_all(&request.encode())
        .context("cannot send the request")?;
    let mut header_bytes = [0u8; wc::HEADER_LEN];
    stream
        .read_exact(&mut header_bytes)
        .context("the daemon closed the connection without a reply")?;
    let header = Header::decode(&header_bytes).map_err(|e| anyhow!("bad reply header: {e}"))?;
    Ok((stream, header))
}

fn call(socket: &Path, request: &Request) -> Result<Call> {
    let (mut stream, header) = send(socket, request, REPLY_TIMEOUT)?;
    let cmd = request.command();
    let body = match reply_framing(cmd) {
        ReplyFraming::UntilClose => {
            let mut body = Vec::new();
            stream.read_to_end(&mut body)?;
            body
        }
        _ => {
            let len = (header.length as usize).saturating_sub(wc::HEADER_LEN);
            if len > wc::MAX_REQUEST_LEN * 64 {
                return Err(anyhow!("reply length {} is implausible", header.length));
            }
            let mut body = vec![0u8; len];
            stream.read_exact(&mut body).context("reply cut short")?;
            body
        }
    };
    let reply = decode_reply(cmd, &header, &body).map_err(|e| anyhow!("bad reply: {e}"))?;
    Ok(Call {
        header: reply.header,
        body: reply.body,
    })
}

fn wire_lockspace(arg: &LockspaceArg) -> Result<Lockspace> {
    let name = lease_wire::Name::new(arg.name.as_bytes())
        .ok_or_else(|| anyhow!("lockspace name too long"))?;
    let path =
        lease_wire::Path::new(arg.disk.path.as_bytes()).ok_or_else(|| anyhow!("path too long"))?;
    Ok(Lockspace {
        name,
        host_id: arg.host_id,
        flags: 0,
        pad: 0,
        host_id_disk: Disk::new(path, arg.disk.offset),
    })
}

fn lockspace_arg(text: Option<&String>) -> Result<LockspaceArg> {
    let text =
        text.ok_or_else(|| anyhow!("this action needs -s LOCKSPACE (name:host_id:path:offset)"))?;
    parse_lockspace(text).map_err(|e| anyhow!("-s {text}: {e}"))
}

/// Only the name matters for some commands: accept `-s NAME` as well as the full string.
fn lockspace_name_only(text: Option<&String>) -> Result<Lockspace> {
    let text = text.ok_or_else(|| anyhow!("this action needs -s LOCKSPACE"))?;
    match parse_lockspace(text) {
        Ok(arg) => wire_lockspace(&arg),
        Err(_) => {
            let name = text.split(':').next().unwrap_or_default();
            let name = lease_wire::Name::new(name.as_bytes())
                .ok_or_else(|| anyhow!("lockspace name too long"))?;
            Ok(Lockspace {
                name,
                ..Lockspace::default()
            })
        }
    }
}

fn lockspace_string(ls: &Lockspace) -> String {
    format!(
        "{}:{}:{}:{}",
        ls.name.to_string_lossy(),
        ls.host_id,
        String::from_utf8_lossy(&lease_wire::res_string::path_export(
            ls.host_id_disk.path.as_bytes()
        )),
        ls.host_id_disk.offset
    )
}

fn state_name(flags: u32) -> &'static str {
    match flags & wc::SANLK_HOST_MASK {
        wc::SANLK_HOST_FREE => "FREE",
        wc::SANLK_HOST_LIVE => "LIVE",
        wc::SANLK_HOST_FAIL => "FAIL",
        wc::SANLK_HOST_DEAD => "DEAD",
        _ => "UNKNOWN",
    }
}

fn record_text(record: &StateRecord) -> String {
    let end = record
        .text
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(record.text.len());
    String::from_utf8_lossy(&record.text[..end]).into_owned()
}

/// Run a client action; returns the exit status.
pub fn run(args: &ClientArgs, console: &mut Console<'_>) -> Result<u8> {
    let socket = socket_path(args.run_dir.as_deref());
    match &args.action {
        ClientAction::AddLockspace(a) => {
            let ls = wire_lockspace(&lockspace_arg(a.lockspace.as_ref())?)?;
            let io = a.io_timeout.unwrap_or(0);
            let label = if a.io_timeout.is_some() {
                format!("add_lockspace_timeout {io}")
            } else {
                "add_lockspace".into()
            };
            let flags = if a.wait == Some(0) {
                wc::SANLK_ADD_ASYNC
            } else {
                0
            };
            let call = call(
                &socket,
                &Request::new(flags, io, 0, RequestBody::AddLockspace(ls)),
            )?;
            done(console, &label, call.header.result())
        }
        ClientAction::RemLockspace(a) => {
            let ls = wire_lockspace(&lockspace_arg(a.lockspace.as_ref())?)?;
            let flags = if a.wait == Some(0) {
                wc::SANLK_REM_ASYNC
            } else {
                0
            };
            let call = call(
                &socket,
                &Request::new(flags, 0, 0, RequestBody::RemLockspace(ls)),
            )?;
            done(console, "rem_lockspace", call.header.result())
        }
        ClientAction::InqLockspace(a) => {
            let ls = wire_lockspace(&lockspace_arg(a.lockspace.as_ref())?)?;
            let flags = if a.wait == Some(1) {
                wc::SANLK_INQ_WAIT
            } else {
                0
            };
            let call = call(
                &socket,
                &Request::new(flags, 0, 0, RequestBody::InqLockspace(ls)),
            )?;
            done(console, "inq_lockspace", call.header.result())
        }
        ClientAction::Align(a) => {
            let arg = lockspace_arg(a.lockspace.as_ref())?;
            let ls = wire_lockspace(&arg)?;
            let call = call(
                &socket,
                &Request::new(0, 0, 0, RequestBody::Align(ls.host_id_disk)),
            )?;
            done(console, "align", call.header.result())
        }
        ClientAction::HostStatus(a) => host_status(
            &socket,
            lockspace_name_only(a.lockspace.as_ref())?,
            a.debug,
            console,
        ),
        ClientAction::Gets(a) => gets(&socket, a.hosts == Some(1), console),
        ClientAction::Renewal(a) => {
            let ls = lockspace_name_only(a.lockspace.as_ref())?;
            let call = call(&socket, &Request::new(0, 0, 0, RequestBody::Renewal(ls)))?;
            let ReplyBody::States(records) = call.body else {
                return Ok(1);
            };
            if console.json {
                let list: Vec<_> = records
                    .iter()
                    .map(|r| json!({"text": record_text(r), "timestamp": r.state.data64}))
                    .collect();
                writeln!(console.out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                for r in &records {
                    writeln!(console.out, "{}", record_text(r))?;
                }
            }
            Ok(0)
        }
        ClientAction::Status(a) => status(&socket, a.debug, console),
        ClientAction::LogDump => {
            let call = call(&socket, &Request::new(0, 0, 0, RequestBody::LogDump))?;
            if let ReplyBody::LogDump(text) = call.body {
                let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
                console.out.write_all(&text[..end])?;
            }
            Ok(0)
        }
        ClientAction::Shutdown(a) => {
            let force = a.force.unwrap_or(0);
            let wait = a.wait.unwrap_or(0);
            writeln!(console.out, "shutdown force {force} wait {wait}")?;
            if wait == 1 {
                let call = call(
                    &socket,
                    &Request::new(0, force, 0, RequestBody::ShutdownWait),
                )?;
                writeln!(console.out, "shutdown done {}", call.header.result())?;
            } else {
                let mut stream = UnixStream::connect(&socket).with_context(|| {
                    format!("cannot connect to the daemon at {}", socket.display())
                })?;
                stream.write_all(&Request::new(0, force, 0, RequestBody::Shutdown).encode())?;
                writeln!(console.out, "shutdown done 0")?;
            }
            Ok(0)
        }
        ClientAction::Acquire(a) => resource_call(&socket, "acquire", a, console),
        ClientAction::Release(a) => resource_call(&socket, "release", a, console),
        ClientAction::Convert(a) => resource_call(&socket, "convert", a, console),
        ClientAction::Inquire(a) => inquire(&socket, a, console),
        ClientAction::Command(a) => command(&socket, a),
        ClientAction::Request(a) => {
            let mut resources = resource_args(std::slice::from_ref(&a.resource))?;
            let res = resources.remove(0);
            let force = a.force_mode.unwrap_or(0);
            let call = call(
                &socket,
                &Request::new(0, force, 0, RequestBody::Request(res)),
            )?;
            done(console, "request", call.header.result())
        }
        ClientAction::Examine(a) => {
            let request = match (&a.resource, &a.lockspace) {
                (Some(r), _) => {
                    let res = resource_args(std::slice::from_ref(r))?.remove(0);
                    Request::new(0, 0, 0, RequestBody::ExamineResource(res.res))
                }
                (None, Some(_)) => Request::new(
                    0,
                    0,
                    0,
                    RequestBody::ExamineLockspace(lockspace_name_only(a.lockspace.as_ref())?),
                ),
                (None, None) => return Err(anyhow!("examine needs -r RESOURCE or -s LOCKSPACE")),
            };
            let call = call(&socket, &request)?;
            done(console, "examine", call.header.result())
        }
        ClientAction::Format(_)
        | ClientAction::Create(_)
        | ClientAction::Delete(_)
        | ClientAction::Lookup(_)
        | ClientAction::Update(_)
        | ClientAction::Rebuild(_) => crate::rindex_client::run(args, console),
        ClientAction::Version => {
            let call = call(&socket, &Request::new(0, 0, 0, RequestBody::Version))?;
            let v = call.header.data2;
            let text = |v: u32| format!("{}.{}.{}", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff);
            if console.json {
                writeln!(
                    console.out,
                    "{}",
                    json!({"daemon_version": text(v), "daemon_version_hex": format!("0x{v:08x}"), "client_version": env!("CARGO_PKG_VERSION")})
                )?;
            } else {
                writeln!(
                    console.out,
                    "client version {} (lease)",
                    env!("CARGO_PKG_VERSION")
                )?;
                writeln!(console.out, "daemon version {} (0x{v:08x})", text(v))?;
                writeln!(console.out, "client socket protocol 0.1")?;
                writeln!(console.out, "daemon socket protocol 0.1")?;
            }
            Ok(0)
        }
    }
}

/// sanlock's `<action> done <rv>` line; exit status 1 unless rv is 0.
fn done(console: &mut Console<'_>, label: &str, rv: i32) -> Result<u8> {
    if console.json {
        let action = label.split(' ').next().unwrap_or(label);
        let mut value = json!({"action": action, "result": rv});
        if rv < 0 {
            value["error"] = json!(io::Error::from_raw_os_error(-rv).to_string());
        }
        writeln!(console.out, "{value}")?;
    } else {
        writeln!(console.out, "{label}")?;
        writeln!(
            console.out,
            "{label_head} done {rv}",
            label_head = label.split(' ').next().unwrap_or(label)
        )?;
    }
    Ok(u8::from(rv != 0))
}

fn host_status(socket: &Path, ls: Lockspace, debug: bool, console: &mut Console<'_>) -> Result<u8> {
    let call_status = call(
        socket,
        &Request::new(0, 0, 0, RequestBody::HostStatus(ls.clone())),
    )?;
    if call_status.header.result() < 0 {
        writeln!(
            console.err,
            "host_status: {}",
            io::Error::from_raw_os_error(-call_status.header.result())
        )?;
        return Ok(1);
    }
    let ReplyBody::States(records) = call_status.body else {
        return Ok(1);
    };
    if console.json {
        // States come from get_hosts (the state is not in host_status records).
        let hosts = match call(socket, &Request::new(0, 0, 0, RequestBody::GetHosts(ls)))?.body {
            ReplyBody::Hosts(hosts) => hosts,
            _ => Vec::new(),
        };
        let list: Vec<_> = records
            .iter()
            .map(|r| {
                let host_id = u64::from(r.state.data32);
                let state = hosts
                    .iter()
                    .find(|h| h.host_id == host_id)
                    .map_or("unknown", |h| state_name(h.flags));
                let mut obj = json!({
                    "host_id": host_id,
                    "state": state.to_lowercase(),
                    "timestamp": r.state.data64,
                });
                for pair in record_text(r).split(' ') {
                    if let Some((k, v)) = pair.split_once('=') {
                        obj[k] = v.parse::<u64>().map_or_else(|_| json!(v), |n| json!(n));
                    }
                }
                if obj.get("owner_generation").is_some() {
                    obj["generation"] = obj["owner_generation"].clone();
                }
                obj
            })
            .collect();
        writeln!(console.out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(0);
    }
    for r in &records {
        writeln!(
            console.out,
            "{} timestamp {}",
            r.state.data32, r.state.data64
        )?;
        if debug {
            for pair in record_text(r).split(' ') {
                writeln!(console.out, "    {pair}")?;
            }
        }
    }
    Ok(0)
}

fn gets(socket: &Path, with_hosts: bool, console: &mut Console<'_>) -> Result<u8> {
    let call_ls = call(socket, &Request::new(0, 0, 0, RequestBody::GetLockspaces))?;
    let ReplyBody::Lockspaces(list) = call_ls.body else {
        return Ok(1);
    };
    let mut json_list = Vec::new();
    for ls in &list {
        let flags = match ls.flags & (wc::SANLK_LSF_ADD | wc::SANLK_LSF_REM) {
            wc::SANLK_LSF_ADD => "ADD",
            wc::SANLK_LSF_REM => "REM",
            _ => "",
        };
        let mut hosts_json = Vec::new();
        if !console.json {
            writeln!(console.out, "s {} {flags}", lockspace_string(ls))?;
        }
        if with_hosts {
            let query = Lockspace {
                host_id: 0,
                ..ls.clone()
            };
            let reply = call(socket, &Request::new(0, 0, 0, RequestBody::GetHosts(query)))?;
            match reply.body {
                ReplyBody::Hosts(hosts) if call_result_ok(&reply.header) => {
                    for h in &hosts {
                        if console.json {
                            hosts_json.push(
                                json!({"host_id": h.host_id, "generation": h.generation,
                                "timestamp": h.timestamp, "io_timeout": h.io_timeout,
                                "state": state_name(h.flags).to_lowercase()}),
                            );
                        } else {
                            let state = state_name(h.flags);
                            writeln!(
                                console.out,
                                "h {} gen {} timestamp {} {state}",
                                h.host_id, h.generation, h.timestamp
                            )?;
                        }
                    }
                }
                _ => {
                    if !console.json {
                        writeln!(console.out, "hosts not ready")?;
                    }
                }
            }
        }
        json_list.push(json!({"lockspace": ls.name.to_string_lossy(), "host_id": ls.host_id,
            "path": String::from_utf8_lossy(ls.host_id_disk.path.as_bytes()), "offset": ls.host_id_disk.offset,
            "flags": flags.to_lowercase(), "hosts": hosts_json}));
    }
    if console.json {
        writeln!(console.out, "{}", serde_json::to_string_pretty(&json_list)?)?;
    }
    Ok(0)
}

fn status(socket: &Path, debug: bool, console: &mut Console<'_>) -> Result<u8> {
    let call_status = call(socket, &Request::new(0, 0, 0, RequestBody::Status))?;
    let ReplyBody::States(records) = call_status.body else {
        return Ok(1);
    };
    let mut json_list = Vec::new();
    for r in &records {
        let line = match r.state.kind {
            wc::SANLK_STATE_DAEMON => format!("daemon {}", r.state.name.to_string_lossy()),
            wc::SANLK_STATE_CLIENT => format!(
                "p {} {}",
                r.state.data32 as i32,
                r.state.name.to_string_lossy()
            ),
            wc::SANLK_STATE_LOCKSPACE => match &r.extra {
                lease_wire::StateExtra::Lockspace(ls) => format!("s {}", lockspace_string(ls)),
                _ => continue,
            },
            wc::SANLK_STATE_RESOURCE => match &r.extra {
                lease_wire::StateExtra::Resource(res) => format!(
                    "r {}:{} p {}",
                    String::from_utf8_lossy(&lease_wire::res_string::format_resource(res))
                        .trim_end_matches('\0'),
                    "",
                    r.state.data32 as i32
                )
                .replace(": p", " p"),
                _ => continue,
            },
            _ => continue,
        };
        if console.json {
            json_list.push(json!({"line": line, "text": record_text(r)}));
        } else {
            writeln!(console.out, "{line}")?;
            if debug {
                for pair in record_text(r).split(' ').filter(|p| !p.is_empty()) {
                    writeln!(console.out, "    {pair}")?;
                }
            }
        }
    }
    if console.json {
        writeln!(console.out, "{}", serde_json::to_string_pretty(&json_list)?)?;
    }
    Ok(0)
}

fn call_result_ok(header: &Header) -> bool {
    header.result() == 0
}

fn wire_resource(arg: &ResourceArg) -> Result<ResourceWithDisks> {
    let name = |s: &str| {
        lease_wire::Name::new(s.as_bytes())
            .ok_or_else(|| anyhow!("name {s:?} is longer than 48 bytes"))
    };
    let mut res = lease_wire::Resource {
        lockspace_name: name(&arg.lockspace)?,
        name: name(&arg.name)?,
        ..Default::default()
    };
    match arg.suffix {
        ResourceSuffix::None => {}
        ResourceSuffix::Lver(lver) => {
            res.lver = lver;
            res.flags |= wc::SANLK_RES_LVER;
        }
        ResourceSuffix::Shared => res.flags |= wc::SANLK_RES_SHARED,
    }
    let disks = arg
        .disks
        .iter()
        .map(|d| {
            let path =
                lease_wire::Path::new(d.path.as_bytes()).ok_or_else(|| anyhow!("path too long"))?;
            Ok(Disk::new(path, d.offset))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ResourceWithDisks::new(res, disks))
}

fn resource_args(texts: &[String]) -> Result<Vec<ResourceWithDisks>> {
    if texts.is_empty() {
        return Err(anyhow!("this action needs -r RESOURCE"));
    }
    if texts.len() > wc::MAX_RESOURCES as usize {
        return Err(anyhow!("at most {} resources at once", wc::MAX_RESOURCES));
    }
    texts
        .iter()
        .map(|t| {
            parse_resource(t)
                .map_err(|e| anyhow!("-r {t}: {e}"))
                .and_then(|a| wire_resource(&a))
        })
        .collect()
}

fn need_pid(pid: Option<i32>) -> Result<i32> {
    pid.filter(|&p| p > 0)
        .ok_or_else(|| anyhow!("this action needs -p PID (a registered process)"))
}

/// acquire / release / convert for `-p PID`, printing sanlock's lines.
fn resource_call(
    socket: &Path,
    action: &str,
    a: &crate::cli::ResourceOpt,
    console: &mut Console<'_>,
) -> Result<u8> {
    let pid = need_pid(a.pid)?;
    let resources = resource_args(&a.resources)?;
    let count = resources.len() as u32;
    let request = match action {
        "acquire" => Request::new(
            0,
            count,
            pid as u32,
            RequestBody::Acquire {
                resources,
                options: Default::default(),
            },
        ),
        "release" => Request::new(
            0,
            count,
            pid as u32,
            RequestBody::Release {
                resources: resources.into_iter().map(|r| r.res).collect(),
            },
        ),
        _ => {
            let Some(first) = resources.into_iter().next() else {
                return Ok(1);
            };
            Request::new(0, 0, pid as u32, RequestBody::Convert(first.res))
        }
    };
    if !console.json {
        writeln!(console.out, "{action} pid {pid}")?;
    }
    let call = call(socket, &request)?;
    let rv = call.header.result();
    if console.json {
        writeln!(
            console.out,
            "{}",
            json!({"action": action, "pid": pid, "result": rv})
        )?;
    } else {
        writeln!(console.out, "{action} done {rv}")?;
    }
    Ok(u8::from(rv != 0))
}

fn inquire(socket: &Path, a: &crate::cli::ResourceOpt, console: &mut Console<'_>) -> Result<u8> {
    let pid = need_pid(a.pid)?;
    let call = call(
        socket,
        &Request::new(0, 0, pid as u32, RequestBody::Inquire),
    )?;
    let rv = call.header.result();
    let state = match call.body {
        ReplyBody::Inquire(bytes) => {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            String::from_utf8_lossy(&bytes[..end]).into_owned()
        }
        _ => String::new(),
    };
    if console.json {
        let list: Vec<&str> = state.split(' ').filter(|s| !s.is_empty()).collect();
        writeln!(
            console.out,
            "{}",
            json!({"pid": pid, "result": rv, "resources": list})
        )?;
    } else {
        writeln!(console.out, "inquire pid {pid}")?;
        writeln!(
            console.out,
            "inquire done {rv} res_count {}",
            call.header.data2
        )?;
        if rv == 0 && !state.is_empty() {
            writeln!(console.out, "\"{state}\"")?;
        }
    }
    Ok(u8::from(rv != 0))
}

/// Register this process, acquire the leases on the registered connection, then exec the
/// program: the connection (kept open across exec) is the program's registration, so the
/// leases are released when it exits, and the daemon kills it if the leases are lost.
fn command(socket: &Path, a: &crate::cli::CommandOpt) -> Result<u8> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let resources = resource_args(&a.resources)?;
    let mut stream = UnixStream::connect(socket).with_context(|| {
        format!(
            "cannot connect to the daemon at {} (is it running?)",
            socket.display()
        )
    })?;
    stream.write_all(&Request::new(0, 0, 0, RequestBody::Register).encode())?;
    let count = resources.len() as u32;
    let acquire = Request::new(
        0,
        count,
        u32::MAX,
        RequestBody::Acquire {
            resources,
            options: Default::default(),
        },
    );
    stream.write_all(&acquire.encode())?;
    let mut header = [0u8; wc::HEADER_LEN];
    stream
        .read_exact(&mut header)
        .context("the daemon closed the connection")?;
    let header = Header::decode(&header).map_err(|e| anyhow!("bad reply: {e}"))?;
    if header.result() != 0 {
        eprintln!("acquire done {}", header.result());
        return Ok(1);
    }
    // The registration must survive exec: clear close-on-exec on the socket.
    let fd = stream.as_raw_fd();
    // SAFETY: fcntl on our own open descriptor.
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    let (program, args) = a
        .command
        .split_first()
        .ok_or_else(|| anyhow!("-c needs a program"))?;
    let err = std::process::Command::new(program).args(args).exec();
    Err(anyhow!("cannot run {program}: {err}"))
}
