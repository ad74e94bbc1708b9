//! The offset index of a segment (each entry's batch offset), built by scanning the
//! segment on the first read that needs it.

use super::*;

impl SegmentLog {
    /// Builds the offset index of a segment by scanning it; any damage is corruption,
    /// because only the last segment may have a torn tail and recovery already cut it.
    ///
    /// An index may be *partial*: a run of zeros (no batch starts at offset 0) for the
    /// entries an open did not read (`recovery/fast.rs`), then their offsets. Completing it
    /// reads the segment up to its known length, and the scan must agree with what is known.
    pub fn load_offsets(&mut self, first: u64) -> Result<()> {
        self.write_pending()?;
        let known = match self.segments.get(&first).and_then(|s| s.offsets.as_ref()) {
            Some(o) if o.first() != Some(&0) => return Ok(()),
            Some(o) => Some((o.partition_point(|&at| at == 0), o.clone())),
            None => None,
        };
        let last = self.last_index_of(first);
        let upto = known.as_ref().map(|_| self.segment(first).len_bytes);
        let (buf, scan) = self.read_checked(first, last, upto)?;
        let seg = self.segments.get_mut(&first).expect("segment");
        if let Some((unknown, offsets)) = known {
            if scan.offsets.get(unknown..) != offsets.get(unknown..) {
                return Err(Error::corruption(
                    &seg.path,
                    offsets[unknown],
                    "segment scan disagrees with the batches its checkpoint verified",
                ));
            }
        }
        seg.len_bytes = buf.len() as u64;
        seg.offsets = Some(scan.offsets);
        Ok(())
    }

    /// Segment `first` (whose last entry is `last`) read whole (or its first `upto` bytes),
    /// with its scan; any damage is corruption (only the last segment may have a torn tail,
    /// and recovery cut it).
    pub(super) fn read_checked(
        &mut self,
        first: u64,
        last: u64,
        upto: Option<u64>,
    ) -> Result<(Bytes, crate::scan::Scan)> {
        self.write_pending()?;
        let len_max = self.segment_len_max();
        let (payload_max, skip_crc) = (
            self.payload_size_max_bytes,
            self.canaries.on(Canary::SkipChecksum),
        );
        let fs = self.fs.clone();
        let seg = self.segments.get_mut(&first).expect("segment");
        let buf = match upto {
            None => read_whole(&*fs, seg, len_max)?,
            Some(len) => segment::read_prefix(&*fs, seg, len)?,
        };
        if let Err(reason) = check_header(&buf, seg)?.problem() {
            return Err(Error::corruption(&seg.path, 0, reason));
        }
        let scan = crate::scan::scan_records(&buf, first, 0, payload_max, skip_crc);
        let bad = scan.anomaly.or_else(|| {
            (scan.next_index != last + 1)
                .then_some((buf.len() as u64, "segment ends before the next one starts"))
        });
        if let Some((offset, reason)) = bad {
            return Err(Error::corruption(&seg.path, offset, reason));
        }
        Ok((buf, scan))
    }
}
