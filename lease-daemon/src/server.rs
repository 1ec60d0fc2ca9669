//! sanlock's client protocol on `sanlock.sock`: accept, authenticate, frame, dispatch, reply.
//!
//! Framing and encoding are `lease-wire`'s (byte-exact with sanlock 3.8.5); this module maps
//! each request onto [`Daemon`] operations and their results onto sanlock's replies.
//!
//! **Invariants**
//! * Only root and the configured user or group may talk to the daemon (peer credentials
//!   from `SO_PEERCRED`); any other peer is disconnected before a byte is read.
//! * A malformed message never takes the daemon down: a bad magic or unknown command is
//!   dropped (as sanlock does); any other framing error gets sanlock's error reply and the
//!   connection is closed, since the rest of its bytes cannot be framed reliably.
//! * A registered connection is its process's liveness: when it closes, every lease held
//!   for that process is released.
//! * Buffered request bytes are bounded by `MAX_REQUEST_LEN`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use lease_core::host_table::{HostRecord, HostState};
use lease_core::ondisk::Name as CoreName;
use lease_core::paxos_lease::LeaseMode;
use lease_wire::consts::{self as wc, errno};
use lease_wire::{
    next_request, Disk, Header, Host, Lockspace as WireLockspace, Reply, ReplyBody, Request,
    RequestBody, ResourceWithDisks, State, StateExtra, StateRecord, WireError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use crate::clients::ClientId;
use crate::daemon::Daemon;
use crate::exec::{now, IoExecutor};
use crate::lockspace::{LockspaceSpec, Phase};
use crate::resource::{AcquireOptions, ResourceSpec};
use crate::DaemonError;

/// Most bytes of a rejected message read and dropped before answering it.
const DRAIN_BYTES_MAX: usize = 64 << 10;
/// Longest wait for more bytes of a rejected message.
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// sanlock's version number as `VERSION` reports it (3.8.5): clients gate features on it.
pub const SANLOCK_VERSION_HEX: u32 = 0x0308_0500;

/// Who may connect besides root.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Access {
    fn allows(&self, uid: u32, gid: u32) -> bool {
        uid == 0 || self.uid == Some(uid) || self.gid == Some(gid)
    }
}

/// Accept connections until `stop` turns true.
pub async fn serve<E: IoExecutor + 'static>(
    daemon: Arc<Daemon<E>>,
    listener: UnixListener,
    access: Access,
    stop: watch::Sender<bool>,
) {
    let mut stopped = stop.subscribe();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let daemon = daemon.clone();
        let stop = stop.clone();
        tokio::spawn(async move { Connection::new(daemon, stream, access, stop).run().await });
    }
}

/// What a handled request leaves to do.
enum Outcome {
    Reply(Reply),
    /// Reply, then turn the connection into a host-event listener (reg_event).
    Listen(
        Reply,
        tokio::sync::mpsc::Receiver<crate::lockspace::HostEventMsg>,
    ),
    /// Reply, then close (streamed replies end at connection close).
    ReplyAndClose(Reply),
    NoReply,
}

struct Connection<E> {
    daemon: Arc<Daemon<E>>,
    stream: UnixStream,
    access: Access,
    stop: watch::Sender<bool>,
    pid: u32,
    client: Option<ClientId>,
}

