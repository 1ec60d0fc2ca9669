//! Property tests for the on-disk codecs (`lease_core::ondisk`, `geometry`).
//!
//! * Robustness: every decoder and every `verify*` function accepts arbitrary bytes of any length
//!   (0..9000) without panicking; short input is `FormatError::Truncated` with the right counts.
//! * Round trip: `decode(encode(x)) == x` for arbitrary field values of every structure, and
//!   `encode(decode(bytes))` reproduces the input prefix (mode block: except its padding).
//! * Checksum coverage: flipping any byte the checksum covers changes the computed checksum;
//!   flipping an uncovered byte (leader `io_timeout`/`write_*`, dblock `flags`) does not.

use lease_core::geometry::{AlignSize, Geometry, SectorSize};
use lease_core::ondisk::{
    Dblock, DeltaSector, FormatError, HostBitmap, HostSector, LeaderRecord, ModeBlock, Name,
    RequestRecord, RindexEntry, RindexHeader, LEADER_CHECKSUM_LEN, NAME_LEN,
};
use proptest::prelude::*;

fn arb_name() -> impl Strategy<Value = Name> {
    prop::collection::vec(any::<u8>(), NAME_LEN).prop_map(|bytes| {
        let mut field = [0u8; NAME_LEN];
        field.copy_from_slice(&bytes);
        Name::from_bytes(field)
    })
}

fn arb_leader() -> impl Strategy<Value = LeaderRecord> {
    let head = (any::<[u32; 4]>(), any::<[u64; 5]>(), arb_name(), arb_name());
    let tail = (
        any::<[u64; 2]>(),
        any::<u32>(),
        any::<[u16; 2]>(),
        any::<[u64; 3]>(),
    );
    (head, tail).prop_map(
        |((w, q, space, resource), (t, checksum, h, write))| LeaderRecord {
            magic: w[0],
            version: w[1],
            flags: w[2],
            sector_size: w[3],
            num_hosts: q[0],
            max_hosts: q[1],
            owner_id: q[2],
            owner_generation: q[3],
            lver: q[4],
            space_name: space,
            resource_name: resource,
            timestamp: t[0],
            unused1: t[1],
            checksum,
            unused2: h[0],
            io_timeout: h[1],
            write_id: write[0],
            write_generation: write[1],
            write_timestamp: write[2],
        },
    )
}

fn arb_bitmap() -> impl Strategy<Value = HostBitmap> {
    prop::collection::vec(any::<u8>(), HostBitmap::ENCODED_LEN).prop_map(|bytes| {
        let mut raw = [0u8; HostBitmap::ENCODED_LEN];
        raw.copy_from_slice(&bytes);
        HostBitmap::from_bytes(raw)
    })
}

fn arb_dblock() -> impl Strategy<Value = Dblock> {
    (any::<[u64; 6]>(), any::<[u32; 2]>()).prop_map(|(q, w)| Dblock {
        mbal: q[0],
        bal: q[1],
        inp: q[2],
        inp2: q[3],
        inp3: q[4],
        lver: q[5],
        checksum: w[0],
        flags: w[1],
    })
}

fn arb_mode_block() -> impl Strategy<Value = ModeBlock> {
    (any::<u32>(), any::<u64>()).prop_map(|(flags, generation)| ModeBlock { flags, generation })
}

fn arb_request() -> impl Strategy<Value = RequestRecord> {
    (any::<[u32; 3]>(), any::<u64>(), any::<[u8; 4]>()).prop_map(|(w, lver, padding)| {
        RequestRecord {
            magic: w[0],
            version: w[1],
            lver,
            force_mode: w[2],
            padding,
        }
    })
}

fn arb_rindex_header() -> impl Strategy<Value = RindexHeader> {
    (any::<[u32; 6]>(), any::<u64>(), arb_name()).prop_map(|(w, rx_offset, name)| RindexHeader {
        magic: w[0],
        version: w[1],
        flags: w[2],
        sector_size: w[3],
        max_resources: w[4],
        unused: w[5],
        rx_offset,
        lockspace_name: name,
    })
}

fn arb_rindex_entry() -> impl Strategy<Value = RindexEntry> {
    (any::<u64>(), any::<[u32; 2]>(), arb_name()).prop_map(|(res_offset, w, name)| RindexEntry {
        res_offset,
        flags: w[0],
        unused: w[1],
        name,
    })
}

