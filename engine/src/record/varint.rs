//! LEB128 varints: seven bits a byte, least significant first, the high bit set on every
//! byte but the last. Decoding is strict: at most ten bytes, no bits past 64, no overlong
//! form (a last byte of zero after the first), so every value has exactly one encoding and
//! a checksum-valid batch decodes one way only.

/// The most bytes a `u64` takes.
pub const VARINT_LEN_MAX: usize = 10;

/// Bytes `v` takes.
#[inline]
pub fn len(v: u64) -> usize {
    // 1 + floor(bits / 7), with 0 taking one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends `v` to `out`.
#[inline]
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decodes the varint at `buf[*pos..]` and moves `pos` past it; `None` if it runs past the
/// end of `buf`, is longer than ten bytes, overflows, or is overlong.
#[inline]
pub fn get(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for k in 0..VARINT_LEN_MAX {
        let b = *buf.get(*pos + k)?;
        let bits = u64::from(b & 0x7f);
        if k == 9 && b > 1 {
            return None; // past 64 bits
        }
        v |= bits << (7 * k);
        if b & 0x80 == 0 {
            if k > 0 && b == 0 {
                return None; // overlong
            }
            *pos += k + 1;
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_predicts_its_length() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put(&mut out, v);
            assert_eq!(out.len(), len(v), "{v}");
            let mut pos = 0;
            assert_eq!(get(&out, &mut pos), Some(v));
            assert_eq!(pos, out.len());
        }
    }

    #[test]
    fn rejects_truncated_overlong_and_overflowing_forms() {
        let mut pos = 0;
        assert_eq!(get(&[0x80], &mut pos), None, "runs past the end");
        assert_eq!(get(&[0x80, 0x00], &mut pos), None, "overlong zero");
        assert_eq!(get(&[0xff, 0x80, 0x00], &mut pos), None, "overlong");
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(get(&too_big, &mut pos), None, "past 64 bits");
        assert_eq!(get(&[0xff; 11], &mut pos), None, "longer than ten bytes");
        assert_eq!(pos, 0, "a failed decode does not move");
    }
}
