//! Golden-bytes tests against data written by the real sanlock 3.8.5.
//!
//! Fixtures in `tests/golden/` were produced by `tests/golden/make-fixtures.sh` (see its header)
//! and are committed; the tests never run sanlock. For every fixture:
//!
//! * decoding yields the exact field values sanlock wrote (asserted as numbers);
//! * re-encoding the decoded structures reproduces the fixture byte for byte (whole sectors,
//!   including the zero padding, and the request record's garbage padding);
//! * the area builders produce exactly sanlock's area, compared by the length and IEEE CRC-32
//!   recorded in `golden/areas.txt` (CRC-32 rather than CRC-32C because an embedded sanlock
//!   checksum drives a CRC-32C register to a constant, hiding the leader's contents).
//!
//! Values marked "fixture-specific" (CLOCK_MONOTONIC timestamps and the checksums covering them)
//! change when the fixtures are regenerated; the script prints the new ones.

use lease_core::geometry::{AlignSize, Geometry, SectorSize};
use lease_core::ondisk::{
    lockspace_init_area, paxos_init_area, rindex_format_area, DeltaSector, HostSector, LeaderError,
    LeaderRecord, Name, RequestRecord, RindexEntry, RindexHeader, DELTA_LEASE_MAGIC,
    DELTA_LEASE_VERSION, PAXOS_DISK_CLEAR_MAGIC, PAXOS_LEASE_MAGIC, PAXOS_LEASE_VERSION,
    RINDEX_LEASE_NAME,
};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/",
            $name,
            ".bin"
        ))
        .as_slice()
    };
}

const AREAS: &str = include_str!("golden/areas.txt");

fn name(text: &str) -> Name {
    Name::new(text).expect("valid test name")
}

fn geometry(sector: SectorSize, align: AlignSize) -> Geometry {
    Geometry::new(sector, align).expect("valid geometry")
}

fn g512() -> Geometry {
    geometry(SectorSize::B512, AlignSize::M1)
}

fn g4k(align: AlignSize) -> Geometry {
    geometry(SectorSize::B4096, align)
}

