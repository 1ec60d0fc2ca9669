//! Property tests: decoding arbitrary bytes never panics; every struct, request, reply,
//! status record and event message round-trips; truncated and oversize messages are
//! rejected; the framer never asks for more than `MAX_REQUEST_LEN` bytes.

use lease_wire::consts::*;
use lease_wire::res_string::{format_inquire, parse_inquire, parse_resource};
use lease_wire::*;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

/// A raw `char[N]`: a C string (possibly with garbage after the NUL) or arbitrary bytes.
fn fixed<const N: usize>(terminated: bool) -> impl Strategy<Value = FixedStr<N>> {
    let max = if terminated { N - 1 } else { N };
    (
        prop::collection::vec(1u8..=255, 0..=max.min(64)),
        prop::collection::vec(any::<u8>(), 0..8),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), N),
    )
        .prop_map(move |(s, garbage, use_raw, raw)| {
            let mut a = [0u8; N];
            if use_raw && !terminated {
                a.copy_from_slice(&raw);
            } else {
                a[..s.len()].copy_from_slice(&s);
                // Garbage after the terminating NUL, as the daemon sometimes sends.
                let start = s.len() + 1;
                for (i, g) in garbage.iter().enumerate() {
                    if start + i < N {
                        a[start + i] = *g;
                    }
                }
            }
            FixedStr::from_raw(a)
        })
}

fn name() -> impl Strategy<Value = Name> {
    fixed::<NAME_LEN>(false)
}

fn disk(terminated: bool) -> impl Strategy<Value = Disk> {
    (
        fixed::<PATH_LEN>(terminated),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(path, offset, pad1, pad2)| Disk {
            path,
            offset,
            pad1,
            pad2,
        })
}

fn lockspace() -> impl Strategy<Value = Lockspace> {
    (
        name(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        disk(false),
    )
        .prop_map(|(name, host_id, flags, pad, host_id_disk)| Lockspace {
            name,
            host_id,
            flags,
            pad,
            host_id_disk,
        })
}

fn resource() -> impl Strategy<Value = Resource> {
    (
        name(),
        name(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(lockspace_name, name, lver, data64, data32, unused, flags, num_disks)| Resource {
                lockspace_name,
                name,
                lver,
                data64,
                data32,
                unused,
                flags,
                num_disks,
            },
        )
}

/// A resource with 1..=4 NUL-terminated disks (what decoding accepts).
fn resource_with_disks() -> impl Strategy<Value = ResourceWithDisks> {
    (
        resource(),
        prop::collection::vec(disk(true), 1..=MAX_DISKS as usize),
    )
        .prop_map(|(r, d)| ResourceWithDisks::new(r, d))
}

fn host() -> impl Strategy<Value = Host> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(host_id, generation, timestamp, io_timeout, flags)| Host {
            host_id,
            generation,
            timestamp,
            io_timeout,
            flags,
        })
}

fn host_event() -> impl Strategy<Value = HostEvent> {
    (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
        |(host_id, generation, event, data)| HostEvent {
            host_id,
            generation,
            event,
            data,
        },
    )
}

fn options() -> impl Strategy<Value = Options> {
    (name(), any::<u32>(), any::<u32>()).prop_map(|(owner_name, flags, len)| Options {
        owner_name,
        flags,
        len,
    })
}

fn rindex() -> impl Strategy<Value = Rindex> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        name(),
        disk(false),
    )
        .prop_map(
            |(flags, max_resources, unused, lockspace_name, disk)| Rindex {
                flags,
                max_resources,
                unused,
                lockspace_name,
                disk,
            },
        )
}

fn rentry() -> impl Strategy<Value = Rentry> {
    (name(), any::<u64>(), any::<u32>(), any::<u32>()).prop_map(|(name, offset, flags, unused)| {
        Rentry {
            name,
            offset,
            flags,
            unused,
        }
    })
}