fn arb_sector_size() -> impl Strategy<Value = SectorSize> {
    prop_oneof![Just(SectorSize::B512), Just(SectorSize::B4096)]
}

fn arb_geometry() -> impl Strategy<Value = Geometry> {
    (0..Geometry::ALL.len()).prop_map(|index| Geometry::ALL[index])
}

/// Checks the decode result against the length rule, returning the value when long enough.
fn check_len<T>(result: Result<T, FormatError>, needed: usize, got: usize) -> Option<T> {
    if got < needed {
        assert_eq!(result.err(), Some(FormatError::Truncated { needed, got }));
        None
    } else {
        Some(result.expect("long enough input decodes"))
    }
}

fn exercise_leader(bytes: &[u8], name: &Name) {
    let decoded = LeaderRecord::decode(bytes);
    if let Some(leader) = check_len(decoded, LeaderRecord::ENCODED_LEN, bytes.len()) {
        assert_eq!(leader.encode(), bytes[..LeaderRecord::ENCODED_LEN]);
        let _ = leader.verify_delta(name).map_err(|e| e.sanlock_errno());
        let _ = leader.verify_delta(&leader.space_name);
        let _ = leader.verify_paxos(name, name, u64::from(bytes[0]));
        let _ = leader.verify_paxos(&leader.space_name, &leader.resource_name, leader.num_hosts);
        let _ = leader.geometry();
        let _ = (
            leader.is_free(),
            leader.is_cleared(),
            leader.with_checksum(),
        );
        let _ = (leader.space_name.to_string(), format!("{leader:?}"));
    }
}

fn exercise_sectors(bytes: &[u8]) {
    if let Some(sector) = check_len(
        DeltaSector::decode(bytes),
        DeltaSector::DECODE_LEN,
        bytes.len(),
    ) {
        let encoded = sector.encode(SectorSize::B512);
        assert_eq!(encoded[..200], bytes[..200]);
        assert!(encoded[200..256].iter().all(|&b| b == 0));
        assert_eq!(encoded[256..512], bytes[256..512]);
        let _ = sector.bitmap.iter().count();
    }
    if let Some(host) = check_len(
        HostSector::decode(bytes),
        HostSector::DECODE_LEN,
        bytes.len(),
    ) {
        let _ = host.dblock.verify().map_err(|e| e.sanlock_errno());
        let _ = (
            host.dblock.is_empty(),
            host.dblock.is_released(),
            host.mode_block.is_shared(),
        );
    }
    if let Some(bitmap) = check_len(
        HostBitmap::decode(bytes),
        HostBitmap::ENCODED_LEN,
        bytes.len(),
    ) {
        assert_eq!(bitmap.encode(), bytes[..HostBitmap::ENCODED_LEN]);
        let set: Vec<u64> = bitmap.iter().collect();
        assert!(set.iter().all(|&host_id| bitmap.is_set(host_id)));
    }
}

