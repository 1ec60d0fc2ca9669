//! Simulated shared disks: byte arrays with 512- or 4096-byte sectors.
//!
//! A [`SimDisk`] holds the *true* contents (what a reader would get right now). Writes reach
//! it one whole sector at a time ([`SimDisk::land_sector`]), so a sector is always either
//! entirely old or entirely new. Reads that take time to sample ([`SimDisk::begin_read`] ..
//! [`SimDisk::end_read`]) see, per sector, either the contents at the start of the read or
//! those of a write landing during it, chosen at random when the write lands: any mix across
//! sectors, never a mix within one.
//!
//! Every landing stamps its sector with the disk's landing count; a read's trace digest is a
//! hash of the stamps of the sectors it saw (not of their bytes), so that tracing a 1 MiB
//! lockspace read costs a few thousand operations instead of a pass over the data.
//!
//! **Invariants:** I/O is sector aligned and inside the disk (the world checks this before
//! calling in and answers EINVAL otherwise); a sector is only ever replaced whole; a read's
//! stamps are exactly the stamps of the sector versions its buffer holds.

use crate::ids::IoId;
use crate::rng::SimRng;
use crate::trace::fnv1a_words;

/// Largest disk the simulator will allocate (bytes).
pub const DISK_SIZE_BYTES_MAX: u64 = 1 << 32;

#[derive(Debug)]
struct ActiveRead {
    io: IoId,
    offset: u64,
    buf: Vec<u8>,
    /// Per sector: the stamp of the version in `buf`.
    stamps: Vec<u64>,
    /// Per sector: the read has already sampled it (later landings are not seen).
    sampled: Vec<bool>,
}

/// One simulated shared disk.
#[derive(Debug)]
pub struct SimDisk {
    sector_size: u64,
    bytes: Vec<u8>,
    /// Per sector: the landing count when it last changed (0: initial contents).
    stamps: Vec<u64>,
    /// Per sector: whether it holds any non-zero byte (reads of mostly-zero areas copy only
    /// those into a lazily zeroed buffer).
    nonzero: Vec<bool>,
    landings: u64,
    /// Reads currently sampling this disk (few at a time; linear scans are fine).
    active_reads: Vec<ActiveRead>,
}

impl SimDisk {
    /// A zeroed disk of `size_bytes` with `sector_size`-byte sectors (512 or 4096).
    pub fn new(size_bytes: u64, sector_size: u64) -> SimDisk {
        assert!(
            sector_size == 512 || sector_size == 4096,
            "sector size {sector_size}"
        );
        assert!(size_bytes.is_multiple_of(sector_size) && size_bytes > 0);
        assert!(size_bytes <= DISK_SIZE_BYTES_MAX);
        SimDisk {
            sector_size,
            bytes: vec![0; usize::try_from(size_bytes).expect("fits memory")],
            stamps: vec![0; (size_bytes / sector_size) as usize],
            nonzero: vec![false; (size_bytes / sector_size) as usize],
            landings: 0,
            active_reads: Vec::new(),
        }
    }

    pub fn sector_size(&self) -> u64 {
        self.sector_size
    }

    pub fn size_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// True if `offset..offset+len` is a non-empty, sector-aligned range inside the disk.
    pub fn is_valid_range(&self, offset: u64, len: u64) -> bool {
        let aligned = offset.is_multiple_of(self.sector_size)
            && len.is_multiple_of(self.sector_size)
            && len > 0;
        aligned
            && offset
                .checked_add(len)
                .is_some_and(|end| end <= self.size_bytes())
    }

    fn range(&self, offset: u64, len: u64) -> std::ops::Range<usize> {
        assert!(
            self.is_valid_range(offset, len),
            "bad range @{offset}+{len}"
        );
        offset as usize..(offset + len) as usize
    }

    /// The current contents (inspection and instantaneous reads).
    pub fn peek(&self, offset: u64, len: u64) -> &[u8] {
        let r = offset as usize..(offset + len) as usize;
        &self.bytes[r]
    }

    /// Overwrite contents directly (set-up before a run; bypasses the I/O model).
    pub fn poke(&mut self, offset: u64, data: &[u8]) {
        let start = offset as usize;
        self.bytes[start..start + data.len()].copy_from_slice(data);
        self.landings += 1;
        let first = offset / self.sector_size;
        let end = (offset + data.len() as u64).div_ceil(self.sector_size);
        for sector in first..end {
            self.stamps[sector as usize] = self.landings;
            let bytes = &self.bytes[self.sector_range(sector)];
            self.nonzero[sector as usize] = bytes.iter().any(|&b| b != 0);
        }
    }

    fn sector_range(&self, sector: u64) -> std::ops::Range<usize> {
        let start = (sector * self.sector_size) as usize;
        start..start + self.sector_size as usize
    }

    /// Whether at most a quarter of the sectors of `offset..offset+len` hold non-zero bytes.
    pub fn is_sparse(&self, offset: u64, len: u64) -> bool {
        let first = (offset / self.sector_size) as usize;
        let count = (len / self.sector_size) as usize;
        let used = self.nonzero[first..first + count]
            .iter()
            .filter(|&&n| n)
            .count();
        used * 4 <= count
    }

