//! `Device` on regular files (the sanlock "512-byte device" case), on this machine's file system.
//!
//! Covers: O_DIRECT/O_DSYNC/O_CLOEXEC really set on the descriptor, round trips, refusal of
//! misaligned and out-of-range I/O *before* anything reaches the file (checked by comparing the
//! file's bytes), read-only refusal, size detection and refresh, open errors naming the path.

use std::path::{Path, PathBuf};

use lease_io::testing::{fd_descriptor_flags, fd_status_flags};
use lease_io::{
    create_image_file, probe, Access, AlignedBuf, BufPool, Device, DeviceError, DeviceKind,
    IfExists, PoolLimits,
};

const IMAGE_SIZE_BYTES: u64 = 1 << 20;

fn image(dir: &tempfile::TempDir, size_bytes: u64) -> PathBuf {
    let path = dir.path().join("lease.img");
    create_image_file(&path, size_bytes, IfExists::Refuse).expect("create image");
    path
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read image with std::fs")
}

#[test]
fn regular_file_round_trip_uses_o_direct_and_o_dsync() {
    let dir = tempfile::tempdir().unwrap();
    let path = image(&dir, IMAGE_SIZE_BYTES);
    let device = Device::open(&path, Access::ReadWrite).unwrap();
    assert_eq!(device.kind(), DeviceKind::RegularFile);
    assert_eq!(device.logical_sector_size(), 512);
    assert_eq!(device.io_alignment(), 512);
    assert_eq!(device.physical_sector_size(), None);
    assert_eq!(device.size_bytes(), IMAGE_SIZE_BYTES);
    assert_eq!(device.path(), path);

    let flags = fd_status_flags(&device).unwrap();
    assert_ne!(
        flags & libc::O_DIRECT,
        0,
        "O_DIRECT not set: flags {flags:#o}"
    );
    assert_eq!(
        flags & libc::O_DSYNC,
        libc::O_DSYNC,
        "O_DSYNC not set: flags {flags:#o}"
    );
    assert_eq!(flags & libc::O_ACCMODE, libc::O_RDWR);
    let fd_flags = fd_descriptor_flags(&device).unwrap();
    assert_ne!(fd_flags & libc::FD_CLOEXEC, 0, "FD_CLOEXEC not set");

    let sector = pattern(512, 7);
    device.write_at(4096, &sector).unwrap();
    let back = device.read_at(4096, 512).unwrap();
    assert_eq!(&back[..], &sector[..]);

    let mut buf = AlignedBuf::zeroed(1024).unwrap();
    device.read_into(3584, &mut buf).unwrap();
    assert!(buf[..512].iter().all(|&b| b == 0));
    assert_eq!(&buf[512..], &sector[..]);

    // The bytes are in the file, seen through an ordinary buffered read as well.
    let on_disk = file_bytes(&path);
    assert_eq!(&on_disk[4096..4608], &sector[..]);
    assert!(on_disk[..4096].iter().all(|&b| b == 0));
    assert!(on_disk[4608..].iter().all(|&b| b == 0));
    device.sync().unwrap();
}

#[test]
fn multi_sector_aligned_buffer_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = image(&dir, IMAGE_SIZE_BYTES);
    let device = Device::open(&path, Access::ReadWrite).unwrap();
    let data = AlignedBuf::from_slice(&pattern(256 * 1024, 3)).unwrap();
    device.write_at(512 * 1024, &data).unwrap();
    assert_eq!(device.read_at(512 * 1024, data.len()).unwrap(), data);
}

#[test]
fn unaligned_memory_is_copied_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = image(&dir, IMAGE_SIZE_BYTES);
    let device = Device::open(&path, Access::ReadWrite).unwrap();
    let backing = pattern(1024 + 1, 9);
    let odd = &backing[1..]; // 1024 bytes at an address that is not 4096-aligned
    assert_ne!(odd.as_ptr() as usize % 4096, 0);
    device.write_at(1024, odd).unwrap();
    assert_eq!(&device.read_at(1024, 1024).unwrap()[..], odd);
}