fn exercise_small_structs(bytes: &[u8], name: &Name) {
    let len = bytes.len();
    if let Some(dblock) = check_len(Dblock::decode(bytes), Dblock::ENCODED_LEN, len) {
        assert_eq!(dblock.encode(), bytes[..Dblock::ENCODED_LEN]);
        let _ = dblock.verify();
    }
    if let Some(mode) = check_len(ModeBlock::decode(bytes), ModeBlock::ENCODED_LEN, len) {
        assert_eq!(mode.encode()[..4], bytes[..4]);
        assert_eq!(mode.encode()[8..], bytes[8..ModeBlock::ENCODED_LEN]);
    }
    if let Some(request) = check_len(
        RequestRecord::decode(bytes),
        RequestRecord::ENCODED_LEN,
        len,
    ) {
        assert_eq!(request.encode(), bytes[..RequestRecord::ENCODED_LEN]);
        let _ = request.verify().map_err(|e| e.sanlock_errno());
    }
    if let Some(header) = check_len(RindexHeader::decode(bytes), RindexHeader::ENCODED_LEN, len) {
        assert_eq!(header.encode(), bytes[..RindexHeader::ENCODED_LEN]);
        let _ = header
            .verify(name, header.rx_offset)
            .map_err(|e| e.sanlock_errno());
        let _ = header.verify(&header.lockspace_name, u64::from(bytes[0]));
        let _ = header.geometry();
    }
    if let Some(entry) = check_len(RindexEntry::decode(bytes), RindexEntry::ENCODED_LEN, len) {
        assert_eq!(entry.encode(), bytes[..RindexEntry::ENCODED_LEN]);
        let _ = entry.is_free();
    }
    let _ = Name::from_slice(&bytes[..len.min(64)]);
    let _ = std::str::from_utf8(&bytes[..len.min(64)]).map(Name::new);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..9000), name in arb_name()) {
        exercise_leader(&bytes, &name);
        exercise_sectors(&bytes);
        exercise_small_structs(&bytes, &name);
    }

    #[test]
    fn short_inputs_are_truncated(len in 0usize..600, fill in any::<u8>(), name in arb_name()) {
        let bytes = vec![fill; len];
        exercise_leader(&bytes, &name);
        exercise_sectors(&bytes);
        exercise_small_structs(&bytes, &name);
    }

    #[test]
    fn geometry_functions_never_panic(flags in any::<u32>(), sector in any::<u32>(),
                                      offset in any::<u64>(), host_id in any::<u64>(),
                                      num_hosts in any::<u64>(), geometry in arb_geometry()) {
        let _ = Geometry::from_leader(flags, sector);
        let _ = Geometry::from_rindex_flags(flags, sector);
        let _ = (SectorSize::from_bytes(sector), AlignSize::from_bytes(offset));
        let _ = geometry.delta_lease_offset(offset, host_id);
        let _ = geometry.dblock_offset(offset, host_id);
        let _ = geometry.request_offset(offset);
        let _ = geometry.rindex_entry_offset(offset, host_id);
        let _ = geometry.rindex_resource_offset(offset, host_id);
        let _ = (geometry.check_offset_aligned(offset), geometry.is_align_multiple(offset));
        let len = geometry.ballot_read_len(num_hosts);
        prop_assert!(len <= geometry.area_bytes());
        prop_assert!(len >= geometry.sector_bytes());
        let mut bitmap = HostBitmap::new();
        let _ = (bitmap.set(host_id), bitmap.is_set(host_id), bitmap.clear(host_id));
        prop_assert!(bitmap.is_empty());
    }

    #[test]
    fn leader_round_trip(leader in arb_leader()) {
        prop_assert_eq!(LeaderRecord::decode(&leader.encode()), Ok(leader));
    }

    #[test]
    fn delta_sector_round_trip(leader in arb_leader(), bitmap in arb_bitmap(),
                               sector_size in arb_sector_size()) {
        let sector = DeltaSector { leader, bitmap };
        let bytes = sector.encode(sector_size);
        prop_assert_eq!(bytes.len(), sector_size.bytes_usize());
        prop_assert!(bytes[200..256].iter().chain(&bytes[512..]).all(|&b| b == 0));
        prop_assert_eq!(DeltaSector::decode(&bytes), Ok(sector));
    }

    #[test]
    fn host_sector_round_trip(dblock in arb_dblock(), mode_block in arb_mode_block(),
                              sector_size in arb_sector_size()) {
        let sector = HostSector { dblock, mode_block };
        let bytes = sector.encode(sector_size);
        prop_assert_eq!(bytes.len(), sector_size.bytes_usize());
        prop_assert!(bytes[56..128].iter().chain(&bytes[132..136]).all(|&b| b == 0));
        prop_assert!(bytes[144..].iter().all(|&b| b == 0));
        prop_assert_eq!(HostSector::decode(&bytes), Ok(sector));
        prop_assert_eq!(Dblock::decode(&dblock.encode()), Ok(dblock));
        prop_assert_eq!(ModeBlock::decode(&mode_block.encode()), Ok(mode_block));
    }

    #[test]
    fn small_structs_round_trip(request in arb_request(), header in arb_rindex_header(),
                                entry in arb_rindex_entry(), bitmap in arb_bitmap()) {
        prop_assert_eq!(RequestRecord::decode(&request.encode()), Ok(request));
        prop_assert_eq!(RindexHeader::decode(&header.encode()), Ok(header));
        prop_assert_eq!(RindexEntry::decode(&entry.encode()), Ok(entry));
        prop_assert_eq!(HostBitmap::decode(&bitmap.encode()), Ok(bitmap));
    }

    #[test]
    fn name_round_trip(text in "[^\u{0}]{0,16}") {
        match Name::new(&text) {
            Ok(name) => {
                prop_assert!(text.len() <= NAME_LEN);
                prop_assert_eq!(name.to_string(), text.clone());
                prop_assert_eq!(name.is_empty(), text.is_empty());
                prop_assert!(name.matches(&Name::from_bytes(*name.as_bytes())));
            }
            Err(_) => prop_assert!(text.len() > NAME_LEN),
        }
    }

    #[test]
    fn bitmap_set_bits_are_exactly_the_set_hosts(
        hosts in prop::collection::btree_set(1u64..=HostBitmap::HOST_ID_MAX, 0..40)
    ) {
        let mut bitmap = HostBitmap::new();
        for &host_id in &hosts {
            bitmap.set(host_id).expect("in range");
        }
        prop_assert_eq!(bitmap.iter().collect::<Vec<_>>(), hosts.iter().copied().collect::<Vec<_>>());
        prop_assert_eq!(HostBitmap::decode(&bitmap.encode()), Ok(bitmap));
    }

    #[test]
    fn leader_checksum_covers_exactly_bytes_0_to_168(leader in arb_leader(),
                                                     index in 0usize..LeaderRecord::ENCODED_LEN,
                                                     flip in 1u8..=255) {
        let mut bytes = leader.encode();
        bytes[index] ^= flip;
        let mutated = LeaderRecord::decode(&bytes).expect("200 bytes decode");
        let covered = index < LEADER_CHECKSUM_LEN;
        let checksum_field = (LeaderRecord::CHECKSUM_OFFSET..LeaderRecord::CHECKSUM_OFFSET + 4)
            .contains(&index);
        if covered {
            prop_assert_ne!(mutated.computed_checksum(), leader.computed_checksum());
            let valid = leader.with_checksum();
            let mut bytes = valid.encode();
            bytes[index] ^= flip;
            let mutated = LeaderRecord::decode(&bytes).expect("200 bytes decode");
            prop_assert_ne!(mutated.computed_checksum(), mutated.checksum, "flip is detected");
        } else {
            prop_assert_eq!(mutated.computed_checksum(), leader.computed_checksum());
            prop_assert_eq!(mutated.checksum != leader.checksum, checksum_field);
        }
    }

    #[test]
    fn dblock_checksum_covers_exactly_bytes_0_to_48(dblock in arb_dblock(),
                                                    index in 0usize..Dblock::ENCODED_LEN,
                                                    flip in 1u8..=255) {
        let valid = dblock.with_checksum();
        prop_assert_eq!(valid.verify(), Ok(()));
        let mut bytes = valid.encode();
        bytes[index] ^= flip;
        let mutated = Dblock::decode(&bytes).expect("56 bytes decode");
        if index < Dblock::CHECKSUM_LEN {
            prop_assert_ne!(mutated.computed_checksum(), valid.computed_checksum());
            prop_assert!(mutated.verify().is_err() || mutated.is_empty());
        } else if index >= Dblock::FLAGS_OFFSET {
            prop_assert_eq!(mutated.verify(), Ok(()), "flags are not covered");
        } else {
            prop_assert!(mutated.verify().is_err() || mutated.is_empty());
        }
    }

    #[test]
    fn builders_produce_verifiable_records(geometry in arb_geometry(), io_timeout in any::<u16>(),
                                           num_hosts in any::<u64>(), host_id in 1u64..=2000) {
        let space = Name::new("space").expect("valid");
        let resource = Name::new("resource").expect("valid");
        let leader = LeaderRecord::delta_init(geometry, &space, io_timeout);
        prop_assert_eq!(leader.verify_delta(&space), Ok(()));
        prop_assert_eq!(leader.geometry(), Ok(geometry));
        let leader = LeaderRecord::paxos_init(geometry, &space, &resource, num_hosts);
        prop_assert!(leader.num_hosts >= 1 && leader.num_hosts <= geometry.max_hosts());
        let verdict = leader.verify_paxos(&space, &resource, host_id);
        prop_assert_eq!(verdict.is_ok(), host_id <= leader.num_hosts);
    }
}