    /// Start sampling a read: take the current contents into `buf` (a recycled buffer, or
    /// empty), or, with `buf` `None`, into a fresh zeroed buffer into which only non-zero
    /// sectors are copied (cheap for sparse areas: the allocator's zero pages stay untouched).
    pub fn begin_read(&mut self, io: IoId, offset: u64, len: u64, buf: Option<Vec<u8>>) {
        let range = self.range(offset, len);
        let buf = match buf {
            Some(mut buf) => {
                buf.clear();
                buf.extend_from_slice(&self.bytes[range]);
                buf
            }
            None => {
                let mut buf = vec![0u8; range.len()];
                let first = offset / self.sector_size;
                for k in 0..len / self.sector_size {
                    if self.nonzero[(first + k) as usize] {
                        let src = self.sector_range(first + k);
                        let dst = (k * self.sector_size) as usize;
                        buf[dst..dst + src.len()].copy_from_slice(&self.bytes[src]);
                    }
                }
                buf
            }
        };
        let first = (offset / self.sector_size) as usize;
        let sectors = (len / self.sector_size) as usize;
        assert!(self.active_reads.iter().all(|r| r.io != io));
        self.active_reads.push(ActiveRead {
            io,
            offset,
            buf,
            stamps: self.stamps[first..first + sectors].to_vec(),
            sampled: vec![false; sectors],
        });
    }

    /// Finish sampling a read: what it saw, and a digest of the sector versions it saw.
    pub fn end_read(&mut self, io: IoId) -> (Vec<u8>, u64) {
        let at = self
            .active_reads
            .iter()
            .position(|r| r.io == io)
            .expect("end_read of a read that is not sampling");
        let read = self.active_reads.swap_remove(at);
        let digest = fnv1a_words(read.buf.len() as u64, &read.stamps);
        (read.buf, digest)
    }

    /// Drop a read that is sampling (its issuer crashed).
    pub fn abandon_read(&mut self, io: IoId) {
        self.active_reads.retain(|r| r.io != io);
    }

    /// One sector of a write takes effect: `data` (one sector) replaces sector `sector_index`.
    /// Each read sampling that sector either already sampled it (keeps the old contents) or
    /// not yet (will see this or a later version), by a fair coin from `rng`.
    pub fn land_sector(&mut self, sector_index: u64, data: &[u8], rng: &mut SimRng) {
        assert_eq!(data.len() as u64, self.sector_size, "a sector lands whole");
        let offset = sector_index * self.sector_size;
        let range = self.range(offset, self.sector_size);
        self.bytes[range].copy_from_slice(data);
        self.landings += 1;
        let stamp = self.landings;
        self.stamps[sector_index as usize] = stamp;
        self.nonzero[sector_index as usize] = data.iter().any(|&b| b != 0);
        let sector_size = self.sector_size;
        for read in &mut self.active_reads {
            let end = read.offset + read.buf.len() as u64;
            if offset < read.offset || offset >= end {
                continue;
            }
            let i = ((offset - read.offset) / sector_size) as usize;
            if read.sampled[i] {
                continue;
            }
            if rng.chance(0.5) {
                read.sampled[i] = true;
            } else {
                let start = i * sector_size as usize;
                read.buf[start..start + sector_size as usize].copy_from_slice(data);
                read.stamps[i] = stamp;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_during_landings_see_whole_sectors_old_or_new() {
        let mut rng = SimRng::from_seed(1);
        let mut saw_mixed = false;
        for round in 0..64u64 {
            let mut disk = SimDisk::new(4096 * 4, 4096);
            disk.begin_read(IoId(round), 0, 4096 * 4, Some(Vec::new()));
            for s in 0..4 {
                disk.land_sector(s, &[1; 4096], &mut rng);
            }
            let (got, _) = disk.end_read(IoId(round));
            let mut kinds = Vec::new();
            for sector in got.chunks(4096) {
                assert!(sector.iter().all(|&b| b == sector[0]), "torn sector");
                kinds.push(sector[0]);
            }
            saw_mixed |= kinds.contains(&0) && kinds.contains(&1);
            assert_eq!(disk.peek(0, 4), &[1, 1, 1, 1]);
        }
        assert!(
            saw_mixed,
            "reads overlapping landings should sometimes mix sectors"
        );
    }

    #[test]
    fn sparse_and_full_reads_see_the_same_bytes_and_stamps() {
        let mut rng = SimRng::from_seed(3);
        let mut disk = SimDisk::new(512 * 256, 512);
        disk.poke(512 * 3, &[7; 512]);
        for s in [0, 9, 200] {
            disk.land_sector(s, &[s as u8 + 1; 512], &mut rng);
        }
        disk.land_sector(3, &[0; 512], &mut rng); // back to zeros
        assert!(disk.is_sparse(0, 512 * 256));
        disk.begin_read(IoId(1), 0, 512 * 256, None);
        disk.begin_read(IoId(2), 0, 512 * 256, Some(vec![0xAA; 10]));
        disk.land_sector(100, &[5; 512], &mut rng); // during both reads
        let (sparse, d1) = disk.end_read(IoId(1));
        let (full, d2) = disk.end_read(IoId(2));
        assert_eq!(sparse.len(), 512 * 256);
        assert_eq!(sparse[..512 * 100], disk.peek(0, 512 * 100)[..]);
        assert_eq!(sparse[..512 * 100], full[..512 * 100]);
        assert_eq!(sparse[512 * 101..], full[512 * 101..]);
        if sparse[512 * 100..512 * 101] == full[512 * 100..512 * 101] {
            assert_eq!(d1, d2);
        }
        for s in 0..20 {
            disk.land_sector(s, &[1; 512], &mut rng);
        }
        assert!(!disk.is_sparse(0, 512 * 32));
    }

    #[test]
    fn range_checks_follow_o_direct_rules() {
        let disk = SimDisk::new(8 * 512, 512);
        assert!(disk.is_valid_range(512, 1024));
        assert!(!disk.is_valid_range(100, 512));
        assert!(!disk.is_valid_range(0, 0));
        assert!(!disk.is_valid_range(7 * 512, 1024));
    }
}
