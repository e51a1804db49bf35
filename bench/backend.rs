//! A health-check backend for the benchmarks: answers `200 ok` to every GET on
//! 127.0.0.1:PORT (argument 1; 0 picks a port, printed on stdout). Fast enough for 10,000
//! probes a second, unlike a scripted server. Built by `bench/run` as a cargo example.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("{}", listener.local_addr()?.port());
    let app = Router::new().fallback(get(|| async { "ok" }));
    axum::serve(listener, app).await
}
