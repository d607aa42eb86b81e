//! RecordIO framing, the envelope of every Mesos v1 event stream.
//!
//! A stream is a sequence of `<decimal length>\n<record bytes>` with no
//! separator after a record. HTTP chunk boundaries have nothing to do with
//! record boundaries, so the decoder is incremental: it keeps what it has
//! seen of a partial record and yields a record only once it is complete.
//!
//! The decoder refuses a length it cannot trust (non-digits, an endless
//! prefix, a record over the configured cap) instead of buffering without
//! bound: a misbehaving or hostile master must not be able to exhaust our
//! memory with a single length prefix.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// The largest record accepted by default (16 MiB). A Mesos OFFERS event for
/// thousands of agents stays well below this.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// A length prefix longer than this many digits cannot describe a record we
/// would accept, so we stop waiting for its newline.
const MAX_PREFIX_DIGITS: usize = 20;

/// Why a RecordIO stream could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum RecordIoError {
    /// The bytes before the newline are not a decimal number.
    #[error(
        "recordio: invalid length prefix {prefix:?}: expected decimal digits followed by a newline"
    )]
    InvalidLength { prefix: String },
    /// A record announced a size over the cap.
    #[error(
        "recordio: record of {len} bytes exceeds the limit of {max} bytes (raise the record size limit if the master really sends such events)"
    )]
    RecordTooLarge { len: usize, max: usize },
    /// A zero-length record: Mesos never sends one.
    #[error("recordio: empty record (length 0) is not valid in a Mesos event stream")]
    EmptyRecord,
    /// The stream ended in the middle of a record.
    #[error("recordio: stream ended inside a record ({buffered} bytes of an unfinished record)")]
    Truncated { buffered: usize },
    /// The transport failed.
    #[error("recordio: reading the stream failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Incremental RecordIO decoder and encoder, usable with `FramedRead` /
/// `FramedWrite` or fed by hand.
#[derive(Debug, Clone)]
pub struct RecordIoCodec {
    max_record_bytes: usize,
    /// Length of the record whose bytes we are waiting for, once its prefix
    /// has been read.
    pending_len: Option<usize>,
}

impl Default for RecordIoCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RECORD_BYTES)
    }
}

impl RecordIoCodec {
    /// A codec that refuses records longer than `max_record_bytes`.
    pub fn new(max_record_bytes: usize) -> Self {
        Self {
            max_record_bytes,
            pending_len: None,
        }
    }

    fn read_prefix(&mut self, src: &mut BytesMut) -> Result<Option<usize>, RecordIoError> {
        let Some(newline) = src.iter().position(|b| *b == b'\n') else {
            if src.len() > MAX_PREFIX_DIGITS || src.iter().any(|b| !b.is_ascii_digit()) {
                return Err(invalid_prefix(src));
            }
            return Ok(None);
        };
        let digits = &src[..newline];
        if digits.is_empty() || digits.len() > MAX_PREFIX_DIGITS {
            return Err(invalid_prefix(&src[..newline]));
        }
        let mut len: usize = 0;
        for d in digits {
            if !d.is_ascii_digit() {
                return Err(invalid_prefix(digits));
            }
            len = len
                .checked_mul(10)
                .and_then(|l| l.checked_add(usize::from(d - b'0')))
                .ok_or_else(|| invalid_prefix(digits))?;
        }
        if len == 0 {
            return Err(RecordIoError::EmptyRecord);
        }
        if len > self.max_record_bytes {
            return Err(RecordIoError::RecordTooLarge {
                len,
                max: self.max_record_bytes,
            });
        }
        src.advance(newline + 1);
        Ok(Some(len))
    }
}

fn invalid_prefix(bytes: &[u8]) -> RecordIoError {
    let shown = &bytes[..bytes.len().min(32)];
    RecordIoError::InvalidLength {
        prefix: String::from_utf8_lossy(shown).into_owned(),
    }
}

