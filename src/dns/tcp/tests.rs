//! How a connection reads its byte stream: pipelined queries are taken from a buffer, not
//! read from the socket piece by piece.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::session;
use crate::dns::Handler;
use crate::dns::fixture::{ZONE, snapshot_of};

/// A stream that counts the reads that reach it.
struct Counting<S> {
    inner: S,
    reads: Arc<AtomicUsize>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if r.is_ready() {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A handler answering the test zone.
fn handler() -> Handler {
    let snap = snapshot_of(&[(PathBuf::from("t.toml"), ZONE.to_string())]);
    Handler::new(Arc::new(arc_swap::ArcSwap::from_pointee(snap)))
}

/// Serves `server` (counting its reads in the returned counter) as a connection from loopback.
fn serve_counted<S>(server: S) -> (tokio::task::JoinHandle<()>, Arc<AtomicUsize>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let reads = Arc::new(AtomicUsize::new(0));
    let server = Counting {
        inner: server,
        reads: reads.clone(),
    };
    let src = "127.0.0.1:5300".parse().expect("addr");
    (tokio::spawn(session(server, src, handler())), reads)
}

fn framed_query(id: u16) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, hickory_proto::op::OpCode::Query);
    let name = Name::from_ascii("www.t.example.").expect("name");
    m.add_query(Query::query(name, RecordType::A));
    let bytes = m.to_vec().expect("encode");
    let len = u16::try_from(bytes.len()).expect("short");
    [&len.to_be_bytes()[..], &bytes].concat()
}

#[tokio::test]
async fn pipelined_queries_are_read_from_a_buffer_not_three_reads_each() {
    const QUERIES: u16 = 100;
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let (served, reads) = serve_counted(server);
    let queries: Vec<u8> = (0..QUERIES).flat_map(framed_query).collect();
    client.write_all(&queries).await.expect("write");
    client.shutdown().await.expect("shutdown");
    let mut answers = 0;
    while answers < QUERIES {
        let len = client.read_u16().await.expect("a length");
        let mut msg = vec![0; usize::from(len)];
        client.read_exact(&mut msg).await.expect("an answer");
        let m = Message::from_vec(&msg).expect("decode");
        assert_eq!(m.id, answers);
        answers += 1;
    }
    served.await.expect("session ends");
    let reads = reads.load(Ordering::Relaxed);
    assert!(
        reads <= 8,
        "{reads} reads for {QUERIES} pipelined queries ({} bytes)",
        queries.len()
    );
}

/// A 12-byte message with QR=1 (a response): dropped unanswered, like any the server does not
/// answer.
fn framed_response(id: u16) -> Vec<u8> {
    let mut m = vec![0, 12];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    m
}

#[tokio::test(flavor = "current_thread")]
async fn a_stream_of_unanswered_messages_yields_to_other_tasks() {
    let flood: Vec<u8> = (0..100_000u32)
        .flat_map(|i| framed_response(i as u16))
        .collect();
    let (mut client, server) = tokio::io::duplex(flood.len() + 16);
    client.write_all(&flood).await.expect("write");
    client.shutdown().await.expect("shutdown");
    let (served, reads) = serve_counted(server);
    // Spawned after the session, so it runs when the session first yields.
    let seen = reads.clone();
    let other = tokio::spawn(async move { seen.load(Ordering::Relaxed) });
    let reads_before_other_ran = other.await.expect("other task");
    served.await.expect("session ends");
    // 4 KiB holds 292 of these; the session must yield within its first buffer or two,
    // not after tokio's budget of 128 socket reads (37,000 messages).
    assert!(
        reads_before_other_ran <= 4,
        "the session read its socket {reads_before_other_ran} times before another task ran"
    );
}

#[tokio::test]
async fn a_message_shorter_than_a_header_closes_the_connection() {
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let (served, _) = serve_counted(server);
    // Length-0 frames, then a real query: Knot and NSD close at the first short message.
    let mut bytes: Vec<u8> = [0u8, 0].repeat(1000);
    bytes.extend(framed_query(1));
    client.write_all(&bytes).await.expect("write");
    let mut rest = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        client.read_to_end(&mut rest),
    )
    .await
    .expect("closed in time")
    .expect("read");
    assert!(
        rest.is_empty(),
        "answered after a short message: {} bytes",
        rest.len()
    );
    served.await.expect("session ends");
}