/// IEEE CRC-32 (zlib), the digest `make-fixtures.sh` records for whole areas.
fn crc32_ieee(bytes: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (index, entry) in (0u32..).zip(table.iter_mut()) {
        let mut crc = index;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
        *entry = crc;
    }
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc = table[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// `(offset, len, crc32)` recorded for area `wanted` in `areas.txt`.
fn recorded_area(wanted: &str) -> (u64, usize, u32) {
    for line in AREAS.lines().filter(|line| !line.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first() == Some(&wanted) {
            let offset = fields[1].parse().expect("offset");
            let len = fields[2].parse().expect("len");
            let crc = u32::from_str_radix(fields[3].trim_start_matches("0x"), 16).expect("crc");
            return (offset, len, crc);
        }
    }
    panic!("area {wanted} not recorded in areas.txt");
}

fn assert_area_matches(wanted: &str, built: &[u8]) {
    let (_, len, crc) = recorded_area(wanted);
    assert_eq!(built.len(), len, "{wanted}: length");
    assert_eq!(
        crc32_ieee(built),
        crc,
        "{wanted}: built area differs from sanlock's"
    );
}

fn sector(bytes: &[u8], sector_size: SectorSize, index: usize) -> &[u8] {
    let len = sector_size.bytes_usize();
    &bytes[index * len..(index + 1) * len]
}

/// Decodes a delta sector, checks it re-encodes to the same bytes and returns its leader.
fn delta_roundtrip(bytes: &[u8], sector_size: SectorSize) -> DeltaSector {
    assert_eq!(bytes.len(), sector_size.bytes_usize());
    let decoded = DeltaSector::decode(bytes).expect("decodes");
    assert_eq!(
        decoded.encode(sector_size),
        bytes,
        "delta sector re-encodes identically"
    );
    assert_eq!(decoded.leader.computed_checksum(), decoded.leader.checksum);
    decoded
}

/// Decodes a paxos leader sector and checks it re-encodes to the same zero-padded sector.
fn leader_roundtrip(bytes: &[u8]) -> LeaderRecord {
    let leader = LeaderRecord::decode(bytes).expect("decodes");
    assert_eq!(leader.encode(), bytes[..LeaderRecord::ENCODED_LEN]);
    assert!(
        bytes[LeaderRecord::ENCODED_LEN..].iter().all(|&b| b == 0),
        "padding is zero"
    );
    assert_eq!(leader.computed_checksum(), leader.checksum);
    leader
}

fn request_roundtrip(bytes: &[u8]) -> RequestRecord {
    let request = RequestRecord::decode(bytes).expect("decodes");
    assert_eq!(request.encode(), bytes[..RequestRecord::ENCODED_LEN]);
    assert!(
        bytes[RequestRecord::ENCODED_LEN..].iter().all(|&b| b == 0),
        "padding is zero"
    );
    assert_eq!(request.verify(), Ok(()));
    request
}

fn host_roundtrip(bytes: &[u8], sector_size: SectorSize) -> HostSector {
    let host = HostSector::decode(bytes).expect("decodes");
    assert_eq!(
        host.encode(sector_size),
        bytes,
        "host sector re-encodes identically"
    );
    assert_eq!(host.dblock.verify(), Ok(()));
    host
}

/// The free delta leader every `direct init -s` slot gets.
fn free_delta_leader(
    flags: u32,
    sector_size: u32,
    space: &str,
    io_timeout: u16,
    checksum: u32,
) -> LeaderRecord {
    LeaderRecord {
        magic: DELTA_LEASE_MAGIC,
        version: DELTA_LEASE_VERSION,
        flags,
        sector_size,
        num_hosts: 0,
        max_hosts: 1,
        space_name: name(space),
        checksum,
        io_timeout,
        ..LeaderRecord::default()
    }
}

/// The free paxos leader `direct init -r` writes.
fn free_paxos_leader(
    flags: u32,
    sector_size: u32,
    (num_hosts, max_hosts): (u64, u64),
    (space, resource): (&str, &str),
    checksum: u32,
) -> LeaderRecord {
    LeaderRecord {
        magic: PAXOS_LEASE_MAGIC,
        version: PAXOS_LEASE_VERSION,
        flags,
        sector_size,
        num_hosts,
        max_hosts,
        space_name: name(space),
        resource_name: name(resource),
        checksum,
        ..LeaderRecord::default()
    }
}

// ---- delta leases -----------------------------------------------------------------------------

#[test]
fn default_lockspace_init_matches_spec_checksum() {
    let bytes = fixture!("ls_default.s0-1");
    for index in 0..2 {
        let decoded = delta_roundtrip(sector(bytes, SectorSize::B512, index), SectorSize::B512);
        // Without -Z/-A a regular file gets 512/1M and the 1M align flag is still written.
        let expected = free_delta_leader(0x10, 512, "LS1", 10, 0x4dba_1e1e);
        assert_eq!(decoded.leader, expected);
        assert!(decoded.bitmap.is_empty());
        assert_eq!(decoded.leader.verify_delta(&name("LS1")), Ok(()));
        assert_eq!(decoded.leader.geometry(), Ok(g512()));
    }
    assert_eq!(
        LeaderRecord::delta_init(g512(), &name("LS1"), 10),
        free_delta_leader(0x10, 512, "LS1", 10, 0x4dba_1e1e)
    );
    assert_area_matches("ls_default", &lockspace_init_area(g512(), &name("LS1"), 10));
}

#[test]
fn io_timeout_is_not_covered_by_the_leader_checksum() {
    let decoded = delta_roundtrip(fixture!("ls_512_1m_io5.s0"), SectorSize::B512);
    assert_eq!(
        decoded.leader,
        free_delta_leader(0x10, 512, "LS1", 5, 0x4dba_1e1e)
    );
    assert_area_matches(
        "ls_512_1m_io5",
        &lockspace_init_area(g512(), &name("LS1"), 5),
    );
}

#[test]
fn lockspace_4k_sectors() {
    let decoded = delta_roundtrip(fixture!("ls_4k_1m.s0"), SectorSize::B4096);
    assert_eq!(
        decoded.leader,
        free_delta_leader(0x10, 4096, "LS1", 10, 0x2d93_eec1)
    );
    assert_eq!(decoded.leader.geometry(), Ok(g4k(AlignSize::M1)));

    let decoded = delta_roundtrip(fixture!("ls_4k_8m.s0"), SectorSize::B4096);
    assert_eq!(
        decoded.leader,
        free_delta_leader(0x80, 4096, "LS3", 10, 0x96d5_e5ff)
    );
    assert_eq!(decoded.leader.geometry(), Ok(g4k(AlignSize::M8)));
}

#[test]
fn lockspace_areas_match_sanlock_for_every_geometry() {
    let cases = [
        ("ls_4k_1m", AlignSize::M1, "LS1"),
        ("ls_4k_2m", AlignSize::M2, "LS1"),
        ("ls_4k_4m", AlignSize::M4, "LS1"),
        ("ls_4k_8m", AlignSize::M8, "LS3"),
    ];
    for (area, align, space) in cases {
        assert_area_matches(area, &lockspace_init_area(g4k(align), &name(space), 10));
    }
}

#[test]
fn full_length_name_has_no_terminator() {
    let text = "x".repeat(48);
    let decoded = delta_roundtrip(fixture!("ls_name48.s0"), SectorSize::B512);
    assert_eq!(
        decoded.leader,
        free_delta_leader(0x10, 512, &text, 10, 0x7c3f_2a3d)
    );
    assert_eq!(decoded.leader.space_name.to_string(), text);
    assert_eq!(decoded.leader.verify_delta(&name(&text)), Ok(()));
    let sector = DeltaSector::decode(fixture!("ls_name48.s0")).expect("decodes");
    assert_eq!(
        sector.leader,
        LeaderRecord::delta_init(g512(), &name(&text), 10)
    );
}

#[test]
fn delta_lease_after_acquire_id_512() {
    let bytes = fixture!("ls_acquired_512.s0-1");
    let host1 = delta_roundtrip(sector(bytes, SectorSize::B512, 0), SectorSize::B512);
    let expected = LeaderRecord {
        owner_id: 1,
        owner_generation: 1,
        resource_name: name("hostA"),
        timestamp: 582,        // fixture-specific
        checksum: 0xe0d0_e32b, // fixture-specific
        ..free_delta_leader(0x10, 512, "LS1", 1, 0)
    };
    assert_eq!(host1.leader, expected);
    assert!(host1.bitmap.is_empty(), "acquire writes a zero bitmap");
    assert_eq!(host1.leader.verify_delta(&name("LS1")), Ok(()));
    assert!(!host1.leader.is_free());
    // Host 2's slot is untouched: still the free init record (io_timeout 1 from init -o 1).
    let host2 = delta_roundtrip(sector(bytes, SectorSize::B512, 1), SectorSize::B512);
    assert_eq!(
        host2.leader,
        LeaderRecord::delta_init(g512(), &name("LS1"), 1)
    );
    assert!(host2.leader.is_free());
}

#[test]
fn delta_lease_after_acquire_id_4k_8m_host2() {
    let host2 = delta_roundtrip(fixture!("ls_acquired_4k_8m.s1"), SectorSize::B4096);
    let expected = LeaderRecord {
        owner_id: 2,
        owner_generation: 1,
        resource_name: name("hostB"),
        timestamp: 584,        // fixture-specific
        checksum: 0x553f_6a57, // fixture-specific
        ..free_delta_leader(0x80, 4096, "LS3", 1, 0)
    };
    assert_eq!(host2.leader, expected);
    assert_eq!(host2.leader.verify_delta(&name("LS3")), Ok(()));
    let err = host2.leader.verify_delta(&name("LS1")).unwrap_err();
    assert_eq!(err.sanlock_errno(), -226);
}

// ---- paxos leases -----------------------------------------------------------------------------

#[test]
fn default_resource_init() {
    let bytes = fixture!("res_default.s0-2");
    let ss = SectorSize::B512;
    let leader = leader_roundtrip(sector(bytes, ss, 0));
    let expected = free_paxos_leader(0x10, 512, (2000, 2000), ("LS1", "res1"), 0xf643_51fd);
    assert_eq!(leader, expected);
    assert_eq!(
        leader.verify_paxos(&name("LS1"), &name("res1"), 2000),
        Ok(())
    );
    assert_eq!(
        leader
            .verify_paxos(&name("LS1"), &name("res2"), 1)
            .map_err(|e| e.sanlock_errno()),
        Err(-227)
    );
    let request = request_roundtrip(sector(bytes, ss, 1));
    assert_eq!(request, RequestRecord::new(0, 0));
    let host1 = host_roundtrip(sector(bytes, ss, 2), ss);
    assert!(host1.dblock.is_empty());
    assert_eq!(host1, HostSector::default());

    let built = paxos_init_area(g512(), &name("LS1"), &name("res1"), 0, None);
    assert_eq!(&built[..bytes.len()], bytes);
    assert_area_matches("res_default", &built);
}

#[test]
fn resource_init_num_hosts_and_geometries() {
    let leader = leader_roundtrip(fixture!("res_512_1m_n7.s0"));
    assert_eq!(
        leader,
        free_paxos_leader(0x10, 512, (7, 2000), ("LS1", "res1"), 0xdb63_82aa)
    );
    assert_eq!(
        leader
            .verify_paxos(&name("LS1"), &name("res1"), 8)
            .map_err(|e| e.sanlock_errno()),
        Err(-228)
    );

    let bytes = fixture!("res_4k_1m.s0-1");
    let leader = leader_roundtrip(sector(bytes, SectorSize::B4096, 0));
    assert_eq!(
        leader,
        free_paxos_leader(0x10, 4096, (250, 250), ("LS1", "res1"), 0x4c38_d53a)
    );
    assert_eq!(
        request_roundtrip(sector(bytes, SectorSize::B4096, 1)),
        RequestRecord::new(0, 0)
    );

    let leader = leader_roundtrip(fixture!("res_4k_2m_n7.s0"));
    assert_eq!(
        leader,
        free_paxos_leader(0x20, 4096, (7, 500), ("LS1", "res1"), 0xfb0c_ad4b)
    );

    let bytes = fixture!("res_4k_8m.s0-1");
    let leader = leader_roundtrip(sector(bytes, SectorSize::B4096, 0));
    assert_eq!(
        leader,
        free_paxos_leader(0x80, 4096, (2000, 2000), ("LS3", "res3"), 0xb973_4875)
    );
    assert_eq!(
        request_roundtrip(sector(bytes, SectorSize::B4096, 1)),
        RequestRecord::new(0, 0)
    );
}

#[test]
fn resource_areas_match_sanlock() {
    let cases = [
        ("res_512_1m_n7", g512(), 7, "LS1", "res1"),
        ("res_4k_1m", g4k(AlignSize::M1), 0, "LS1", "res1"),
        ("res_4k_2m_n7", g4k(AlignSize::M2), 7, "LS1", "res1"),
        ("res_4k_8m", g4k(AlignSize::M8), 0, "LS3", "res3"),
    ];
    for (area, geometry, num_hosts, space, resource) in cases {
        let built = paxos_init_area(geometry, &name(space), &name(resource), num_hosts, None);
        assert_area_matches(area, &built);
    }
    // num_hosts above max_hosts is clamped, like sanlock's `-n 3000` on 512/1M.
    let clamped = paxos_init_area(g512(), &name("LS1"), &name("res1"), 3000, None);
    assert_area_matches("res_default", &clamped);
}

#[test]
fn cleared_resource_512() {
    let bytes = fixture!("res_clear_512.s0-1");
    let leader = leader_roundtrip(sector(bytes, SectorSize::B512, 0));
    let write_timestamp = 587; // fixture-specific
    let expected = LeaderRecord {
        magic: PAXOS_DISK_CLEAR_MAGIC,
        write_timestamp,
        ..free_paxos_leader(0x10, 512, (2000, 2000), ("LS1", "res1"), 0x1977_3d05)
    };
    assert_eq!(leader, expected);
    assert!(leader.is_cleared());
    let err = leader
        .verify_paxos(&name("LS1"), &name("res1"), 1)
        .unwrap_err();
    assert_eq!(err, LeaderError::Cleared { write_timestamp });
    assert_eq!(err.sanlock_errno(), -223);
    assert_eq!(
        request_roundtrip(sector(bytes, SectorSize::B512, 1)),
        RequestRecord::new(0, 0)
    );

    let built = paxos_init_area(
        g512(),
        &name("LS1"),
        &name("res1"),
        0,
        Some(write_timestamp),
    );
    assert_eq!(&built[..bytes.len()], bytes);
    assert_area_matches("res_clear_512", &built);
}

#[test]
fn cleared_resource_4k_8m() {
    let leader = leader_roundtrip(fixture!("res_clear_4k_8m.s0"));
    let write_timestamp = 587; // fixture-specific
    let expected = LeaderRecord {
        magic: PAXOS_DISK_CLEAR_MAGIC,
        write_timestamp,
        ..free_paxos_leader(0x80, 4096, (2000, 2000), ("LS3", "res3"), 0x5647_248d)
    };
    assert_eq!(leader, expected);
    let g = g4k(AlignSize::M8);
    let built = paxos_init_area(g, &name("LS3"), &name("res3"), 0, Some(write_timestamp));
    assert_area_matches("res_clear_4k_8m", &built);
}

/// Leader after `direct acquire -i host_id -g generation` (winner wrote the leader itself).
fn acquired_leader(owner: (u64, u64), lver: u64, num_hosts: u64, checksum: u32) -> LeaderRecord {
    LeaderRecord {
        owner_id: owner.0,
        owner_generation: owner.1,
        lver,
        timestamp: 587, // fixture-specific
        write_id: owner.0,
        write_generation: owner.1,
        write_timestamp: 587, // fixture-specific
        ..free_paxos_leader(0x10, 512, (num_hosts, 2000), ("LS1", "res1"), checksum)
    }
}

#[test]
fn resource_after_acquire_512() {
    let ss = SectorSize::B512;
    let bytes = fixture!("res_acquired_512.s0-2");
    let leader = leader_roundtrip(sector(bytes, ss, 0));
    assert_eq!(leader, acquired_leader((1, 1), 1, 4, 0xf64d_0768)); // fixture-specific checksum
    assert_eq!(leader.verify_paxos(&name("LS1"), &name("res1"), 1), Ok(()));
    assert_eq!(
        leader
            .verify_paxos(&name("LS1"), &name("res1"), 5)
            .map_err(|e| e.sanlock_errno()),
        Err(-228),
        "num_hosts 4 < host_id 5"
    );
    assert_eq!(
        request_roundtrip(sector(bytes, ss, 1)),
        RequestRecord::new(0, 0)
    );
    let host1 = host_roundtrip(sector(bytes, ss, 2), ss);
    assert_eq!(
        host1.dblock.mbal, 1,
        "first ballot of host 1: mbal = host_id"
    );
    assert_eq!(host1.dblock.bal, 1);
    assert_eq!(
        (host1.dblock.inp, host1.dblock.inp2, host1.dblock.inp3),
        (1, 1, 587)
    );
    assert_eq!(host1.dblock.lver, 1);
    assert_eq!(host1.dblock.checksum, 0xc9fe_a825); // fixture-specific
    assert_eq!(host1.dblock.flags, 0);
    assert_eq!(host1.mode_block.flags, 0);
    assert!(!host1.dblock.is_empty());
}

#[test]
fn resource_after_reacquire_512_uses_max_hosts_as_ballot_modulus() {
    let ss = SectorSize::B512;
    let bytes = fixture!("res_reacquired_512.s0-2");
    let leader = leader_roundtrip(sector(bytes, ss, 0));
    assert_eq!(leader, acquired_leader((1, 1), 2, 4, 0xe100_a6de)); // fixture-specific checksum
    let host1 = host_roundtrip(sector(bytes, ss, 2), ss);
    // mbal = (max_mbal - max_mbal % max_hosts) + max_hosts + host_id with max_hosts 2000
    // (the leader's max_hosts, not num_hosts 4).
    assert_eq!((host1.dblock.mbal, host1.dblock.bal), (2001, 2001));
    assert_eq!(
        (host1.dblock.inp, host1.dblock.inp2, host1.dblock.lver),
        (1, 1, 2)
    );
    assert_eq!(host1.dblock.checksum, 0x9026_1c0e); // fixture-specific
}

#[test]
fn resource_after_acquire_4k_8m_host3() {
    let ss = SectorSize::B4096;
    let leader = leader_roundtrip(fixture!("res_acquired_4k_8m.s0"));
    let expected = LeaderRecord {
        owner_id: 3,
        owner_generation: 5,
        lver: 1,
        timestamp: 587, // fixture-specific
        write_id: 3,
        write_generation: 5,
        write_timestamp: 587, // fixture-specific
        ..free_paxos_leader(0x80, 4096, (2000, 2000), ("LS3", "res3"), 0x2dbc_cda7)
    };
    assert_eq!(leader, expected);
    let host3 = host_roundtrip(fixture!("res_acquired_4k_8m.host3"), ss);
    assert_eq!((host3.dblock.mbal, host3.dblock.bal), (3, 3));
    assert_eq!(
        (host3.dblock.inp, host3.dblock.inp2, host3.dblock.inp3),
        (3, 5, 587)
    );
    assert_eq!((host3.dblock.lver, host3.dblock.flags), (1, 0));
    assert_eq!(host3.dblock.checksum, 0xd66a_88c6); // fixture-specific
    let g = g4k(AlignSize::M8);
    assert_eq!(g.dblock_offset(8 << 20, 3), Ok((8 << 20) + 4 * 4096));
}

// ---- resource index ---------------------------------------------------------------------------

fn rindex_header_roundtrip(bytes: &[u8]) -> RindexHeader {
    let header = RindexHeader::decode(bytes).expect("decodes");
    assert_eq!(header.encode(), bytes[..RindexHeader::ENCODED_LEN]);
    assert!(bytes[RindexHeader::ENCODED_LEN..].iter().all(|&b| b == 0));
    header
}

fn rindex_entries(bytes: &[u8]) -> Vec<RindexEntry> {
    let entries: Vec<RindexEntry> = bytes
        .chunks_exact(RindexEntry::ENCODED_LEN)
        .map(|chunk| RindexEntry::decode(chunk).expect("decodes"))
        .collect();
    let encoded: Vec<u8> = entries.iter().flat_map(RindexEntry::encode).collect();
    assert_eq!(encoded, bytes, "entry sector re-encodes identically");
    entries
}

#[test]
fn rindex_header_512_1m_matches_spec_bytes() {
    let header = rindex_header_roundtrip(fixture!("rx_512_1m.header"));
    let expected = RindexHeader {
        magic: 0x0104_2018,
        version: 0x0001_0002,
        flags: 0x1,
        sector_size: 512,
        max_resources: 4096,
        unused: 0,
        rx_offset: 1 << 20,
        lockspace_name: name("LS2"),
    };
    assert_eq!(header, expected);
    assert_eq!(header, RindexHeader::new(g512(), &name("LS2"), 1 << 20, 0));
    assert_eq!(header.geometry(), Ok(g512()));
    assert_eq!(header.verify(&name("LS2"), 1 << 20), Ok(()));
    let errno = |r: Result<(), lease_core::ondisk::RindexError>| r.map_err(|e| e.sanlock_errno());
    assert_eq!(errno(header.verify(&name("LS2"), 2 << 20)), Err(-277));
    assert_eq!(errno(header.verify(&name("LS9"), 2 << 20)), Err(-276));
    let built = rindex_format_area(g512(), &name("LS2"), 1 << 20, 0);
    assert_area_matches("rx_512_1m", &built);
}

#[test]
fn rindex_entries_after_update() {
    let entries = rindex_entries(fixture!("rx_512_1m.entries"));
    assert_eq!(entries.len(), 8, "8 entries per 512-byte sector");
    assert_eq!(entries[0], RindexEntry::new(name("resA"), 3 << 20));
    assert!(entries[1].is_free());
    assert_eq!(entries[2], RindexEntry::new(name("resB"), 5 << 20));
    assert!(entries[3..].iter().all(RindexEntry::is_free));
    let g = g512();
    assert_eq!(g.rindex_resource_offset(1 << 20, 2), Ok(5 << 20));
    assert_eq!(g.rindex_entry_offset(1 << 20, 2), Ok((1 << 20) + 512 + 128));

    let removed = rindex_entries(fixture!("rx_512_1m.entries_removed"));
    assert!(removed[0].is_free());
    assert_eq!(removed[0], RindexEntry::default());
    assert_eq!(removed[2], entries[2]);

    let entries = rindex_entries(fixture!("rx_4k_8m.entries"));
    assert_eq!(entries.len(), 64, "64 entries per 4096-byte sector");
    assert_eq!(entries[0], RindexEntry::new(name("resA"), 24 << 20));
    assert!(entries[1..].iter().all(RindexEntry::is_free));
}

#[test]
fn rindex_headers_4k() {
    let header = rindex_header_roundtrip(fixture!("rx_4k_1m.header"));
    assert_eq!(
        header,
        RindexHeader::new(g4k(AlignSize::M1), &name("LS2"), 1 << 20, 4096)
    );
    assert_eq!(
        (header.flags, header.sector_size, header.max_resources),
        (0x1, 4096, 4096)
    );
    let built = rindex_format_area(g4k(AlignSize::M1), &name("LS2"), 1 << 20, 0);
    assert_area_matches("rx_4k_1m", &built);

    let header = rindex_header_roundtrip(fixture!("rx_4k_8m.header"));
    assert_eq!(
        (header.flags, header.sector_size, header.rx_offset),
        (0x8, 4096, 8 << 20)
    );
    assert_eq!(header.max_resources, 4096);
    assert_eq!(header.geometry(), Ok(g4k(AlignSize::M8)));
    let built = rindex_format_area(g4k(AlignSize::M8), &name("LS2"), 8 << 20, 0);
    assert_area_matches("rx_4k_8m", &built);
}

/// The rindex_lease area equals `paxos_init_area(.., "rindex_lease", max_hosts, None)` except for
/// the 4 garbage padding bytes sanlock leaves in the request record; those survive a
/// decode/encode round trip.
fn check_rindex_lease(fixture: &[u8], area: &str, geometry: Geometry, garbage: [u8; 4]) {
    let ss = geometry.sector_size();
    let leader = leader_roundtrip(sector(fixture, ss, 0));
    assert_eq!(leader.resource_name, RINDEX_LEASE_NAME);
    assert_eq!(leader.resource_name.to_string(), "rindex_lease");
    assert_eq!(leader.num_hosts, geometry.max_hosts());
    assert_eq!(
        leader,
        LeaderRecord::paxos_init(geometry, &name("LS2"), &RINDEX_LEASE_NAME, 0)
    );
    let request_sector = sector(fixture, ss, 1);
    let request = RequestRecord::decode(request_sector).expect("decodes");
    assert_eq!(request.padding, garbage, "sanlock's uninitialised padding");
    assert!(request.same_fields(&RequestRecord::new(0, 0)));
    assert_eq!(request.verify(), Ok(()));
    assert_eq!(
        request.encode(),
        request_sector[..RequestRecord::ENCODED_LEN]
    );

    let mut built = paxos_init_area(geometry, &name("LS2"), &RINDEX_LEASE_NAME, 0, None);
    let padding_at = ss.bytes_usize() + RequestRecord::PADDING_OFFSET;
    assert_eq!(
        built[padding_at..padding_at + 4],
        [0; 4],
        "we write zero padding"
    );
    built[padding_at..padding_at + 4].copy_from_slice(&garbage);
    assert_eq!(&built[..fixture.len()], fixture);
    assert_area_matches(area, &built);
}

#[test]
fn rindex_lease_areas() {
    // fixture-specific padding bytes
    let rx = fixture!("rx_512_1m.lease.s0-1");
    check_rindex_lease(rx, "rx_512_1m_lease", g512(), [0xd6, 0x55, 0, 0]);
    let leader = LeaderRecord::decode(rx).expect("decodes");
    assert_eq!(leader.checksum, 0xfe85_a8e1, "spec §2.6 table");
    let rx = fixture!("rx_4k_1m.lease.s0-1");
    check_rindex_lease(rx, "rx_4k_1m_lease", g4k(AlignSize::M1), [0x1b, 0x56, 0, 0]);
    let rx = fixture!("rx_4k_8m.lease.s0-1");
    check_rindex_lease(rx, "rx_4k_8m_lease", g4k(AlignSize::M8), [0x0a, 0x56, 0, 0]);
}

#[test]
fn every_recorded_area_is_checked() {
    let checked = [
        "ls_default",
        "ls_512_1m_io5",
        "ls_4k_1m",
        "ls_4k_2m",
        "ls_4k_4m",
        "ls_4k_8m",
        "res_default",
        "res_512_1m_n7",
        "res_4k_1m",
        "res_4k_2m_n7",
        "res_4k_8m",
        "res_clear_512",
        "res_clear_4k_8m",
        "rx_512_1m",
        "rx_512_1m_lease",
        "rx_4k_1m",
        "rx_4k_1m_lease",
        "rx_4k_8m",
        "rx_4k_8m_lease",
    ];
    for line in AREAS.lines().filter(|line| !line.starts_with('#')) {
        let area = line.split_whitespace().next().expect("name");
        assert!(
            checked.contains(&area),
            "{area} is recorded but no test compares it"
        );
    }
}