impl<E: IoExecutor + 'static> Connection<E> {
    fn new(
        daemon: Arc<Daemon<E>>,
        stream: UnixStream,
        access: Access,
        stop: watch::Sender<bool>,
    ) -> Self {
        Connection {
            daemon,
            stream,
            access,
            stop,
            pid: 0,
            client: None,
        }
    }

    async fn run(mut self) {
        let Ok(cred) = self.stream.peer_cred() else {
            return;
        };
        if !self.access.allows(cred.uid(), cred.gid()) {
            self.daemon.log(format!(
                "refused connection from uid {} gid {}",
                cred.uid(),
                cred.gid()
            ));
            return;
        }
        self.pid = cred.pid().and_then(|p| u32::try_from(p).ok()).unwrap_or(0);
        self.serve_requests().await;
        if let Some(id) = self.client.take() {
            self.daemon.client_gone(id).await;
        }
    }

    async fn serve_requests(&mut self) {
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 8192];
        loop {
            loop {
                match next_request(&buf) {
                    Ok(Some((request, used))) => {
                        buf.drain(..used);
                        match self.handle(request).await {
                            Outcome::Reply(reply) => {
                                if self.stream.write_all(&reply.encode()).await.is_err() {
                                    return;
                                }
                            }
                            Outcome::ReplyAndClose(reply) => {
                                let _ = self.stream.write_all(&reply.encode()).await;
                                return;
                            }
                            Outcome::NoReply => {}
                            Outcome::Listen(reply, events) => {
                                if self.stream.write_all(&reply.encode()).await.is_ok() {
                                    self.listen(events).await;
                                }
                                return;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(WireError::BadMagic { .. } | WireError::UnknownCommand { .. }) => {
                        // sanlock drops the header and reads on, without a reply.
                        buf.drain(..wc::HEADER_LEN.min(buf.len()));
                    }
                    Err(err) => {
                        if let (Some(result), Ok(header)) =
                            (err.reply_result(), Header::decode(&buf))
                        {
                            // Take in the rest of the message the client is still sending
                            // (bounded), so it can read our answer instead of a broken pipe.
                            self.drain(header.length as usize, buf.len()).await;
                            let reply = Reply::for_request(&header, result, 0, ReplyBody::Empty);
                            let _ = self.stream.write_all(&reply.encode()).await;
                        }
                        self.daemon
                            .log(format!("malformed request from pid {}: {err}", self.pid));
                        return;
                    }
                }
            }
            if buf.len() > wc::MAX_REQUEST_LEN {
                return;
            }
            let n = match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    // A body cut short by the peer closing: sanlock answers -ENOTCONN.
                    if buf.len() >= wc::HEADER_LEN {
                        if let Ok(header) = Header::decode(&buf) {
                            let reply = Reply::for_request(&header, -107, 0, ReplyBody::Empty);
                            let _ = self.stream.write_all(&reply.encode()).await;
                        }
                    }
                    return;
                }
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A reg_event connection: push every host event for us until the client closes the
    /// connection or writes to it (libsanlock's end_event writes 4 bytes on it).
    async fn listen(
        &mut self,
        mut events: tokio::sync::mpsc::Receiver<crate::lockspace::HostEventMsg>,
    ) {
        let mut byte = [0u8; 64];
        loop {
            tokio::select! {
                read = self.stream.read(&mut byte) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => return, // end_event on the listener connection itself
                },
                event = events.recv() => {
                    let Some(e) = event else { return };
                    let event = lease_wire::HostEvent { host_id: e.host_id, generation: e.generation, event: e.event, data: e.data };
                    let msg = lease_wire::EventMsg::new(event, e.from_host_id, e.from_generation);
                    if self.stream.write_all(&msg.encode()).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Read and drop up to `length - have` more bytes of a rejected message (at most
    /// [`DRAIN_BYTES_MAX`], for at most [`DRAIN_WAIT`]).
    async fn drain(&mut self, length: usize, have: usize) {
        let mut left = length.saturating_sub(have).min(DRAIN_BYTES_MAX);
        let mut chunk = [0u8; 4096];
        while left > 0 {
            let read = tokio::time::timeout(DRAIN_WAIT, self.stream.read(&mut chunk)).await;
            match read {
                Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
                _ => return,
            }
        }
    }

    /// The client a pid-taking command acts on: `data2` -1 is this registered connection.
    fn target_client(&self, request: &Request) -> Result<ClientId, i32> {
        match request.pid() {
            Some(-1) | None => self.client.ok_or(-errno::EBUSY),
            Some(pid) => u32::try_from(pid)
                .ok()
                .and_then(|pid| self.daemon.registry.by_pid(pid))
                .ok_or(-libc::ESRCH),
        }
    }

    async fn handle(&mut self, request: Request) -> Outcome {
        let h = request.header;
        let reply =
            |result: i32| Outcome::Reply(Reply::for_request(&h, result, 0, ReplyBody::Empty));
        let result_of = |r: Result<(), DaemonError>| reply(r.map_or_else(|e| e.errno(), |()| 0));
        let d = self.daemon.clone();
        let target = self.target_client(&request);
        match request.body {
            RequestBody::Register => {
                if self.client.is_none() {
                    match d.registry.register(self.pid, process_name(self.pid)) {
                        Ok(id) => self.client = Some(id),
                        Err(e) => d.log(format!("register of pid {} refused: {e}", self.pid)),
                    }
                }
                Outcome::NoReply
            }
            RequestBody::Version => Outcome::Reply(Reply::for_request(
                &h,
                0,
                SANLOCK_VERSION_HEX,
                ReplyBody::Empty,
            )),
            RequestBody::AddLockspace(ls) => {
                let spec = match lockspace_spec(&ls) {
                    Ok(spec) => spec,
                    Err(rv) => return reply(rv),
                };
                let wait = h.cmd_flags & wc::SANLK_ADD_ASYNC == 0;
                let io_timeout = (h.data != 0).then_some(h.data);
                d.log(format!(
                    "add_lockspace {}:{}:{}:{}",
                    spec.name,
                    spec.host_id,
                    spec.path.display(),
                    spec.offset
                ));
                result_of(d.add_lockspace(spec, io_timeout, wait).await)
            }
            RequestBody::RemLockspace(ls) => {
                let name = core_name(&ls.name);
                if h.cmd_flags & wc::SANLK_REM_UNUSED != 0 && d.lockspace_in_use(&name) {
                    return reply(-errno::EBUSY);
                }
                let wait = h.cmd_flags & wc::SANLK_REM_ASYNC == 0;
                d.log(format!("rem_lockspace {name}"));
                result_of(d.rem_lockspace(&name, wait).await)
            }
            RequestBody::InqLockspace(ls) => {
                let name = core_name(&ls.name);
                if h.cmd_flags & wc::SANLK_INQ_WAIT != 0 {
                    d.wait_settled(&name).await;
                }
                result_of(d.inq_lockspace(&name))
            }
            RequestBody::GetLockspaces => {
                let list: Vec<WireLockspace> = d.lockspaces().iter().map(wire_lockspace).collect();
                let count = list.len() as u32;
                Outcome::Reply(Reply::for_request(
                    &h,
                    0,
                    count,
                    ReplyBody::Lockspaces(list),
                ))
            }
            RequestBody::GetHosts(ls) => self.get_hosts(&h, &ls),
            RequestBody::HostStatus(ls) => self.host_status(&h, &ls),
            RequestBody::Renewal(ls) => self.renewal(&h, &ls),
            RequestBody::Status => Outcome::ReplyAndClose(Reply::for_request(
                &h,
                0,
                0,
                ReplyBody::States(self.status_records()),
            )),
            RequestBody::LogDump => Outcome::ReplyAndClose(Reply::for_request(
                &h,
                0,
                0,
                ReplyBody::LogDump(d.log_text()),
            )),
            RequestBody::Shutdown | RequestBody::ShutdownWait => {
                let force = h.data != 0;
                let busy = !d.lockspaces().is_empty();
                if force || !busy {
                    d.log(format!(
                        "shutdown requested by pid {} (force {})",
                        self.pid, force
                    ));
                    self.stop.send_replace(true);
                }
                if matches!(request.body, RequestBody::Shutdown) {
                    Outcome::NoReply
                } else {
                    reply(0)
                }
            }
            RequestBody::Align(disk) => {
                let path = path_of(&disk);
                match d.align(&path, disk.offset).await {
                    Ok(align) => reply(align as i32),
                    Err(e) => reply(e.errno()),
                }
            }
            RequestBody::Release { resources } if h.cmd_flags & wc::SANLK_REL_ORPHAN != 0 => {
                // Orphans belong to no process: name them by lockspace and resource (an empty
                // resource name means every orphan of the lockspace).
                for r in &resources {
                    let name = (!r.name.as_bytes().is_empty()).then(|| core_name(&r.name));
                    d.release_orphans(&core_name(&r.lockspace_name), name.as_ref())
                        .await;
                }
                reply(0)
            }
            body @ (RequestBody::Acquire { .. }
            | RequestBody::Release { .. }
            | RequestBody::Inquire
            | RequestBody::Restrict
            | RequestBody::Killpath { .. }
            | RequestBody::Convert(_)) => match target {
                Ok(target) => self.for_client(h, target, body).await,
                Err(rv) => reply(rv),
            },
            RequestBody::WriteLockspace(ls) => {
                let device = match d.device(&path_of(&ls.host_id_disk)) {
                    Ok(device) => device,
                    Err(e) => return reply(e.errno()),
                };
                let io_timeout = u16::try_from(h.data2).unwrap_or(u16::MAX);
                let name = core_name(&ls.name);
                d.log(format!("write_lockspace {name} io_timeout {io_timeout}"));
                let written = crate::areas::write_lockspace(
                    d.exec(),
                    &device,
                    ls.host_id_disk.offset,
                    &name,
                    io_timeout,
                    ls.flags,
                )
                .await;
                result_of(written)
            }
            RequestBody::ReadLockspace(ls) => {
                let device = match d.device(&path_of(&ls.host_id_disk)) {
                    Ok(device) => device,
                    Err(e) => return reply(e.errno()),
                };
                match crate::areas::read_lockspace(d.exec(), &device, ls.host_id_disk.offset).await
                {
                    Ok((name, flags, io_timeout)) => {
                        let found = WireLockspace {
                            name: wire_name(&name),
                            host_id: 1,
                            flags,
                            ..ls
                        };
                        let body = ReplyBody::Lockspace(Some(found));
                        Outcome::Reply(Reply::for_request(&h, 0, u32::from(io_timeout), body))
                    }
                    Err(e) => Outcome::Reply(Reply::for_request(
                        &h,
                        e.errno(),
                        0,
                        ReplyBody::Lockspace(Some(ls)),
                    )),
                }
            }
            RequestBody::WriteResource(res) => {
                let mut disks = Vec::new();
                for disk in &res.disks {
                    match d.device(&path_of(disk)) {
                        Ok(device) => disks.push((device, disk.offset)),
                        Err(e) => return reply(e.errno()),
                    }
                }
                let clear = h.cmd_flags & wc::SANLK_WRITE_CLEAR != 0;
                let (space, name) = (core_name(&res.res.lockspace_name), core_name(&res.res.name));
                d.log(format!("write_resource {space}:{name} clear {clear}"));
                let written = crate::areas::write_resource(
                    d.exec(),
                    &disks,
                    &space,
                    &name,
                    u64::from(h.data2),
                    res.res.flags,
                    clear,
                )
                .await;
                result_of(written)
            }
            RequestBody::ReadResource(res) | RequestBody::ReadResourceOwners(res) => {
                let owners_wanted =
                    matches!(h.command(), Ok(lease_wire::Command::ReadResourceOwners));
                let Some(disk) = res.disks.first() else {
                    return reply(-errno::EINVAL);
                };
                let device = match d.device(&path_of(disk)) {
                    Ok(device) => device,
                    Err(e) => return reply(e.errno()),
                };
                let read = crate::areas::read_resource_owners(
                    d.exec(),
                    &device,
                    disk.offset,
                    res.res.flags,
                )
                .await;
                let (leader, flags, owners) = match read {
                    Ok(x) => x,
                    Err(e) if owners_wanted => return reply(e.errno()),
                    Err(e) => {
                        return Outcome::Reply(Reply::for_request(
                            &h,
                            e.errno(),
                            0,
                            ReplyBody::Resource(Some(res.res)),
                        ))
                    }
                };
                let mut found = lease_wire::Resource {
                    lockspace_name: wire_name(&leader.space_name),
                    name: wire_name(&leader.resource_name),
                    lver: leader.lver,
                    flags,
                    num_disks: res.res.num_disks,
                    ..lease_wire::Resource::default()
                };
                if !owners_wanted {
                    return Outcome::Reply(Reply::for_request(
                        &h,
                        0,
                        0,
                        ReplyBody::Resource(Some(found)),
                    ));
                }
                if owners.iter().any(|o| o.2 == 0) {
                    found.flags |= wc::SANLK_RES_SHARED;
                }
                let hosts: Vec<Host> = owners
                    .iter()
                    .map(|&(host_id, generation, timestamp)| Host {
                        host_id,
                        generation,
                        timestamp,
                        io_timeout: 0,
                        flags: 0,
                    })
                    .collect();
                let count = hosts.len() as u32;
                let body = ReplyBody::ResourceOwners(Some(lease_wire::ResourceOwners {
                    resource: found,
                    owners: hosts,
                }));
                Outcome::Reply(Reply::for_request(&h, 0, count, body))
            }
            RequestBody::RegEvent { lockspace, .. } => {
                match d.lockspace(&core_name(&lockspace.name)) {
                    Some(ls) => {
                        let events = ls.listen();
                        Outcome::Listen(Reply::for_request(&h, 0, 0, ReplyBody::Empty), events)
                    }
                    None => reply(-errno::ENOENT),
                }
            }
            RequestBody::EndEvent(lockspace) => match d.lockspace(&core_name(&lockspace.name)) {
                Some(ls) => {
                    ls.end_listeners();
                    reply(0)
                }
                None => reply(-errno::ENOENT),
            },
            RequestBody::SetEvent { lockspace, event } => {
                let Some(ls) = d.lockspace(&core_name(&lockspace.name)) else {
                    return reply(-errno::ENOENT);
                };
                let flags = h.cmd_flags;
                let table = ls.view().host_table;
                let targets: Vec<u64> = if flags & wc::SANLK_SETEV_ALL_HOSTS != 0 {
                    table
                        .as_ref()
                        .map(|t| {
                            t.records()
                                .filter(|r| r.timestamp != 0)
                                .map(|r| r.host_id)
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    vec![event.host_id]
                };
                if flags & (wc::SANLK_SETEV_CLEAR_HOSTID | wc::SANLK_SETEV_CLEAR_EVENT) != 0 {
                    let hosts = if flags & wc::SANLK_SETEV_CLEAR_HOSTID != 0 {
                        targets.clone()
                    } else {
                        Vec::new()
                    };
                    ls.clear_event(flags & wc::SANLK_SETEV_CLEAR_EVENT != 0, &hosts);
                    return reply(0);
                }
                let mut generation = event.generation;
                if flags & wc::SANLK_SETEV_CUR_GENERATION != 0 {
                    generation = table
                        .as_ref()
                        .and_then(|t| t.record(event.host_id))
                        .map_or(0, |r| r.generation);
                }
                let outgoing = lease_core::delta_lease::OutgoingEvent {
                    generation,
                    event: event.event,
                    data: event.data,
                };
                d.log(format!(
                    "set_event host {} event {} data {}",
                    event.host_id, event.event, event.data
                ));
                result_of(ls.set_event(
                    outgoing,
                    &targets,
                    flags & wc::SANLK_SETEV_REPLACE_EVENT != 0,
                ))
            }
            RequestBody::SetLvb { resource, lvb } => {
                let (ls, name) = (
                    core_name(&resource.lockspace_name),
                    core_name(&resource.name),
                );
                result_of(d.set_lvb(&ls, &name, &lvb))
            }
            RequestBody::GetLvb(resource) => {
                let (ls, name) = (
                    core_name(&resource.lockspace_name),
                    core_name(&resource.name),
                );
                match d.get_lvb(&ls, &name) {
                    Ok(lvb) => Outcome::Reply(Reply::for_request(&h, 0, 0, ReplyBody::Lvb(lvb))),
                    Err(e) => reply(e.errno()),
                }
            }
            RequestBody::Request(res) => {
                let spec = match resource_spec(&res, false) {
                    Ok((spec, _)) => spec,
                    Err(rv) => return reply(rv),
                };
                let next = h.cmd_flags & wc::SANLK_REQUEST_NEXT_LVER != 0;
                result_of(d.request(&spec, res.res.lver, h.data, next).await)
            }
            RequestBody::ExamineResource(res) => {
                match d.lockspace(&core_name(&res.lockspace_name)) {
                    Some(ls) => {
                        ls.request_examine();
                        reply(0)
                    }
                    None => reply(-errno::ENOENT),
                }
            }
            RequestBody::ExamineLockspace(ls) => match d.lockspace(&core_name(&ls.name)) {
                Some(ls) => {
                    ls.request_examine();
                    reply(0)
                }
                None => reply(-errno::ENOENT),
            },
            body @ (RequestBody::FormatRindex(_)
            | RequestBody::UpdateRindex { .. }
            | RequestBody::LookupRindex { .. }
            | RequestBody::CreateResource { .. }
            | RequestBody::DeleteResource { .. }
            | RequestBody::RebuildRindex(_)) => {
                Outcome::Reply(crate::rindex::handle(&d, &h, body).await)
            }
            other => {
                d.log(format!(
                    "{} is not supported by this daemon yet",
                    other.command().name()
                ));
                reply(-libc::EOPNOTSUPP)
            }
        }
    }

    /// The commands that act for one registered process: `target`, found by
    /// [`Self::target_client`] (acquire, release, inquire, restrict, killpath, convert).
    async fn for_client(&self, h: Header, target: ClientId, body: RequestBody) -> Outcome {
        let reply =
            |result: i32| Outcome::Reply(Reply::for_request(&h, result, 0, ReplyBody::Empty));
        let result_of = |r: Result<(), DaemonError>| reply(r.map_or_else(|e| e.errno(), |()| 0));
        let d = self.daemon.clone();
        match body {
            RequestBody::Acquire { resources, options } => {
                let acquire_flags = h.cmd_flags | options.flags;
                let nowait = acquire_flags & wc::SANLK_ACQUIRE_OWNER_NOWAIT != 0;
                let mut acquired: Vec<(CoreName, CoreName)> = Vec::new();
                for res in &resources {
                    let (spec, mut opts) = match resource_spec(res, nowait) {
                        Ok(x) => x,
                        Err(rv) => {
                            self.undo(target, &acquired).await;
                            return reply(rv);
                        }
                    };
                    opts.adopt_orphan = acquire_flags & wc::SANLK_ACQUIRE_ORPHAN != 0;
                    opts.lvb = acquire_flags & wc::SANLK_ACQUIRE_LVB != 0;
                    opts.orphan_only = acquire_flags & wc::SANLK_ACQUIRE_ORPHAN_ONLY != 0;
                    let key = (spec.lockspace, spec.name);
                    match d.acquire(target, spec, opts).await {
                        Ok(lease) => {
                            d.log(format!(
                                "acquired {} lver {}",
                                lease.spec.name, lease.held.lver
                            ));
                            acquired.push(key);
                        }
                        Err(err) => {
                            d.log(format!("acquire {} failed: {err}", key.1));
                            self.undo(target, &acquired).await;
                            return reply(err.errno());
                        }
                    }
                }
                reply(0)
            }
            RequestBody::Release { resources } => {
                let keys: Vec<(CoreName, CoreName)> = if h.cmd_flags & wc::SANLK_REL_ALL != 0 {
                    d.registry
                        .client(target)
                        .map(|c| {
                            c.leases
                                .iter()
                                .map(|l| (l.spec.lockspace, l.spec.name))
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    resources
                        .iter()
                        .map(|r| (core_name(&r.lockspace_name), core_name(&r.name)))
                        .collect()
                };
                let mut result = 0;
                for (ls, name) in keys {
                    if let Err(err) = d.release(target, &ls, &name).await {
                        result = if matches!(err, DaemonError::NotFound) {
                            -errno::EPERM
                        } else {
                            err.errno()
                        };
                    }
                }
                reply(result)
            }
            RequestBody::Inquire => {
                let Some(client) = d.registry.client(target) else {
                    return reply(-libc::ESRCH);
                };
                let resources: Vec<ResourceWithDisks> =
                    client.leases.iter().map(wire_resource).collect();
                let count = resources.len() as u32;
                let state = if resources.is_empty() {
                    Vec::new()
                } else {
                    lease_wire::res_string::format_inquire(&resources)
                };
                Outcome::Reply(Reply::for_request(&h, 0, count, ReplyBody::Inquire(state)))
            }
            RequestBody::Restrict => result_of(d.registry.set_restrict(target, h.cmd_flags)),
            RequestBody::Killpath { path, args } => {
                let mut argv = vec![path.to_string_lossy()];
                argv.extend(split_escaped_args(&args.to_string_lossy()));
                let with_pid = h.cmd_flags & wc::SANLK_KILLPATH_PID != 0;
                result_of(d.registry.set_killpath(target, argv, with_pid))
            }
            RequestBody::Convert(res) => {
                let to_shared = res.flags & wc::SANLK_RES_SHARED != 0;
                let (ls, name) = (core_name(&res.lockspace_name), core_name(&res.name));
                let mode = if to_shared { "shared" } else { "exclusive" };
                d.log(format!("convert {name} to {mode}"));
                result_of(d.convert(target, &ls, &name, to_shared).await)
            }
            other => {
                // `handle` passes only the commands above.
                d.log(format!(
                    "{} does not act for a process",
                    other.command().name()
                ));
                reply(-libc::EOPNOTSUPP)
            }
        }
    }

    /// Release the leases acquired so far by a multi-resource acquire that failed part way.
    async fn undo(&self, target: ClientId, acquired: &[(CoreName, CoreName)]) {
        for (ls, name) in acquired {
            let _ = self.daemon.release(target, ls, name).await;
        }
    }

    fn get_hosts(&self, h: &Header, ls: &WireLockspace) -> Outcome {
        let Some(lockspace) = self.daemon.lockspace(&core_name(&ls.name)) else {
            return Outcome::Reply(Reply::for_request(h, -errno::ENOENT, 0, ReplyBody::Empty));
        };
        let view = lockspace.view();
        let Some(table) = view.host_table else {
            return Outcome::Reply(Reply::for_request(h, -errno::EAGAIN, 0, ReplyBody::Empty));
        };
        let at = now();
        // One host asked for: also a never-used slot (reported free, as a record of zeros).
        let records: Vec<HostRecord> = if ls.host_id == 0 {
            table.records().cloned().collect()
        } else {
            table.record_or_free(ls.host_id, at).into_iter().collect()
        };
        let hosts: Vec<Host> = records
            .iter()
            .filter(|r| {
                r.timestamp != 0 || r.host_id == ls.host_id || r.host_id == view.spec.host_id
            })
            .map(|r| Host {
                host_id: r.host_id,
                generation: r.generation,
                timestamp: r.timestamp,
                io_timeout: u32::from(r.io_timeout),
                flags: host_state_number(table.state(r.host_id, at)),
            })
            .collect();
        let count = hosts.len() as u32;
        Outcome::Reply(Reply::for_request(h, 0, count, ReplyBody::Hosts(hosts)))
    }

    fn host_status(&self, h: &Header, ls: &WireLockspace) -> Outcome {
        let Some(lockspace) = self.daemon.lockspace(&core_name(&ls.name)) else {
            return Outcome::ReplyAndClose(Reply::for_request(
                h,
                -errno::ENOENT,
                0,
                ReplyBody::Empty,
            ));
        };
        let view = lockspace.view();
        let mut records = Vec::new();
        if let Some(table) = view.host_table {
            for r in table
                .records()
                .filter(|r| r.timestamp != 0 || r.owner_id != 0)
            {
                let text = format!(
                    "last_check={} last_live={} last_req=0 owner_id={} owner_generation={} timestamp={} io_timeout={} owner_name={}",
                    r.last_check.as_secs(),
                    r.last_live.unwrap_or(r.first_check).as_secs(),
                    r.owner_id,
                    r.generation,
                    r.timestamp,
                    r.io_timeout,
                    r.owner_name
                );
                let state = State {
                    kind: wc::SANLK_STATE_HOST,
                    data32: r.host_id as u32,
                    data64: r.timestamp,
                    ..State::default()
                };
                records.push(StateRecord::new(state, c_text(text), StateExtra::None));
            }
        }
        Outcome::ReplyAndClose(Reply::for_request(h, 0, 0, ReplyBody::States(records)))
    }

    fn renewal(&self, h: &Header, ls: &WireLockspace) -> Outcome {
        let Some(lockspace) = self.daemon.lockspace(&core_name(&ls.name)) else {
            return Outcome::ReplyAndClose(Reply::for_request(
                h,
                -errno::ENOENT,
                0,
                ReplyBody::Empty,
            ));
        };
        let records = lockspace
            .renewal_history()
            .iter()
            .map(|r| {
                let text = format!(
                    "timestamp={} read_ms={} write_ms={} next_timeouts={} next_errors={}",
                    r.timestamp,
                    r.read_ms,
                    r.write_ms,
                    u32::from(r.result == -202),
                    u32::from(r.result != 0 && r.result != -202)
                );
                let state = State {
                    kind: wc::SANLK_STATE_RENEWAL,
                    data64: r.timestamp,
                    ..State::default()
                };
                StateRecord::new(state, c_text(text), StateExtra::None)
            })
            .collect();
        Outcome::ReplyAndClose(Reply::for_request(h, 0, 0, ReplyBody::States(records)))
    }

    fn status_records(&self) -> Vec<StateRecord> {
        let d = &self.daemon;
        let mut records = Vec::new();
        let text = format!(
            "our_host_name={} use_watchdog=0 kill_grace_seconds={} monotime={} version_str=3.8.5 version_num=3.8.5 version_hex={:08x} smproto_hex=00000001 engine=lease",
            d.config.our_host_name,
            d.config.kill_grace_seconds,
            now().as_secs(),
            SANLOCK_VERSION_HEX
        );
        let daemon = State {
            kind: wc::SANLK_STATE_DAEMON,
            name: wire_name(&d.config.our_host_name),
            ..State::default()
        };
        records.push(StateRecord::new(daemon, c_text(text), StateExtra::None));
        for client in d.registry.clients() {
            let text = format!(
                "pid={} restricted={} leases={}",
                client.pid,
                client.restrict,
                client.leases.len()
            );
            let mut state = State {
                kind: wc::SANLK_STATE_CLIENT,
                data32: client.pid,
                ..State::default()
            };
            state.name = lease_wire::Name::new(client.name.as_bytes()).unwrap_or_default();
            records.push(StateRecord::new(state, c_text(text), StateExtra::None));
        }
        for view in d.lockspaces() {
            let text = format!("phase={}", phase_name(&view.phase));
            let state = State {
                kind: wc::SANLK_STATE_LOCKSPACE,
                name: wire_name(&view.spec.name),
                ..State::default()
            };
            records.push(StateRecord::new(
                state,
                c_text(text),
                StateExtra::Lockspace(wire_lockspace(&view)),
            ));
        }
        for client in d.registry.clients() {
            for lease in &client.leases {
                let text = format!("list=held lver={}", lease.held.lver);
                let state = State {
                    kind: wc::SANLK_STATE_RESOURCE,
                    data32: client.pid,
                    data64: lease.held.lver,
                    name: wire_name(&lease.spec.name),
                    ..State::default()
                };
                records.push(StateRecord::new(
                    state,
                    c_text(text),
                    StateExtra::Resource(wire_resource(lease)),
                ));
            }
        }
        records
    }
}

fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::Adding => "adding",
        Phase::Live => "live",
        Phase::Failed { .. } => "failed",
        Phase::Removing => "removing",
    }
}

/// `text` NUL-terminated, as sanlock sends state text.
fn c_text(text: String) -> Vec<u8> {
    let mut bytes = text.into_bytes();
    bytes.push(0);
    bytes
}

fn host_state_number(state: HostState) -> u32 {
    state as u32
}

fn core_name(name: &lease_wire::Name) -> CoreName {
    CoreName::from_bytes(*name.raw())
}

fn wire_name(name: &CoreName) -> lease_wire::Name {
    lease_wire::Name::from_raw(*name.as_bytes())
}

fn path_of(disk: &Disk) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(disk.path.as_bytes()))
}

fn lockspace_spec(ls: &WireLockspace) -> Result<LockspaceSpec, i32> {
    if ls.name.as_bytes().is_empty() {
        return Err(-errno::EINVAL);
    }
    if ls.host_id == 0 {
        return Err(-errno::EINVAL);
    }
    let path = path_of(&ls.host_id_disk);
    if path.as_os_str().is_empty() {
        return Err(-errno::EINVAL);
    }
    Ok(LockspaceSpec {
        name: core_name(&ls.name),
        host_id: ls.host_id,
        path,
        offset: ls.host_id_disk.offset,
    })
}

fn resource_spec(
    res: &ResourceWithDisks,
    owner_nowait: bool,
) -> Result<(ResourceSpec, AcquireOptions), i32> {
    let r = &res.res;
    if r.name.as_bytes().is_empty() || r.lockspace_name.as_bytes().is_empty() {
        return Err(-errno::EINVAL);
    }
    let disks = res.disks.iter().map(|d| (path_of(d), d.offset)).collect();
    let spec = ResourceSpec {
        lockspace: core_name(&r.lockspace_name),
        name: core_name(&r.name),
        disks,
    };
    let options = AcquireOptions {
        shared: r.flags & wc::SANLK_RES_SHARED != 0,
        persistent: r.flags & wc::SANLK_RES_PERSISTENT != 0,
        adopt_orphan: false,
        orphan_only: false,
        lvb: false,
        expected_lver: (r.flags & wc::SANLK_RES_LVER != 0).then_some(r.lver),
        owner_nowait,
        num_hosts: (r.flags & wc::SANLK_RES_NUM_HOSTS != 0 && r.data32 != 0)
            .then_some(u64::from(r.data32)),
    };
    Ok((spec, options))
}

fn wire_lockspace(view: &crate::lockspace::LockspaceView) -> WireLockspace {
    // sanlock reports only the add/remove state here (observed: 0 for a joined lockspace).
    let flags = match view.phase {
        Phase::Adding => wc::SANLK_LSF_ADD,
        Phase::Removing => wc::SANLK_LSF_REM,
        _ => 0,
    };
    let path = lease_wire::Path::new(view.spec.path.as_os_str().as_bytes()).unwrap_or_default();
    WireLockspace {
        name: wire_name(&view.spec.name),
        host_id: view.spec.host_id,
        flags,
        pad: 0,
        host_id_disk: Disk::new(path, view.spec.offset),
    }
}

fn wire_resource(lease: &crate::clients::ClientLease) -> ResourceWithDisks {
    let disks = lease
        .spec
        .disks
        .iter()
        .map(|(p, o)| {
            Disk::new(
                lease_wire::Path::new(p.as_os_str().as_bytes()).unwrap_or_default(),
                *o,
            )
        })
        .collect();
    let mut res = lease_wire::Resource {
        lockspace_name: wire_name(&lease.spec.lockspace),
        name: wire_name(&lease.spec.name),
        lver: lease.held.lver,
        ..lease_wire::Resource::default()
    };
    res.flags = if lease.held.mode == LeaseMode::Shared {
        wc::SANLK_RES_SHARED
    } else {
        wc::SANLK_RES_LVER
    };
    ResourceWithDisks::new(res, disks)
}

/// `/proc/<pid>/comm`, the name sanlock shows for a registered process.
fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// killpath arguments: space separated, `\ ` escapes a space (sanlock_path_export style).
fn split_escaped_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ' ' => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn killpath_arguments_split_on_unescaped_spaces() {
        assert_eq!(split_escaped_args("a b\\ c  d"), vec!["a", "b c", "d"]);
        assert!(split_escaped_args("").is_empty());
    }

    #[test]
    fn access_admits_root_and_the_configured_ids_only() {
        let access = Access {
            uid: Some(1000),
            gid: Some(50),
        };
        assert!(access.allows(0, 0));
        assert!(access.allows(1000, 1));
        assert!(access.allows(7, 50));
        assert!(!access.allows(7, 7));
    }
}
