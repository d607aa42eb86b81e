//! Arbitrary bytes as a Mesos event stream: RecordIO framing cut at
//! arbitrary chunk boundaries (the first bytes choose them), each record
//! decoded as a `mesos.v1.scheduler.Event` in protobuf and in Mesos JSON —
//! what `subscription` does with a master's response body.
//!
//! Input layout: byte 0 = how many chunk-size bytes follow (mod 8); each
//! chunk-size byte `b` feeds `b + 1` more bytes to the decoder (cycling);
//! the rest is the stream. No chunk-size bytes: the stream in one piece.
//!
//! Checked: nothing panics; how the stream is cut changes nothing (same
//! records, same error kind); no record exceeds the codec's cap; a decoded
//! event re-encodes to itself, and our JSON for it reads back to the same JSON.

#![no_main]

use bytes::{Bytes, BytesMut};
use hydrogen::mesos::encoding::{self, Encoding};
use hydrogen::mesos::recordio::{RecordIoCodec, RecordIoError};
use hydrogen::mesos::v1::scheduler::Event;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

/// A small cap, so the fuzzer reaches the too-large path with short inputs.
const SMALL_CAP: usize = 512;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 8).min(rest.len());
    let (sizes, stream) = rest.split_at(n);

    for cap in [
        SMALL_CAP,
        hydrogen::mesos::recordio::DEFAULT_MAX_RECORD_BYTES,
    ] {
        let whole = decode(cap, stream, &[]);
        let chunked = decode(cap, stream, sizes);
        assert_eq!(whole.0, chunked.0, "records depend on the chunking");
        assert_eq!(
            whole.1.as_ref().map(std::mem::discriminant),
            chunked.1.as_ref().map(std::mem::discriminant),
            "outcome depends on the chunking: {:?} vs {:?}",
            whole.1,
            chunked.1
        );
        for record in &whole.0 {
            assert!(!record.is_empty() && record.len() <= cap);
            if cap == SMALL_CAP {
                decode_event(record);
            }
        }
    }
});

/// Feeds `stream` in chunks of `sizes[i] + 1` bytes (cycling), as
/// `FramedRead` would: decode until `None` after each chunk, `decode_eof`
/// at the end. Returns the records and the error that ended the stream.
fn decode(cap: usize, stream: &[u8], sizes: &[u8]) -> (Vec<Bytes>, Option<RecordIoError>) {
    let mut codec = RecordIoCodec::new(cap);
    let mut buf = BytesMut::new();
    let mut records = Vec::new();
    let mut fed = 0;
    let mut i = 0;
    while fed < stream.len() {
        let step = sizes
            .get(i % sizes.len().max(1))
            .map_or(stream.len(), |b| usize::from(*b) + 1);
        let end = (fed + step).min(stream.len());
        buf.extend_from_slice(&stream[fed..end]);
        fed = end;
        i += 1;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(record)) => records.push(record),
                Ok(None) => break,
                Err(e) => return (records, Some(e)),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(record)) => records.push(record),
            Ok(None) => return (records, None),
            Err(e) => return (records, Some(e)),
        }
    }
}

fn decode_event(record: &[u8]) {
    if let Ok(event) = Encoding::Protobuf.decode::<Event>(record) {
        // Compared as bytes: a master may send NaN (a NaN scalar decoded
        // from the wire is legal), and NaN != NaN for the structs.
        let bytes = Encoding::Protobuf.encode(&event);
        let again: Event = Encoding::Protobuf
            .decode(&bytes)
            .expect("our own protobuf encoding of an event decodes");
        assert_eq!(
            Encoding::Protobuf.encode(&again),
            bytes,
            "protobuf round trip changed the event"
        );
        json_fixed_point(&event);
    }
    if let Ok(event) = Encoding::Json.decode::<Event>(record) {
        json_fixed_point(&event);
    }
}

/// Our JSON of an event reads back, and writing it again gives the same
/// JSON (a JSON round trip may set defaulted fields, so compare JSON, not
/// structs; see `encoding::to_json_value`).
fn json_fixed_point(event: &Event) {
    let json = encoding::to_json(event);
    let shown = String::from_utf8_lossy(&json);
    let back: Event = encoding::from_json(&json)
        .unwrap_or_else(|e| panic!("our JSON of an event does not read back: {e}\n{shown}"));
    assert_eq!(
        encoding::to_json(&back),
        json,
        "JSON of an event is not a fixed point\n{shown}"
    );
}
