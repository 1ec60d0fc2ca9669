//! `create_image_file`: sparse zero-filled images, and refusal to clobber existing data.

use std::os::unix::fs::MetadataExt;

use lease_io::{create_image_file, DeviceError, IfExists};

#[test]
fn creates_a_sparse_zero_filled_file_of_the_requested_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    let size_bytes = 64 << 20;
    create_image_file(&path, size_bytes, IfExists::Refuse).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.len(), size_bytes);
    // Sparse: far fewer 512-byte blocks allocated than the length implies.
    assert!(
        meta.blocks() < size_bytes / 512 / 2,
        "not sparse: {} blocks",
        meta.blocks()
    );
    assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 0));
}

#[test]
fn refuses_to_overwrite_a_non_empty_file_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    std::fs::write(&path, b"precious lease data").unwrap();
    let err = create_image_file(&path, 4096, IfExists::Refuse).unwrap_err();
    assert!(
        matches!(err, DeviceError::ImageExists { size_bytes: 19, .. }),
        "{err:?}"
    );
    assert_eq!(err.errno(), -libc::EEXIST);
    assert!(err.to_string().contains("disk.img"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious lease data");

    create_image_file(&path, 4096, IfExists::Replace).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 4096);
    assert!(
        bytes.iter().all(|&b| b == 0),
        "replaced image is not all zeros"
    );
}

#[test]
fn sizes_an_existing_empty_file_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    std::fs::write(&path, b"").unwrap();
    create_image_file(&path, 8192, IfExists::Refuse).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8192);
}

#[test]
fn rejects_sizes_that_are_not_whole_sectors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    for size_bytes in [0u64, 1, 511, 1000] {
        let err = create_image_file(&path, size_bytes, IfExists::Refuse).unwrap_err();
        assert!(
            matches!(err, DeviceError::BadImageSize { .. }),
            "{size_bytes}: {err:?}"
        );
    }
    assert!(!path.exists(), "a rejected size must not create the file");
}

#[test]
fn refuses_directories() {
    let dir = tempfile::tempdir().unwrap();
    let err = create_image_file(dir.path(), 4096, IfExists::Replace).unwrap_err();
    assert!(
        matches!(err, DeviceError::UnsupportedFileType { .. }),
        "{err:?}"
    );
}