#[test]
fn read_only_open_refuses_write_and_leaves_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = image(&dir, IMAGE_SIZE_BYTES);
    Device::open(&path, Access::ReadWrite)
        .unwrap()
        .write_at(0, &pattern(512, 1))
        .unwrap();
    let before = file_bytes(&path);

    let device = Device::open(&path, Access::ReadOnly).unwrap();
    let flags = fd_status_flags(&device).unwrap();
    assert_ne!(flags & libc::O_DIRECT, 0);
    assert_eq!(flags & libc::O_ACCMODE, libc::O_RDONLY);
    let err = device.write_at(0, &[0u8; 512]).unwrap_err();
    assert!(matches!(err, DeviceError::ReadOnly { .. }), "{err:?}");
    assert_eq!(err.errno(), -libc::EBADF);
    assert!(err.to_string().contains(&*path.to_string_lossy()));
    assert_eq!(file_bytes(&path), before);
    assert_eq!(&device.read_at(0, 512).unwrap()[..], &pattern(512, 1)[..]);
}

#[test]
fn misaligned_offset_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = image(&dir, IMAGE_SIZE_BYTES);
    let device = Device::open(&path, Access::ReadWrite).unwrap();
    let before = file_bytes(&path);
    for offset in [1u64, 100, 511, 513, 4096 + 256] {
        let err = device.write_at(offset, &pattern(512, 5)).unwrap_err();
        match &err {
            DeviceError::Misaligned {
                path: p,
                offset: o,
                len,
                alignment,
            } => {
                assert_eq!(p, &path);
                assert_eq!((*o, *len, *alignment), (offset, 512, 512));
            }
            other => panic!("expected Misaligned for offset {offset}, got {other:?}"),
        }
        assert_eq!(err.errno(), -libc::EINVAL);
        let err = device.read_at(offset, 512).unwrap_err();
        assert!(matches!(err, DeviceError::Misaligned { .. }), "{err:?}");
    }
    assert_eq!(
        file_bytes(&path),
        before,
        "a refused write changed the file"
    );
}

#[test]
fn misaligned_length_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = image(&dir, IMAGE_SIZE_BYTES);
    let device = Device::open(&path, Access::ReadWrite).unwrap();
    let before = file_bytes(&path);
    for len in [0usize, 1, 100, 511, 513, 1000] {
        let err = device.write_at(0, &pattern(len, 5)).unwrap_err();
        assert!(
            matches!(err, DeviceError::Misaligned { offset: 0, len: l, alignment: 512, .. } if l == len),
            "len {len}: {err:?}"
        );
        let err = device.read_at(0, len).unwrap_err();
        assert!(
            matches!(err, DeviceError::Misaligned { .. }),
            "len {len}: {err:?}"
        );
    }
    assert_eq!(
        file_bytes(&path),
        before,
        "a refused write changed the file"
    );
}

#[test]
fn out_of_range_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = image(&dir, 8192);
    let device = Device::open(&path, Access::ReadOnly).unwrap();
    device.read_at(7680, 512).unwrap();
    for (offset, len) in [
        (8192u64, 512usize),
        (7680, 1024),
        (1 << 40, 512),
        (u64::MAX - 511, 512),
    ] {
        let err = device.read_at(offset, len).unwrap_err();
        match &err {
            DeviceError::OutOfRange {
                offset: o,
                len: l,
                size_bytes,
                ..
            } => {
                assert_eq!((*o, *l, *size_bytes), (offset, len, 8192));
            }
            other => panic!("expected OutOfRange for {offset}+{len}, got {other:?}"),
        }
        assert_eq!(err.errno(), -libc::ERANGE);
    }
    let mut buf = AlignedBuf::zeroed(512).unwrap();
    let err = device.read_into(8192, &mut buf).unwrap_err();
    assert!(matches!(err, DeviceError::OutOfRange { .. }), "{err:?}");
}