impl Decoder for RecordIoCodec {
    type Item = Bytes;
    type Error = RecordIoError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, RecordIoError> {
        let len = match self.pending_len {
            Some(len) => len,
            None => match self.read_prefix(src)? {
                Some(len) => {
                    self.pending_len = Some(len);
                    len
                }
                None => return Ok(None),
            },
        };
        if src.len() < len {
            // Room for what is likely to arrive soon, not for the whole
            // claim: a prefix alone must not make a peer cost us 16 MiB.
            src.reserve((len - src.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        self.pending_len = None;
        Ok(Some(src.split_to(len).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, RecordIoError> {
        match self.decode(src)? {
            Some(record) => Ok(Some(record)),
            None if src.is_empty() && self.pending_len.is_none() => Ok(None),
            None => Err(RecordIoError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

/// Most the decoder reserves ahead of a partly received record; the buffer
/// grows as the bytes come.
const RESERVE_AHEAD: usize = 64 * 1024;

impl<T: AsRef<[u8]>> Encoder<T> for RecordIoCodec {
    type Error = RecordIoError;

    fn encode(&mut self, record: T, dst: &mut BytesMut) -> Result<(), RecordIoError> {
        let record = record.as_ref();
        if record.is_empty() {
            return Err(RecordIoError::EmptyRecord);
        }
        if record.len() > self.max_record_bytes {
            return Err(RecordIoError::RecordTooLarge {
                len: record.len(),
                max: self.max_record_bytes,
            });
        }
        write_record(record, dst);
        Ok(())
    }
}

/// Appends one framed record to `dst`. Callers guarantee it is not empty.
pub fn write_record(record: &[u8], dst: &mut BytesMut) {
    let prefix = record.len().to_string();
    dst.reserve(prefix.len() + 1 + record.len());
    dst.put_slice(prefix.as_bytes());
    dst.put_u8(b'\n');
    dst.put_slice(record);
}

/// One framed record as a fresh buffer.
pub fn frame(record: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    write_record(record, &mut out);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(
        codec: &mut RecordIoCodec,
        chunks: &[&[u8]],
    ) -> Result<Vec<Bytes>, RecordIoError> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(record) = codec.decode(&mut buf)? {
                out.push(record);
            }
        }
        if let Some(record) = codec.decode_eof(&mut buf)? {
            out.push(record);
        }
        Ok(out)
    }

    #[test]
    fn decodes_the_example_from_the_mesos_docs() {
        let stream = b"5\nhello6\nworld!";
        let records = decode_all(&mut RecordIoCodec::default(), &[stream]).expect("valid stream");
        assert_eq!(records, vec![Bytes::from("hello"), Bytes::from("world!")]);
    }

    #[test]
    fn rejects_non_digit_prefix() {
        let err = decode_all(&mut RecordIoCodec::default(), &[b"5x\nhello"]).unwrap_err();
        assert!(matches!(err, RecordIoError::InvalidLength { .. }), "{err}");
        let err = decode_all(&mut RecordIoCodec::default(), &[b"\nhello"]).unwrap_err();
        assert!(matches!(err, RecordIoError::InvalidLength { .. }), "{err}");
    }

    #[test]
    fn rejects_garbage_before_the_newline_arrives() {
        let mut codec = RecordIoCodec::default();
        let mut buf = BytesMut::from(&b"{\"type\""[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(RecordIoError::InvalidLength { .. })
        ));
    }

    #[test]
    fn rejects_an_endless_prefix() {
        let mut codec = RecordIoCodec::default();
        let mut buf = BytesMut::from(&b"123456789012345678901234"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(RecordIoError::InvalidLength { .. })
        ));
    }

    #[test]
    fn rejects_oversized_records_before_buffering_them() {
        let mut codec = RecordIoCodec::new(10);
        let mut buf = BytesMut::from(&b"11\n"[..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, RecordIoError::RecordTooLarge { len: 11, max: 10 }),
            "{err}"
        );
        assert!(err.to_string().contains("limit"));
    }

    /// A length prefix claiming 10 GB is refused from the prefix alone:
    /// nothing is reserved for it and nothing more is read.
    #[test]
    fn a_ten_gigabyte_claim_is_refused_without_allocating() {
        let mut codec = RecordIoCodec::default();
        let mut buf = BytesMut::from(&b"10737418240\n{\"type\":\"OFFERS\"}"[..]);
        let capacity = buf.capacity();
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(
            matches!(
                err,
                RecordIoError::RecordTooLarge {
                    len: 10_737_418_240,
                    max: DEFAULT_MAX_RECORD_BYTES
                }
            ),
            "{err}"
        );
        assert_eq!(buf.capacity(), capacity, "reserved space for the claim");
    }

    #[test]
    fn a_large_claim_within_the_cap_reserves_only_a_bounded_look_ahead() {
        let mut codec = RecordIoCodec::default();
        let claim = DEFAULT_MAX_RECORD_BYTES - 1;
        let mut buf = BytesMut::from(format!("{claim}\n{{").as_bytes());
        assert_eq!(codec.decode(&mut buf).ok(), Some(None));
        assert!(
            buf.capacity() <= 1 + RESERVE_AHEAD,
            "reserved {} bytes for a claim of {claim}",
            buf.capacity()
        );
        // The record still decodes once its bytes arrive, in pieces.
        let body = vec![b'x'; claim - 1];
        for piece in body.chunks(1 << 20) {
            buf.extend_from_slice(piece);
        }
        let record = codec.decode(&mut buf).ok().flatten().map(|r| r.len());
        assert_eq!(record, Some(claim));
    }

    #[test]
    fn rejects_overflowing_length() {
        let mut codec = RecordIoCodec::default();
        let mut buf = BytesMut::from(&b"99999999999999999999\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(RecordIoError::InvalidLength { .. } | RecordIoError::RecordTooLarge { .. })
        ));
    }

    #[test]
    fn rejects_empty_record() {
        let err = decode_all(&mut RecordIoCodec::default(), &[b"0\n"]).unwrap_err();
        assert!(matches!(err, RecordIoError::EmptyRecord));
        let mut out = BytesMut::new();
        assert!(RecordIoCodec::default().encode(b"", &mut out).is_err());
    }

    #[test]
    fn truncated_stream_is_an_error_at_eof() {
        let err = decode_all(&mut RecordIoCodec::default(), &[b"10\nhello"]).unwrap_err();
        assert!(
            matches!(err, RecordIoError::Truncated { buffered: 5 }),
            "{err}"
        );
        let err = decode_all(&mut RecordIoCodec::default(), &[b"12"]).unwrap_err();
        assert!(matches!(err, RecordIoError::Truncated { .. }), "{err}");
    }

    proptest! {
        #[test]
        fn round_trips_at_arbitrary_split_points(
            records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..20),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
        ) {
            let mut encoded = BytesMut::new();
            let mut codec = RecordIoCodec::default();
            for r in &records {
                codec.encode(r, &mut encoded).expect("non-empty record encodes");
            }
            let stream = encoded.freeze();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.push(0);
            points.push(stream.len());
            points.sort_unstable();
            let chunks: Vec<&[u8]> = points.windows(2).map(|w| &stream[w[0]..w[1]]).collect();
            let decoded = decode_all(&mut RecordIoCodec::default(), &chunks).expect("valid stream");
            let expected: Vec<Bytes> = records.into_iter().map(Bytes::from).collect();
            prop_assert_eq!(decoded, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_all(&mut RecordIoCodec::new(1024), &[&data]);
        }
    }
}