/// A request body with the header fields decoding needs (`cmd_flags`, `data`).
fn request() -> impl Strategy<Value = Request> {
    use RequestBody as B;
    let simple = prop_oneof![
        Just(B::Register),
        Just(B::Shutdown),
        Just(B::Status),
        Just(B::LogDump),
        Just(B::Inquire),
        Just(B::Restrict),
        Just(B::GetLockspaces),
        Just(B::Version),
        Just(B::ShutdownWait),
    ];
    let ls = prop_oneof![
        lockspace().prop_map(B::AddLockspace),
        lockspace().prop_map(B::RemLockspace),
        lockspace().prop_map(B::ExamineLockspace),
        lockspace().prop_map(B::HostStatus),
        lockspace().prop_map(B::InqLockspace),
        lockspace().prop_map(B::WriteLockspace),
        lockspace().prop_map(B::ReadLockspace),
        lockspace().prop_map(B::GetHosts),
        lockspace().prop_map(B::EndEvent),
        lockspace().prop_map(B::SetConfig),
        lockspace().prop_map(B::Renewal),
        (lockspace(), host_event()).prop_map(|(lockspace, event)| B::RegEvent { lockspace, event }),
        (lockspace(), host_event()).prop_map(|(lockspace, event)| B::SetEvent { lockspace, event }),
    ];
    let res = prop_oneof![
        resource_with_disks().prop_map(B::Request),
        resource_with_disks().prop_map(B::WriteResource),
        resource_with_disks().prop_map(B::ReadResource),
        resource_with_disks().prop_map(B::ReadResourceOwners),
        resource().prop_map(B::ExamineResource),
        resource().prop_map(B::GetLvb),
        resource().prop_map(B::Convert),
        disk(false).prop_map(B::Align),
        (fixed::<128>(false), fixed::<128>(false))
            .prop_map(|(path, args)| B::Killpath { path, args }),
        (resource(), prop::collection::vec(any::<u8>(), 0..=64))
            .prop_map(|(resource, lvb)| B::SetLvb { resource, lvb }),
    ];
    let rx = prop_oneof![
        rindex().prop_map(B::FormatRindex),
        rindex().prop_map(B::RebuildRindex),
        (rindex(), rentry()).prop_map(|(rindex, entry)| B::UpdateRindex { rindex, entry }),
        (rindex(), rentry()).prop_map(|(rindex, entry)| B::LookupRindex { rindex, entry }),
        (rindex(), rentry()).prop_map(|(rindex, entry)| B::CreateResource { rindex, entry }),
        (rindex(), rentry()).prop_map(|(rindex, entry)| B::DeleteResource { rindex, entry }),
    ];
    let acquire = (
        prop::collection::vec(resource_with_disks(), 0..=3),
        options(),
    )
        .prop_map(|(resources, options)| B::Acquire { resources, options });
    let release = prop::collection::vec(resource(), 0..=MAX_RESOURCES as usize)
        .prop_map(|resources| B::Release { resources });
    (
        prop_oneof![simple, ls, res, rx, acquire, release],
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(body, flags, data, data2)| {
            let (flags, data) = match &body {
                B::Acquire { resources, .. } => (flags, resources.len() as u32),
                B::Release { resources } => (flags & !SANLK_REL_ALL, resources.len() as u32),
                _ => (flags, data),
            };
            Request::new(flags, data, data2, body)
        })
}

fn state_record() -> impl Strategy<Value = StateRecord> {
    (
        0u32..8,
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        name(),
        prop::collection::vec(any::<u8>(), 0..100),
        lockspace(),
        resource_with_disks(),
    )
        .prop_map(|(kind, flags, data32, data64, name, text, ls, res)| {
            let extra = match kind {
                SANLK_STATE_LOCKSPACE => StateExtra::Lockspace(ls),
                SANLK_STATE_RESOURCE => StateExtra::Resource(res),
                _ => StateExtra::None,
            };
            let state = State {
                kind,
                flags,
                data32,
                data64,
                name,
                ..State::default()
            };
            StateRecord::new(state, text, extra)
        })
}

