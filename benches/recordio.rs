//! RecordIO + event codec throughput on a realistic OFFERS stream: the
//! bytes a scheduler reads from its subscription (OFFERS events of 100
//! simulator-shaped offers, interleaved with UPDATEs and HEARTBEATs),
//! protobuf and JSON. Decode: 16 KiB network reads fed to the RecordIO
//! decoder, each record parsed into an `Event`. Encode: each `Event`
//! serialised and framed. Throughput is in stream bytes.
//!
//! `cargo bench --bench recordio`

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hydrogen::mesos::encoding::Encoding;
use hydrogen::mesos::recordio::{RecordIoCodec, write_record};
use hydrogen::mesos::v1;
use hydrogen::mesos::v1::scheduler::{Event, event};
use hydrogen_tools::bench::fixtures::sim_offer;
use tokio_util::codec::Decoder;

const OFFERS_PER_EVENT: usize = 100;
const OFFER_EVENTS: usize = 20;
const CHUNK: usize = 16 * 1024;

fn of(kind: event::Type) -> Event {
    Event {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn events() -> Vec<Event> {
    let mut out = Vec::new();
    for e in 0..OFFER_EVENTS {
        let offers = (0..OFFERS_PER_EVENT)
            .map(|i| sim_offer(e * OFFERS_PER_EVENT + i + 1))
            .collect();
        out.push(Event {
            offers: Some(event::Offers { offers }),
            ..of(event::Type::Offers)
        });
        for t in 0..10 {
            let mut status = v1::TaskStatus {
                task_id: v1::TaskId {
                    value: format!("bench-{e}.{t}.7f3c2a9e-61b5-4c1e-9d4f-1a2b3c4d5e6f"),
                },
                agent_id: Some(v1::AgentId {
                    value: format!("bench-master-S{}", e * 10 + t),
                }),
                uuid: Some(bytes::Bytes::from_static(&[7u8; 16])),
                timestamp: Some(1.7e9),
                ..Default::default()
            };
            status.set_state(v1::TaskState::TaskRunning);
            status.set_source(v1::task_status::Source::Executor);
            out.push(Event {
                update: Some(event::Update { status }),
                ..of(event::Type::Update)
            });
        }
        out.push(of(event::Type::Heartbeat));
    }
    out
}

fn stream(events: &[Event], encoding: Encoding) -> BytesMut {
    let mut out = BytesMut::new();
    for e in events {
        write_record(&encoding.encode(e), &mut out);
    }
    out
}

fn decode_all(bytes: &[u8], encoding: Encoding) -> usize {
    let mut codec = RecordIoCodec::default();
    let mut buf = BytesMut::with_capacity(CHUNK * 2);
    let mut n = 0;
    for chunk in bytes.chunks(CHUNK) {
        buf.extend_from_slice(chunk);
        while let Some(record) = codec.decode(&mut buf).expect("valid stream") {
            let event: Event = encoding.decode(&record).expect("valid event");
            n += usize::from(event.offers.is_some());
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let events = events();
    for (name, encoding) in [("protobuf", Encoding::Protobuf), ("json", Encoding::Json)] {
        let bytes = stream(&events, encoding);
        let mut group = c.benchmark_group(format!("recordio/{name}"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.sample_size(20);
        group.warm_up_time(std::time::Duration::from_millis(500));
        group.measurement_time(std::time::Duration::from_secs(3));
        group.bench_function("decode_offers_stream", |b| {
            b.iter(|| black_box(decode_all(black_box(&bytes), encoding)))
        });
        group.bench_function("encode_offers_stream", |b| {
            b.iter(|| black_box(stream(black_box(&events), encoding).len()))
        });
        group.bench_function("frame_only", |b| {
            let mut codec = RecordIoCodec::default();
            b.iter(|| {
                let mut buf = BytesMut::new();
                let mut n = 0usize;
                for chunk in bytes.chunks(CHUNK) {
                    buf.extend_from_slice(chunk);
                    while let Some(r) = codec.decode(&mut buf).expect("valid stream") {
                        n += r.len();
                    }
                }
                black_box(n)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
