//! The hickory request handler: header and EDNS rules around [`lookup::resolve`].
//!
//! Reads the published snapshot (one atomic load), never waits on a lock or I/O, never panics:
//! anything unexpected answers SERVFAIL.

use std::iter;
use std::time::Instant;

use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tracing::debug;

use super::lookup::{self, Question};
use crate::health::Shared;
use crate::select::ClientKey;

/// The UDP payload size gslbd advertises (the DNS flag day 2020 value).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// Answers queries from the published snapshot.
pub struct Handler {
    shared: Shared,
}

impl Handler {
    pub fn new(shared: Shared) -> Self {
        Handler { shared }
    }
}

/// The OPT record of a response: our payload size (bounded by the client's, so that hickory's
/// encoder truncates at the client's limit), the DO bit echoed (RFC 3225), ECS echoed with
/// its scope (RFC 7871).
fn response_edns(req: &Edns, ecs_scope: Option<u8>) -> Edns {
    let mut edns = Edns::new();
    edns.set_version(0);
    edns.set_max_payload(req.max_payload().clamp(512, MAX_UDP_PAYLOAD));
    edns.set_dnssec_ok(req.flags().dnssec_ok);
    if let (Some(EdnsOption::Subnet(ecs)), Some(scope)) = (req.option(EdnsCode::Subnet), ecs_scope)
    {
        let mut echo = ClientSubnet::new(ecs.addr(), ecs.source_prefix(), 0);
        echo.set_scope_prefix(scope);
        edns.options_mut().insert(EdnsOption::Subnet(echo));
    }
    edns
}

/// The client key: ECS when present, the source address otherwise.
fn client_of(request: &Request) -> (ClientKey, bool) {
    let ecs = request
        .edns
        .as_ref()
        .and_then(|e| match e.option(EdnsCode::Subnet) {
            Some(EdnsOption::Subnet(s)) => Some(*s),
            _ => None,
        });
    match ecs {
        Some(s) => (ClientKey::from_ecs(s.addr(), s.source_prefix()), true),
        None => (ClientKey::from_source(request.src().ip()), false),
    }
}

fn info(metadata: Metadata) -> ResponseInfo {
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let mut meta = Metadata::response_from_request(&request.metadata);
        let queries = &request.queries;

        // Header-level refusals first: they answer without looking at zones.
        let early = if request.metadata.op_code != OpCode::Query {
            Some(ResponseCode::NotImp)
        } else if request.metadata.message_type != MessageType::Query || queries.len() != 1 {
            Some(ResponseCode::FormErr)
        } else if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            Some(ResponseCode::BADVERS)
        } else {
            None
        };
        let lq = queries.queries().first();
        let early = early.or_else(|| {
            let q = lq?;
            let refused = q.query_class() != DNSClass::IN
                || matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR);
            refused.then_some(ResponseCode::Refused)
        });

        let (client, had_ecs) = client_of(request);
        let snap = self.shared.load();
        let answer = match (early, lq) {
            (None, Some(q)) => {
                let question = Question {
                    name: q.name(),
                    original: q.original().name(),
                    qtype: q.query_type(),
                };
                Some(lookup::resolve(
                    &snap,
                    &question,
                    &client,
                    &mut rand::rng(),
                    Instant::now(),
                ))
            }
            _ => None,
        };

        let qtype = lq.map_or(RecordType::Unknown(0), |q| q.query_type());
        match &answer {
            Some(a) => {
                snap.metrics.query(a.zone, qtype, a.rcode);
                if let (Some(z), Some(d)) = (a.zone, &a.decision) {
                    snap.metrics.answer(z, d.pool, &d.selection);
                }
            }
            None => snap
                .metrics
                .query(None, qtype, early.unwrap_or(ResponseCode::ServFail)),
        }

        let ecs_scope = match (&answer, had_ecs) {
            (Some(a), true) if a.client_specific() => Some(client.prefix),
            (_, true) => Some(0),
            _ => None,
        };
        let edns = request.edns.as_ref().map(|e| response_edns(e, ecs_scope));
        let builder = MessageResponseBuilder::new(queries, edns.as_ref());

        let sent = match &answer {
            None => {
                meta.response_code = early.unwrap_or(ResponseCode::ServFail);
                response.send_response(builder.build_no_records(meta)).await
            }
            Some(a) => {
                meta.response_code = a.rcode;
                meta.authoritative = a.authoritative;
                response
                    .send_response(builder.build(
                        meta,
                        a.answers.iter(),
                        a.authority.iter(),
                        iter::empty(),
                        a.additional.iter(),
                    ))
                    .await
            }
        };
        match sent {
            Ok(info) => info,
            Err(error) => {
                debug!(%error, src = %request.src(), "failed to send response");
                meta.response_code = ResponseCode::ServFail;
                info(meta)
            }
        }
    }
}
