//! `Device` on real block devices: loop devices with 512- and 4096-byte logical sectors.
//!
//! These tests need root and `losetup`. They FAIL when either is missing, unless
//! `LEASE_TESTS_ALLOW_SKIP_LOOP=1` is set (then they print `SKIP:` and return). CI runs as root,
//! so they always run there. Each loop device is detached by a Drop guard, declared after the
//! temporary directory so it is dropped (detached) first.

use std::path::{Path, PathBuf};

use lease_io::testing::{fd_status_flags, require_loop_device};
use lease_io::{
    create_image_file, probe, Access, AlignedBuf, Device, DeviceError, DeviceKind, IfExists,
};

const IMAGE_SIZE_BYTES: u64 = 4 << 20;

fn backing_file(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("backing.img");
    create_image_file(&path, IMAGE_SIZE_BYTES, IfExists::Refuse).expect("create backing file");
    path
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(17).wrapping_add(seed))
        .collect()
}

fn read_backing(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read backing file")
}

#[test]
fn loop_device_with_512_byte_sectors() {
    let dir = tempfile::tempdir().unwrap();
    let file = backing_file(&dir);
    let Some(loop_dev) = require_loop_device("loop_device_with_512_byte_sectors", &file, 512)
    else {
        return;
    };

    let info = probe(loop_dev.path()).unwrap();
    assert_eq!(info.kind, DeviceKind::BlockDevice);
    assert_eq!(info.logical_sector_size, 512);
    assert_eq!(info.size_bytes, IMAGE_SIZE_BYTES);
    let physical = info
        .physical_sector_size
        .expect("block devices report a physical size");
    assert!(
        physical >= 512 && physical.is_power_of_two(),
        "physical {physical}"
    );

    let device = Device::open(loop_dev.path(), Access::ReadWrite).unwrap();
    assert_eq!(device.kind(), DeviceKind::BlockDevice);
    assert_eq!(device.io_alignment(), 512);
    assert_eq!(device.size_bytes(), IMAGE_SIZE_BYTES);
    assert_ne!(fd_status_flags(&device).unwrap() & libc::O_DIRECT, 0);

    let sector = pattern(512, 1);
    device.write_at(3 * 512, &sector).unwrap();
    device.sync().unwrap();
    assert_eq!(&device.read_at(3 * 512, 512).unwrap()[..], &sector[..]);
    // The write went through the loop device into the backing file.
    assert_eq!(&read_backing(&file)[3 * 512..4 * 512], &sector[..]);

    // Last sector works, one past the end is refused before issuing, for reads and writes.
    let last = IMAGE_SIZE_BYTES - 512;
    device.write_at(last, &sector).unwrap();
    assert_eq!(&device.read_at(last, 512).unwrap()[..], &sector[..]);
    let err = device.read_at(IMAGE_SIZE_BYTES, 512).unwrap_err();
    assert!(
        matches!(
            err,
            DeviceError::OutOfRange {
                size_bytes: IMAGE_SIZE_BYTES,
                ..
            }
        ),
        "{err:?}"
    );
    let err = device.write_at(last, &pattern(1024, 2)).unwrap_err();
    assert!(matches!(err, DeviceError::OutOfRange { .. }), "{err:?}");

    let err = device.write_at(100, &sector).unwrap_err();
    assert!(
        matches!(err, DeviceError::Misaligned { alignment: 512, .. }),
        "{err:?}"
    );
    drop(device);
    loop_dev.detach().expect("detach loop device");
}

#[test]
fn loop_device_with_4096_byte_sectors() {
    let dir = tempfile::tempdir().unwrap();
    let file = backing_file(&dir);
    let Some(loop_dev) = require_loop_device("loop_device_with_4096_byte_sectors", &file, 4096)
    else {
        return;
    };

    let device = Device::open(loop_dev.path(), Access::ReadWrite).unwrap();
    assert_eq!(device.kind(), DeviceKind::BlockDevice);
    assert_eq!(device.logical_sector_size(), 4096);
    assert_eq!(device.io_alignment(), 4096);
    assert_eq!(device.size_bytes(), IMAGE_SIZE_BYTES);
    assert!(device.physical_sector_size().unwrap() >= 4096);

    // 512-byte-aligned but not 4096-aligned: refused as Misaligned, and nothing reaches the disk.
    let before = read_backing(&file);
    let block = pattern(4096, 3);
    for (offset, len) in [
        (512u64, 4096usize),
        (0, 512),
        (4096, 1024),
        (3584, 512),
        (0, 4096 + 512),
    ] {
        let err = device.write_at(offset, &pattern(len, 4)).unwrap_err();
        match &err {
            DeviceError::Misaligned {
                offset: o,
                len: l,
                alignment,
                ..
            } => {
                assert_eq!((*o, *l, *alignment), (offset, len, 4096));
            }
            other => panic!("expected Misaligned for {offset}+{len}, got {other:?}"),
        }
        let err = device.read_at(offset, len).unwrap_err();
        assert!(
            matches!(
                err,
                DeviceError::Misaligned {
                    alignment: 4096,
                    ..
                }
            ),
            "{err:?}"
        );
    }
    let mut small = AlignedBuf::zeroed(512).unwrap();
    let err = device.read_into(0, &mut small).unwrap_err();
    assert!(
        matches!(
            err,
            DeviceError::Misaligned {
                len: 512,
                alignment: 4096,
                ..
            }
        ),
        "{err:?}"
    );
    device.sync().unwrap();
    assert_eq!(
        read_backing(&file),
        before,
        "a refused I/O changed the device"
    );

    // Whole 4 KiB sectors work.
    device.write_at(8192, &block).unwrap();
    assert_eq!(&device.read_at(8192, 4096).unwrap()[..], &block[..]);
    let mut two = AlignedBuf::zeroed(8192).unwrap();
    device.read_into(4096, &mut two).unwrap();
    assert!(two[..4096].iter().all(|&b| b == 0));
    assert_eq!(&two[4096..], &block[..]);
    assert_eq!(&read_backing(&file)[8192..12288], &block[..]);

    let info = probe(loop_dev.path()).unwrap();
    assert_eq!(
        (info.logical_sector_size, info.io_alignment()),
        (4096, 4096)
    );
    assert_eq!(info.size_bytes, IMAGE_SIZE_BYTES);
}

#[test]
fn loop_device_size_detection_follows_the_backing_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("odd-size.img");
    let size_bytes = 3 * (1 << 20) + 8 * 512; // not a power of two, not MiB-aligned
    create_image_file(&file, size_bytes, IfExists::Refuse).unwrap();
    let Some(loop_dev) = require_loop_device("loop_device_size_detection", &file, 512) else {
        return;
    };
    let device = Device::open(loop_dev.path(), Access::ReadOnly).unwrap();
    assert_eq!(device.size_bytes(), size_bytes);
    assert_eq!(device.refresh_size().unwrap(), size_bytes);
    device.read_at(size_bytes - 512, 512).unwrap();
    let err = device.read_at(size_bytes, 512).unwrap_err();
    assert!(matches!(err, DeviceError::OutOfRange { .. }), "{err:?}");
}