#[test]
fn size_is_refreshed_when_the_file_grows_after_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = image(&dir, 4096);
    let device = Device::open(&path, Access::ReadOnly).unwrap();
    assert_eq!(device.size_bytes(), 4096);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(8192)
        .unwrap();
    // Another host (or tool) grew the file: the failed range check re-reads the size.
    device.read_at(4096, 4096).unwrap();
    assert_eq!(device.size_bytes(), 8192);
    assert_eq!(device.refresh_size().unwrap(), 8192);
}

#[test]
fn write_past_end_of_regular_file_extends_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = image(&dir, 4096);
    let device = Device::open(&path, Access::ReadWrite).unwrap();
    device.write_at(8192, &pattern(512, 2)).unwrap();
    assert_eq!(device.size_bytes(), 8704);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8704);
    assert_eq!(
        &device.read_at(8192, 512).unwrap()[..],
        &pattern(512, 2)[..]
    );
    let err = device
        .write_at(i64::MAX as u64 - 511, &pattern(1024, 2))
        .unwrap_err();
    assert!(matches!(err, DeviceError::OutOfRange { .. }), "{err:?}");
}

#[test]
fn probe_reports_a_regular_file_as_a_512_byte_device() {
    let dir = tempfile::tempdir().unwrap();
    let path = image(&dir, 3 * IMAGE_SIZE_BYTES);
    let info = probe(&path).unwrap();
    assert_eq!(info.kind, DeviceKind::RegularFile);
    assert_eq!(info.logical_sector_size, 512);
    assert_eq!(info.physical_sector_size, None);
    assert_eq!(info.size_bytes, 3 * IMAGE_SIZE_BYTES);
    assert_eq!(info.io_alignment(), 512);
}

#[test]
fn open_errors_are_typed_and_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.img");
    let err = Device::open(&missing, Access::ReadOnly).unwrap_err();
    assert!(matches!(err, DeviceError::Open { .. }), "{err:?}");
    assert_eq!(err.errno(), -libc::ENOENT);
    assert!(err.to_string().contains("missing.img"), "{err}");

    let err = Device::open(dir.path(), Access::ReadOnly).unwrap_err();
    assert!(
        matches!(
            err,
            DeviceError::UnsupportedFileType {
                file_type: "directory",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.path(), dir.path());

    let err = Device::open(Path::new("/dev/null"), Access::ReadWrite).unwrap_err();
    assert!(
        matches!(
            err,
            DeviceError::UnsupportedFileType {
                file_type: "character device",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn reads_reuse_pooled_buffers_and_a_failed_read_shows_no_stale_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = image(&dir, IMAGE_SIZE_BYTES);
    let device = Device::open(&path, Access::ReadWrite).unwrap();
    let pool = BufPool::new(PoolLimits::default());
    let len = 64 * 1024;
    let (a, b) = (pattern(len, 1), pattern(len, 2));

    device.write_at(0, &a).unwrap();
    let first = device.read_at_in(&pool, 0, len).unwrap();
    assert_eq!(&first[..], &a[..]);
    let addr = first.as_ptr().addr();
    // Handed over as read data without a copy; back in the pool once the bytes are dropped.
    let bytes = first.into_bytes();
    assert_eq!(bytes.as_ptr().addr(), addr);
    drop(bytes);
    assert_eq!(pool.stats().idle_buffers, 1);

    // The steady state: the same memory again, refilled by the new read, nothing allocated.
    device.write_at(0, &b).unwrap();
    for _ in 0..10 {
        let again = device.read_at_in(&pool, 0, len).unwrap();
        assert_eq!(again.as_ptr().addr(), addr);
        assert_eq!(&again[..], &b[..]);
    }
    let stats = pool.stats();
    assert_eq!((stats.misses, stats.hits), (1, 10), "{stats:?}");

    // The file shrinks under the cached size: the read comes up short after 32 KiB. The reused
    // buffer (holding `b`) is given back unseen: an error, never stale or partial bytes.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(32 * 1024)
        .unwrap();
    let err = device.read_at_in(&pool, 0, len).unwrap_err();
    assert!(matches!(err, DeviceError::Io { .. }), "{err:?}");
    let stats = pool.stats();
    assert_eq!((stats.hits, stats.idle_buffers), (11, 1), "{stats:?}");
}