/// A reply body of the shape decoding uses for `cmd`.
fn reply_for(cmd: Command) -> BoxedStrategy<ReplyBody> {
    match cmd {
        Command::ReadLockspace => prop::option::of(lockspace())
            .prop_map(ReplyBody::Lockspace)
            .boxed(),
        Command::GetLockspaces => prop::collection::vec(lockspace(), 0..3)
            .prop_map(ReplyBody::Lockspaces)
            .boxed(),
        Command::GetHosts => prop::collection::vec(host(), 0..5)
            .prop_map(ReplyBody::Hosts)
            .boxed(),
        Command::ReadResource => prop::option::of(resource())
            .prop_map(ReplyBody::Resource)
            .boxed(),
        Command::ReadResourceOwners => {
            prop::option::of((resource(), prop::collection::vec(host(), 0..5)))
                .prop_map(|o| {
                    ReplyBody::ResourceOwners(
                        o.map(|(resource, owners)| ResourceOwners { resource, owners }),
                    )
                })
                .boxed()
        }
        Command::Inquire => prop::collection::vec(any::<u8>(), 0..200)
            .prop_map(ReplyBody::Inquire)
            .boxed(),
        Command::GetLvb => prop::collection::vec(any::<u8>(), 0..600)
            .prop_map(ReplyBody::Lvb)
            .boxed(),
        Command::LogDump => prop::collection::vec(any::<u8>(), 0..600)
            .prop_map(ReplyBody::LogDump)
            .boxed(),
        Command::UpdateRindex
        | Command::LookupRindex
        | Command::CreateResource
        | Command::DeleteResource => prop::option::of(rentry())
            .prop_map(ReplyBody::Rentry)
            .boxed(),
        Command::Status | Command::HostStatus | Command::Renewal => {
            prop::collection::vec(state_record(), 0..4)
                .prop_map(ReplyBody::States)
                .boxed()
        }
        _ => Just(ReplyBody::Empty).boxed(),
    }
}

fn command() -> impl Strategy<Value = Command> {
    (0usize..40).prop_map(|i| Command::ALL[i])
}

