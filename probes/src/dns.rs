//! A minimal DNS message codec: enough to ask for an A record, read the answer, and let the DNS
//! canary read a question and answer it. Every read is bounds-checked; a malformed message is
//! `None`, never a panic.

use std::net::Ipv4Addr;

/// A DNS question as the canary reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub id: u16,
    pub qname: String,
    pub qtype: u16,
    /// Byte offset just past the question section, for building the reply.
    pub end: usize,
}

/// The parts of a response the probe reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    pub rcode: u8,
    pub answers: Vec<Ipv4Addr>,
}

/// Builds a standard query (RD set) for `qname`, type A, class IN.
pub fn build_query(id: u16, qname: &str) -> Option<Vec<u8>> {
    let mut msg = Vec::with_capacity(32 + qname.len());
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(&mut msg, qname)?;
    msg.extend_from_slice(&[0, 1, 0, 1]);
    Some(msg)
}

fn encode_name(msg: &mut Vec<u8>, name: &str) -> Option<()> {
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.push(0);
    Some(())
}

/// Reads a (possibly compressed) name starting at `pos`; returns the name and the offset just
/// past it in the original position.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            end.get_or_insert(pos + 1);
            break;
        }
        if len & 0xC0 == 0xC0 {
            let low = *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ((len & 0x3F) << 8) | low;
            jumps += 1;
            if jumps > 16 {
                return None;
            }
            continue;
        }
        if len > 63 {
            return None;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        if labels.len() > 64 {
            return None;
        }
        pos += 1 + len;
    }
    Some((labels.join("."), end?))
}

/// Parses the first question of a query.
pub fn parse_question(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if qdcount == 0 {
        return None;
    }
    let (qname, pos) = read_name(msg, 12)?;
    let qtype = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
    msg.get(pos + 3)?;
    Some(Question {
        id,
        qname,
        qtype,
        end: pos + 4,
    })
}

/// Builds a reply to `query`: NXDOMAIN when `answer` is `None`, else one A record.
pub fn build_reply(query: &[u8], question: &Question, answer: Option<Ipv4Addr>) -> Vec<u8> {
    let mut msg = Vec::with_capacity(question.end + 16);
    msg.extend_from_slice(&question.id.to_be_bytes());
    let rcode = if answer.is_some() { 0 } else { 3 };
    msg.extend_from_slice(&[
        0x81,
        0x80 | rcode,
        0,
        1,
        0,
        u8::from(answer.is_some()),
        0,
        0,
        0,
        0,
    ]);
    msg.extend_from_slice(&query[12..question.end]);
    if let Some(ip) = answer {
        msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
        msg.extend_from_slice(&ip.octets());
    }
    msg
}

/// Builds a NODATA reply to `query`: NOERROR with no answer (the name exists, but has no
/// record of the asked type; RFC 2308 section 2.2), so a resolver that asks A and AAAA for a
/// name gets the A and no error.
pub fn build_nodata(query: &[u8], question: &Question) -> Vec<u8> {
    let mut msg = Vec::with_capacity(question.end);
    msg.extend_from_slice(&question.id.to_be_bytes());
    msg.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0]);
    msg.extend_from_slice(&query[12..question.end]);
    msg
}

/// Parses a response: id, rcode and the A records of the answer section.
pub fn parse_response(msg: &[u8]) -> Option<Response> {
    if msg.len() < 12 || msg[2] & 0x80 == 0 {
        return None;
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let rcode = msg[3] & 0x0F;
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    let ancount = u16::from_be_bytes([msg[6], msg[7]]);
    let mut pos = 12;
    for _ in 0..qdcount.min(4) {
        let (_, end) = read_name(msg, pos)?;
        pos = end + 4;
    }
    let mut answers = Vec::new();
    for _ in 0..ancount.min(32) {
        let (_, end) = read_name(msg, pos)?;
        let header = msg.get(end..end + 10)?;
        let rtype = u16::from_be_bytes([header[0], header[1]]);
        let rdlen = u16::from_be_bytes([header[8], header[9]]) as usize;
        let rdata = msg.get(end + 10..end + 10 + rdlen)?;
        if rtype == 1 && rdlen == 4 && answers.len() < crate::wire::MAX_ANSWERS {
            answers.push(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]));
        }
        pos = end + 10 + rdlen;
    }
    Some(Response { id, rcode, answers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_reply_round_trip() {
        let query = build_query(0x1234, "abc.exfil.fixture.test").unwrap();
        let question = parse_question(&query).unwrap();
        assert_eq!(question.qname, "abc.exfil.fixture.test");
        assert_eq!(question.qtype, 1);
        let reply = build_reply(&query, &question, Some(Ipv4Addr::new(10, 1, 2, 3)));
        let response = parse_response(&reply).unwrap();
        assert_eq!(response.id, 0x1234);
        assert_eq!(response.rcode, 0);
        assert_eq!(response.answers, vec![Ipv4Addr::new(10, 1, 2, 3)]);
        let nx = parse_response(&build_reply(&query, &question, None)).unwrap();
        assert_eq!(nx.rcode, 3);
        assert!(nx.answers.is_empty());
        let nodata = build_nodata(&query, &question);
        let response = parse_response(&nodata).unwrap();
        assert_eq!((response.id, response.rcode), (0x1234, 0));
        assert!(response.answers.is_empty());
        // The question is echoed.
        assert_eq!(parse_question(&nodata).unwrap().qname, question.qname);
    }

    #[test]
    fn malformed_messages_are_none() {
        assert!(parse_question(&[0; 5]).is_none());
        assert!(parse_response(&[0xff; 12]).is_none());
        // A compression pointer to itself must terminate with None.
        let mut looped = vec![0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
        looped.extend_from_slice(&[0xC0, 12]);
        assert!(parse_response(&looped).is_none());
        assert!(build_query(1, &"x".repeat(64)).is_none());
    }
}
