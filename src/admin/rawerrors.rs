//! JSON bodies for the errors hyper answers by itself, before any handler runs: 414 (request
//! line too long) and 431 (head too large or too many headers) come from hyper's parser with an
//! empty body. The connection's writes are watched, and such a response is replaced by the same
//! status with a `{"error": "..."}` body, like every other admin error.
//!
//! The handlers never answer 414 or 431, so a write that starts with either status line can
//! only be hyper's own error response (a body chunk that began with an HTTP status line would
//! be rewritten too; the admin API's bodies are JSON, HTML and the metrics text).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream whose 414 and 431 responses from hyper get a JSON body.
pub struct JsonErrors<S> {
    inner: S,
    /// A replacement response still being written, and how much of it is out.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> JsonErrors<S> {
    pub fn new(inner: S) -> Self {
        JsonErrors {
            inner,
            pending: None,
        }
    }
}

/// The JSON response that replaces hyper's empty one, if `head` is one.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let (status, message) = if head.starts_with(b"HTTP/1.1 414 ") {
        (
            "414 URI Too Long",
            "the request line is too long (at most 64 KiB)",
        )
    } else if head.starts_with(b"HTTP/1.1 431 ") {
        (
            "431 Request Header Fields Too Large",
            "the request head is too large (at most 100 headers, 400 KiB)",
        )
    } else {
        return None;
    };
    let body = serde_json::json!({ "error": message }).to_string();
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<S: AsyncWrite + Unpin> JsonErrors<S> {
    /// Writes what is left of a replacement.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = self.pending.as_mut() {
            if *done >= bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(r) = replacement(buf) {
            // The whole of hyper's response is taken; the replacement goes out now or on the
            // next flush.
            self.pending = Some((r, 0));
            if let Poll::Ready(Err(e)) = self.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn hypers_empty_414_and_431_get_a_json_body_and_the_rest_passes() {
        for (head, code) in [
            (
                &b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n"[..],
                "414",
            ),
            (
                &b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n"[..],
                "431",
            ),
        ] {
            let mut out = JsonErrors::new(Vec::new());
            out.write_all(head).await.expect("write");
            out.flush().await.expect("flush");
            let text = String::from_utf8(out.inner).expect("utf8");
            let (status, body) = text.split_once("\r\n\r\n").expect("head and body");
            assert!(status.starts_with(&format!("HTTP/1.1 {code} ")), "{text}");
            let v: serde_json::Value = serde_json::from_str(body).expect("json");
            assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
        }
        let mut out = JsonErrors::new(Vec::new());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        out.write_all(ok).await.expect("write");
        assert_eq!(out.inner, ok);
    }
}