fn header_with(cmd: u32) -> impl Strategy<Value = Header> {
    (any::<[u32; 5]>()).prop_map(move |f| Header {
        magic: SM_MAGIC,
        version: f[0],
        cmd,
        cmd_flags: f[1],
        length: f[2],
        seq: 0,
        data: f[3],
        data2: f[4],
    })
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes: every decoder returns a value or an error, never panics.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        let _ = next_request(&bytes);
        if let Ok(h) = Header::decode(&bytes) {
            let _ = decode_request(&h, &bytes[HEADER_LEN..]);
            for cmd in Command::ALL {
                let _ = decode_reply(cmd, &h, &bytes[HEADER_LEN..]);
            }
        }
        let _ = EventMsg::decode(&bytes);
        let _ = decode_states(&bytes);
        let _ = parse_inquire(&bytes);
        let _ = Disk::decode(&bytes);
        let _ = Lockspace::decode(&bytes);
        let _ = Resource::decode(&bytes);
        let _ = ResourceWithDisks::decode(&bytes);
        let _ = Host::decode(&bytes);
        let _ = HostEvent::decode(&bytes);
        let _ = Options::decode(&bytes);
        let _ = Rindex::decode(&bytes);
        let _ = Rentry::decode(&bytes);
        let _ = State::decode(&bytes);
    }

    /// A valid magic and command with arbitrary header fields and body: decoding never
    /// panics, and whatever decodes re-encodes to the same bytes.
    #[test]
    fn valid_header_arbitrary_body(
        h in (1u32..=40).prop_flat_map(header_with),
        body in prop::collection::vec(any::<u8>(), 0..6000),
    ) {
        let mut msg = h.encode().to_vec();
        msg.extend_from_slice(&body);
        match next_request(&msg) {
            Ok(Some((req, n))) => {
                prop_assert!(n <= MAX_REQUEST_LEN);
                prop_assert_eq!(encode_request(&req), &msg[..n]);
                prop_assert_eq!(decode_request(&h, &msg[HEADER_LEN..n]), Ok(req));
            }
            Ok(None) => prop_assert!(msg.len() < MAX_REQUEST_LEN),
            Err(e) => prop_assert!(e.reply_result().is_some(), "{:?}", e),
        }
        let cmd = Command::from_u32(h.cmd).unwrap();
        if let Ok(reply) = decode_reply(cmd, &h, &body) {
            prop_assert_eq!(encode_reply(&reply), msg);
        }
    }

    /// With MAX_REQUEST_LEN bytes available the framer always decides.
    #[test]
    fn framer_needs_at_most_max_request_len(
        h in (1u32..=40).prop_flat_map(header_with),
        fill in any::<u8>(),
        count in 0u32..=MAX_RESOURCES,
        num_disks in 1u32..=MAX_DISKS,
    ) {
        // Worst case body: `count` resources of `num_disks` terminated disks.
        let mut h = h;
        h.data = count;
        let mut body = Vec::new();
        let r = ResourceWithDisks::new(
            Resource { num_disks, ..Resource::default() },
            vec![Disk::new(Path::new(&[fill.max(1)][..]).unwrap(), 0); num_disks as usize],
        );
        while body.len() < MAX_REQUEST_LEN {
            r.encode(&mut body);
        }
        let mut msg = h.encode().to_vec();
        msg.extend_from_slice(&body[..MAX_REQUEST_LEN - HEADER_LEN]);
        prop_assert_ne!(next_request(&msg), Ok(None));
    }

    #[test]
    fn structs_round_trip(
        d in disk(false), ls in lockspace(), r in resource(), h in host(),
        e in host_event(), o in options(), rx in rindex(), re in rentry(),
        rd in resource_with_disks(),
    ) {
        prop_assert_eq!(Disk::decode(&d.to_bytes()), Ok(d.clone()));
        prop_assert_eq!(Lockspace::decode(&ls.to_bytes()), Ok(ls.clone()));
        prop_assert_eq!(Resource::decode(&r.to_bytes()), Ok(r.clone()));
        prop_assert_eq!(Host::decode(&h.to_bytes()), Ok(h));
        prop_assert_eq!(HostEvent::decode(&e.to_bytes()), Ok(e));
        prop_assert_eq!(Options::decode(&o.to_bytes()), Ok(o.clone()));
        prop_assert_eq!(Rindex::decode(&rx.to_bytes()), Ok(rx.clone()));
        prop_assert_eq!(Rentry::decode(&re.to_bytes()), Ok(re.clone()));
        let b = rd.to_bytes();
        prop_assert_eq!(ResourceWithDisks::decode(&b), Ok((rd.clone(), b.len())));
        // Every proper prefix is truncated.
        for cut in [0, 1, RESOURCE_LEN - 1, RESOURCE_LEN, b.len() - 1] {
            let is_truncated = matches!(
                ResourceWithDisks::decode(&b[..cut]),
                Err(WireError::Truncated { .. })
            );
            prop_assert!(is_truncated);
        }
    }

    /// Fixed-size structs: encode(decode(bytes)) == bytes for any bytes.
    #[test]
    fn struct_bytes_round_trip(bytes in prop::collection::vec(any::<u8>(), LOCKSPACE_LEN)) {
        prop_assert_eq!(Lockspace::decode(&bytes).unwrap().to_bytes(), &bytes[..LOCKSPACE_LEN]);
        prop_assert_eq!(Rindex::decode(&bytes).unwrap().to_bytes(), &bytes[..RINDEX_LEN]);
        prop_assert_eq!(Disk::decode(&bytes).unwrap().to_bytes(), &bytes[..DISK_LEN]);
        prop_assert_eq!(Resource::decode(&bytes).unwrap().to_bytes(), &bytes[..RESOURCE_LEN]);
        prop_assert_eq!(Host::decode(&bytes).unwrap().to_bytes(), &bytes[..HOST_LEN]);
        prop_assert_eq!(HostEvent::decode(&bytes).unwrap().to_bytes(), &bytes[..HOST_EVENT_LEN]);
        prop_assert_eq!(Options::decode(&bytes).unwrap().to_bytes(), &bytes[..OPTIONS_LEN]);
        prop_assert_eq!(Rentry::decode(&bytes).unwrap().to_bytes(), &bytes[..RENTRY_LEN]);
        prop_assert_eq!(State::decode(&bytes).unwrap().to_bytes(), &bytes[..STATE_LEN]);
        prop_assert_eq!(
            Header::decode(&bytes).unwrap().encode().to_vec(),
            bytes[..HEADER_LEN].to_vec()
        );
    }

    /// Requests round-trip through both the framer and decode_request; every prefix is
    /// incomplete (or truncated) and extra bytes are left alone (or rejected).
    #[test]
    fn requests_round_trip(req in request(), extra in prop::collection::vec(any::<u8>(), 1..40)) {
        let bytes = encode_request(&req);
        prop_assert_eq!(bytes.len(), req.header.length as usize);
        prop_assert!(bytes.len() <= MAX_REQUEST_LEN);
        prop_assert_eq!(next_request(&bytes), Ok(Some((req.clone(), bytes.len()))));
        prop_assert_eq!(decode_request(&req.header, &bytes[HEADER_LEN..]), Ok(req.clone()));
        for cut in [0, HEADER_LEN - 1, HEADER_LEN, HEADER_LEN + 1, bytes.len() / 2, bytes.len() - 1] {
            if cut >= bytes.len() {
                continue;
            }
            prop_assert_eq!(next_request(&bytes[..cut]), Ok(None));
            if cut >= HEADER_LEN {
                let is_truncated = matches!(
                    decode_request(&req.header, &bytes[HEADER_LEN..cut]),
                    Err(WireError::Truncated { .. })
                );
                prop_assert!(is_truncated);
            }
        }
        // Oversize: the framer takes exactly the message; decode_request refuses the rest.
        let mut longer = bytes.clone();
        longer.extend_from_slice(&extra);
        prop_assert_eq!(next_request(&longer), Ok(Some((req.clone(), bytes.len()))));
        let is_trailing = matches!(
            decode_request(&req.header, &longer[HEADER_LEN..]),
            Err(WireError::TrailingBytes { .. })
        );
        // SET_LVB takes its size from header.length, so its extra bytes are trailing too.
        prop_assert!(is_trailing);
    }

    /// Replies built the daemon's way round-trip for every command.
    #[test]
    fn replies_round_trip(
        (cmd, body) in command().prop_flat_map(|c| (Just(c), reply_for(c))),
        req_h in any::<[u32; 4]>(),
        result in any::<i32>(),
        data2 in any::<u32>(),
    ) {
        let req = Header {
            cmd: cmd as u32,
            cmd_flags: req_h[0],
            seq: req_h[1],
            data: req_h[2],
            data2: req_h[3],
            ..Header::request(cmd, 0, 0, 0, 0)
        };
        let reply = Reply::for_request(&req, result, data2, body);
        let bytes = encode_reply(&reply);
        let h = Header::decode(&bytes).unwrap();
        prop_assert_eq!(decode_reply(cmd, &h, &bytes[HEADER_LEN..]), Ok(reply.clone()));
        if reply_framing(cmd) == ReplyFraming::Length {
            prop_assert_eq!(h.length as usize, bytes.len());
            if bytes.len() > HEADER_LEN {
                let is_truncated = matches!(
                    decode_reply(cmd, &h, &bytes[HEADER_LEN..bytes.len() - 1]),
                    Err(WireError::Truncated { .. })
                );
                prop_assert!(is_truncated);
            }
            let mut longer = bytes.clone();
            longer.push(0);
            let is_trailing = matches!(
                decode_reply(cmd, &h, &longer[HEADER_LEN..]),
                Err(WireError::TrailingBytes { .. })
            );
            prop_assert!(is_trailing);
        } else {
            prop_assert_eq!(h.length as usize, HEADER_LEN);
        }
    }

    #[test]
    fn status_records_round_trip(recs in prop::collection::vec(state_record(), 0..5)) {
        let mut bytes = Vec::new();
        encode_states(&recs, &mut bytes);
        prop_assert_eq!(decode_states(&bytes), Ok(recs.clone()));
        if !bytes.is_empty() {
            let is_truncated = matches!(
                decode_states(&bytes[..bytes.len() - 1]),
                Err(WireError::Truncated { .. })
            );
            prop_assert!(is_truncated);
        }
    }

    #[test]
    fn event_message_round_trip(e in host_event(), from in any::<u64>(), generation in any::<u64>()) {
        let m = EventMsg::new(e, from, generation);
        let b = m.encode();
        prop_assert_eq!(b.len(), EventMsg::LEN);
        prop_assert_eq!(EventMsg::decode(&b), Ok(m));
        let is_truncated = matches!(
            EventMsg::decode(&b[..EventMsg::LEN - 1]),
            Err(WireError::Truncated { .. })
        );
        prop_assert!(is_truncated);
    }

    /// Inquire strings: format then parse gives the same resources (names without ':' or
    /// space, since libsanlock does not escape names).
    #[test]
    fn inquire_strings_round_trip(
        rs in prop::collection::vec(
            (
                "[A-Za-z0-9_.-]{1,48}",
                "[A-Za-z0-9_.-]{1,48}",
                prop::collection::vec(("[ -\\[\\]-~]{1,60}", any::<u64>()), 1..=4),
                prop::option::of(any::<u64>()),
            ),
            0..4,
        )
    ) {
        let v: Vec<ResourceWithDisks> = rs
            .iter()
            .map(|(l, n, disks, lver)| {
                let res = Resource {
                    lockspace_name: Name::new(l.as_bytes()).unwrap(),
                    name: Name::new(n.as_bytes()).unwrap(),
                    lver: lver.unwrap_or(0),
                    flags: if lver.is_some() { SANLK_RES_LVER } else { SANLK_RES_SHARED },
                    ..Resource::default()
                };
                let disks = disks
                    .iter()
                    .map(|(p, o)| Disk::new(Path::new(p.as_bytes()).unwrap(), *o))
                    .collect();
                ResourceWithDisks::new(res, disks)
            })
            .collect();
        let s = format_inquire(&v);
        prop_assert_eq!(parse_inquire(&s), Ok(v));
    }

    #[test]
    fn resource_strings_never_panic(s in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_resource(&s);
    }
}

/// Counts and disk numbers outside sanlock's limits are the typed errors sanlock answers.
#[test]
fn limits_are_enforced() {
    let r = ResourceWithDisks::new(
        Resource::default(),
        vec![Disk::new(Path::new(b"/d").unwrap(), 0)],
    );
    // 9 resources.
    let mut body = Vec::new();
    for _ in 0..9 {
        r.encode(&mut body);
    }
    Options::default().encode(&mut body);
    let h = Header::request(Command::Acquire, 0, 0, 9, u32::MAX);
    let e = decode_request(&h, &body).unwrap_err();
    assert_eq!(e, WireError::TooManyResources { count: 9, max: 8 });
    assert_eq!(e.reply_result(), Some(-7));
    // Release: 9 too many (our bound), REL_ALL ignores data entirely.
    let h = Header::request(Command::Release, 0, 0, 9, u32::MAX);
    assert_eq!(
        next_request(&h.encode()),
        Err(WireError::TooManyResources { count: 9, max: 8 })
    );
    let h = Header::request(Command::Release, SANLK_REL_ALL, 32, 9, u32::MAX);
    let (req, n) = next_request(&h.encode()).unwrap().unwrap();
    assert_eq!(n, 32);
    assert_eq!(req.body, RequestBody::Release { resources: vec![] });
    // num_disks 0 and 5.
    for nd in [0, 5] {
        let mut bad = r.clone();
        bad.res.num_disks = nd;
        let mut msg = Header::request(Command::ReadResource, 0, 0, 0, 0)
            .encode()
            .to_vec();
        bad.encode(&mut msg);
        let e = next_request(&msg).unwrap_err();
        assert_eq!(e, WireError::BadNumDisks { num_disks: nd });
        assert_eq!(e.reply_result(), Some(-34));
    }
    // LVB sizes.
    let mut msg = Header::request(Command::SetLvb, 0, 160 + 4097, 0, 0)
        .encode()
        .to_vec();
    msg.extend_from_slice(&[0; 128]);
    assert_eq!(
        next_request(&msg),
        Err(WireError::LvbTooLarge { len: 4097 })
    );
    let h = Header::request(Command::SetLvb, 0, 160 + 4096, 0, 0);
    let mut msg = h.encode().to_vec();
    msg.extend_from_slice(&[0; 128 + 4096]);
    assert!(matches!(
        next_request(&msg),
        Ok(Some((_, n))) if n == 160 + 4096
    ));
    // Unknown commands and bad magic.
    for cmd in [0, 41, u32::MAX] {
        let mut h = Header::request(Command::Version, 0, 32, 0, 0);
        h.cmd = cmd;
        assert_eq!(
            next_request(&h.encode()),
            Err(WireError::UnknownCommand { cmd })
        );
    }
    let mut h = Header::request(Command::Version, 0, 32, 0, 0);
    h.magic = 0;
    assert_eq!(
        next_request(&h.encode()),
        Err(WireError::BadMagic { magic: 0 })
    );
    assert_eq!(
        MAX_REQUEST_LEN,
        32 + 8 * (128 + 4 * 1040) + 56,
        "acquire of 8 resources with 4 disks each"
    );
}
